"""The lines ltt-hook says, composed in one place: the one line of a pip run that resolves a
PyTorch project, the decision block at ``-v`` and its warnings; and :class:`Line`, the value the
run and the extensions hand to the wrappers, which say it (once per process where it has a key)."""

from __future__ import annotations

import logging
import os
import sys
from typing import List, NamedTuple, Optional

from . import data
from .backends import backend_from_url
from .config import Config
from .decision import Decision
from .pages import VERBOSE
from .urls import redact

__all__ = ["Line", "what_happened", "decision_lines", "compiling"]


class Line(NamedTuple):
    """A line for the user: said once per pip process under ``key`` (None: every time)."""

    key: Optional[str]
    level: int
    text: str


def what_happened(config: Config, decision: Optional[Decision], page: str, unconfirmed: Optional[str] = None) -> str:
    """The one line of a pip run that resolves a PyTorch project: the backend, what chose
    it (the GPUs and driver, or the setting), the index page, and the decision's notes but the
    ``unconfirmed`` one (the tables' "choosing torch R" note when the pages read do not bear it
    out: :meth:`ltt_hook.run.Run.unconfirmed`)."""
    backend = config.backend_of(page) or backend_from_url(page)
    name = backend.name if backend else "this index's builds"
    index = redact(page.rstrip("/").rsplit("/", 1)[0] if page.rstrip("/").endswith(tuple(data.PYTORCH)) else page)
    if decision is None:
        why = ""
    elif decision.fixed is not None:
        why = f" ({decision.fixed_by})"
    elif decision.machine is not None and decision.machine.gpus:
        gpus = ", ".join(sorted({g.name for g in decision.machine.gpus}))
        driver = decision.machine.nvidia_driver
        why = f" for {gpus}" + (f" (NVIDIA driver {driver})" if driver else "")
    else:
        why = " (no GPU that PyTorch can use was found)"
    notes = "".join(f"; {note}" for note in decision.notes if note != unconfirmed) if decision is not None else ""
    if compiling():
        notes += (f"; pip-compile pins them, so where ltt-hook is not installed add `--extra-index-url "
                  f"{index}` to requirements.in (or use `python -m ltt_hook requirements`)")
    return f"ltt-hook: PyTorch packages are {name} builds{why}, from {index}{notes}."


def compiling() -> bool:
    """Whether pip-tools' pip-compile is the program (it writes pins for other machines too)."""
    main = sys.modules.get("__main__")
    spec = getattr(getattr(main, "__spec__", None), "name", "") or ""
    script = (sys.argv or [""])[0].replace("\\", "/").rsplit("/", 1)[-1].lower()
    return spec.startswith("piptools") and "compile" in sys.argv[1:2] or script.startswith("pip-compile")


def decision_lines(config: Config, decision: Decision) -> List[Line]:
    """The decision block at ``-v``, and its warnings at every verbosity (its notes go into the
    one line that says what happened, :func:`what_happened`)."""
    lines = ["ltt-hook decision:"]
    if decision.why_off:
        lines.append(f"  off: {decision.why_off}")
    machine = decision.machine
    if machine is not None and decision.fixed is None:
        root = os.environ.get("LTT_SYSROOT", "").strip()
        if root:
            lines.append(f"  detection reads /proc, /sys and /etc under {root} (environment variable LTT_SYSROOT)")
        lines += [f"  detected: {note}" for note in machine.notes]
        lines += [f"  GPU: {gpu.summary}" for gpu in machine.gpus]
    if decision.fixed is not None:
        lines.append(f"  backend fixed by {decision.fixed_by}")
    if decision.plan:
        order = "in this order, until one serves the request" if not decision.consults_every_page else "all"
        names = ", ".join(b.name for b in decision.plan)
        lines.append(f"  pages ({order}): {names} on {redact(config.page(decision.plan[0]))} and so on")
    said = [Line(None, VERBOSE, "\n".join(lines))]
    return said + [Line(warning, logging.WARNING, warning) for warning in decision.warnings]
