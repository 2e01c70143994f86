"""NVIDIA GPUs: the driver version and each GPU's compute capability.

NVML through pynvml (``libnvidia-ml.so.1``; on WSL2 also ``/usr/lib/wsl/lib/libnvidia-ml.so.1``;
on Windows pynvml finds ``nvml.dll`` itself), imported only when the library loads; otherwise the
kernel module's version file plus ``nvidia-smi``. ``LTT_CUDA_DRIVER_VERSION`` and
``LTT_CUDA_COMPUTE_CAPABILITIES`` (:mod:`ltt_hook.overrides`) replace what they state.
"""

from __future__ import annotations

import os
import re
from typing import List, Optional, Tuple

from .. import CollectorPaused
from ..overrides import CAPS_VAR, DRIVER_VAR, Overrides
from .host import Host, ToolFailed, as_text
from .machine import Gpu, Machine

__all__ = ["WSL_NVML", "probe"]

#: Where WSL2 puts the Windows driver's NVML for Linux programs.
WSL_NVML = "/usr/lib/wsl/lib/libnvidia-ml.so.1"


def _nvml_library(machine: Machine, host: Host) -> bool:
    """Linux: load ``libnvidia-ml.so.1`` with dlopen before importing pynvml.

    A failed dlopen costs about 0.1 ms, importing pynvml about 20 ms, so machines without the
    library skip the import. When the usual name does not load, WSL2's copy is loaded by its
    path; pynvml's own ``CDLL("libnvidia-ml.so.1")`` then finds it loaded under that soname.
    Other systems: pynvml looks for its library itself.
    """
    if machine.system != "Linux":
        return True
    import ctypes

    try:
        ctypes.CDLL("libnvidia-ml.so.1")
        return True
    except OSError:
        pass
    wsl = host.path(WSL_NVML)
    if not os.path.isfile(wsl):
        machine.notes.append("NVML: libnvidia-ml.so.1 not found")
        return False
    try:
        ctypes.CDLL(wsl)
    except OSError as exc:
        machine.notes.append(f"NVML: {WSL_NVML} (WSL2) did not load ({as_text(exc)})")
        return False
    machine.notes.append(f"NVML: loaded {WSL_NVML} (WSL2)")
    return True


def fingerprint(host: Host) -> Optional[str]:
    """Linux: a digest of the kernel module's own account of the driver and of every GPU it
    drives (``/proc/driver/nvidia/version`` and each ``gpus/<PCI address>/information``, which
    names the model and the GPU's UUID). Two equal fingerprints mean the same driver build and
    the same GPUs, so NVML would answer the same. None elsewhere, or when the account is
    incomplete (no GPU entries, an entry without its UUID)."""
    if host.system != "Linux":
        return None
    version = host.read("/proc/driver/nvidia/version")
    buses = host.listdir("/proc/driver/nvidia/gpus")
    if not version or not buses:
        return None
    parts = [host.root, version]
    for bus in sorted(buses):
        info = host.read(f"/proc/driver/nvidia/gpus/{bus}/information")
        if not info or "UUID" not in info:
            return None
        parts += [bus, info]
    import hashlib

    return hashlib.sha256("\0".join(parts).encode("utf-8", "replace")).hexdigest()


_MEMORY = "nvml.json"


def _recall(machine: Machine, host: Host, print_: str) -> bool:
    """What NVML answered in an earlier process with the same fingerprint, if remembered."""
    import json

    try:
        with open(os.path.join(host.cache_dir or "", _MEMORY), encoding="utf-8") as f:
            found = json.load(f)
        if found.get("fingerprint") != print_:
            return False
        driver = str(found["driver"])
        gpus = [Gpu("nvidia", str(name), (int(cap[0]), int(cap[1])) if cap else None) for name, cap in found["gpus"]]
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False
    machine.nvidia_driver = driver
    machine.gpus.extend(gpus)
    machine.notes.append(f"NVML: driver {driver}, {len(gpus)} GPU(s) (remembered: /proc/driver/nvidia shows the "
                         "same driver and GPUs as when NVML was last asked)")
    return True


