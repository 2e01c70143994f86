"""Start-up hook, run by ``ltt_hook.pth`` (and ``ltt_hook.start`` on Python 3.15+).

It must cost nothing in interpreters that are not pip and must never raise. It imports only
``os`` and ``sys`` (both already loaded) and the package's own ``TRUTHY``, looks at
``sys.argv`` and, when pip may be the program, inserts one meta-path finder that reacts to two
pip module names. Only when pip imports those modules, and only when pip really is the program
(:func:`pip_is_the_program`), is the rest of ltt_hook imported (:mod:`ltt_hook.pip_patch`); the
finder keeps the pip process object the patch builds and hands it back at the next trigger.
"""

import os
import sys

from ltt_hook import TRUTHY, CollectorPaused

TYPE_CHECKING = False  # the start-up module imports nothing but os and sys
if TYPE_CHECKING:
    from typing import Any, List, Optional  # noqa: F401

#: pip modules whose import triggers the patch (the finder and the requirement command).
TRIGGERS = ("pip._internal.index.package_finder", "pip._internal.cli.req_command")

def _script_is_pip(path):
    # type: (str) -> bool
    name = os.path.basename(path).lower()
    for suffix in (".exe", "-script.pyw", "-script.py"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name in ("pip", "pip3", "__pip-runner__.py") or name.endswith(".pyz"):
        return True
    if name in ("pip-compile", "pip-sync"):  # pip-tools drives pip's finder in-process
        return True
    return name.startswith("pip3.") and name[5:].isdigit()


#: Interpreter options that take an argument (``-X dev``, ``-W error``, ``--check-hash-based-pycs``).
_WITH_ARGUMENT = "XW"
_LONG_WITH_ARGUMENT = ("--check-hash-based-pycs",)


def module_of(options):
    # type: (List[str]) -> Optional[str]
    """The module of ``python [options] -m MODULE``, from the interpreter's own arguments
    (``sys.orig_argv[1:]``); None when no ``-m`` comes before the program. Short options may
    be combined (``-Im pip``, ``-sm pip``, ``-IEm pip``, ``-Xfoo -m pip``, ``-mpip``)."""
    i = 0
    while i < len(options):
        arg = options[i]
        i += 1
        if arg in _LONG_WITH_ARGUMENT:
            i += 1
            continue
        if arg.startswith("--"):
            continue
        if arg == "-" or not arg.startswith("-"):
            return None  # a script: the program is not a module
        for j in range(1, len(arg)):
            flag = arg[j]
            if flag == "m":
                rest = arg[j + 1:]
                return rest or (options[i] if i < len(options) else None)
            if flag == "c":
                return None
            if flag in _WITH_ARGUMENT:
                if j == len(arg) - 1:
                    i += 1  # the argument is the next word
                break
    return None


def may_be_pip():
    # type: () -> bool
    """Cheap first test from the command line; :func:`pip_is_the_program` confirms it later."""
    argv = getattr(sys, "argv", None)
    if not argv:
        return False
    first = argv[0]
    if first == "-m":  # python -m <module>: the module name is only in orig_argv (3.10+)
        orig = getattr(sys, "orig_argv", None)
        if orig is None:
            return True
        return module_of(orig[1:]) in ("pip", "piptools")
    if first == "-c":  # runpy.run_module("pip") and similar in-process uses
        return True
    return _script_is_pip(first) or os.path.basename(os.path.dirname(first)) == "pip"


def pip_is_the_program():
    # type: () -> bool
    """Whether pip is this process's program, and not a tool that imports pip in-process.

    Asked when pip imports a trigger module, once ``__main__`` is the program that runs:
    ``python -m pip`` (``__main__`` is ``pip.__main__``) or one of pip's scripts.
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None) in ("pip.__main__", "piptools.__main__"):
        return True
    paths = (getattr(main, "__file__", None), (sys.argv or [""])[0])
    return any(path and _script_is_pip(path) for path in paths)


class _PatchingLoader:
    """Wraps pip's loader: run the module, then patch it. Patching never raises."""

    def __init__(self, loader, name, finder):
        # type: (Any, str, LttFinder) -> None
        self._loader = loader
        self._name = name
        self._finder = finder

    def create_module(self, spec):
        # type: (Any) -> Any
        return self._loader.create_module(spec)

    def exec_module(self, module):
        # type: (Any) -> None
        self._loader.exec_module(module)
        self._finder.patch(self._name, module)

    def __getattr__(self, attr):
        # type: (str) -> Any
        return getattr(self._loader, attr)


class _LegacyPatchingLoader:
    """The same for a loader with only ``load_module`` (Python 3.9's zipimporter, so a pip
    zipapp): load the module, then patch it."""

    def __init__(self, loader, name, finder):
        # type: (Any, str, LttFinder) -> None
        self._loader = loader
        self._name = name
        self._finder = finder

    def load_module(self, fullname):
        # type: (str) -> Any
        module = self._loader.load_module(fullname)
        self._finder.patch(self._name, module)
        return module

    def __getattr__(self, attr):
        # type: (str) -> Any
        if attr == "exec_module":  # keep importlib on the load_module path
            raise AttributeError(attr)
        return getattr(self._loader, attr)


class LttFinder:
    """Meta-path finder that only reacts to :data:`TRIGGERS`. It keeps what this process
    learned: whether ltt_hook could not load, and the pip process object the patch built
    (:class:`ltt_hook.process.PipProcess`), handed back to the patch at the next trigger."""

    def __init__(self):
        # type: () -> None
        self._busy = False
        self.failed = None  # type: Optional[BaseException]
        self.process = None  # type: Any

    def find_spec(self, name, path=None, target=None):
        # type: (str, Any, Any) -> Any
        if name not in TRIGGERS or self._busy:
            return None
        self._busy = True
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self._busy = False
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchingLoader(spec.loader, name, self)  # type: ignore[assignment]
        elif spec.loader is not None and hasattr(spec.loader, "load_module"):
            spec.loader = _LegacyPatchingLoader(spec.loader, name, self)  # type: ignore[assignment]
        return spec

    def patch(self, name, module):
        # type: (str, Any) -> None
        """pip executed trigger ``name``: patch it, if pip is the program. Never raises (except
        strict mode's exit)."""
        if self.failed is not None or not pip_is_the_program():
            return
        try:
            with CollectorPaused():  # the modules it loads live as long as pip
                from ltt_hook import pip_patch
        except BaseException as exc:  # never let anything escape into pip's import
            self.failed = exc
            sys.stderr.write("WARNING: ltt-hook could not load (%s: %s); pip runs unpatched.\n"
                             % (type(exc).__name__, exc))
            return
        self.process = pip_patch.on_import(name, module, self.process)


def install():
    # type: () -> None
    """Entry point of the ``.pth`` line and of the ``.start`` file."""
    try:
        if os.environ.get("LTT_DISABLE", "").strip().lower() in TRUTHY or not may_be_pip():
            return
        if any(isinstance(f, LttFinder) for f in sys.meta_path):
            return
        finder = LttFinder()
        sys.meta_path.insert(0, finder)
        for name in TRIGGERS:
            if name in sys.modules:
                finder.patch(name, sys.modules[name])
    except Exception:
        pass
