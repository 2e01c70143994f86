"""Exports for tools the hook cannot reach (uv, Poetry, Docker stages, CI caches), and a
check of the torch already installed. Used by ``python -m ltt_hook <command>``."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
from typing import List, Optional, Sequence, Tuple

from . import config as config_mod, data
from ._packaging import SpecifierSet, Version, canonicalize_name
from .backends import Backend, backend_from_label, parse_backend
from .decision import Decision, Environment, Request, decide
from .detection import Machine
from .selection import incompatibility, release_of

PYTORCH = data.BACKEND_BUILT | data.TRITON_BUILDS


def the_decision(cfg: config_mod.Config, machine: Machine, release: Optional[Version] = None) -> Decision:
    """What ``pip install torch`` (``torch==release.*`` when given) would decide now."""
    specifiers = {"torch": (SpecifierSet(f"=={release.major}.{release.minor}.*"),)} if release else {}
    request = Request(requested=frozenset({"torch"}), specifiers=specifiers, python=sys.version_info[:2],
                      free_threaded=bool(sysconfig.get_config_var("Py_GIL_DISABLED")))
    return decide(cfg, machine, request, Environment())


def best_backend(cfg: config_mod.Config, machine: Machine, release: Optional[Version] = None) -> Backend:
    """The backend ``pip install torch`` would use now (for ``release``, default the newest)."""
    expected = the_decision(cfg, machine, release).expected
    return expected[1] if expected else parse_backend("cpu")


class HookOff(RuntimeError):
    """ltt-hook is switched off: pip is plain pip, and exports would not describe it."""


def _on(cfg: config_mod.Config, machine: Machine) -> Decision:
    decision = the_decision(cfg, machine)
    if decision.off:
        raise HookOff(f"ltt-hook is off ({decision.off}): a plain `pip install torch` takes torch from "
                      "your own indexes (on PyPI, its default CUDA build)")
    return decision


def index_url(cfg: config_mod.Config, machine: Machine) -> str:
    return _on(cfg, machine).index_url(cfg.channel_url) or f"{cfg.channel_url}/cpu"


def pip_conf(cfg: config_mod.Config, machine: Machine) -> str:
    expected = _on(cfg, machine).expected
    backend = expected[1].name if expected else "cpu"
    gpus = ", ".join(g.name for g in machine.gpus) or "no GPU"
    driver = f", NVIDIA driver {machine.nvidia_driver}" if machine.nvidia_driver else ""
    return (f"# ltt-hook settings chosen on this machine ({gpus}{driver}).\n"
            "# Put them in a shared pip.conf to give a fleet of such machines the same build.\n"
            "[ltt]\n"
            f"backend = {backend}\n"
            f"channel = {cfg.channel}\n"
            f"index-url = {config_mod.redact(cfg.index_url)}\n")


def _user_index() -> str:
    """The index the user's pip uses for everything else."""
    try:
        from pip._internal.configuration import Configuration

        configuration = Configuration(isolated=False)
        configuration.load()
        for key in ("install.index-url", "global.index-url"):
            try:
                return str(configuration.get_value(key)).split()[0]
            except Exception:
                continue
    except Exception:
        pass
    return os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple"


def requirements(cfg: config_mod.Config, projects: Sequence[str]) -> str:
    """A requirements file pinned to this machine's builds, resolved by pip with the hook."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet",
                               "--ignore-installed", "--report", report, *projects],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip() or proc.stdout.strip())
        with open(report, encoding="utf-8") as f:
            installs = json.load(f)["install"]
    pinned = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in installs
              if canonicalize_name(i["metadata"]["name"]) in PYTORCH}
    labels = {b for b in (backend_from_label(Version(v).local) for v in pinned.values()) if b is not None}
    backend = max(labels, key=lambda b: b.rank) if labels else parse_backend("cpu")
    lines = ["# Pinned to this machine's PyTorch build by `python -m ltt_hook requirements`.",
             f"--index-url {config_mod.redact(cfg.channel_url)}/{backend.name}",
             f"--extra-index-url {_user_index()}"]
    if cfg.channel != "stable":
        lines.append("--pre")
    from .extensions import export  # the extension pages for this torch, and their pins

    find_links, extension_pins = export(cfg, installs, pinned.get(canonicalize_name("torch")))
    lines += find_links
    pinned.update(extension_pins)
    lines += [f"{name}=={version}" for name, version in sorted(pinned.items())]
    lines += [p for p in projects if canonicalize_name(re.split(r"[\[=<>!~;@ ]", p, maxsplit=1)[0]) not in pinned]
    return "\n".join(lines) + "\n"


def check(cfg: config_mod.Config, machine: Machine) -> Tuple[bool, List[str]]:
    """Whether the installed PyTorch packages fit this machine; lines to print."""
    installed = {}
    for name in sorted(data.BACKEND_BUILT):
        try:
            installed[name] = Version(importlib.metadata.version(name))
        except Exception:
            continue
    if "torch" not in installed:
        return True, ["torch is not installed."]
    off = the_decision(cfg, machine).off
    torch = installed["torch"]
    release = release_of("torch", torch)
    label = backend_from_label(torch.local)
    if label is None:  # PyPI's unlabelled build
        flavour = data.PYPI_CUDA_FLAVOUR.get(f"{release.major}.{release.minor}") if release else None
        label = parse_backend(flavour) if flavour and machine.system == "Linux" else parse_backend("cpu")
    best = best_backend(cfg, machine, release)
    lines = [f"torch {torch} is installed (built for {label.name}); this machine's best build of torch "
             f"{torch.public} is +{best.name}."]
    problem = incompatibility(label, release, machine)
    fits = problem is None and not (best.is_gpu and not label.is_gpu)
    if problem:
        lines.append(f"It cannot use this machine: {problem}.")
    elif not fits:
        lines.append("It is a CPU build on a machine whose GPU PyTorch can use.")
    others = [f"{n}=={v.public}" for n, v in installed.items() if n != "torch"]
    if not fits and off:
        lines.append(f"ltt-hook is off ({off}), so pip would not apply it; fix: " + " ".join(
            [f"{os.path.basename(sys.executable)} -m pip install --force-reinstall --index-url",
             f"{config_mod.redact(cfg.channel_url)}/{best.name}", f"torch=={torch.public}", *others]))
    elif not fits:
        lines.append("Fix: " + " ".join([f"{os.path.basename(sys.executable)} -m pip install --force-reinstall",
                                         f"torch=={torch.public}", *others]))
    else:
        lines.append("It fits this machine.")
    return fits, lines
