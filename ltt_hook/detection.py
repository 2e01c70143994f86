"""Detection: what this machine can run (NVIDIA, AMD and Intel GPUs; otherwise CPU only).

Every probe is bounded and never raises: a failure is recorded as a note and the next
source is tried, ending in "no GPU". Detection runs at most once per process.

- NVIDIA: NVML through pynvml (``libnvidia-ml.so.1``; on WSL2 also
  ``/usr/lib/wsl/lib/libnvidia-ml.so.1``; on Windows pynvml finds ``nvml.dll`` itself);
  otherwise the kernel module's version file plus ``nvidia-smi``.
- AMD (Linux only): gfx targets from ``rocm_agent_enumerator``, else ``rocminfo``, else the
  KFD topology in sysfs (no ROCm user space needed).
- Intel: display-class PCI devices of vendor 0x8086 (sysfs on Linux, the display-adapter list
  on Windows), matched against :data:`ltt_hook.data.XPU_DEVICES` by selection.
- NVIDIA Jetson (Linux only): the device tree's ``compatible`` and ``model``
  (``/proc/device-tree``, else ``/sys/firmware/devicetree/base``) and ``/etc/nv_tegra_release``
  (the L4T release); recorded as :attr:`Machine.jetson`, since PyTorch's own CUDA builds support
  no Jetson before Thor.
- Overrides (``LTT_CUDA_DRIVER_VERSION``, ``LTT_CUDA_COMPUTE_CAPABILITIES``,
  ``LTT_AMD_GPU_ARCHITECTURE``) state facts instead of probing them, for machines that cannot
  be probed (Docker builds, CI). The only exception :func:`detect` raises is
  :class:`OverrideError`, for an override that does not parse.

:func:`detect` takes what it looks at as parameters: the operating system (default
``platform.system()``), the CPU architecture (default the interpreter's, from its platform tag:
:func:`interpreter_arch`), the filesystem
root below which ``/proc``, ``/sys``, ``/etc`` and ``/opt`` are read
(default ``$LTT_SYSROOT``, else ``/``; end-to-end tests point it at a fake tree), the environment
(``PATH``, ``ROCM_PATH``, the overrides) and the time each external tool may take.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from . import data
from .config import ConfigError

__all__ = ["Gpu", "Host", "Jetson", "Machine", "Overrides", "OverrideError", "detect", "read_overrides",
           "decode_gfx_target_version", "intel_platform", "interpreter_arch", "TOOL_TIMEOUT"]

#: Seconds an external tool (nvidia-smi, rocm_agent_enumerator, rocminfo, PowerShell) may
#: take before it is abandoned.
TOOL_TIMEOUT = 5.0

#: Environment variables that replace probing (the uv / conda equivalents in the README).
DRIVER_VAR = "LTT_CUDA_DRIVER_VERSION"
CAPS_VAR = "LTT_CUDA_COMPUTE_CAPABILITIES"
AMD_VAR = "LTT_AMD_GPU_ARCHITECTURE"

_GFX = re.compile(r"gfx(\d{1,2})([0-9a-f])([0-9a-f])")

#: Platform-tag CPUs that name more than one architecture (macOS fat builds): the running
#: process's own, ``platform.machine()``, decides.
_MULTI_ARCH = frozenset({"universal2", "universal", "intel", "fat", "fat3", "fat64"})


def interpreter_arch(environ: Optional[Mapping[str, str]] = None) -> str:
    """The CPU architecture of this interpreter's platform tag (``sysconfig.get_platform()``),
    which decides the wheels pip installs, named as ``platform.machine()`` names it natively:
    ``x86_64``, ``AMD64`` (Windows), ``aarch64`` (Linux), ``arm64`` (macOS), ``ARM64`` (Windows).

    That is not always the kernel's machine: an x86_64 Python under Rosetta on an arm64 Mac,
    a 32-bit Python on 64-bit Windows (``x86``) or Linux (``i686``, ``armv8l``, as
    ``packaging.tags`` reads it). ``_PYTHON_HOST_PLATFORM`` in ``environ`` (default
    ``os.environ``) replaces the tag on POSIX, as it does for ``sysconfig`` and so for pip. A tag
    naming several CPUs (``macosx-10.9-universal2``) leaves ``platform.machine()``.
    """
    env = os.environ if environ is None else environ
    tag = (env.get("_PYTHON_HOST_PLATFORM", "") if os.name == "posix" else "") or sysconfig.get_platform()
    if tag == "win32":
        return "x86"
    os_part, dash, cpu = tag.rpartition("-")
    if not dash or not cpu or cpu in _MULTI_ARCH:
        return platform.machine()
    if os_part == "win":
        return cpu.upper()  # win-amd64, win-arm64
    if sys.maxsize <= 2**32 and os_part == "linux":  # a 32-bit interpreter on a 64-bit kernel
        return {"x86_64": "i686", "aarch64": "armv8l"}.get(cpu, cpu)
    return cpu


@dataclass(frozen=True)
class Gpu:
    vendor: str  # "nvidia", "amd" or "intel"
    name: str
    #: Compute capability as (major, minor) for NVIDIA; None when it could not be read.
    capability: Optional[Tuple[int, int]] = None
    #: AMD: the gfx target (``gfx1100``); Intel: the PCI device id (``0xe20b``); else None.
    arch: Optional[str] = None

    @property
    def summary(self) -> str:
        """One line for people: name and what selection judges it by."""
        if self.vendor == "nvidia":
            cap = "%d.%d" % self.capability if self.capability else "unknown"
            return f"{self.name} (NVIDIA, compute capability {cap})"
        if self.vendor == "amd":
            return f"{self.name} (AMD, {self.arch})"
        if self.vendor == "intel":
            pci = f"PCI 8086:{self.arch[2:]}" if self.arch else "PCI id unknown"
            return f"{self.name} (Intel, {pci})"
        return self.name


@dataclass(frozen=True)
class Jetson:
    """An NVIDIA Jetson module, from its device tree and L4T release file."""

    #: The system-on-chip of the device tree's ``nvidia,<soc>`` entry (``tegra234`` is Orin);
    #: None when only ``/etc/nv_tegra_release`` was found.
    soc: Optional[str]
    #: The device tree's ``model`` (``NVIDIA Jetson AGX Orin Developer Kit``), else the family.
    model: str
    #: The L4T release (``36.4.0``; R36 is JetPack 6), None when ``/etc/nv_tegra_release`` is absent.
    l4t: Optional[str] = None

    @property
    def family(self) -> str:
        """``Jetson Orin``, ``Jetson Thor``...; ``Jetson`` when the SoC is unknown."""
        return data.JETSON_SOCS.get(self.soc or "", ("Jetson", ""))[0]

    @property
    def capability(self) -> Optional[str]:
        """Its GPU's compute capability (``8.7``), None when the SoC is unknown."""
        return data.JETSON_SOCS[self.soc][1] if self.soc in data.JETSON_SOCS else None

    @property
    def sbsa(self) -> bool:
        """Whether PyTorch's own aarch64 (SBSA) CUDA builds support it (Thor)."""
        if self.soc is not None:
            return self.soc in data.JETSON_SBSA
        major = re.match(r"\d+", self.l4t or "")
        return major is not None and int(major.group()) >= data.JETSON_SBSA_L4T


