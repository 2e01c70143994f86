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
from typing import TYPE_CHECKING, Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from . import config as config_mod, data
from ._packaging import SpecifierSet, Version, canonicalize_name
from .backends import Backend, backend_from_label, parse_backend
from .decision import Decision, Environment, Request, decide, installed_misfit
from .detection import Machine
from .selection import release_of
from .urls import redact

if TYPE_CHECKING:
    from .offer import Offer

PYTORCH = data.BACKEND_BUILT | data.TRITON_BUILDS


def the_decision(config: config_mod.Config, machine: Machine, release: Optional[Version] = None,
                 offer: Optional[Offer] = None) -> Decision:
    """What ``pip install torch`` (``torch==release.*`` when given) would decide now, from what
    the index offers (``offer``, :func:`read_offer`) where it was read."""
    specifiers = {"torch": (SpecifierSet(f"=={release.major}.{release.minor}.*"),)} if release else {}
    request = Request(requested=frozenset({"torch"}), specifiers=specifiers, python=sys.version_info[:2],
                      free_threaded=bool(sysconfig.get_config_var("Py_GIL_DISABLED")))
    return decide(config, machine, request, Environment(), offer)


def read_offer(config: config_mod.Config, project: str = "torch") -> Tuple[Optional[Offer], str]:
    """What the configured index offers of ``project`` for this interpreter (its channel page,
    one request through pip's session), and a word on how it went: (None, why) when it could
    not be read."""
    from packaging.tags import sys_tags
    from pip._internal.network.session import PipSession

    from . import offer as offer_mod
    from .pages import Unavailable, fetch, index_page_problem, network_cause

    url = config.project_page(project)
    if url is None:
        return None, "a repository per backend (the index URL is a template) has no page of every build"
    try:
        with PipSession(retries=0) as session:
            session.timeout = 15
            body = fetch(session, url, "text/html")
    except Exception as exc:
        why = str(exc) if isinstance(exc, Unavailable) else network_cause(exc)
        return None, f"{redact(url)} could not be read ({why})"
    problem = index_page_problem(body)
    if problem:
        return None, f"{redact(url)}: {problem}"
    found = offer_mod.read_offer(project, url, body, frozenset(str(t) for t in sys_tags()))
    return found, f"read from {redact(url)}"


def best_backend(config: config_mod.Config, machine: Machine, release: Optional[Version] = None) -> Backend:
    """The backend ``pip install torch`` would use now (for ``release``, default the newest)."""
    expected = the_decision(config, machine, release).expected
    return expected[1] if expected else parse_backend("cpu")


class HookOff(RuntimeError):
    """ltt-hook is switched off: pip is plain pip, and exports would not describe it."""


def _on(config: config_mod.Config, machine: Machine, offer: Optional[Offer] = None) -> Decision:
    decision = the_decision(config, machine, offer=offer)
    if decision.why_off:
        raise HookOff(f"ltt-hook is off ({decision.why_off}): a plain `pip install torch` takes torch from "
                      "your own indexes (on PyPI, its default CUDA build)")
    return decision


def index_url(config: config_mod.Config, machine: Machine, offer: Optional[Offer] = None) -> str:
    expected = _on(config, machine, offer).expected
    return config.page(expected[1] if expected else parse_backend("cpu"))


def pip_conf(config: config_mod.Config, machine: Machine, offer: Optional[Offer] = None) -> str:
    expected = _on(config, machine, offer).expected
    backend = expected[1].name if expected else "cpu"
    gpus = ", ".join(g.name for g in machine.gpus) or "no GPU"
    driver = f", NVIDIA driver {machine.nvidia_driver}" if machine.nvidia_driver else ""
    return (f"# ltt-hook settings chosen on this machine ({gpus}{driver}).\n"
            "# Put them in a shared pip.conf to give a fleet of such machines the same build.\n"
            "[ltt]\n"
            f"backend = {backend}\n"
            f"channel = {config.channel}\n"
            f"index-url = {redact(config.index_url)}\n")


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


class Target(NamedTuple):
    """The machine an export is for, as pip's options name it (a Docker build stage's)."""

    platforms: Tuple[str, ...] = ()
    python_version: Optional[str] = None
    abi: Optional[str] = None

    def pip_options(self, directory: str) -> List[str]:
        """pip's options for a dry run that resolves for this target (``--target`` into
        ``directory``, which every pip from 22.3 takes with these)."""
        if not (self.platforms or self.python_version or self.abi):
            return []
        options = ["--only-binary=:all:", "--target", directory]
        options += [f"--platform={p}" for p in self.platforms]
        options += [f"--python-version={self.python_version}"] if self.python_version else []
        options += [f"--abi={self.abi}"] if self.abi else []
        return options


class ExportError(RuntimeError):
    """pip could not resolve what an export asks for; the message is one line."""


