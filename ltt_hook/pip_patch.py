"""The pip patch: per-project index redirect, backend filter and backend ranking.

Loaded by :mod:`ltt_hook._pth` when pip imports its finder. It wraps methods of pip's own
classes whose signatures are the same in pip 22.3 - 26.3, and checks them before patching:

==============================================  ===============================================
``Command.__init__``                            add the light-the-torch options
``RequirementCommand.get_requirements``         note requests, ``+label`` pins and ``--hash``
``LinkCollector.create``                        read the configuration, start a :class:`Run`
``LinkCollector.collect_sources``               PyTorch projects: look up the PyTorch index
``collector._get_simple_response``              record how each index page answered
``PackageFinder.find_all_candidates``           an unreadable PyTorch page stops pip (one line)
``PackageFinder.make_link_evaluator`` +         drop builds for other backends ("Skipping
``LinkEvaluator.evaluate_link``                 link: ltt-hook: built for cu130: ...")
``PackageFinder.make_candidate_evaluator`` +    rank GPU builds first, then version, then
``CandidateEvaluator._sort_key``                backend; pre-releases on test/nightly
``CandidateEvaluator.get_applicable_candidates``  say when a GPU build beat a newer CPU build
==============================================  ===============================================

Anything unexpected in pip means pip runs unpatched with one warning. Every wrapper falls back
to pip's own behaviour if it fails; the only exceptions raised on purpose are pip's own
``InstallationError`` (a bad configuration value, an unreadable PyTorch index page), which pip
prints as one ``ERROR:`` line, and the exit of strict mode.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect
import logging
import os
import platform
import sys
from typing import Any, Callable, Dict, List, Optional, Set

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from . import config as config_mod
from . import data, detection
from .backends import Backend, backend_from_label, backend_from_url, parse_backend
from .selection import Policy, incompatibility, release_of, sort_key

logger = logging.getLogger("ltt_hook")
VERBOSE = 15  # pip's level for -v
PYTORCH = data.BACKEND_BUILT | data.TRITON_BUILDS
_PUBLIC_HOSTS = ("download.pytorch.org", "download-r2.pytorch.org")

_redact = config_mod.redact

#: Outcome of every index page fetched in this process: url -> ("ok"|"missing"|"failed", detail).
_fetches: Dict[str, Any] = {}

#: Process state: the first reason pip cannot be patched (then everything stays unpatched).
_state: Dict[str, Any] = {"broken": None, "warned": False, "notes": set()}


# --------------------------------------------------------------------------- safety net


def _warn_unpatched(reason: str) -> None:
    _state["broken"] = _state["broken"] or reason
    if _state["warned"]:
        return
    _state["warned"] = True
    version = getattr(sys.modules.get("pip"), "__version__", "unknown")
    message = (f"ltt-hook does not support pip {version} ({reason}); pip runs unpatched and "
               "PyTorch packages come from your configured indexes. Please report this to "
               "ltt-hook with the output of `pip --version`.")
    if _strict():
        sys.stderr.write(f"ERROR: {message} Strict mode is on, so pip stops here.\n")
        raise SystemExit(1)
    sys.stderr.write(f"WARNING: {message}\n")


def _strict() -> bool:
    """``LTT_STRICT`` or ``[ltt] strict``: never let pip run unpatched."""
    if os.environ.get("LTT_STRICT", "").strip():
        return os.environ["LTT_STRICT"].strip().lower() in ("1", "true", "yes", "on")
    try:
        return config_mod.load(isolated="--isolated" in sys.argv).strict
    except Exception:
        return False


def _fallback(original: Callable) -> Callable:
    """Decorator for wrappers: any error inside our code runs pip's original instead."""

    def decorate(wrapper: Callable) -> Callable:
        @functools.wraps(original)
        def safe(*args, **kwargs):
            try:
                return wrapper(*args, **kwargs)
            except _Abort:
                raise
            except Exception as exc:
                _warn_unpatched(f"internal error in {original.__qualname__}: {type(exc).__name__}: {exc}")
                return original(*args, **kwargs)

        safe.__ltt_original__ = original  # type: ignore[attr-defined]
        return safe

    return decorate


class _Abort(Exception):
    """Marker base for errors that must reach pip (set to pip's InstallationError)."""