@dataclass
class Machine:
    system: str  # platform.system(): "Linux", "Windows", "Darwin"
    nvidia_driver: Optional[str] = None
    gpus: List[Gpu] = field(default_factory=list)
    #: Where each fact came from and what failed, in order; shown by ``python -m ltt_hook``
    #: and in pip's ``-v`` log.
    notes: List[str] = field(default_factory=list)
    #: Override variables that replaced probing: name -> value.
    overrides: Dict[str, str] = field(default_factory=dict)
    #: The interpreter's CPU architecture (:func:`interpreter_arch`, ``platform.machine()``
    #: names): "x86_64", "AMD64", "aarch64", "arm64"; selection reads it with ``system`` to pick
    #: the build tables of the platform (``selection.platform_of``).
    arch: str = field(default_factory=interpreter_arch)
    #: The NVIDIA Jetson module this is, None for any other machine.
    jetson: Optional[Jetson] = None

    @property
    def nvidia_gpus(self) -> List[Gpu]:
        return [g for g in self.gpus if g.vendor == "nvidia"]

    @property
    def amd_gpus(self) -> List[Gpu]:
        return [g for g in self.gpus if g.vendor == "amd"]

    @property
    def intel_gpus(self) -> List[Gpu]:
        return [g for g in self.gpus if g.vendor == "intel"]


