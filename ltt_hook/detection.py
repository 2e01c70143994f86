"""Detection: what this machine can run (NVIDIA driver and GPUs; otherwise CPU only).

Every probe is bounded and never raises: a failure is recorded as a note and the next
source is tried, ending in "no GPU". Detection runs at most once per process.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

__all__ = ["Gpu", "Machine", "detect"]

#: Seconds an external tool (nvidia-smi) may take before it is abandoned.
TOOL_TIMEOUT = 5.0


@dataclass(frozen=True)
class Gpu:
    vendor: str  # "nvidia"
    name: str
    #: Compute capability as (major, minor) for NVIDIA; None when it could not be read.
    capability: Optional[Tuple[int, int]] = None


@dataclass
class Machine:
    system: str  # platform.system(): "Linux", "Windows", "Darwin"
    nvidia_driver: Optional[str] = None
    gpus: List[Gpu] = field(default_factory=list)
    #: Where each fact came from and what failed, in order; shown by ``python -m ltt_hook``
    #: and in pip's ``-v`` log.
    notes: List[str] = field(default_factory=list)

    @property
    def nvidia_gpus(self) -> List[Gpu]:
        return [g for g in self.gpus if g.vendor == "nvidia"]


def _sysroot() -> str:
    # Tests point this at a fake /proc and /sys tree; normal use reads the real ones.
    return os.environ.get("LTT_SYSROOT", "") or "/"


def _read(path: str) -> Optional[str]:
    try:
        with open(os.path.join(_sysroot(), path.lstrip("/")), encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _probe_nvml(machine: Machine) -> bool:
    """NVML through pynvml: driver version and every GPU's compute capability."""
    try:
        import pynvml
    except ImportError:
        machine.notes.append("NVML: the pynvml module is not installed")
        return False
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # pynvml raises NVMLError subclasses, OSError-like load errors
        machine.notes.append(f"NVML: not available ({_text(exc) or type(exc).__name__})")
        return False
    try:
        machine.nvidia_driver = _text(pynvml.nvmlSystemGetDriverVersion()).strip()
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = _text(pynvml.nvmlDeviceGetName(handle))
            try:
                cap = tuple(int(x) for x in pynvml.nvmlDeviceGetCudaComputeCapability(handle))
            except Exception as exc:
                machine.notes.append(f"NVML: compute capability of GPU {i} unknown ({_text(exc)})")
                cap = None
            machine.gpus.append(Gpu("nvidia", name, cap))  # type: ignore[arg-type]
        machine.notes.append(f"NVML: driver {machine.nvidia_driver}, {len(machine.gpus)} GPU(s)")
        return True
    except Exception as exc:
        machine.notes.append(f"NVML: query failed ({_text(exc) or type(exc).__name__})")
        return machine.nvidia_driver is not None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def _driver_from_kernel(machine: Machine) -> Optional[str]:
    text = _read("/sys/module/nvidia/version")
    if text and text.strip():
        machine.notes.append(f"driver {text.strip()} from /sys/module/nvidia/version")
        return text.strip()
    text = _read("/proc/driver/nvidia/version")
    if text:
        m = re.search(r"Kernel Module(?: for \S+)?\s+(\d+(?:\.\d+)+)", text)
        if m:
            machine.notes.append(f"driver {m.group(1)} from /proc/driver/nvidia/version")
            return m.group(1)
    return None


def _nvidia_smi() -> Optional[str]:
    found = shutil.which("nvidia-smi")
    if found:
        return found
    if platform.system() == "Windows":
        for base in (os.environ.get("ProgramW6432"), os.environ.get("ProgramFiles"), r"C:\Windows\System32"):
            if base:
                for candidate in (os.path.join(base, "NVIDIA Corporation", "NVSMI", "nvidia-smi.exe"),
                                  os.path.join(base, "nvidia-smi.exe")):
                    if os.path.isfile(candidate):
                        return candidate
    return None


def _run_smi(machine: Machine, fields: str) -> Optional[List[List[str]]]:
    exe = _nvidia_smi()
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, f"--query-gpu={fields}", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False,
        )
    except subprocess.TimeoutExpired:
        machine.notes.append(f"nvidia-smi: no answer within {TOOL_TIMEOUT:g} s")
        return None
    except OSError as exc:
        machine.notes.append(f"nvidia-smi: could not run ({exc})")
        return None
    if out.returncode != 0:
        first = (out.stdout.strip() or out.stderr.strip() or "no output").splitlines()[0]
        machine.notes.append(f"nvidia-smi --query-gpu={fields}: exit {out.returncode} ({first})")
        return None
    return [[v.strip() for v in line.split(",")] for line in out.stdout.splitlines() if line.strip()]


def _capability(text: str) -> Optional[Tuple[int, int]]:
    m = re.fullmatch(r"(\d+)\.(\d+)", text.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def _probe_fallbacks(machine: Machine) -> None:
    """Driver from the kernel module or nvidia-smi; GPUs from nvidia-smi."""
    machine.nvidia_driver = _driver_from_kernel(machine)
    rows = _run_smi(machine, "driver_version,compute_cap,name")
    if rows is None:
        rows = _run_smi(machine, "driver_version,name")
        rows = [[r[0], "", r[-1]] for r in rows] if rows else rows
    if rows:
        machine.nvidia_driver = machine.nvidia_driver or rows[0][0]
        for row in rows:
            cap = _capability(row[1]) if len(row) > 2 else None
            machine.gpus.append(Gpu("nvidia", row[-1], cap))
        machine.notes.append(f"nvidia-smi: driver {rows[0][0]}, {len(rows)} GPU(s)")
    elif machine.nvidia_driver:
        machine.notes.append("nvidia-smi: GPUs unknown; assuming one GPU of unknown compute capability")
        machine.gpus.append(Gpu("nvidia", "unknown NVIDIA GPU", None))


_CACHE: Optional[Machine] = None


def detect(refresh: bool = False) -> Machine:
    """Probe this machine once per process (``refresh`` forces a new probe)."""
    global _CACHE
    if _CACHE is not None and not refresh:
        return _CACHE
    machine = Machine(system=platform.system())
    if machine.system == "Darwin":
        machine.notes.append("macOS: PyTorch ships CPU/MPS builds only")
    elif not _probe_nvml(machine):
        _probe_fallbacks(machine)
    if machine.nvidia_driver is None:
        machine.gpus = [g for g in machine.gpus if g.vendor != "nvidia"]
        machine.notes.append("no usable NVIDIA driver found")
    _CACHE = machine
    return machine
