"""One pip command as ltt-hook sees it: the configuration, what the user asked for, the
backend policy, and how every PyTorch index page answered.

The patch (:mod:`ltt_hook.wrappers`) keeps one :class:`Run` on pip's ``LinkCollector``.
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from . import config as config_mod
from . import data, detection
from .backends import Backend, backend_from_label, backend_from_url, parse_backend
from .safety import note_once
from .selection import Policy, incompatibility, release_of

__all__ = ["Run", "PageLog", "PAGES", "PYTORCH", "VERBOSE", "allow_prereleases"]

logger = logging.getLogger("ltt_hook")
VERBOSE = 15  # pip's level for -v
PYTORCH = data.BACKEND_BUILT | data.TRITON_BUILDS
_PUBLIC_HOSTS = ("download.pytorch.org", "download-r2.pytorch.org")
_redact = config_mod.redact


@dataclass
class PageLog:
    """How every index page fetched in this process answered: url -> (outcome, detail), the
    outcome being "ok", "missing" (HTTP 403/404) or "failed"."""

    outcomes: Dict[str, Tuple[str, str]] = field(default_factory=dict)

    def record(self, url: str, outcome: str, detail: str = "") -> None:
        self.outcomes[url] = (outcome, detail)

    def get(self, url: str) -> Optional[Tuple[str, str]]:
        return self.outcomes.get(url)

    def record_failure(self, url: str, exc: BaseException) -> None:
        """pip could not fetch ``url``: HTTP 403/404 means the page does not exist."""
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (403, 404):
            self.record(url, "missing", f"HTTP {status}")
        else:
            detail = " ".join(str(exc).split())[:300] or type(exc).__name__
            self.record(url, "failed", _redact(detail))

    def record_answer(self, url: str, body: bytes) -> None:
        """pip fetched ``url``: it counts only if it looks like an index page."""
        lower = body.lower()
        if b"<a " in lower or b"</html>" in lower or body[:1] == b"{":
            self.record(url, "ok")
        else:
            self.record(url, "failed", "the answer is not an index page (malformed HTML)")


PAGES = PageLog()


class Run:
    """One pip command's view: configuration, what the user asked for, and the policy."""

    def __init__(self, options: Any, config: config_mod.Config) -> None:
        self.options = options
        self.config = config
        self.requested: Set[str] = set()  # PyTorch projects named as requirements
        self.hashed: Set[str] = set()  # PyTorch projects with --hash options
        self.pins: Set[Backend] = set()  # backends of explicit +label pins
        self.redirected: Dict[str, List[str]] = {}  # project -> PyTorch index pages consulted
        self.torch_specifiers: List[Any] = []
        self._policy: Optional[Policy] = None
        self._decided = False
        self.transport_checked = False

    # -- what the user said explicitly

    def _is_pytorch_index(self, url: str) -> bool:
        url = url.rstrip("/")
        bases = (self.config.index_url, data.DEFAULT_INDEX_URL)
        if any(url == b or url.startswith(b + "/") for b in bases):
            return True
        return any(f"//{host}/whl" in url for host in _PUBLIC_HOSTS)

    def user_pytorch_indexes(self, index_urls: List[str]) -> List[str]:
        return [u for u in index_urls if self._is_pytorch_index(u)]

    def _installed_torch_backend(self) -> Optional[Backend]:
        """The label of an installed torch that this run keeps (pip install only)."""
        if "torch" in self.requested or getattr(self.options, "ignore_installed", True):
            return None
        if getattr(self.options, "target_dir", None) or getattr(self.options, "upgrade_strategy", "") == "eager":
            return None
        try:
            version = Version(importlib.metadata.version("torch"))
        except Exception:
            return None
        return backend_from_label(version.local)

    def policy(self, index_urls: List[str]) -> Optional[Policy]:
        """The backend decision, made once per run; None means the hook steps aside."""
        if self._decided:
            return self._policy
        self._decided = True
        channel = self.config.channel
        url_backends = {b for b in map(backend_from_url, self.user_pytorch_indexes(index_urls)) if b}
        if self.pins:
            policy = Policy(channel, fixed=tuple(self.pins), fixed_by="the +label pinned in the requirements")
        elif url_backends:
            policy = Policy(channel, fixed=tuple(url_backends), fixed_by="your PyTorch index URL")
        elif self.config.backends is not None:
            policy = Policy(channel, fixed=self.config.backends, fixed_by=self.config.origins["backend"])
            self._warn_unrunnable(self.config.backends)
        elif getattr(self.options, "platforms", None):
            logger.warning("ltt-hook: --platform targets another machine, so this machine's GPU is not "
                           "consulted and PyTorch packages come from your indexes as they are; set "
                           "LTT_PYTORCH_COMPUTATION_BACKEND to choose the target's backend.")
            return None
        else:
            installed = self._installed_torch_backend()
            if installed is not None:
                policy = Policy(channel, fixed=(installed,), fixed_by=f"the installed torch (+{installed})")
            else:
                python = None if getattr(self.options, "python_version", None) else sys.version_info[:2]
                specifiers = [SpecifierSet(str(s)) for s in self.torch_specifiers]
                policy = Policy(channel, machine=detection.detect(), python=python, torch_specifiers=specifiers)
        self._policy = policy
        log_decision(self, policy)
        return policy

    def _warn_unrunnable(self, backends: Any) -> None:
        """An explicit backend this machine cannot run is allowed, with a warning."""
        if getattr(self.options, "platforms", None):
            return  # built for another machine
        machine = detection.detect()
        reasons = [f"{b.name} ({why})" for b in backends if (why := incompatibility(b, None, machine))]
        if reasons and len(reasons) == len(backends):
            logger.warning("ltt-hook: %s asks for %s, which this machine cannot run: %s; installing it as asked.",
                           self.config.origins["backend"], ",".join(b.name for b in backends), "; ".join(reasons))

    # -- decisions

    def applies(self, project: str, index_urls: List[str]) -> bool:
        """Whether the hook handles ``project`` at all in this run."""
        if project not in PYTORCH:
            return False
        if project in self.hashed:  # hashes are the user's choice: source and build stay theirs
            note_once(f"hashed:{project}", "ltt-hook: %s is pinned by hash; its index and build are "
                       "left to your requirements.", project)
            return False
        return self.policy(index_urls) is not None

    def redirect(self, project: str, index_urls: List[str]) -> Optional[List[str]]:
        """The index URLs to use for ``project`` instead of the user's; None keeps them."""
        if not index_urls or self.user_pytorch_indexes(index_urls) or not self.applies(project, index_urls):
            return None
        if project in data.TRITON_BUILDS:
            return [self.config.channel_url]
        policy = self.policy(index_urls)
        assert policy is not None
        pages = [f"{self.config.channel_url}/{b.name}" for b in policy.pages()]
        self.redirected[project] = [f"{page}/{project}/" for page in pages]
        logger.log(VERBOSE, "ltt-hook: %s is looked up on %s", project, ", ".join(map(_redact, pages)))
        return pages

    def page_problem(self, project: str) -> Optional[str]:
        """After a lookup: why the PyTorch index could not answer for ``project``, if so.

        Any page that could not be read fails the lookup (a missing better build must not
        go unnoticed); so does a project for which every page is missing. PyTorch packages
        are never taken from another index instead.
        """
        urls = self.redirected.get(project)
        if not urls:
            return None
        outcomes = [(url, PAGES.get(url)) for url in urls]
        for url, outcome in outcomes:
            if outcome is not None and outcome[0] == "failed":
                return f"could not read {_redact(url)}: {outcome[1]}"
        if all(outcome is not None and outcome[0] == "missing" for _, outcome in outcomes):
            url, outcome = outcomes[0]
            return f"the PyTorch index has no page for {project} ({_redact(url)} answered {outcome[1]})"
        return None

    def backend_of(self, project: str, version: Version, link: Any) -> Optional[Backend]:
        """A build's backend: its local label, else its PyTorch index page, else (for an
        unlabelled torch found elsewhere, i.e. PyPI's build) PyPI's CUDA flavour."""
        backend = backend_from_label(version.local)
        if backend is not None:
            return backend
        page = getattr(link, "comes_from", None)
        page_url = getattr(page, "url", page) if page is not None else None
        for url in (page_url, getattr(link, "url", None)):
            if isinstance(url, str) and self._is_pytorch_index(url.split("#")[0]):
                backend = backend_from_url(url)
                if backend is not None:
                    return backend
        release = release_of(project, version)
        if release is None:
            return None
        if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
            return parse_backend("cpu")
        flavour = data.PYPI_CUDA_FLAVOUR.get(f"{release.major}.{release.minor}")
        return parse_backend(flavour) if flavour else None

    def rejects(self, project: str, version_text: str, link: Any, index_urls: List[str]) -> Optional[str]:
        policy = self.policy(index_urls)
        try:
            version = Version(version_text)
        except InvalidVersion:
            return None
        return policy.rejects(project, version, self.backend_of(project, version, link)) if policy else None


