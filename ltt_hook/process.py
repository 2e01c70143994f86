"""One pip process as ltt-hook sees it: one object, built by the patch step and handed to every
wrapper (:mod:`ltt_hook.pip_patch`).

It holds what outlives one ``LinkCollector``: pip's classes the wrappers need, the command pip
created, the safety net's flags (broken, warned, strict), the notes already said, the log of how
every index page answered, the index's variants files read, and the machines detected. A fresh
object is fresh state (a test builds its own); no module of ltt_hook keeps any of it.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any, Dict, Optional, Set, Tuple, Type

from . import TRUTHY, CollectorPaused
from .errors import Stop
from .overrides import Overrides
from .pages import PageLog, VariantFiles

if TYPE_CHECKING:
    from .detection import Machine

__all__ = ["PipApi", "PipProcess", "OLDEST_PIP", "older_than_supported"]

logger = logging.getLogger("ltt_hook")

#: The oldest pip whose internals the patch table was checked against (ltt_hook/pip_patch.py).
OLDEST_PIP = "22.3"


def older_than_supported(version: str) -> bool:
    try:
        from ._packaging import Version

        return Version(version) < Version(OLDEST_PIP)
    except Exception:
        return False


class PipApi:
    """pip's classes the wrappers need besides the patched methods, found when the patch is
    applied (:func:`ltt_hook.pip_patch._check_finder_api`)."""

    def __init__(self, search_scope: Any = None, link: Any = None, link_type: Any = None,
                 stop_type: Type[Exception] = Stop) -> None:
        self.search_scope = search_scope  # pip._internal.models.search_scope.SearchScope
        self.link = link  # pip._internal.models.link.Link
        self.link_type = link_type  # pip._internal.index.package_finder.LinkType
        #: The ``InstallationError`` subclass :meth:`PipProcess.stop` raises (pip prints one line).
        self.stop_type = stop_type


class PipProcess:
    """This pip process: pip's API, its command, the safety net's flags, the notes said, the
    page log, the variants files and the machines detected."""

    def __init__(self, api: Optional[PipApi] = None) -> None:
        self.api = api or PipApi()
        #: The command pip created (its configuration is read once, by pip).
        self.command: Any = None
        #: The first reason ltt-hook gave up; from then on every wrapper is pip's original.
        self.broken: Optional[str] = None
        self.warned = False
        #: ``[ltt] strict`` / ``LTT_STRICT`` once the configuration is read; None before.
        self.strict: Optional[bool] = None
        #: Keys of the notes already said (each note once per process).
        self.said: Set[str] = set()
        #: How every index page fetched in this process answered.
        self.pages = PageLog()
        #: The index's variants files read in this process.
        self.variant_files = VariantFiles()
        self._machines: Dict[Tuple[object, ...], Machine] = {}

    # -- what the user sees

    def note_once(self, key: str, message: str, *args: Any, level: int = logging.INFO) -> None:
        """Say ``message`` (pip's logger, at ``level``) unless a note of ``key`` was said."""
        if key not in self.said:
            self.said.add(key)
            logger.log(level, message, *args)

    def stop(self, message: str) -> Exception:
        """The exception that stops pip with ``ERROR: message`` (raise what this returns)."""
        return self.api.stop_type(message)

    def strict_mode(self) -> bool:
        """``LTT_STRICT`` or ``[ltt] strict``: never let pip run unpatched."""
        value = os.environ.get("LTT_STRICT", "").strip().lower()
        if value:
            return value in TRUTHY
        if self.strict is not None:
            return self.strict
        try:  # only reached when the patch fails before the configuration was read
            from .config import strict_setting

            return strict_setting(isolated="--isolated" in sys.argv)
        except Exception:
            return False

    def give_up(self, reason: str) -> None:
        """ltt-hook cannot work in this pip: pip runs unpatched, with one warning (strict: exit 1)."""
        self.broken = self.broken or reason
        if self.warned:
            return
        self.warned = True
        version = getattr(sys.modules.get("pip"), "__version__", "unknown")
        if older_than_supported(version):
            message = (f"ltt-hook needs pip {OLDEST_PIP} or newer, and this is pip {version}; pip runs unpatched "
                       "and PyTorch packages come from your configured indexes. Upgrade pip: python -m pip install "
                       "-U pip")
        else:
            message = (f"ltt-hook does not support pip {version} ({reason}); pip runs unpatched and "
                       "PyTorch packages come from your configured indexes. Please report this to "
                       "ltt-hook with the output of `pip --version`.")
        if self.strict_mode():
            sys.stderr.write(f"ERROR: {message} Strict mode is on, so pip stops here.\n")
            raise SystemExit(1)
        sys.stderr.write(f"WARNING: {message}\n")

    # -- the machine

    def machine(self, overrides: Optional[Overrides], cache_dir: Optional[str]) -> Machine:
        """This machine (:func:`ltt_hook.detection.detect`), probed once per process for the same
        question. The probes are loaded only here: a run of no PyTorch project never loads them."""
        with CollectorPaused():  # they live as long as pip (see CollectorPaused)
            from . import detection

        key = (overrides, cache_dir, detection.question(os.environ))
        if key not in self._machines:
            self._machines[key] = detection.detect(overrides=overrides, cache_dir=cache_dir)
        return self._machines[key]