def _params(func: Callable) -> List[str]:
    return list(inspect.signature(inspect.unwrap(func)).parameters)


def _expect(obj: Any, attr: str, params: Optional[List[str]] = None) -> Callable:
    """Return ``obj.attr``; raise LookupError naming what differs from what ltt-hook knows."""
    value = inspect.getattr_static(obj, attr, None)
    if value is None:
        raise LookupError(f"{getattr(obj, '__name__', obj)}.{attr} is missing")
    func = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
    if params is not None and _params(func)[: len(params)] != params:
        raise LookupError(f"{obj.__name__}.{attr}{inspect.signature(func)} has changed")
    return func


# --------------------------------------------------------------------------- the run


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
        _log_decision(self, policy)
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
        if project not in PYTORCH or _state["broken"]:
            return False
        if project in self.hashed:  # hashes are the user's choice: source and build stay theirs
            _note_once(f"hashed:{project}", "ltt-hook: %s is pinned by hash; its index and build are "
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
        outcomes = [(url, _fetches.get(url)) for url in urls]
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


def _allow_prereleases(evaluator: Any, project: str) -> None:
    """The test and nightly channels carry pre-releases only: allow them for PyTorch
    projects without ``--pre``, and for nothing else."""
    if hasattr(evaluator, "_release_control"):  # pip 26.0+
        evaluator._release_control = _PreReleasesFor(evaluator._release_control, project)
    elif hasattr(evaluator, "_allow_all_prereleases"):  # pip <= 25.3
        evaluator._allow_all_prereleases = True


def _log_decision(run: Run, policy: Policy) -> None:
    lines = ["ltt-hook decision:"]
    machine = policy.machine
    if machine is not None:
        lines += [f"  detected: {note}" for note in machine.notes]
        lines += [f"  GPU: {gpu.summary}" for gpu in machine.gpus]
    else:
        lines.append(f"  backend fixed by {policy.fixed_by}")
    lines.append(f"  consulting: {', '.join(b.name for b in policy.pages())} on {_redact(run.config.channel_url)}")
    logger.log(VERBOSE, "\n".join(lines))


def _note_once(key: str, message: str, *args: Any, level: int = logging.INFO) -> None:
    if key not in _state["notes"]:
        _state["notes"].add(key)
        logger.log(level, message, *args)


# --------------------------------------------------------------------------- patches


def _patch_finder(finder_mod: Any) -> None:
    collector_mod = sys.modules["pip._internal.index.collector"]
    link_mod = sys.modules["pip._internal.models.link"]
    from pip._internal.exceptions import InstallationError

    LinkCollector = collector_mod.LinkCollector
    SearchScope = collector_mod.SearchScope
    PackageFinder = finder_mod.PackageFinder
    LinkEvaluator = finder_mod.LinkEvaluator
    CandidateEvaluator = finder_mod.CandidateEvaluator
    LinkType = finder_mod.LinkType

    # Check everything first: all or nothing.
    create = _expect(LinkCollector, "create", ["cls", "session", "options", "suppress_no_index"])
    collect = _expect(LinkCollector, "collect_sources", ["self", "project_name", "candidates_from_page"])
    _expect(SearchScope, "create", ["cls", "find_links", "index_urls", "no_index"])
    make_le = _expect(PackageFinder, "make_link_evaluator", ["self", "project_name"])
    evaluate = _expect(LinkEvaluator, "evaluate_link", ["self", "link"])
    make_ce = _expect(PackageFinder, "make_candidate_evaluator", ["self", "project_name", "specifier", "hashes"])
    sort = _expect(CandidateEvaluator, "_sort_key", ["self", "candidate"])
    applicable = _expect(CandidateEvaluator, "get_applicable_candidates", ["self", "candidates"])
    find_all = _expect(PackageFinder, "find_all_candidates", ["self", "project_name"])
    Command = importlib.import_module("pip._internal.cli.base_command").Command
    command_init = _expect(Command, "__init__", ["self", "name", "summary"])
    get_simple = _expect(collector_mod, "_get_simple_response", ["url", "session"])
    if not (hasattr(LinkType, "candidate") and hasattr(LinkType, "platform_mismatch")):
        raise LookupError("LinkType members have changed")
    if "link_collector" not in _params(PackageFinder.__init__):
        raise LookupError("PackageFinder no longer takes a link_collector")

    class Abort(InstallationError, _Abort):
        pass

    @_fallback(create)
    def create_wrapper(cls, session, options, suppress_no_index=False):
        collector = create(cls, session, options, suppress_no_index=suppress_no_index)
        if suppress_no_index or _state["broken"]:  # pip's self-version check
            return collector
        try:
            cli = _cli_settings(options)
            cfg = config_mod.load(isolated=bool(getattr(options, "isolated_mode", False)), options=cli)
            detection.read_overrides()  # a bad LTT_CUDA_*/LTT_AMD_* value stops pip here, in one line
        except config_mod.ConfigError as exc:
            raise Abort(f"{exc}. Nothing was installed.") from None
        # pip's build-dependency child gets no custom options: hand the decision down.
        for key, value in cli.items():
            if value:
                os.environ[config_mod.KEYS[key]] = value
        for warning in cfg.warnings:
            logger.warning(warning)
        if "venv-isolation" in (getattr(options, "features_enabled", None) or ()):
            _note_once("venv-isolation", "ltt-hook: --use-feature=venv-isolation builds packages in "
                       "fresh virtualenvs where ltt-hook does not run; a torch in build requirements "
                       "there comes from your indexes (PyPI's build). Set --no-build-isolation or "
                       "drop the feature to build against this machine's torch.", level=logging.WARNING)
        if not cfg.disable:
            collector._ltt = Run(options, cfg)
        return collector

    @_fallback(collect)
    def collect_wrapper(self, project_name, candidates_from_page):
        run: Optional[Run] = getattr(self, "_ltt", None)
        scope = self.search_scope
        urls = run.redirect(canonicalize_name(project_name), list(scope.index_urls)) if run else None
        if urls is None:
            return collect(self, project_name, candidates_from_page)
        _check_transport(self, run)
        self.search_scope = SearchScope.create(find_links=scope.find_links, index_urls=urls, no_index=scope.no_index)
        try:
            return collect(self, project_name, candidates_from_page)
        finally:
            self.search_scope = scope

    def _check_transport(collector: Any, run: Run) -> None:
        """HTTPS (or a --trusted-host) for the PyTorch index; credentials through pip's auth."""
        if run.transport_checked:
            return
        run.transport_checked = True
        url = run.config.index_url
        session = collector.session
        if not session.is_secure_origin(link_mod.Link(url + "/")):
            raise Abort(f"ltt-hook: the PyTorch index {_redact(url)} ({run.config.origins['index-url']}) is "
                        "not HTTPS; add --trusted-host for its host if you trust it. Nothing was installed.")
        auth = getattr(session, "auth", None)
        known = list(getattr(auth, "index_urls", None) or [])
        if hasattr(session, "update_index_urls") and url not in known:
            session.update_index_urls(known + [url])  # keyring/netrc look-ups by index prefix

    def _run_for(finder: Any, project_name: str) -> Optional[Run]:
        """The run, if the hook handles this project's builds in this finder."""
        run = getattr(getattr(finder, "_link_collector", None), "_ltt", None)
        name = canonicalize_name(project_name)
        if run is None or name in getattr(finder, "_locked_links", {}):  # pylock: locked links win
            return None
        return run if run.applies(name, list(finder.index_urls)) else None

    @_fallback(make_le)
    def make_le_wrapper(self, project_name):
        evaluator = make_le(self, project_name)
        run = _run_for(self, project_name)
        if run is None:
            return evaluator
        name = canonicalize_name(project_name)
        if getattr(evaluator, "_uploaded_prior_to", None) is not None and not run.user_pytorch_indexes(list(self.index_urls)):
            # The PyTorch index's HTML carries no upload times pip reads; the filter would
            # reject every build. Say so and let the PyTorch builds through.
            evaluator._uploaded_prior_to = None
            _note_once("uploaded-prior-to", "ltt-hook: the PyTorch index publishes no upload times "
                       "that pip can read, so --uploaded-prior-to is not applied to %s; pin its "
                       "version for a reproducible install.", name)
        if name in data.BACKEND_BUILT:
            evaluator._ltt = (run, name, list(self.index_urls))
        return evaluator

    @_fallback(evaluate)
    def evaluate_wrapper(self, link):
        result, detail = evaluate(self, link)
        context = getattr(self, "_ltt", None)
        if context is None or result is not LinkType.candidate or _state["broken"]:
            return result, detail
        run, project, index_urls = context
        reason = run.rejects(project, detail, link, index_urls)
        if reason:
            message = f"ltt-hook: {project} {detail} {reason}"
            logger.log(VERBOSE, "Skipping link: %s", message)
            return LinkType.platform_mismatch, message
        return result, detail

    @_fallback(make_ce)
    def make_ce_wrapper(self, project_name, specifier=None, hashes=None):
        evaluator = make_ce(self, project_name, specifier=specifier, hashes=hashes)
        run = _run_for(self, project_name)
        name = canonicalize_name(project_name)
        if run is not None and run.config.channel != "stable":
            _allow_prereleases(evaluator, name)
        if run is not None and name in data.BACKEND_BUILT:
            evaluator._ltt = (run, name)
        return evaluator

    @_fallback(sort)
    def sort_wrapper(self, candidate):
        key = sort(self, candidate)
        context = getattr(self, "_ltt", None)
        if context is None or _state["broken"]:
            return key
        run, project = context
        version = candidate.version
        for i, item in enumerate(key):
            if item is version:
                ours = Version(str(version))
                better = sort_key(ours, run.backend_of(project, ours, candidate.link))
                return key[:i] + ((better, version),) + key[i + 1:]
        return key

    @_fallback(applicable)
    def applicable_wrapper(self, candidates):
        result = applicable(self, candidates)
        context = getattr(self, "_ltt", None)
        if context is None or not result or context[1] != "torch" or _state["broken"]:  # one note per run
            return result
        run, project = context
        best = result[-1]
        best_version = Version(str(best.version))
        best_backend = run.backend_of(project, best_version, best.link)
        if best_backend is not None and best_backend.is_gpu:
            newer = [c for c in result if Version(str(c.version)).public != best_version.public
                     and Version(Version(str(c.version)).public) > Version(best_version.public)]
            if newer:
                top = max(Version(str(c.version)) for c in newer)
                family = {"cuda": "CUDA", "rocm": "ROCm", "xpu": "XPU"}[best_backend.family]
                hint = " (a newer NVIDIA driver may allow a newer one)" if family == "CUDA" else ""
                _note_once(f"gpu-over-cpu:{project}",
                           "ltt-hook: %s %s exists for this machine only as a CPU build; choosing %s, "
                           "the newest %s build this machine can run%s.", project, top.public,
                           best_version, family, hint)
        return result

    def get_simple_wrapper(url, session, *args, **kwargs):
        try:
            response = get_simple(url, session, *args, **kwargs)
        except Exception as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status in (403, 404):
                _fetches[url] = ("missing", f"HTTP {status}")
            else:
                detail = " ".join(str(exc).split())[:300] or type(exc).__name__
                _fetches[url] = ("failed", _redact(detail))
            raise
        body = getattr(response, "content", b"") or b""
        if b"<a " in body.lower() or b"</html>" in body.lower() or b"{" in body[:1]:
            _fetches[url] = ("ok", "")
        else:
            _fetches[url] = ("failed", "the answer is not an index page (malformed HTML)")
        return response

    get_simple_wrapper.__ltt_original__ = get_simple  # type: ignore[attr-defined]

    @_fallback(find_all)
    def find_all_wrapper(self, project_name):
        result = find_all(self, project_name)
        run: Optional[Run] = getattr(getattr(self, "_link_collector", None), "_ltt", None)
        problem = run.page_problem(canonicalize_name(project_name)) if run else None
        if problem:
            raise Abort(f"ltt-hook: {problem}. Nothing was installed; PyTorch packages are not "
                        "taken from other indexes instead.")
        return result

    @_fallback(command_init)
    def command_init_wrapper(self, *args, **kwargs):
        command_init(self, *args, **kwargs)
        if getattr(self, "name", None) in _OPTION_COMMANDS:
            _add_options(self)

    Command.__init__ = command_init_wrapper
    collector_mod._get_simple_response = get_simple_wrapper
    PackageFinder.find_all_candidates = find_all_wrapper
    LinkCollector.create = classmethod(create_wrapper)
    LinkCollector.collect_sources = collect_wrapper
    PackageFinder.make_link_evaluator = make_le_wrapper
    LinkEvaluator.evaluate_link = evaluate_wrapper
    PackageFinder.make_candidate_evaluator = make_ce_wrapper
    CandidateEvaluator._sort_key = sort_wrapper
    CandidateEvaluator.get_applicable_candidates = applicable_wrapper


#: Commands that resolve packages get the light-the-torch options.
_OPTION_COMMANDS = ("install", "download", "wheel", "lock", "index")


def _add_options(command: Any) -> None:
    """Add ``--pytorch-computation-backend``, ``--cpuonly`` and ``--pytorch-channel`` under
    their own heading. Through pip's option parser they also read ``PIP_PYTORCH_…``
    variables and ``[global]``/``[install]`` config keys. A pip that already has one of
    these options keeps its own, and the hook adds none."""
    import optparse

    parser = command.parser
    names = ("--pytorch-computation-backend", "--cpuonly", "--pytorch-channel")
    if any(parser.has_option(n) for n in names):
        logger.debug("ltt-hook: pip already defines %s; not adding ltt-hook's options", names)
        return
    group = optparse.OptionGroup(parser, "PyTorch Options (ltt-hook)")
    group.add_option(names[0], dest="ltt_backend", metavar="BACKEND[,BACKEND...]", default=None,
                     help="PyTorch computation backend(s): cpu, cuXY[Z], rocmX.Y, xpu or auto "
                          "(default: detect this machine's).")
    group.add_option(names[1], dest="ltt_cpuonly", action="store_true", default=False,
                     help="Shorthand for --pytorch-computation-backend=cpu.")
    group.add_option(names[2], dest="ltt_channel", metavar="CHANNEL", default=None,
                     help="PyTorch channel: stable (default), test or nightly. test and nightly allow "
                          "pre-releases of PyTorch packages without --pre.")
    parser.add_option_group(group)


def _cli_settings(options: Any) -> Dict[str, Optional[str]]:
    backend = getattr(options, "ltt_backend", None)
    if getattr(options, "ltt_cpuonly", False):
        if backend and backend.strip().lower() != "cpu":
            raise config_mod.ConfigError(f"ltt-hook: --cpuonly and --pytorch-computation-backend={backend} contradict each other")
        backend = "cpu"
    return {"backend": backend, "channel": getattr(options, "ltt_channel", None)}


def _patch_req_command(mod: Any) -> None:
    RequirementCommand = mod.RequirementCommand
    get_requirements = _expect(RequirementCommand, "get_requirements", ["self", "args", "options", "finder", "session"])

    @_fallback(get_requirements)
    def get_requirements_wrapper(self, args, options, finder, session):
        reqs = get_requirements(self, args, options, finder, session)
        run: Optional[Run] = getattr(getattr(finder, "_link_collector", None), "_ltt", None)
        if run is None:
            return reqs
        for ireq in reqs:
            req = getattr(ireq, "req", None)
            if req is None or canonicalize_name(req.name) not in PYTORCH:
                continue
            if not getattr(ireq, "constraint", False):
                run.requested.add(canonicalize_name(req.name))
            if getattr(ireq, "hash_options", None):
                run.hashed.add(canonicalize_name(req.name))
            if canonicalize_name(req.name) == "torch" and str(req.specifier):
                run.torch_specifiers.append(req.specifier)
            for spec in req.specifier:
                if spec.operator in ("==", "===") and "+" in spec.version:
                    backend = backend_from_label(spec.version.split("+", 1)[1])
                    if backend is not None:
                        run.pins.add(backend)
        return reqs

    RequirementCommand.get_requirements = get_requirements_wrapper


_PATCHES = {
    "pip._internal.index.package_finder": _patch_finder,
    "pip._internal.cli.req_command": _patch_req_command,
}


def _pip_is_the_program() -> bool:
    from ._pth import pip_is_the_program

    return pip_is_the_program()


def on_import(name: str, module: Any) -> None:
    """Called by the start-up finder right after pip executed module ``name``."""
    try:
        if _state["broken"] or not _pip_is_the_program():
            return
        _PATCHES[name](module)
    except SystemExit:
        raise
    except BaseException as exc:
        try:
            _warn_unpatched(f"{type(exc).__name__}: {exc}")
        except SystemExit:
            raise
        except BaseException:
            pass