class _PreReleasesFor:
    """pip 26's release control, but pre-releases allowed for one project unless the user
    said otherwise (``--only-final``)."""

    def __init__(self, inner: Any, project: str) -> None:
        self._inner, self._project = inner, project

    def allows_prereleases(self, name: Any) -> Optional[bool]:
        said = self._inner.allows_prereleases(name) if self._inner is not None else None
        return True if said is None and name == self._project else said

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)


def allow_prereleases(evaluator: Any, project: str) -> None:
    """The test and nightly channels carry pre-releases only: allow them for PyTorch
    projects without ``--pre``, and for nothing else."""
    if hasattr(evaluator, "_release_control"):  # pip 26.0+
        evaluator._release_control = _PreReleasesFor(evaluator._release_control, project)
    elif hasattr(evaluator, "_allow_all_prereleases"):  # pip <= 25.3
        evaluator._allow_all_prereleases = True


def log_decision(run: Run, policy: Policy) -> None:
    lines = ["ltt-hook decision:"]
    machine = policy.machine
    if machine is not None:
        lines += [f"  detected: {note}" for note in machine.notes]
        lines += [f"  GPU: {gpu.summary}" for gpu in machine.gpus]
    else:
        lines.append(f"  backend fixed by {policy.fixed_by}")
    lines.append(f"  consulting: {', '.join(b.name for b in policy.pages())} on {_redact(run.config.channel_url)}")
    logger.log(VERBOSE, "\n".join(lines))