def resolve(projects: Sequence[str], target: Optional[Target] = None) -> List[Dict[str, Any]]:
    """What pip with the hook would install for ``projects`` (its ``--report``'s ``install``)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
                               "--report", report, *(target or Target()).pip_options(os.path.join(tmp, "target")),
                               *projects],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            errors = [line for line in (proc.stderr + proc.stdout).splitlines() if line.startswith("ERROR:")]
            said = errors[-1][len("ERROR:"):].strip() if errors else (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise ExportError(said)
        with open(report, encoding="utf-8") as f:
            return list(json.load(f)["install"])


def _pins(installs: Sequence[Dict[str, Any]]) -> Tuple[Dict[str, str], Backend]:
    pinned: Dict[str, str] = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in installs
              if canonicalize_name(i["metadata"]["name"]) in PYTORCH}
    labels = {b for b in (backend_from_label(Version(v).local) for v in pinned.values()) if b is not None}
    return pinned, max(labels, key=lambda b: b.rank) if labels else parse_backend("cpu")


def requirements(config: config_mod.Config, projects: Sequence[str], target: Optional[Target] = None) -> str:
    """A requirements file pinned to this machine's builds, resolved by pip with the hook.

    The user's index comes first as ``--index-url`` and the PyTorch page as
    ``--extra-index-url``: pip reads both alike, and uv, which gives ``--extra-index-url``
    priority and takes a project from the first index that has it, finds torch on the PyTorch
    page (the ``+label`` pins allow no other)."""
    installs = resolve(projects, target)
    pinned, backend = _pins(installs)
    lines = ["# Pinned to this machine's PyTorch build by `python -m ltt_hook requirements`.",
             f"--index-url {_user_index()}",
             f"--extra-index-url {redact(config.page(backend))}"]
    if config.channel != "stable":
        lines.append("--pre")
    from .extension_report import export  # the extension pages for this torch, and their pins

    find_links, extension_pins = export(config, installs, pinned.get(canonicalize_name("torch")))
    lines += find_links
    pinned.update({str(k): v for k, v in extension_pins.items()})
    lines += [f"{name}=={version}" for name, version in sorted(pinned.items())]
    lines += [p for p in projects if canonicalize_name(re.split(r"[\[=<>!~;@ ]", p, maxsplit=1)[0]) not in pinned]
    return "\n".join(lines) + "\n"


def uv_project(config: config_mod.Config, projects: Sequence[str], target: Optional[Target] = None) -> str:
    """``pyproject.toml`` tables for uv: the PyTorch page as an explicit index (used only by the
    projects that name it), and a source per PyTorch project pointing there."""
    pinned, backend = _pins(resolve(projects, target))
    name = f"pytorch-{backend.name}"
    lines = ["# uv: PyTorch projects from this machine's PyTorch build (`python -m ltt_hook uv`).",
             "[[tool.uv.index]]", f'name = "{name}"', f'url = "{redact(config.page(backend))}"',
             "explicit = true", "", "[tool.uv.sources]"]
    lines += [f'{project} = {{ index = "{name}" }}' for project in sorted(pinned)]
    lines += ["", "# and in [project] dependencies:"]
    lines += [f'#   "{project}=={version}",' for project, version in sorted(pinned.items())]
    return "\n".join(lines) + "\n"


def poetry_project(config: config_mod.Config, projects: Sequence[str], target: Optional[Target] = None) -> str:
    """``pyproject.toml`` tables for Poetry: the PyTorch page as an explicit source, and each
    PyTorch project pinned to this machine's build from it."""
    pinned, backend = _pins(resolve(projects, target))
    name = f"pytorch-{backend.name}"
    lines = ["# Poetry: PyTorch projects from this machine's PyTorch build (`python -m ltt_hook poetry`).",
             "[[tool.poetry.source]]", f'name = "{name}"', f'url = "{redact(config.page(backend))}"',
             'priority = "explicit"', "", "[tool.poetry.dependencies]"]
    lines += [f'{project} = {{ version = "{version}", source = "{name}" }}'
              for project, version in sorted(pinned.items())]
    return "\n".join(lines) + "\n"


def check(config: config_mod.Config, machine: Machine) -> Tuple[bool, List[str]]:
    """Whether the installed PyTorch packages fit this machine; lines to print. The installed
    torch says what it is from its own files (:mod:`ltt_hook.installed`), and one rule judges
    it (:func:`ltt_hook.decision.installed_misfit`), as pip's line about a kept torch does."""
    from .installed import read_installed

    build = read_installed("torch")
    if build is None:
        return True, ["torch is not installed."]
    installed = {}
    for name in sorted(data.BACKEND_BUILT - {"torch"}):
        try:
            installed[name] = Version(importlib.metadata.version(name))
        except Exception:
            continue
    off = the_decision(config, machine).why_off
    torch = build.version
    release = release_of("torch", torch)
    label = build.backend or parse_backend("cpu")
    best = best_backend(config, machine, release)
    lines = [f"torch {torch} is installed (built for {label.name}; {build.evidence}); this machine's best build "
             f"of torch {torch.public} is +{best.name}."]
    why = installed_misfit(label, release, machine) if release is not None else None
    fits = why is None
    if why:
        lines.append(f"{why[0].upper()}{why[1:]}.")
    others = [f"{n}=={v.public}" for n, v in installed.items()]
    if not fits and off:
        lines.append(f"ltt-hook is off ({off}), so pip would not apply it; fix: " + " ".join(
            [f"{os.path.basename(sys.executable)} -m pip install --force-reinstall --index-url",
             redact(config.page(best)), f"torch=={torch.public}", *others]))
    elif not fits:
        lines.append("Fix: " + " ".join([f"{os.path.basename(sys.executable)} -m pip install --force-reinstall",
                                         f"torch=={torch.public}", *others]))
    else:
        lines.append("It fits this machine.")
    return fits, lines