# --------------------------------------------------------------------------- the host


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _first_line(text: str, limit: int = 120) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


class _ToolFailed(Exception):
    """An external tool that could not answer; the message is the note to record."""


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)  # the tool and anything it started
        else:
            proc.kill()
    except OSError:
        try:
            proc.kill()
        except OSError:
            pass


@dataclass(frozen=True, eq=False)
class Host:
    """What detection looks at: the operating system it detects for (``platform.system()``
    names), the filesystem root below which ``/proc``, ``/sys`` and ``/opt`` are read, the
    environment (``PATH`` and the other variables the probes read) and the seconds an external
    tool may take."""

    system: str
    root: str
    environ: Mapping[str, str]
    timeout: float
    #: The interpreter's CPU architecture (:func:`interpreter_arch`): ``x86_64``, ``AMD64``,
    #: ``aarch64``, ``arm64``.
    arch: str = field(default_factory=interpreter_arch)

    def path(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def read(self, path: str) -> Optional[str]:
        try:
            with open(self.path(path), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return None

    def listdir(self, path: str) -> Optional[List[str]]:
        try:
            return os.listdir(self.path(path))
        except OSError:
            return None

    def which(self, name: str, *extra: str) -> Optional[str]:
        found = shutil.which(name, path=self.environ.get("PATH", os.defpath))
        if found:
            return found
        for candidate in extra:
            if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        return None

    def run(self, label: str, argv: Sequence[str]) -> str:
        """Run an external tool for at most :attr:`timeout` seconds; its standard output.

        Raises :class:`_ToolFailed` (a one-line note) when it cannot start, hangs or fails.
        The tool runs in its own process group, which is killed on timeout, so a child that
        keeps the pipes open cannot hold pip either.
        """
        kwargs: Dict[str, object] = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True
        elif hasattr(subprocess, "CREATE_NO_WINDOW"):
            kwargs["creationflags"] = subprocess.CREATE_NO_WINDOW  # type: ignore[attr-defined,unused-ignore]
        try:
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, errors="replace", env=dict(self.environ),
                                    **kwargs)  # type: ignore[call-overload]
        except OSError as exc:
            raise _ToolFailed(f"{label}: could not run ({exc})") from None
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            try:
                proc.communicate(timeout=1)
            except (subprocess.TimeoutExpired, OSError, ValueError):
                pass
            raise _ToolFailed(f"{label}: no answer within {self.timeout:g} s") from None
        if proc.returncode != 0:
            raise _ToolFailed(f"{label}: exit {proc.returncode} ({_first_line(out or err) or 'no output'})")
        return out or ""


# --------------------------------------------------------------------------- overrides


class OverrideError(ConfigError):
    """An override variable that does not parse; the message names variable and value."""


@dataclass(frozen=True)
class Overrides:
    cuda_driver: Optional[str] = None
    cuda_capabilities: Optional[Tuple[Tuple[int, int], ...]] = None
    amd_architectures: Optional[Tuple[str, ...]] = None
    #: variable -> value as given, for the report.
    given: Tuple[Tuple[str, str], ...] = ()


def _items(value: str) -> List[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _bad(var: str, value: str, expected: str) -> OverrideError:
    return OverrideError(f"ltt-hook: environment variable {var} is {value!r}, not {expected}")


def read_overrides(environ: Optional[Mapping[str, str]] = None) -> Overrides:
    """The override variables that are set (empty counts as unset); raise
    :class:`OverrideError` for one that does not parse."""
    env = os.environ if environ is None else environ
    driver = caps = arches = None
    given = []
    value = env.get(DRIVER_VAR, "").strip()
    if value:
        if not re.fullmatch(r"\d+(\.\d+){0,3}", value):
            raise _bad(DRIVER_VAR, env[DRIVER_VAR], "an NVIDIA driver version (e.g. 550.54.14)")
        driver = value
        given.append((DRIVER_VAR, value))
    value = env.get(CAPS_VAR, "").strip()
    if value:
        parsed = []
        for item in _items(value):
            m = re.fullmatch(r"(\d+)\.(\d+)", item)
            if not m:
                raise _bad(CAPS_VAR, env[CAPS_VAR], "a comma-separated list of compute capabilities (e.g. 8.6,9.0)")
            parsed.append((int(m.group(1)), int(m.group(2))))
        if not parsed:
            raise _bad(CAPS_VAR, env[CAPS_VAR], "a comma-separated list of compute capabilities (e.g. 8.6,9.0)")
        caps = tuple(parsed)
        given.append((CAPS_VAR, value))
    value = env.get(AMD_VAR, "").strip()
    if value:
        names = []
        for item in _items(value):
            name = item.lower().split(":", 1)[0]  # gfx90a:xnack- -> gfx90a
            if not _GFX.fullmatch(name) or name == "gfx000":
                raise _bad(AMD_VAR, env[AMD_VAR],
                           "a comma-separated list of AMD GPU architectures (e.g. gfx1100 or gfx90a,gfx942)")
            names.append(name)
        if not names:
            raise _bad(AMD_VAR, env[AMD_VAR], "a comma-separated list of AMD GPU architectures (e.g. gfx1100)")
        arches = tuple(names)
        given.append((AMD_VAR, value))
    return Overrides(driver, caps, arches, tuple(given))


# --------------------------------------------------------------------------- NVIDIA


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
        machine.notes.append(f"NVML: {WSL_NVML} (WSL2) did not load ({_text(exc)})")
        return False
    machine.notes.append(f"NVML: loaded {WSL_NVML} (WSL2)")
    return True


def _probe_nvml(machine: Machine, host: Host) -> bool:
    """NVML through pynvml: driver version and every GPU's compute capability."""
    if not _nvml_library(machine, host):
        return False
    try:
        import pynvml
    except ImportError:
        machine.notes.append("NVML: the pynvml module is not installed")
        return False
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # pynvml raises NVMLError subclasses
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
        machine.notes.append(f"NVML: driver {machine.nvidia_driver}, {len(machine.nvidia_gpus)} GPU(s)")
        return True
    except Exception as exc:
        machine.notes.append(f"NVML: query failed ({_text(exc) or type(exc).__name__})")
        return machine.nvidia_driver is not None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def _driver_from_kernel(machine: Machine, host: Host) -> Optional[str]:
    if host.system != "Linux":
        return None
    text = host.read("/sys/module/nvidia/version")
    if text and text.strip():
        machine.notes.append(f"driver {text.strip()} from /sys/module/nvidia/version")
        return text.strip()
    text = host.read("/proc/driver/nvidia/version")
    if text:
        m = re.search(r"Kernel Module(?: for \S+)?\s+(\d+(?:\.\d+)+)", text)
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
    except _ToolFailed as exc:
        if "not a valid field" in str(exc):
            raise _FieldUnknown(str(exc)) from None
        raise
    return [[v.strip() for v in line.split(",")] for line in out.splitlines() if line.strip()]


def _capability(text: str) -> Optional[Tuple[int, int]]:
    m = re.fullmatch(r"(\d+)\.(\d+)", text.strip())
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
        except (_ToolFailed, _FieldUnknown) as exc:
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


def _detect_nvidia(machine: Machine, host: Host, overrides: Overrides) -> None:
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


# --------------------------------------------------------------------------- NVIDIA Jetson

_DEVICE_TREES = ("/proc/device-tree", "/sys/firmware/devicetree/base")


def _detect_jetson(machine: Machine, host: Host) -> None:
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


# --------------------------------------------------------------------------- AMD


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


def _gfx(token: str) -> Optional[str]:
    """A gfx target name from a tool's output (``gfx90a:sramecc+:xnack-`` -> ``gfx90a``)."""
    name = token.strip().lower().split(":", 1)[0]
    return name if _GFX.fullmatch(name) else None


def _amd_name(marketing: str = "") -> str:
    return marketing.strip() or "AMD GPU"


def _rocm_tool(host: Host, name: str) -> Optional[str]:
    rocm = host.environ.get("ROCM_PATH", "")
    return host.which(name, os.path.join(rocm, "bin", name) if rocm else "", host.path(f"/opt/rocm/bin/{name}"))


def _amd_from_enumerator(machine: Machine, host: Host) -> List[Gpu]:
    exe = _rocm_tool(host, "rocm_agent_enumerator")
    if exe is None:
        return []
    out = host.run("rocm_agent_enumerator", [exe])
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    names = [_gfx(ln) for ln in lines]
    gpus = [Gpu("amd", _amd_name(), None, n) for n in names if n and n != "gfx000"]
    if not gpus:
        junk = [ln for ln, n in zip(lines, names) if n is None]
        detail = f"unexpected output {_first_line(junk[0], 60)!r}" if junk else "no GPU agent listed"
        raise _ToolFailed(f"rocm_agent_enumerator: {detail}")
    return gpus


def _amd_from_rocminfo(machine: Machine, host: Host) -> List[Gpu]:
    exe = _rocm_tool(host, "rocminfo")
    if exe is None:
        return []
    out = host.run("rocminfo", [exe])
    gpus = []
    for agent in re.split(r"(?m)^\s*Agent\s+\d+\s*$", out)[1:]:
        fields: Dict[str, str] = {}
        for m in re.finditer(r"(?m)^\s*(Name|Marketing Name|Device Type):[ \t]*(.*?)\s*$", agent):
            fields.setdefault(m.group(1), m.group(2))
        arch = _gfx(fields.get("Name", ""))
        if arch and arch != "gfx000" and fields.get("Device Type", "GPU").upper() == "GPU":
            gpus.append(Gpu("amd", _amd_name(fields.get("Marketing Name", "")), None, arch))
    if not gpus:
        raise _ToolFailed("rocminfo: no GPU agent found in its output")
    return gpus


def _amd_from_kfd(machine: Machine, host: Host) -> List[Gpu]:
    base = "/sys/class/kfd/kfd/topology/nodes"
    nodes = sorted((n for n in host.listdir(base) or () if n.isdigit()), key=int)
    gpus = []
    for node in nodes:
        text = host.read(f"{base}/{node}/properties") or ""
        m = re.search(r"(?m)^gfx_target_version\s+(\d+)\s*$", text)
        if not m or int(m.group(1)) == 0:
            continue  # a CPU node
        arch = decode_gfx_target_version(int(m.group(1)))
        if arch is None:
            machine.notes.append(f"KFD node {node}: gfx_target_version {m.group(1)} names no gfx target")
            continue
        gpus.append(Gpu("amd", _amd_name(), None, arch))
    return gpus


_AMD_SOURCES = (
    ("rocm_agent_enumerator", _amd_from_enumerator),
    ("rocminfo", _amd_from_rocminfo),
    ("KFD topology (/sys/class/kfd)", _amd_from_kfd),
)


def _detect_amd(machine: Machine, host: Host, overrides: Overrides) -> None:
    if overrides.amd_architectures is not None:
        for arch in overrides.amd_architectures:
            machine.gpus.append(Gpu("amd", f"AMD GPU from {AMD_VAR}", None, arch))
        machine.notes.append(f"{AMD_VAR}: {', '.join(overrides.amd_architectures)} (not probed)")
        return
    if machine.system != "Linux":
        return  # PyTorch's ROCm builds are Linux-only
    for label, source in _AMD_SOURCES:
        try:
            gpus = source(machine, host)
        except _ToolFailed as exc:
            machine.notes.append(str(exc))
            continue
        if gpus:
            machine.gpus.extend(gpus)
            machine.notes.append(f"{label}: AMD GPU(s) {', '.join(g.arch or '?' for g in gpus)}")
            return


# --------------------------------------------------------------------------- Intel

_XPU_BY_ID = {int(i, 16): platform_name for platform_name, ids in data.XPU_DEVICES.items() for i in ids.split()}


def intel_platform(device_id: Optional[str]) -> Optional[str]:
    """The XPU-supported platform of an Intel PCI device id (``0xe20b``), else None."""
    try:
        return _XPU_BY_ID.get(int(device_id or "", 16))
    except ValueError:
        return None


def _intel_gpu(device: int, name: str = "") -> Gpu:
    arch = f"0x{device:04x}"
    return Gpu("intel", intel_platform(arch) or name.strip() or "Intel GPU", None, arch)


def _intel_from_sysfs(machine: Machine, host: Host) -> List[Gpu]:
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
            gpus.append(_intel_gpu(device))
    return gpus


_WINDOWS_ADAPTERS = ("Get-CimInstance -ClassName Win32_VideoController | "
                     "ForEach-Object { $_.PNPDeviceID + '|' + $_.Name }")


def _intel_from_windows(machine: Machine, host: Host) -> List[Gpu]:
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
            gpus.append(_intel_gpu(int(m.group(1), 16), line.partition("|")[2]))
    return gpus


def _detect_intel(machine: Machine, host: Host) -> None:
    try:
        if machine.system == "Linux":
            gpus, where = _intel_from_sysfs(machine, host), "PCI (/sys/bus/pci)"
        elif machine.system == "Windows":
            gpus, where = _intel_from_windows(machine, host), "display adapters"
        else:
            return
    except _ToolFailed as exc:
        machine.notes.append(str(exc))
        return
    if gpus:
        machine.gpus.extend(gpus)
        listed = ", ".join(f"8086:{g.arch[2:]} ({g.name if intel_platform(g.arch) else 'not an XPU-supported GPU'})"
                           for g in gpus if g.arch)
        machine.notes.append(f"{where}: Intel GPU(s) {listed}")


# --------------------------------------------------------------------------- entry point


#: Environment variables the probes read; with the host's system, root and timeout they key the
#: cache, so a process asking about the same machine twice probes it once.
_ENV_KEYS = (DRIVER_VAR, CAPS_VAR, AMD_VAR, "PATH", "ROCM_PATH", "ProgramW6432", "ProgramFiles", "SystemRoot")

_CACHE: Dict[Tuple[object, ...], Machine] = {}


def _guarded(machine: Machine, vendor: str, probe: Callable[..., None], *args: Any) -> None:
    """Run one vendor's probe; an unexpected error is a note, never an exception."""
    try:
        probe(machine, *args)
    except Exception as exc:  # pragma: no cover - defensive: the probes catch their own errors
        machine.notes.append(f"{vendor} detection failed ({type(exc).__name__}: {exc})")


def _host(system: Optional[str], root: Optional[str], timeout: Optional[float],
          environ: Optional[Mapping[str, str]], arch: Optional[str] = None) -> Host:
    env = os.environ if environ is None else environ
    return Host(system=system or platform.system(), root=root or env.get("LTT_SYSROOT", "") or "/",
                environ=env, timeout=TOOL_TIMEOUT if timeout is None else timeout,
                arch=arch or interpreter_arch(env))


def _cache_key(host: Host) -> Tuple[object, ...]:
    return (host.system, host.arch, host.root, host.timeout, tuple(host.environ.get(k) for k in _ENV_KEYS))


def _probe(host: Host) -> Machine:
    overrides = read_overrides(host.environ)
    machine = Machine(system=host.system, overrides=dict(overrides.given), arch=host.arch)
    if machine.system == "Darwin":
        machine.notes.append("macOS: PyTorch ships CPU/MPS builds only")
        if overrides.given:
            machine.notes.append(f"{', '.join(v for v, _ in overrides.given)} ignored on macOS")
    else:
        _guarded(machine, "Jetson", _detect_jetson, host)
        _guarded(machine, "NVIDIA", _detect_nvidia, host, overrides)
        _guarded(machine, "AMD", _detect_amd, host, overrides)
        _guarded(machine, "Intel", _detect_intel, host)
    if machine.nvidia_driver is None:
        machine.gpus = [g for g in machine.gpus if g.vendor != "nvidia"]
        machine.notes.append("no usable NVIDIA driver found")
    return machine


def detect(refresh: bool = False, *, system: Optional[str] = None, root: Optional[str] = None,
           timeout: Optional[float] = None, environ: Optional[Mapping[str, str]] = None,
           arch: Optional[str] = None) -> Machine:
    """Probe a machine once per process (``refresh`` forces a new probe).

    ``system`` is the operating system to detect for (``platform.system()`` names; default this
    one's), ``arch`` its CPU architecture (``platform.machine()`` names; default this
    interpreter's, :func:`interpreter_arch`, which honours ``_PYTHON_HOST_PLATFORM`` in ``environ``),
    ``root`` the filesystem root of ``/proc``, ``/sys``, ``/etc`` and ``/opt`` (default
    ``$LTT_SYSROOT``, else ``/``), ``timeout`` the seconds each external tool may take (default
    :data:`TOOL_TIMEOUT`) and ``environ`` the environment (``PATH``, ``ROCM_PATH``, overrides;
    default ``os.environ``). Each combination is probed once per process.

    Raises :class:`OverrideError` when an override variable does not parse; nothing else.
    """
    host = _host(system, root, timeout, environ, arch)
    key = _cache_key(host)
    if refresh or key not in _CACHE:
        _CACHE[key] = _probe(host)
    return _CACHE[key]
