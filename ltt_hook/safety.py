"""The safety net: ltt-hook's own failures never break pip, and pip's own errors stay pip's.

Every patched pip method runs through :func:`guard`. A wrapper gets pip's original as a
:class:`PipCall`, which it may call at most once:

- an exception raised by pip's original goes up untouched (no warning, in strict mode too);
- an exception raised by ltt-hook's own code before pip's original was called makes pip run
  unpatched from then on (one warning) and calls the original instead;
- an exception raised by ltt-hook's own code after pip's original returned keeps pip's result;
  after pip's original raised, pip's exception goes up.

pip's original is never called twice. :class:`Stop` is the one exception ltt-hook raises on
purpose: at patch time it becomes a subclass of pip's ``InstallationError``, which pip prints as
one ``ERROR:`` line before exiting with status 1.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from typing import Any, Callable, Optional, Set, Type

from ._pth import TRUTHY as _TRUE

__all__ = ["PipCall", "Stop", "State", "STATE", "guard", "give_up", "note_once", "stop", "strict_mode"]

logger = logging.getLogger("ltt_hook")


class Stop(Exception):
    """Marker base for an error that must reach pip as one ``ERROR:`` line."""


class State:
    """What the safety net knows in this pip process."""

    def __init__(self) -> None:
        #: The first reason ltt-hook gave up; from then on every wrapper is pip's original.
        self.broken: Optional[str] = None
        self.warned = False
        #: ``[ltt] strict`` / ``LTT_STRICT`` once the configuration is read; None before.
        self.strict: Optional[bool] = None
        #: Keys of the notes already printed (each note once per process).
        self.notes: Set[str] = set()
        #: ``InstallationError`` subclass used by :func:`stop`, set when pip is patched.
        self.stop_type: Type[Exception] = Stop


STATE = State()


def strict_mode() -> bool:
    """``LTT_STRICT`` or ``[ltt] strict``: never let pip run unpatched."""
    value = os.environ.get("LTT_STRICT", "").strip().lower()
    if value:
        return value in _TRUE
    if STATE.strict is not None:
        return STATE.strict
    try:  # only reached when the patch fails before the configuration was read
        from . import config

        return config.strict_setting(isolated="--isolated" in sys.argv)
    except Exception:
        return False


#: The oldest pip whose internals the patch table was checked against (ltt_hook/pip_patch.py).
OLDEST_PIP = "22.3"


def older_than_supported(version: str) -> bool:
    try:
        from ._packaging import Version

        return Version(version) < Version(OLDEST_PIP)
    except Exception:
        return False


def give_up(reason: str) -> None:
    """ltt-hook cannot work in this pip: pip runs unpatched, with one warning (strict: exit 1)."""
    STATE.broken = STATE.broken or reason
    if STATE.warned:
        return
    STATE.warned = True
    version = getattr(sys.modules.get("pip"), "__version__", "unknown")
    if older_than_supported(version):
        message = (f"ltt-hook needs pip {OLDEST_PIP} or newer, and this is pip {version}; pip runs unpatched and "
                   "PyTorch packages come from your configured indexes. Upgrade pip: python -m pip install -U pip")
    else:
        message = (f"ltt-hook does not support pip {version} ({reason}); pip runs unpatched and "
                   "PyTorch packages come from your configured indexes. Please report this to "
                   "ltt-hook with the output of `pip --version`.")
    if strict_mode():
        sys.stderr.write(f"ERROR: {message} Strict mode is on, so pip stops here.\n")
        raise SystemExit(1)
    sys.stderr.write(f"WARNING: {message}\n")


def stop(message: str) -> Exception:
    """The exception that stops pip with ``ERROR: message`` (raise what this returns)."""
    return STATE.stop_type(message)


def note_once(key: str, message: str, *args: Any, level: int = logging.INFO) -> None:
    if key not in STATE.notes:
        STATE.notes.add(key)
        logger.log(level, message, *args)


class PipCall:
    """pip's original method, callable once; remembers how the call ended."""

    __slots__ = ("original", "called", "returned", "result", "raised")

    def __init__(self, original: Callable[..., Any]) -> None:
        self.original = original
        self.called = False
        self.returned = False
        self.result: Any = None
        self.raised: Optional[BaseException] = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.called:
            raise RuntimeError("ltt-hook called pip's original twice")  # a bug of ours
        self.called = True
        try:
            self.result = self.original(*args, **kwargs)
        except BaseException as exc:
            self.raised = exc
            raise
        self.returned = True
        return self.result


Wrapper = Callable[..., Any]


def guard(original: Callable[..., Any], wrapper: Wrapper, name: str) -> Callable[..., Any]:
    """pip's ``original`` patched with ``wrapper(pip, *args, **kwargs)`` under the safety net."""

    @functools.wraps(original)
    def patched(*args: Any, **kwargs: Any) -> Any:
        if STATE.broken:
            return original(*args, **kwargs)
        pip = PipCall(original)
        try:
            return wrapper(pip, *args, **kwargs)
        except BaseException as exc:
            if exc is pip.raised or isinstance(exc, Stop) or not isinstance(exc, Exception):
                raise  # pip's own error, our deliberate stop, or an interrupt: untouched
            give_up(f"internal error in {name}: {type(exc).__name__}: {exc}")
        # Only ltt-hook's own code failed: the outcome is pip's, and pip runs once.
        if pip.raised is not None:
            raise pip.raised
        if pip.returned:
            return pip.result
        return original(*args, **kwargs)

    patched.__ltt_original__ = original  # type: ignore[attr-defined]
    return patched
