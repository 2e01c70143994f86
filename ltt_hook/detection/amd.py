"""AMD GPUs (Linux only): each GPU's gfx target.

From ``rocm_agent_enumerator``, else ``rocminfo``, else the kernel's KFD topology in sysfs (no
ROCm user space needed). ``LTT_AMD_GPU_ARCHITECTURE`` (:mod:`ltt_hook.overrides`) replaces the
probing.
"""

from __future__ import annotations

import os
import re
from typing import Dict, List, Optional

from ..overrides import AMD_VAR, Overrides, gfx_target
from .host import Host, ToolFailed, first_line
from .machine import Gpu, Machine

__all__ = ["decode_gfx_target_version", "probe"]


def decode_gfx_target_version(value: int) -> Optional[str]:
    """KFD's ``gfx_target_version`` (major*10000 + minor*100 + stepping) as a gfx target name,
    minor and stepping written as hex digits: 90010 -> gfx90a, 110000 -> gfx1100, 90402 ->
    gfx942. None for 0 (a CPU node) and for values that name no gfx target."""
    if value <= 0:
        return None
    major, rest = divmod(value, 10000)
    minor, stepping = divmod(rest, 100)
    if major > 99 or minor > 15 or stepping > 15:
        return None
    return f"gfx{major}{minor:x}{stepping:x}"


def _name(marketing: str = "") -> str:
    return marketing.strip() or "AMD GPU"


def _rocm_tool(host: Host, name: str) -> Optional[str]:
    rocm = host.environ.get("ROCM_PATH", "")
    return host.which(name, os.path.join(rocm, "bin", name) if rocm else "", host.path(f"/opt/rocm/bin/{name}"))


def _from_enumerator(machine: Machine, host: Host) -> List[Gpu]:
    exe = _rocm_tool(host, "rocm_agent_enumerator")
    if exe is None:
        return []
    out = host.run("rocm_agent_enumerator", [exe])
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    names = [gfx_target(ln) for ln in lines]
    gpus = [Gpu("amd", _name(), gfx=n) for n in names if n and n != "gfx000"]
    if not gpus:
        junk = [ln for ln, n in zip(lines, names) if n is None]
        detail = f"unexpected output {first_line(junk[0], 60)!r}" if junk else "no GPU agent listed"
        raise ToolFailed(f"rocm_agent_enumerator: {detail}")
    return gpus


def _from_rocminfo(machine: Machine, host: Host) -> List[Gpu]:
    exe = _rocm_tool(host, "rocminfo")
    if exe is None:
        return []
    out = host.run("rocminfo", [exe])
    gpus = []
    for agent in re.split(r"(?m)^\s*Agent\s+\d+\s*$", out)[1:]:
        fields: Dict[str, str] = {}
        for m in re.finditer(r"(?m)^\s*(Name|Marketing Name|Device Type):[ \t]*(.*?)\s*$", agent):
            fields.setdefault(m.group(1), m.group(2))
        gfx = gfx_target(fields.get("Name", ""))
        if gfx and gfx != "gfx000" and fields.get("Device Type", "GPU").upper() == "GPU":
            gpus.append(Gpu("amd", _name(fields.get("Marketing Name", "")), gfx=gfx))
    if not gpus:
        raise ToolFailed("rocminfo: no GPU agent found in its output")
    return gpus


def _from_kfd(machine: Machine, host: Host) -> List[Gpu]:
    base = "/sys/class/kfd/kfd/topology/nodes"
    nodes = sorted((n for n in host.listdir(base) or () if n.isdigit()), key=int)
    gpus = []
    for node in nodes:
        properties = host.read(f"{base}/{node}/properties") or ""
        m = re.search(r"(?m)^gfx_target_version\s+(\d+)\s*$", properties)
        if not m or int(m.group(1)) == 0:
            continue  # a CPU node
        gfx = decode_gfx_target_version(int(m.group(1)))
        if gfx is None:
            machine.notes.append(f"KFD node {node}: gfx_target_version {m.group(1)} names no gfx target")
            continue
        gpus.append(Gpu("amd", _name(), gfx=gfx))
    return gpus


_SOURCES = (
    ("rocm_agent_enumerator", _from_enumerator),
    ("rocminfo", _from_rocminfo),
    ("KFD topology (/sys/class/kfd)", _from_kfd),
)


def probe(machine: Machine, host: Host, overrides: Overrides) -> None:
    """The AMD GPUs: the first source that answers; ``LTT_AMD_GPU_ARCHITECTURE`` instead."""
    if overrides.amd_architectures is not None:
        for gfx in overrides.amd_architectures:
            machine.gpus.append(Gpu("amd", f"AMD GPU from {AMD_VAR}", gfx=gfx))
        machine.notes.append(f"{AMD_VAR}: {', '.join(overrides.amd_architectures)} (not probed)")
        return
    if machine.system != "Linux":
        return  # PyTorch's ROCm builds are Linux-only
    for label, source in _SOURCES:
        try:
            gpus = source(machine, host)
        except ToolFailed as exc:
            machine.notes.append(str(exc))
            continue
        if gpus:
            machine.gpus.extend(gpus)
            machine.notes.append(f"{label}: AMD GPU(s) {', '.join(g.gfx or '?' for g in gpus)}")
            return
