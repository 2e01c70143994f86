"""ltt-hook: a plain ``pip install torch`` installs the PyTorch build made for this machine.

Importing this package costs nothing: the pip patch lives in :mod:`ltt_hook.pip_patch` and is
loaded only inside pip (see :mod:`ltt_hook._pth`).
"""

__version__ = "0.1.0"

#: The values that switch a boolean setting on, for every reader of one (``LTT_DISABLE`` at
#: start-up, the configuration, strict mode).
TRUTHY = ("1", "true", "yes", "on")
