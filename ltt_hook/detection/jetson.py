"""NVIDIA Jetson modules (Linux only): the device tree and the L4T release.

The device tree's ``compatible`` and ``model`` (``/proc/device-tree``, else
``/sys/firmware/devicetree/base``) and ``/etc/nv_tegra_release`` (the L4T release), recorded as
:attr:`Machine.jetson <ltt_hook.detection.machine.Machine.jetson>`, since PyTorch's own CUDA
builds support no Jetson before Thor.
"""

from __future__ import annotations

import re

from .host import Host
from .machine import Jetson, Machine

__all__ = ["probe"]

_DEVICE_TREES = ("/proc/device-tree", "/sys/firmware/devicetree/base")


def probe(machine: Machine, host: Host) -> None:
    """A Jetson from its device tree (``nvidia,tegra234``...) and ``/etc/nv_tegra_release``."""
    if host.system != "Linux":
        return
    compatible = model = None
    where = []
    for tree in _DEVICE_TREES:
        compatible = host.read(f"{tree}/compatible")
        if compatible is not None:
            model = host.read(f"{tree}/model")
            where.append(f"{tree}/compatible")
            break
    entries = [e.strip() for e in (compatible or "").split("\0") if e.strip()]
    socs = [m.group(1) for e in entries if (m := re.fullmatch(r"nvidia,(tegra\d+)", e))]
    release = host.read("/etc/nv_tegra_release")
    l4t = None
    if release is not None:
        m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", release)
        l4t = f"{m.group(1)}.{m.group(2)}" if m else None
        where.append("/etc/nv_tegra_release")
    if not socs and release is None:
        return
    soc = socs[0] if socs else None
    family = Jetson(soc, "", l4t).family
    jetson = machine.jetson = Jetson(soc, (model or "").replace("\0", "").strip() or family, l4t)
    facts = [f"nvidia,{soc}" if soc else "SoC unknown"]
    if jetson.capability:
        facts.append(f"sm_{jetson.capability.replace('.', '')}")
    if l4t:
        facts.append(f"L4T R{l4t}")
    machine.notes.append(f"{family}: {jetson.model} ({', '.join(facts)}) from {' and '.join(where)}")
