"""Intel GPUs: display-class PCI devices of vendor 0x8086 by device id.

From sysfs on Linux, from the display-adapter list (PowerShell, ``Win32_VideoController``) on
Windows; selection matches the ids against :data:`ltt_hook.data.XPU_DEVICES`.
"""

from __future__ import annotations

import os
import re
from typing import List, Optional

from .. import data
from .host import Host, ToolFailed
from .machine import Gpu, Machine

__all__ = ["intel_gpu", "intel_platform", "probe"]

_XPU_BY_ID = {int(i, 16): platform_name for platform_name, ids in data.XPU_DEVICES.items() for i in ids.split()}


def intel_platform(device_id: Optional[str]) -> Optional[str]:
    """The XPU-supported platform of an Intel PCI device id (``0xe20b``), else None."""
    try:
        return _XPU_BY_ID.get(int(device_id or "", 16))
    except ValueError:
        return None


def intel_gpu(device: int, name: str = "") -> Gpu:
    """The Intel GPU of PCI device id ``device``, named by its XPU platform, else by ``name``."""
    pci_id = f"0x{device:04x}"
    return Gpu("intel", intel_platform(pci_id) or name.strip() or "Intel GPU", pci_id=pci_id)


def _from_sysfs(machine: Machine, host: Host) -> List[Gpu]:
    base = "/sys/bus/pci/devices"
    gpus = []
    for slot in sorted(host.listdir(base) or ()):
        try:
            vendor = int((host.read(f"{base}/{slot}/vendor") or "").strip(), 16)
            pci_class = int((host.read(f"{base}/{slot}/class") or "").strip(), 16)
            device = int((host.read(f"{base}/{slot}/device") or "").strip(), 16)
        except ValueError:
            continue
        if vendor == 0x8086 and (pci_class >> 16) == 0x03:  # display controller
            gpus.append(intel_gpu(device))
    return gpus


_WINDOWS_ADAPTERS = ("Get-CimInstance -ClassName Win32_VideoController | "
                     "ForEach-Object { $_.PNPDeviceID + '|' + $_.Name }")


def _from_windows(machine: Machine, host: Host) -> List[Gpu]:
    root = host.environ.get("SystemRoot", r"C:\Windows")
    exe = host.which("powershell", os.path.join(root, "System32", "WindowsPowerShell", "v1.0", "powershell.exe"))
    if exe is None:
        machine.notes.append("display adapters: PowerShell not found")
        return []
    out = host.run("display adapters (PowerShell Win32_VideoController)",
                    [exe, "-NoProfile", "-NonInteractive", "-Command", _WINDOWS_ADAPTERS])
    gpus = []
    for line in out.splitlines():
        m = re.search(r"VEN_8086&DEV_([0-9A-Fa-f]{4})", line)
        if m:
            gpus.append(intel_gpu(int(m.group(1), 16), line.partition("|")[2]))
    return gpus


def probe(machine: Machine, host: Host) -> None:
    """The Intel GPUs: PCI display devices (Linux), the display adapters (Windows)."""
    try:
        if machine.system == "Linux":
            gpus, where = _from_sysfs(machine, host), "PCI (/sys/bus/pci)"
        elif machine.system == "Windows":
            gpus, where = _from_windows(machine, host), "display adapters"
        else:
            return
    except ToolFailed as exc:
        machine.notes.append(str(exc))
        return
    if gpus:
        machine.gpus.extend(gpus)
        listed = ", ".join(f"8086:{g.pci_id[2:]} ({g.name if intel_platform(g.pci_id) else 'not an XPU-supported GPU'})"
                           for g in gpus if g.pci_id)
        machine.notes.append(f"{where}: Intel GPU(s) {listed}")
