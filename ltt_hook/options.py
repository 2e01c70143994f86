"""light-the-torch's pip options, added to pip's resolving commands.

``--pytorch-computation-backend``, ``--cpuonly`` and ``--pytorch-channel`` go through pip's own
option parser, so they also read ``PIP_PYTORCH_…`` variables and ``[global]``/``[install]`` config
keys. They feed :func:`ltt_hook.config.load` as its highest-precedence source.
"""

from __future__ import annotations

import logging
import optparse
from typing import Any, Dict, Optional

from .config import ConfigError

__all__ = ["COMMANDS", "add_options", "cli_settings", "configured_settings"]

logger = logging.getLogger("ltt_hook")

#: pip commands that resolve packages get the options.
COMMANDS = ("install", "download", "wheel", "lock", "index")
_NAMES = ("--pytorch-computation-backend", "--cpuonly", "--pytorch-channel")


def add_options(command: Any) -> None:
    """Add the options under their own heading; a pip that already has one of them keeps its
    own and gets none of ours."""
    parser = command.parser
    if any(parser.has_option(name) for name in _NAMES):
        logger.debug("ltt-hook: pip already defines %s; not adding ltt-hook's options", _NAMES)
        return
    group = optparse.OptionGroup(parser, "PyTorch Options (ltt-hook)")
    group.add_option(_NAMES[0], dest="ltt_backend", metavar="BACKEND[,BACKEND...]", default=None,
                     help="PyTorch computation backend(s): cpu, cuXY[Z], rocmX.Y, xpu or auto "
                          "(default: detect this machine's).")
    group.add_option(_NAMES[1], dest="ltt_cpuonly", action="store_true", default=False,
                     help="Shorthand for --pytorch-computation-backend=cpu.")
    group.add_option(_NAMES[2], dest="ltt_channel", metavar="CHANNEL", default=None,
                     help="PyTorch channel: stable (default), test or nightly. test and nightly allow "
                          "pre-releases of PyTorch packages without --pre.")
    parser.add_option_group(group)


def cli_settings(options: Any) -> Dict[str, Optional[str]]:
    """The options' values as ``{"backend": ..., "channel": ...}`` for :func:`config.load`."""
    backend = getattr(options, "ltt_backend", None)
    if getattr(options, "ltt_cpuonly", False):
        if backend and backend.strip().lower() != "cpu":
            raise ConfigError(f"ltt-hook: --cpuonly and --pytorch-computation-backend={backend} "
                              "contradict each other")
        backend = "cpu"
    return {"backend": backend, "channel": getattr(options, "ltt_channel", None)}


def configured_settings(isolated: bool = False) -> Dict[str, Optional[str]]:
    """The options as pip itself reads them for ``pip install`` without arguments: from
    ``PIP_PYTORCH_COMPUTATION_BACKEND``, ``PIP_CPUONLY``, ``PIP_PYTORCH_CHANNEL`` and the
    ``[global]``/``[install]`` keys of pip's config files, by pip's own option parser. For
    ``python -m ltt_hook`` and its exports, so that they honour every source pip honours."""
    from pip._internal.commands import create_command

    command = create_command("install", isolated=isolated)
    add_options(command)
    try:
        options, _ = command.parse_args([])
    except SystemExit:  # pip's parser has said which value it cannot use
        raise ConfigError("ltt-hook: pip's configuration holds a value pip cannot use (see above)") from None
    return cli_settings(options)
