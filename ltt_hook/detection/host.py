"""The host detection looks at: files below a root, tools on a ``PATH``, a bounded tool runner.

A :class:`Host` is everything a probe may read of the machine, so tests describe a machine by
its parameters (an operating system, a fake sysfs tree as the root, a bin folder as ``PATH``,
a short timeout) and nothing is patched.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from typing import Dict, List, Mapping, Optional, Sequence

from .machine import interpreter_arch

__all__ = ["Host", "ToolFailed", "TOOL_TIMEOUT", "as_text", "first_line"]

#: Seconds an external tool (nvidia-smi, rocm_agent_enumerator, rocminfo, PowerShell) may
#: take before it is abandoned.
TOOL_TIMEOUT = 5.0


def as_text(value: object) -> str:
    """``value`` as text (pynvml answers bytes or str, depending on its version)."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def first_line(output: str, limit: int = 120) -> str:
    """The first non-blank line of ``output``, shortened to ``limit`` characters, for a note."""
    line = next((ln.strip() for ln in output.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


class ToolFailed(Exception):
    """An external tool that could not answer; the message is the note to record."""


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)  # the tool and anything it started
        else:
            proc.kill()
    except OSError:
        try:
            proc.kill()
        except OSError:
            pass


class Host:
    """What detection looks at: the operating system it detects for (``platform.system()``
    names), the filesystem root below which ``/proc``, ``/sys``, ``/etc`` and ``/opt`` are read,
    the environment (``PATH`` and the other variables the probes read) and the seconds an
    external tool may take."""

    __slots__ = ("system", "root", "environ", "timeout", "arch", "cache_dir")

    def __init__(self, system: str, root: str, environ: Mapping[str, str], timeout: float = TOOL_TIMEOUT,
                 arch: Optional[str] = None, cache_dir: Optional[str] = None) -> None:
        self.system = system
        self.root = root
        self.environ = environ
        self.timeout = timeout
        #: The interpreter's CPU architecture (:func:`~ltt_hook.detection.machine.interpreter_arch`):
        #: ``x86_64``, ``AMD64``, ``aarch64``, ``arm64``.
        self.arch = arch if arch is not None else interpreter_arch()
        #: Where probes may remember what they found between processes (pip's cache directory plus
        #: ``ltt-hook``); None: every process probes afresh.
        self.cache_dir = cache_dir

    def path(self, path: str) -> str:
        """``path`` (absolute, ``/``-separated) below the root."""
        return os.path.join(self.root, path.lstrip("/"))

    def read(self, path: str) -> Optional[str]:
        """The text of the file ``path`` below the root; None when it cannot be read."""
        try:
            with open(self.path(path), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return None

    def listdir(self, path: str) -> Optional[List[str]]:
        """The entries of the folder ``path`` below the root; None when it cannot be listed."""
        try:
            return os.listdir(self.path(path))
        except OSError:
            return None

    def which(self, name: str, *extra: str) -> Optional[str]:
        """The tool ``name`` on the environment's ``PATH``, else the first executable of ``extra``."""
        found = shutil.which(name, path=self.environ.get("PATH", os.defpath))
        if found:
            return found
        for candidate in extra:
            if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        return None

    def run(self, label: str, argv: Sequence[str]) -> str:
        """Run an external tool for at most :attr:`timeout` seconds; its standard output.

        Raises :class:`ToolFailed` (a one-line note) when it cannot start, hangs or fails.
        The tool runs in its own process group, which is killed on timeout, so a child that
        keeps the pipes open cannot hold pip either.
        """
        kwargs: Dict[str, object] = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True
        elif hasattr(subprocess, "CREATE_NO_WINDOW"):
            kwargs["creationflags"] = subprocess.CREATE_NO_WINDOW  # type: ignore[attr-defined,unused-ignore]
        try:
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, errors="replace", env=dict(self.environ),
                                    **kwargs)  # type: ignore[call-overload]
        except OSError as exc:
            raise ToolFailed(f"{label}: could not run ({exc})") from None
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            try:
                proc.communicate(timeout=1)
            except (subprocess.TimeoutExpired, OSError, ValueError):
                pass
            raise ToolFailed(f"{label}: no answer within {self.timeout:g} s") from None
        if proc.returncode != 0:
            raise ToolFailed(f"{label}: exit {proc.returncode} ({first_line(out or err) or 'no output'})")
        return out or ""
