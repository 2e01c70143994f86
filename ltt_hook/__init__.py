"""ltt-hook: a plain ``pip install torch`` installs the PyTorch build made for this machine.

Importing this package costs nothing: the pip patch lives in :mod:`ltt_hook.pip_patch` and is
loaded only inside pip (see :mod:`ltt_hook._pth`).
"""

__version__ = "0.1.0"

#: The values that switch a boolean setting on, for every reader of one (``LTT_DISABLE`` at
#: start-up, the configuration, strict mode).
TRUTHY = ("1", "true", "yes", "on")


class CollectorPaused:
    """``with CollectorPaused():`` the cyclic garbage collector does not run inside the block.

    For the hook's own bulk imports inside pip (its modules, pynvml's hundreds of ctypes
    structures): everything they create lives as long as the process, so a collection they
    trigger finds nothing to free but still walks pip's whole heap. Left to run, they made a
    cold ``pip install torch torchvision`` cross into one full collection of pip's heap that
    the hand-written command does not reach (about 30 ms; docs/benchmarks.md). The collector
    comes back on as it was (a collector someone else turned off stays off), and it counts what
    the block allocated, so the next collection sees those objects once.
    """

    def __enter__(self):
        # type: () -> None
        import gc

        self._was_on = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc_info):
        # type: (object) -> None
        import gc

        if self._was_on:
            gc.enable()