def note_requirements(run: Run, reqs: List[Any]) -> None:
    """Remember what the user asked for: PyTorch projects named, ``--hash`` options, torch
    specifiers and the backends of explicit ``+label`` pins."""
    from packaging.utils import canonicalize_name

    for ireq in reqs:
        req = getattr(ireq, "req", None)
        if req is None or canonicalize_name(req.name) not in PYTORCH:
            continue
        name = canonicalize_name(req.name)
        if not getattr(ireq, "constraint", False):
            run.requested.add(name)
        if getattr(ireq, "hash_options", None):
            run.hashed.add(name)
        if name == "torch" and str(req.specifier):
            run.torch_specifiers.append(req.specifier)
        for spec in req.specifier:
            if spec.operator in ("==", "===") and "+" in spec.version:
                backend = backend_from_label(spec.version.split("+", 1)[1])
                if backend is not None:
                    run.pins.add(backend)


def gpu_over_cpu_note(run: Run, project: str, applicable: List[Any]) -> None:
    """One line when the best build is a GPU build of an older release than a CPU-only one."""
    best = applicable[-1]
    best_version = Version(str(best.version))
    best_backend = run.backend_of(project, best_version, best.link)
    if best_backend is None or not best_backend.is_gpu:
        return
    newer = [Version(str(c.version)) for c in applicable]
    newer = [v for v in newer if Version(v.public) > Version(best_version.public)]
    if not newer:
        return
    top = max(newer)
    family = {"cuda": "CUDA", "rocm": "ROCm", "xpu": "XPU"}[best_backend.family]
    hint = " (a newer NVIDIA driver may allow a newer one)" if family == "CUDA" else ""
    note_once(f"gpu-over-cpu:{project}",
              "ltt-hook: %s %s exists for this machine only as a CPU build; choosing %s, "
              "the newest %s build this machine can run%s.", project, top.public,
              best_version, family, hint)