def _remember(machine: Machine, host: Host, print_: str) -> None:
    import json
    import tempfile

    gpus = [[g.name, list(g.capability) if g.capability else None] for g in machine.nvidia_gpus]
    try:
        os.makedirs(host.cache_dir or "", exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=host.cache_dir, prefix=".nvml-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"fingerprint": print_, "driver": machine.nvidia_driver, "gpus": gpus}, f)
        os.replace(tmp, os.path.join(host.cache_dir or "", _MEMORY))
    except OSError:
        pass  # a read-only or full cache directory: the next process asks NVML again


def _probe_nvml(machine: Machine, host: Host) -> bool:
    """NVML through pynvml: driver version and every GPU's compute capability (remembered
    between processes under ``host.cache_dir`` while :func:`fingerprint` is unchanged)."""
    print_ = fingerprint(host) if host.cache_dir else None
    if print_ is not None and _recall(machine, host, print_):
        return True
    if not _ask_nvml(machine, host):
        return False
    if print_ is not None and machine.nvidia_driver and all(g.capability for g in machine.nvidia_gpus):
        _remember(machine, host, print_)
    return True


def _ask_nvml(machine: Machine, host: Host) -> bool:
    if not _nvml_library(machine, host):
        return False
    try:
        with CollectorPaused():  # hundreds of ctypes structures that live as long as the process
            import pynvml
    except ImportError:
        machine.notes.append("NVML: the pynvml module is not installed")
        return False
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # pynvml raises NVMLError subclasses
        machine.notes.append(f"NVML: not available ({as_text(exc) or type(exc).__name__})")
        return False
    try:
        machine.nvidia_driver = as_text(pynvml.nvmlSystemGetDriverVersion()).strip()
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = as_text(pynvml.nvmlDeviceGetName(handle))
            try:
                cap = tuple(int(x) for x in pynvml.nvmlDeviceGetCudaComputeCapability(handle))
            except Exception as exc:
                machine.notes.append(f"NVML: compute capability of GPU {i} unknown ({as_text(exc)})")
                cap = None
            machine.gpus.append(Gpu("nvidia", name, cap))  # type: ignore[arg-type]
        machine.notes.append(f"NVML: driver {machine.nvidia_driver}, {len(machine.nvidia_gpus)} GPU(s)")
        return True
    except Exception as exc:
        machine.notes.append(f"NVML: query failed ({as_text(exc) or type(exc).__name__})")
        return machine.nvidia_driver is not None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def _driver_from_kernel(machine: Machine, host: Host) -> Optional[str]:
    if host.system != "Linux":
        return None
    found = host.read("/sys/module/nvidia/version")
    if found and found.strip():
        machine.notes.append(f"driver {found.strip()} from /sys/module/nvidia/version")
        return found.strip()
    found = host.read("/proc/driver/nvidia/version")
    if found:
        m = re.search(r"Kernel Module(?: for \S+)?\s+(\d+(?:\.\d+)+)", found)
        if m:
            machine.notes.append(f"driver {m.group(1)} from /proc/driver/nvidia/version")
            return m.group(1)
    return None


def _nvidia_smi(host: Host) -> Optional[str]:
    extra: List[str] = []
    if host.system == "Windows":
        env = host.environ
        for base in (env.get("ProgramW6432"), env.get("ProgramFiles"),
                     os.path.join(env.get("SystemRoot", r"C:\Windows"), "System32")):
            if base:
                extra += [os.path.join(base, "NVIDIA Corporation", "NVSMI", "nvidia-smi.exe"),
                          os.path.join(base, "nvidia-smi.exe")]
    return host.which("nvidia-smi", *extra)


class _FieldUnknown(Exception):
    """nvidia-smi ran but rejected the query (drivers before 510 lack compute_cap)."""


def _run_smi(host: Host, exe: str, fields: str) -> List[List[str]]:
    try:
        out = host.run("nvidia-smi", [exe, f"--query-gpu={fields}", "--format=csv,noheader"])
    except ToolFailed as exc:
        if "not a valid field" in str(exc):
            raise _FieldUnknown(str(exc)) from None
        raise
    return [[v.strip() for v in line.split(",")] for line in out.splitlines() if line.strip()]


def _capability(value: str) -> Optional[Tuple[int, int]]:
    m = re.fullmatch(r"(\d+)\.(\d+)", value.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def _probe_fallbacks(machine: Machine, host: Host) -> None:
    """Driver from the kernel module or nvidia-smi; GPUs from nvidia-smi (each tried once:
    a tool that hangs costs one timeout, not two)."""
    machine.nvidia_driver = _driver_from_kernel(machine, host)
    exe = _nvidia_smi(host)
    rows: Optional[List[List[str]]] = None
    if exe is not None:
        try:
            try:
                rows = _run_smi(host, exe, "driver_version,compute_cap,name")
            except _FieldUnknown:
                rows = [[r[0], "", r[-1]] for r in _run_smi(host, exe, "driver_version,name")]
        except (ToolFailed, _FieldUnknown) as exc:
            machine.notes.append(str(exc))
    if rows:
        machine.nvidia_driver = machine.nvidia_driver or rows[0][0]
        for row in rows:
            cap = _capability(row[1]) if len(row) > 2 else None
            machine.gpus.append(Gpu("nvidia", row[-1], cap))
        machine.notes.append(f"nvidia-smi: driver {rows[0][0]}, {len(rows)} GPU(s)")
    elif machine.nvidia_driver:
        machine.notes.append("nvidia-smi: GPUs unknown; assuming one GPU of unknown compute capability")
        machine.gpus.append(Gpu("nvidia", "unknown NVIDIA GPU", None))


def probe(machine: Machine, host: Host, overrides: Overrides) -> None:
    """The NVIDIA driver and GPUs: NVML, else the kernel module and nvidia-smi; the override
    variables replace what they state."""
    if overrides.cuda_driver is None and overrides.cuda_capabilities is None:
        if not _probe_nvml(machine, host):
            _probe_fallbacks(machine, host)
        return
    if overrides.cuda_driver is not None:
        machine.nvidia_driver = overrides.cuda_driver
        machine.notes.append(f"{DRIVER_VAR}: NVIDIA driver {overrides.cuda_driver} (not probed)")
    else:
        if not _probe_nvml(machine, host):
            _probe_fallbacks(machine, host)
        if machine.nvidia_driver is None:
            machine.notes.append(f"{CAPS_VAR} is set but no NVIDIA driver was found; set {DRIVER_VAR} too")
    machine.gpus = [g for g in machine.gpus if g.vendor != "nvidia"]
    if overrides.cuda_capabilities is not None:
        for cap in overrides.cuda_capabilities:
            machine.gpus.append(Gpu("nvidia", f"NVIDIA GPU from {CAPS_VAR}", cap))
        caps = ", ".join("%d.%d" % c for c in overrides.cuda_capabilities)
        machine.notes.append(f"{CAPS_VAR}: compute capabilities {caps} (not probed)")
    else:
        machine.gpus.append(Gpu("nvidia", f"NVIDIA GPU from {DRIVER_VAR}", None))
        machine.notes.append(f"{CAPS_VAR} is not set: one GPU of unknown compute capability, so the "
                             "driver alone decides")
