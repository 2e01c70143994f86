"""The safety net: ltt-hook's own failures never break pip, and pip's own errors stay pip's.

Every patched pip method runs through :func:`guard`. A wrapper gets pip's original as a
:class:`PipCall`, which it may call at most once:

- an exception raised by pip's original goes up untouched (no warning, in strict mode too);
- an exception raised by ltt-hook's own code before pip's original was called makes pip run
  unpatched from then on (one warning) and calls the original instead;
- an exception raised by ltt-hook's own code after pip's original returned keeps pip's result;
  after pip's original raised, pip's exception goes up.

pip's original is never called twice. :class:`~ltt_hook.errors.Stop` is the one exception
ltt-hook raises on purpose: at patch time it becomes a subclass of pip's ``InstallationError``,
which pip prints as one ``ERROR:`` line before exiting with status 1. Giving up, and whether it
was said, is the pip process's (:class:`ltt_hook.process.PipProcess`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable, Optional

from .errors import Stop

if TYPE_CHECKING:
    from .process import PipProcess

__all__ = ["PipCall", "Wrapper", "guard"]


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


#: A wrapper: ``wrapper(process, original, *args, **kwargs)``, ``original`` being pip's method.
Wrapper = Callable[..., Any]


def guard(process: PipProcess, original: Callable[..., Any], wrapper: Wrapper, name: str) -> Callable[..., Any]:
    """pip's ``original`` patched with ``wrapper(process, original, *args, **kwargs)`` under the
    safety net."""

    @functools.wraps(original)
    def patched(*args: Any, **kwargs: Any) -> Any:
        if process.broken:
            return original(*args, **kwargs)
        pip = PipCall(original)
        try:
            return wrapper(process, pip, *args, **kwargs)
        except BaseException as exc:
            if exc is pip.raised or isinstance(exc, Stop) or not isinstance(exc, Exception):
                raise  # pip's own error, our deliberate stop, or an interrupt: untouched
            process.give_up(f"internal error in {name}: {type(exc).__name__}: {exc}")
        # Only ltt-hook's own code failed: the outcome is pip's, and pip runs once.
        if pip.raised is not None:
            raise pip.raised
        if pip.returned:
            return pip.result
        return original(*args, **kwargs)

    patched.__ltt_original__ = original  # type: ignore[attr-defined]
    return patched
