"""The hook's own bulk imports inside pip do not run Python's garbage collector.

What ltt-hook loads inside pip (its modules; pynvml, which defines hundreds of ctypes
structures) lives as long as the process. A collection those imports trigger frees nothing and
walks pip's whole heap; on a cold ``pip install torch torchvision`` they tipped pip into one full
collection the hand-written command never reaches (docs/benchmarks.md, cold cost). So they run
with the collector paused, and it comes back as it was.
"""

from __future__ import annotations

import gc

import pytest

from ltt_hook import CollectorPaused
from support.harness import recorded_pip

RTX_3090 = ("8.6", "NVIDIA GeForce RTX 3090")



def test_the_collector_comes_back_as_it_was():
    was = gc.isenabled()
    try:
        gc.enable()
        with CollectorPaused():
            assert not gc.isenabled()
        assert gc.isenabled()
        gc.disable()  # someone else turned it off: it stays off
        with CollectorPaused():
            assert not gc.isenabled()
        assert not gc.isenabled()
        gc.enable()
        with pytest.raises(KeyError), CollectorPaused():
            raise KeyError("an error inside still turns it back on")
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


def test_no_collection_runs_while_the_hook_or_pynvml_loads_inside_pip(hook_venv, nvidia, tmp_path):
    """A real ``pip install torch torchvision`` on a GPU machine (pynvml over the NVML stand-in),
    with pip's cache directory off so that NVML is asked: collections happen, none of them while
    the patch's modules or pynvml are being imported, and the collector is on at the end."""
    result, found = recorded_pip(hook_venv, tmp_path, "install", "torch", "torchvision",
                                 env=nvidia("550.54.14", RTX_3090))
    assert result.returncode == 0, result.stderr
    assert "+cu" in {i["metadata"]["name"]: i["metadata"]["version"] for i in result.report["install"]}["torch"]

    assert {"pynvml", "ltt_hook.pip_patch", "ltt_hook.detection"} <= set(found["loaded"])
    assert found["collections"], "the recorder saw no collection at all"
    # What the patch loads (everything under ltt_hook.pip_patch's import), the probes (loaded with
    # the first machine) and pynvml; a module the run loads later, on its own (the offer's
    # reader), is small and not covered.
    bulk = {"ltt_hook.pip_patch", "ltt_hook.detection", "pynvml"}
    during = [names for names in found["inside"] if bulk & set(names)]
    assert during == []
    assert found["enabled"] is True
