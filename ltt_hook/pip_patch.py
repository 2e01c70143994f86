"""The pip patch: a table of pip methods and their wrappers, applied all or nothing.

Loaded by :mod:`ltt_hook._pth` when pip, as the program, imports one of the trigger modules.
Every row names a pip module, the class (or ``None`` for a module-level function), the method,
the leading parameters ltt-hook relies on (the same in pip 22.3 - 26.3), and the wrapper from
:mod:`ltt_hook.wrappers`. All rows of a trigger are checked first; if one required row differs,
nothing is patched and pip runs unpatched with one warning
(:meth:`ltt_hook.process.PipProcess.give_up`). Each applied wrapper runs under
:func:`ltt_hook.safety.guard`, with the one :class:`~ltt_hook.process.PipProcess` of this pip
process, which this step builds and the start-up finder keeps.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any, Callable, List, NamedTuple, Optional, Sequence, Tuple

from . import wrappers as w
from .errors import Stop
from .process import OLDEST_PIP, PipApi, PipProcess, older_than_supported
from .safety import guard

__all__ = ["Patch", "PATCHES", "TRIGGERS", "on_import"]

_FINDER = "pip._internal.index.package_finder"
_COLLECTOR = "pip._internal.index.collector"
_REQ_COMMAND = "pip._internal.cli.req_command"


class Patch(NamedTuple):
    """One row: ``module.owner.method`` (``owner`` None: a module function) gets ``wrapper``."""

    trigger: str  # the pip module whose import applies this row
    module: str
    owner: Optional[str]
    method: str
    params: Tuple[str, ...]  # leading parameters, as pip 22.3 - 26.3 name them
    wrapper: Callable[..., Any]
    kind: str = "method"  # "method", "classmethod" or "function"
    required: bool = True  # an optional row is skipped where pip lacks it

    @property
    def name(self) -> str:
        return f"{self.owner}.{self.method}" if self.owner else self.method


PATCHES: Sequence[Patch] = (
    Patch(_FINDER, "pip._internal.cli.base_command", "Command", "__init__",
          ("self", "name", "summary"), w.command_init),
    Patch(_FINDER, _COLLECTOR, "LinkCollector", "create",
          ("cls", "session", "options", "suppress_no_index"), w.collector_create, kind="classmethod"),
    Patch(_FINDER, _COLLECTOR, "LinkCollector", "collect_sources",
          ("self", "project_name", "candidates_from_page"), w.collect_sources),
    Patch(_FINDER, _COLLECTOR, None, "_get_simple_response",
          ("url", "session"), w.get_simple_response, kind="function"),
    Patch(_FINDER, _FINDER, "PackageFinder", "find_all_candidates",
          ("self", "project_name"), w.find_all_candidates),
    Patch(_FINDER, _FINDER, "PackageFinder", "find_best_candidate",
          ("self", "project_name", "specifier", "hashes"), w.find_best_candidate),
    Patch(_FINDER, _FINDER, "PackageFinder", "make_link_evaluator",
          ("self", "project_name"), w.make_link_evaluator),
    Patch(_FINDER, _FINDER, "LinkEvaluator", "evaluate_link",
          ("self", "link"), w.evaluate_link),
    Patch(_FINDER, _FINDER, "PackageFinder", "make_candidate_evaluator",
          ("self", "project_name", "specifier", "hashes"), w.make_candidate_evaluator),
    Patch(_FINDER, _FINDER, "CandidateEvaluator", "_sort_key",
          ("self", "candidate"), w.candidate_sort_key),
    Patch(_REQ_COMMAND, _REQ_COMMAND, "RequirementCommand", "get_requirements",
          ("self", "args", "options", "finder", "session"), w.get_requirements),
    # pip 26.2+: only for the venv-isolation notice.
    Patch(_REQ_COMMAND, "pip._internal.build_env", "SubprocessBuildEnvironmentInstaller", "install",
          ("self", "requirements", "prefix"), w.build_env_install, required=False),
    # Extensions built for the torch a run replaces (ltt_hook/extensions.py, after pip's resolver).
    Patch(_REQ_COMMAND, "pip._internal.resolution.resolvelib.resolver", "Resolver", "resolve",
          ("self", "root_reqs", "check_supported_wheels"), w.resolve, required=False),
)

TRIGGERS = tuple(dict.fromkeys(p.trigger for p in PATCHES))


def _params(func: Callable[..., Any]) -> List[str]:
    return list(inspect.signature(inspect.unwrap(func)).parameters)


def _target(row: Patch) -> Tuple[Any, Callable[..., Any]]:
    """The object to patch and pip's original function; LookupError names what differs."""
    module = importlib.import_module(row.module)
    owner = module if row.owner is None else getattr(module, row.owner, None)
    if owner is None:
        raise LookupError(f"{row.module}.{row.owner} is missing")
    value = inspect.getattr_static(owner, row.method, None)
    if value is None:
        raise LookupError(f"{row.name} is missing")
    func = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
    if (row.kind == "classmethod") != isinstance(value, classmethod) or not callable(func):
        raise LookupError(f"{row.name} is no longer a {row.kind}")
    if tuple(_params(func)[: len(row.params)]) != row.params:
        raise LookupError(f"{row.name}{inspect.signature(func)} has changed")
    return owner, func


def _check_finder_api() -> PipApi:
    """What the wrappers use besides the patched methods."""
    finder = sys.modules[_FINDER]
    collector = sys.modules[_COLLECTOR]
    scope = getattr(collector, "SearchScope", None)
    create = inspect.getattr_static(scope, "create", None) if scope is not None else None
    if create is None or _params(create.__func__)[:4] != ["cls", "find_links", "index_urls", "no_index"]:
        raise LookupError("SearchScope.create has changed")
    link_type = finder.LinkType
    if not (hasattr(link_type, "candidate") and hasattr(link_type, "platform_mismatch")):
        raise LookupError("LinkType members have changed")
    if "link_collector" not in _params(finder.PackageFinder.__init__):
        raise LookupError("PackageFinder no longer takes a link_collector")
    from pip._internal.exceptions import InstallationError

    return PipApi(search_scope=scope, link=importlib.import_module("pip._internal.models.link").Link,
                  link_type=link_type, stop_type=type("LttHookError", (InstallationError, Stop), {}))


def _apply(trigger: str, process: PipProcess) -> None:
    plan = []
    for row in PATCHES:
        if row.trigger != trigger:
            continue
        try:
            plan.append((row, *_target(row)))
        except (LookupError, ImportError):
            if row.required:
                raise
    if trigger == _FINDER:
        process.api = _check_finder_api()
    for row, owner, original in plan:  # every check passed: patch all
        patched = guard(process, original, row.wrapper, row.name)
        setattr(owner, row.method, classmethod(patched) if row.kind == "classmethod" else patched)


def on_import(name: str, module: Any, process: Optional[PipProcess] = None) -> PipProcess:
    """Called by the start-up finder right after pip, the program, executed module ``name``,
    with the process object of the trigger patched before (None at the first); returns the one
    to hand in next time. Never raises (except strict mode's exit)."""
    process = process or PipProcess()
    try:
        if process.broken or name not in TRIGGERS:
            return process
        version = getattr(sys.modules.get("pip"), "__version__", "")
        if older_than_supported(version):  # checked against 22.3 and newer only: never half-patch an older one
            process.give_up(f"pip {version} is older than {OLDEST_PIP}")
            return process
        _apply(name, process)
    except SystemExit:
        raise
    except BaseException as exc:
        try:
            process.give_up(f"{type(exc).__name__}: {exc}")
        except SystemExit:
            raise
        except BaseException:
            pass
    return process
