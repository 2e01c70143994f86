"""Operating-system-boundary stand-ins for GPU detection tests.

Nothing here mocks ltt-hook's own code.  Instead the helpers build things the
hook meets on a real machine, so detection runs through its real code paths:

* :func:`build_fake_nvml` compiles ``fake_nvml.c`` into ``libnvidia-ml.so.1``,
  which the real ``pynvml`` loads via ``ctypes.CDLL`` once
  :func:`nvml_env`'s ``LD_LIBRARY_PATH`` points at it;
* :func:`make_nvidia_smi` and :func:`make_rocm_agent_enumerator` write
  executables that answer like the real command-line tools;
* :func:`make_sysroot` writes a fake ``/proc`` + ``/sys`` tree (the hook reads
  paths prefixed by ``$LTT_SYSROOT`` in tests);
* every stand-in tool records the process id of each run (:func:`runs`), so a
  test can check that a hanging tool was started once and killed
  (:func:`is_running`) without timing anything.

Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "DEFAULT_DRIVER",
    "DEFAULT_GPUS",
    "build_fake_nvml",
    "cuda_for_driver",
    "gfx_target_version",
    "make_nvidia_smi",
    "make_powershell",
    "make_rocm_agent_enumerator",
    "make_rocminfo",
    "make_sysroot",
    "nvml_env",
    "is_running",
    "runs",
]

_HERE = Path(__file__).resolve().parent
_FAKE_NVML_SOURCE = _HERE / "fake_nvml.c"

#: The library name pynvml passes to ``ctypes.CDLL`` on Linux.
NVML_LIBRARY_NAME = "libnvidia-ml.so.1"

DEFAULT_DRIVER = "550.54.14"
DEFAULT_GPUS: tuple[tuple[str, str], ...] = (("8.6", "NVIDIA GeForce RTX 3090"),)

# Highest CUDA version each driver branch supports: (min driver major, CUDA int).
# Mirrors cuda_for_driver() in fake_nvml.c so both stand-ins agree.
_CUDA_BY_DRIVER: tuple[tuple[int, int], ...] = (
    (590, 13010), (580, 13000), (575, 12090), (570, 12080), (565, 12070),
    (560, 12060), (555, 12050), (550, 12040), (545, 12030), (535, 12020),
    (530, 12010), (525, 12000), (520, 11080), (515, 11070), (510, 11060),
    (495, 11050), (470, 11040), (465, 11030), (460, 11020), (455, 11010),
    (450, 11000), (440, 10020), (418, 10010), (410, 10000), (396, 9020),
)


def cuda_for_driver(driver: str) -> int:
    """Return the CUDA driver version int (e.g. ``12040``) a driver branch reports.

    Same table as the fake NVML uses when ``FAKE_NVML_CUDA`` is unset.
    """
    match = re.match(r"\d+", driver)
    major = int(match.group()) if match else 0
    for min_major, cuda in _CUDA_BY_DRIVER:
        if major >= min_major:
            return cuda
    return 9000


# Jetson device trees (``compatible`` entries, most specific first, and ``model``) as in the
# Linux kernel's arch/arm64/boot/dts/nvidia/tegra234-p3737-0000+p3701-0000.dts, and L4T
# release files in the format of /etc/nv_tegra_release. Thor's entries are inferred
# (``tegra264``, board ids unverified); JetPack 7 is L4T R38.
AGX_ORIN = ("nvidia,p3737-0000+p3701-0000", "nvidia,p3701-0000", "nvidia,tegra234")
AGX_ORIN_MODEL = "NVIDIA Jetson AGX Orin Developer Kit"
AGX_THOR = ("nvidia,p3971-0000+p3834-0000", "nvidia,p3834-0000", "nvidia,tegra264")
AGX_THOR_MODEL = "NVIDIA Jetson AGX Thor Developer Kit"
L4T_R36 = ("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, "
           "DATE: Wed Jan  8 01:49:37 UTC 2025\n# KERNEL_VARIANT: oot\n")
L4T_R38 = ("# R38 (release), REVISION: 2.0, GCID: 41844464, BOARD: generic, EABI: aarch64, "
           "DATE: Fri Aug 22 00:55:42 UTC 2025\n# KERNEL_VARIANT: oot\n")

# NVIDIA GPUs of Linux aarch64 (SBSA) machines, as ``(compute capability, NVML name)`` for
# :func:`nvml_env`: Grace Hopper (sm_90), DGX Spark's GB10 (sm_121) and Jetson Thor (sm_110, from
# CUDA 13 on; build-facts audit §2 "CUDA, Linux aarch64"). Jetson Orin (sm_87) has no NVML
# (JetPack 6): it is the device tree and L4T release above.
GH200 = ("9.0", "NVIDIA GH200 480GB")
GB10 = ("12.1", "NVIDIA GB10")
THOR = ("11.0", "NVIDIA Thor")


# --------------------------------------------------------------------------
# Fake NVML
# --------------------------------------------------------------------------


def build_fake_nvml(dest_dir: Path) -> Path:
    """Compile ``fake_nvml.c`` (next to this file) into ``dest_dir/libnvidia-ml.so.1``.

    Uses ``gcc`` (``$CC`` if set).  Returns ``dest_dir``.  Raises
    :class:`RuntimeError` with the compiler's output if compilation fails, or
    if no compiler is found.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    compiler = os.environ.get("CC") or "gcc"
    if shutil.which(compiler) is None:
        raise RuntimeError(
            f"cannot build the fake NVML library: compiler {compiler!r} not found on PATH"
        )
    output = dest_dir / NVML_LIBRARY_NAME
    cmd = [
        compiler, "-shared", "-fPIC", "-O1",
        f"-Wl,-soname,{NVML_LIBRARY_NAME}",
        "-o", str(output), str(_FAKE_NVML_SOURCE),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not output.is_file():
        raise RuntimeError(
            "building the fake NVML library failed "
            f"(exit {proc.returncode}): {' '.join(cmd)}\n{proc.stdout}{proc.stderr}"
        )
    return dest_dir


def _gpu_spec(gpus: Sequence[tuple[str, str]]) -> str:
    """Encode ``(("8.6", "Name"), ...)`` as ``FAKE_NVML_GPUS`` text."""
    parts = []
    for cc, name in gpus:
        if ";" in name or not re.fullmatch(r"\d+\.\d+", cc):
            raise ValueError(f"bad fake GPU entry {(cc, name)!r}")
        parts.append(f"{cc}:{name}")
    return ";".join(parts)


def nvml_env(
    lib_dir: Path,
    driver: str = DEFAULT_DRIVER,
    gpus: Sequence[tuple[str, str]] = DEFAULT_GPUS,
    cuda: int | None = None,
    init_error: int | None = None,
    cc_error: int | None = None,
    log: Path | None = None,
) -> dict[str, str]:
    """Return environment additions that make ``pynvml`` load the fake NVML.

    ``LD_LIBRARY_PATH`` is ``lib_dir`` prepended to the current value (from
    ``os.environ``).  Every ``FAKE_NVML_*`` variable is always present; the
    library treats an empty value as unset, so merging this dict over an
    environment that already has stale ``FAKE_NVML_*`` values is safe.

    ``gpus`` is a sequence of ``("MAJOR.MINOR", "name")``; empty gives 0 devices.
    ``cuda`` None lets the library derive it from ``driver``; ``init_error`` /
    ``cc_error`` are NVML return codes for ``nvmlInit*`` /
    ``nvmlDeviceGetCudaComputeCapability``; ``log`` gets one line per call.
    """
    existing = os.environ.get("LD_LIBRARY_PATH", "")
    ld_path = str(Path(lib_dir)) + (os.pathsep + existing if existing else "")
    return {
        "LD_LIBRARY_PATH": ld_path,
        "FAKE_NVML_DRIVER": driver,
        "FAKE_NVML_GPUS": _gpu_spec(gpus),
        "FAKE_NVML_CUDA": "" if cuda is None else str(cuda),
        "FAKE_NVML_INIT_ERROR": "" if init_error is None else str(init_error),
        "FAKE_NVML_CC_ERROR": "" if cc_error is None else str(cc_error),
        "FAKE_NVML_LOG": "" if log is None else str(log),
    }


# --------------------------------------------------------------------------
# Fake command-line tools
# --------------------------------------------------------------------------


_RECORD_RUN = """
import os as _os
with open({runs!r}, "a") as _runs:
    _runs.write("%d\\n" % _os.getpid())
"""


def _runs_file(tool: Path) -> Path:
    return tool.with_name(f".{tool.name}.runs")


def runs(tool: Path) -> list[int]:
    """Process ids of every run of the stand-in ``tool`` since it was written, in order."""
    try:
        return [int(line) for line in _runs_file(Path(tool)).read_text().split()]
    except FileNotFoundError:
        return []


def is_running(pid: int) -> bool:
    """Whether process ``pid`` still runs (Linux ``/proc``); a zombie has stopped running."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _write_python_tool(path: Path, config: dict[str, object], body: str) -> Path:
    """Write an executable Python script run by this interpreter (``-I``).

    A plain ``#!`` line is used when ``sys.executable`` allows it; otherwise a
    ``/bin/sh``/Python polyglot that ``exec``s the interpreter.  Either way the
    tool is a single process, so killing it on timeout leaves nothing holding
    the caller's pipes.
    """
    exe = sys.executable
    if len(exe) < 120 and not re.search(r"\s", exe):
        header = f"#!{exe} -I\n"
    elif not re.search(r"[\"$`\\']", exe):
        header = f"#!/bin/sh\n''''exec \"{exe}\" -I \"$0\" \"$@\" # '''\n"
    else:
        raise RuntimeError(f"cannot write a script for interpreter path {exe!r}")
    runs_file = _runs_file(path)
    runs_file.unlink(missing_ok=True)
    text = header + f"CONFIG = {json.dumps(config)!r}\n" + _RECORD_RUN.format(runs=str(runs_file)) + body
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


_NVIDIA_SMI_BODY = r'''
import json, sys, time

cfg = json.loads(CONFIG)
out = sys.stdout

if cfg["hang"]:
    time.sleep(120)
    sys.exit(0)
if cfg["fail"]:
    out.write("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
              "Make sure that the latest NVIDIA driver is installed and running.\n\n")
    sys.exit(9)

driver = cfg["driver"]
gpus = cfg["gpus"]          # [[cc, name], ...]
cuda = cfg["cuda"]          # int


def gpu_fields(i, cc, name):
    return {
        "driver_version": driver,
        "compute_cap": cc,
        "name": name,
        "gpu_name": name,
        "index": str(i),
        "count": str(len(gpus)),
        "uuid": "GPU-fa4e0000-0000-4000-8000-%012x" % i,
        "gpu_uuid": "GPU-fa4e0000-0000-4000-8000-%012x" % i,
        "pci.bus_id": "00000000:%02X:00.0" % (i + 1),
        "gpu_bus_id": "00000000:%02X:00.0" % (i + 1),
    }


args = sys.argv[1:]
query = None
fmt = None
i = 0
while i < len(args):
    a = args[i]
    if a.startswith("--query-gpu="):
        query = a.split("=", 1)[1]
    elif a == "--query-gpu" and i + 1 < len(args):
        i += 1
        query = args[i]
    elif a.startswith("--format="):
        fmt = a.split("=", 1)[1]
    elif a == "--format" and i + 1 < len(args):
        i += 1
        fmt = args[i]
    elif a in ("--version",):
        major, minor = divmod(cuda, 1000)
        out.write("NVIDIA-SMI version  : %s\nNVML version        : %s\n"
                  "DRIVER version      : %s\nCUDA Version        : %d.%d\n"
                  % (driver, driver.rsplit(".", 1)[0], driver, major, minor // 10))
        sys.exit(0)
    elif a in ("-L", "--list-gpus"):
        if not gpus:
            out.write("No devices were found\n")
            sys.exit(6)
        for n, (cc, name) in enumerate(gpus):
            out.write("GPU %d: %s (UUID: %s)\n" % (n, name, gpu_fields(n, cc, name)["uuid"]))
        sys.exit(0)
    i += 1

if query is not None:
    fields = [f.strip() for f in query.split(",") if f.strip()]
    known = set(gpu_fields(0, "0.0", "x"))
    if cfg["old"]:
        known.discard("compute_cap")
    for f in fields:
        if f not in known:
            out.write('Field "%s" is not a valid field to query.\n\n' % f)
            sys.exit(2)
    if not fmt or not fmt.split(",")[0].strip() == "csv":
        out.write('Option "--format" is required with "--query-gpu".\n\n')
        sys.exit(2)
    if not gpus:
        out.write("No devices were found\n")
        sys.exit(6)
    if "noheader" not in [p.strip() for p in fmt.split(",")]:
        out.write(", ".join(fields) + "\n")
    for n, (cc, name) in enumerate(gpus):
        values = gpu_fields(n, cc, name)
        out.write(", ".join(values[f] for f in fields) + "\n")
    sys.exit(0)

if not gpus:
    out.write("No devices were found\n")
    sys.exit(6)

major, minor = divmod(cuda, 1000)
W = 89
rule = "+" + "-" * W + "+"


def row(*cells):
    widths = (41, 24, 22)
    return "|" + "|".join(c.ljust(w) for c, w in zip(cells, widths)) + "|\n"


out.write("Tue Jan 14 10:00:00 2025       \n")
out.write(rule + "\n")
out.write("|" + (" NVIDIA-SMI %-22s Driver Version: %-14s CUDA Version: %s"
                 % (driver, driver, "%d.%d" % (major, minor // 10))).ljust(W) + "|\n")
out.write("|" + "+".join("-" * w for w in (41, 24, 22)) + "+\n")
out.write(row(" GPU  Name                 Persistence-M ", " Bus-Id          Disp.A ",
              " Volatile Uncorr. ECC "))
out.write(row(" Fan  Temp   Perf          Pwr:Usage/Cap ", "           Memory-Usage ",
              " GPU-Util  Compute M. "))
out.write(row("", "", "               MIG M. "))
out.write("|" + "+".join("=" * w for w in (41, 24, 22)) + "|\n")
for n, (cc, name) in enumerate(gpus):
    bus_id = gpu_fields(n, cc, name)["pci.bus_id"]
    out.write(row(" %3d  %-30s Off " % (n, name[:30]), "   %s Off " % bus_id,
                  "                  N/A "))
    out.write(row("  0%   35C    P8             20W /  350W ", "       1MiB /  24576MiB ",
                  "      0%      Default "))
    out.write(row("", "", "                  N/A "))
    out.write("+" + "+".join("-" * w for w in (41, 24, 22)) + "+\n")
out.write("\n")
out.write(rule + "\n")
for text in (
    " Processes:",
    "  GPU   GI   CI        PID   Type   Process name" + " " * 30 + "GPU Memory",
    "        ID   ID" + " " * 63 + "Usage",
):
    out.write("|" + text.ljust(W) + "|\n")
out.write("|" + "=" * W + "|\n")
out.write("|" + "  No running processes found".ljust(W) + "|\n")
out.write(rule + "\n")
'''


def make_nvidia_smi(
    bin_dir: Path,
    driver: str = DEFAULT_DRIVER,
    gpus: Sequence[tuple[str, str]] = DEFAULT_GPUS,
    hang: bool = False,
    fail: bool = False,
    old: bool = False,
    cuda: int | None = None,
) -> Path:
    """Write an executable ``bin_dir/nvidia-smi`` that answers like the real tool.

    * ``--query-gpu=FIELDS --format=csv,noheader``: one line per GPU, values
      joined by ``", "``.  Fields: ``driver_version``, ``compute_cap``,
      ``name``, ``index`` (also ``gpu_name``, ``count``, ``uuid``,
      ``pci.bus_id``).  ``--format=csv`` prints a header line first.  An
      unknown field prints ``Field "X" is not a valid field to query.`` and
      exits 2.
    * plain ``nvidia-smi``: a short table containing ``Driver Version: <v>``
      and ``CUDA Version: <x.y>``.  ``-L`` and ``--version`` work too.
    * no GPUs: ``No devices were found``, exit 6 (as the real tool).
    * ``hang``: sleeps 120 s.  ``fail``: prints ``NVIDIA-SMI has failed because
      it couldn't communicate with the NVIDIA driver. ...`` and exits 9.
    * ``old``: ``compute_cap`` is not a known field (drivers < 510).
    * ``cuda``: CUDA version int for the table; default from ``driver``.

    The script runs under ``sys.executable`` as a single process.  Returns its path.
    """
    config = {
        "driver": driver,
        "gpus": [[cc, name] for cc, name in gpus],
        "cuda": cuda_for_driver(driver) if cuda is None else cuda,
        "hang": hang,
        "fail": fail,
        "old": old,
    }
    return _write_python_tool(Path(bin_dir) / "nvidia-smi", config, _NVIDIA_SMI_BODY)


_ROCM_AGENT_ENUMERATOR_BODY = r'''
import json, sys, time

cfg = json.loads(CONFIG)
if cfg["hang"]:
    time.sleep(120)
    sys.exit(0)
sys.stdout.write("gfx000\n")
for target in cfg["gfx"]:
    sys.stdout.write(target + "\n")
'''


def make_rocm_agent_enumerator(bin_dir: Path, gfx: Sequence[str], hang: bool = False) -> Path:
    """Write an executable ``bin_dir/rocm_agent_enumerator``.

    Like the real tool it prints ``gfx000`` (the CPU agent) and then one gfx
    target per GPU, one per line.  ``hang`` makes it sleep 120 s instead.
    Returns its path.
    """
    config = {"gfx": list(gfx), "hang": hang}
    return _write_python_tool(
        Path(bin_dir) / "rocm_agent_enumerator", config, _ROCM_AGENT_ENUMERATOR_BODY
    )


_ROCMINFO_BODY = r'''
import json, sys, time

cfg = json.loads(CONFIG)
if cfg["hang"]:
    time.sleep(120)
    sys.exit(0)
out = sys.stdout
out.write("ROCk module version 6.8.5 is loaded\n=====================    \nHSA System Attributes    \n"
          "=====================    \nRuntime Version:         1.14\nSystem Timestamp Freq.:  1000.000000MHz\n"
          "Machine Model:           LARGE                              \n\n==========               \n"
          "HSA Agents               \n==========               \n")
agents = [["AMD Ryzen 9 7950X 16-Core Processor", "AMD Ryzen 9 7950X 16-Core Processor", "CPU"]]
agents += [[gfx, name, "GPU"] for gfx, name in cfg["gpus"]]
for n, (agent_name, marketing, kind) in enumerate(agents, start=1):
    out.write("*******                  \nAgent %d                  \n*******                  \n" % n)
    out.write("  Name:                    %-35s\n" % agent_name)
    out.write("  Uuid:                    %-35s\n" % ("CPU-XX" if kind == "CPU" else "GPU-%016x" % n))
    out.write("  Marketing Name:          %-35s\n" % marketing)
    out.write("  Vendor Name:             %-35s\n" % ("CPU" if kind == "CPU" else "AMD"))
    out.write("  Feature:                 %-35s\n" % ("None specified" if kind == "CPU" else "KERNEL_DISPATCH"))
    out.write("  Profile:                 FULL_PROFILE                       \n")
    out.write("  Device Type:             %-35s\n" % kind)
    out.write("  Compute Unit:            %-35s\n" % (32 if kind == "CPU" else 96))
    if kind == "GPU":
        out.write("  ISA Info:                \n    ISA 1                    \n")
        out.write("      Name:                    amdgcn-amd-amdhsa--%-16s\n" % agent_name)
        out.write("      Machine Models:          HSA_MACHINE_MODEL_LARGE            \n")
out.write("*** Done ***             \n")
'''


def make_rocminfo(bin_dir: Path, gpus: Sequence[tuple[str, str]], hang: bool = False) -> Path:
    """Write an executable ``bin_dir/rocminfo`` that answers like the real tool.

    ``gpus`` is a sequence of ``(gfx target, marketing name)``, e.g.
    ``[("gfx1100", "Radeon RX 7900 XTX")]``.  The output has the real layout: a
    CPU agent first, then one ``Agent N`` block per GPU with ``Name: gfxNNNN``,
    ``Marketing Name``, ``Device Type: GPU`` and an ``ISA Info`` section whose
    ISA ``Name`` is ``amdgcn-amd-amdhsa--gfxNNNN``.  ``hang`` sleeps 120 s.
    Returns its path.
    """
    config = {"gpus": [[gfx, name] for gfx, name in gpus], "hang": hang}
    return _write_python_tool(Path(bin_dir) / "rocminfo", config, _ROCMINFO_BODY)


_POWERSHELL_BODY = r'''
import json, sys, time

cfg = json.loads(CONFIG)
if cfg["hang"]:
    time.sleep(120)
    sys.exit(0)
command = " ".join(sys.argv[1:])
if "Win32_VideoController" not in command:
    sys.stderr.write("unexpected command: %s\n" % command)
    sys.exit(1)
for pnp_id, name in cfg["adapters"]:
    sys.stdout.write("%s|%s\r\n" % (pnp_id, name))
'''


def make_powershell(bin_dir: Path, adapters: Sequence[tuple[str, str]], hang: bool = False) -> Path:
    """Write an executable ``bin_dir/powershell`` standing in for Windows PowerShell.

    A command that queries ``Win32_VideoController`` prints one line per display
    adapter, ``PNPDeviceID|Name`` (the format the hook asks for), e.g.
    ``PCI\\VEN_8086&DEV_E20B&SUBSYS_...|Intel(R) Arc(TM) B580 Graphics``, with
    Windows line endings.  ``hang`` sleeps 120 s.  Returns its path.
    """
    config = {"adapters": [[pnp, name] for pnp, name in adapters], "hang": hang}
    return _write_python_tool(Path(bin_dir) / "powershell", config, _POWERSHELL_BODY)


# --------------------------------------------------------------------------
# Fake /proc + /sys
# --------------------------------------------------------------------------


def gfx_target_version(gfx: str) -> int:
    """Encode a gfx target as KFD's ``gfx_target_version`` integer.

    ``major * 10000 + minor * 100 + stepping``, where the last two characters
    are hex digits for minor and stepping: ``gfx1100`` -> 110000,
    ``gfx942`` -> 90402, ``gfx90a`` -> 90010.  Feature suffixes such as
    ``gfx90a:xnack-`` are ignored.
    """
    base = gfx.split(":", 1)[0].strip().lower()
    match = re.fullmatch(r"gfx(\d{1,2})([0-9a-f])([0-9a-f])", base)
    if not match:
        raise ValueError(f"not a gfx target: {gfx!r}")
    return int(match.group(1)) * 10000 + int(match.group(2), 16) * 100 + int(match.group(3), 16)


# Per-target details for realistic KFD/PCI entries:
# (PCI device id, KFD node name, simd_count, simd_per_cu, wave_front_size, num_xcc)
_AMD_TARGETS: dict[str, tuple[int, str, int, int, int, int]] = {
    "gfx900": (0x687F, "vega10", 256, 4, 64, 1),
    "gfx906": (0x66AF, "vega20", 240, 4, 64, 1),
    "gfx908": (0x738C, "arcturus", 480, 4, 64, 1),
    "gfx90a": (0x740F, "aldebaran", 416, 4, 64, 1),
    "gfx942": (0x74A1, "ip discovery", 1216, 4, 64, 8),
    "gfx1030": (0x73BF, "sienna_cichlid", 160, 2, 32, 1),
    "gfx1100": (0x744C, "ip discovery", 192, 2, 32, 1),
    "gfx1101": (0x747E, "ip discovery", 120, 2, 32, 1),
    "gfx1102": (0x7480, "ip discovery", 64, 2, 32, 1),
    "gfx1201": (0x7550, "ip discovery", 128, 2, 32, 1),
}
_AMD_DATACENTER = {"gfx908", "gfx90a", "gfx940", "gfx941", "gfx942", "gfx950"}

_NVIDIA_PROC_VERSION = (
    "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {driver}  Release Build  "
    "(dvs-builder@U16-I3-B03-4-3)  Tue Jan 14 08:45:37 UTC 2025\n"
    "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
)


#: ``/proc/driver/nvidia/gpus/<PCI address>/information`` as the NVIDIA kernel module writes it
#: (one file per GPU it drives; the UUID identifies the very GPU).
_NVIDIA_PROC_GPU = (
    "Model: \t\t {name}\nIRQ:   \t\t 160\nGPU UUID: \t {uuid}\nVideo BIOS: \t 94.02.42.00.a9\n"
    "Bus Type: \t PCIe\nDMA Size: \t 47 bits\nDMA Mask: \t 0x7fffffffffff\nBus Location: \t {bus}\n"
    "Device Minor: \t {minor}\nGPU Excluded:\t No\n"
)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _pci_device(
    root: Path, slot: str, vendor: int, device: int, pci_class: int, driver: str
) -> None:
    """Create a PCI function the way sysfs lays it out.

    The function lives in ``sys/devices/pci0000:00/<slot>``;
    ``sys/bus/pci/devices/<slot>`` and its ``driver`` are relative symlinks
    (to the device and to ``sys/bus/pci/drivers/<driver>``), so the tree can
    be moved.
    """
    dev_dir = root / "sys" / "devices" / "pci0000:00" / slot
    _write(dev_dir / "vendor", f"0x{vendor:04x}\n")
    _write(dev_dir / "device", f"0x{device:04x}\n")
    _write(dev_dir / "class", f"0x{pci_class:06x}\n")
    drv_dir = root / "sys" / "bus" / "pci" / "drivers" / driver
    drv_dir.mkdir(parents=True, exist_ok=True)
    link = dev_dir / "driver"
    if not link.is_symlink():
        link.symlink_to(Path("..", "..", "..", "bus", "pci", "drivers", driver))
    bus_link = root / "sys" / "bus" / "pci" / "devices" / slot
    bus_link.parent.mkdir(parents=True, exist_ok=True)
    if not bus_link.is_symlink():
        bus_link.symlink_to(Path("..", "..", "..", "devices", "pci0000:00", slot))


def _kfd_properties(props: dict[str, int]) -> str:
    return "".join(f"{key} {value}\n" for key, value in props.items())


def _kfd_cpu_node() -> dict[str, int]:
    props = dict.fromkeys(
        (
            "cpu_cores_count simd_count mem_banks_count caches_count io_links_count "
            "p2p_links_count cpu_core_id_base simd_id_base max_waves_per_simd "
            "lds_size_in_kb gds_size_in_kb num_gws wave_front_size array_count "
            "simd_arrays_per_engine cu_per_simd_array simd_per_cu max_slots_scratch_cu "
            "gfx_target_version vendor_id device_id location_id domain drm_render_minor "
            "hive_id num_sdma_engines num_sdma_xgmi_engines num_sdma_queues_per_engine "
            "num_cp_queues max_engine_clk_ccompute"
        ).split(),
        0,
    )
    props.update(cpu_cores_count=16, mem_banks_count=1, io_links_count=1,
                 max_engine_clk_ccompute=3500)
    return props


def _kfd_gpu_node(gfx: str, n: int, bus: int) -> dict[str, int]:
    base = gfx.split(":", 1)[0].strip().lower()
    device_id, _name, simd, simd_per_cu, wave, num_xcc = _AMD_TARGETS.get(
        base, (0x7400 + n, "ip discovery", 120, 2, 32, 1)
    )
    return {
        "cpu_cores_count": 0,
        "simd_count": simd,
        "mem_banks_count": 1,
        "caches_count": 200,
        "io_links_count": 1,
        "p2p_links_count": 0,
        "cpu_core_id_base": 0,
        "simd_id_base": 2147487744 + 1024 * (n - 1),
        "max_waves_per_simd": 16 if wave == 32 else 8,
        "lds_size_in_kb": 64,
        "gds_size_in_kb": 0,
        "num_gws": 64,
        "wave_front_size": wave,
        "array_count": 12 if wave == 32 else 8 * num_xcc,
        "simd_arrays_per_engine": 2 if wave == 32 else 1,
        "cu_per_simd_array": max(1, simd // simd_per_cu // (12 if wave == 32 else 8 * num_xcc)),
        "simd_per_cu": simd_per_cu,
        "max_slots_scratch_cu": 32,
        "gfx_target_version": gfx_target_version(gfx),
        "vendor_id": 4098,
        "device_id": device_id,
        "location_id": bus << 8,
        "domain": 0,
        "drm_render_minor": 127 + n,
        "hive_id": 0,
        "num_sdma_engines": 2,
        "num_sdma_xgmi_engines": 0,
        "num_sdma_queues_per_engine": 6,
        "num_cp_queues": 8,
        "max_engine_clk_fcompute": 2500,
        "local_mem_size": 0,
        "fw_version": 2250,
        "capability": 671588992,
        "debug_prop": 1495,
        "sdma_fw_version": 21,
        "unique_id": 9500000000000000000 + n,
        "num_xcc": num_xcc,
        "max_engine_clk_ccompute": 3500,
    }


def make_sysroot(
    root: Path,
    *,
    nvidia_driver: str | None = None,
    nvidia_gpus: Sequence[str] = (),
    amd_gfx: Sequence[str] = (),
    intel_devices: Sequence[str] = (),
    device_tree: Sequence[str] = (),
    model: str | None = None,
    tegra_release: str | None = None,
) -> Path:
    """Write a fake ``/proc`` + ``/sys`` tree under ``root`` and return ``root``.

    * ``nvidia_driver`` (e.g. ``"550.144.03"``): ``proc/driver/nvidia/version``
      in the real open-kernel-module format and ``sys/module/nvidia/version``.
    * ``nvidia_gpus`` (model names, e.g. ``["NVIDIA GeForce RTX 3090"]``): the kernel module's
      ``proc/driver/nvidia/gpus/0000:0N:00.0/information`` per GPU (N from 1; a UUID derived
      from the name and position).
    * ``amd_gfx`` (e.g. ``["gfx1100", "gfx942"]``): KFD topology under
      ``sys/class/kfd/kfd/topology/nodes/<n>/`` -- node 0 a CPU
      (``gfx_target_version 0``), then one node per GPU with ``properties``
      (``gfx_target_version`` encoded as KFD does, ``vendor_id 4098``,
      ``device_id``, ``simd_count``...), ``gpu_id`` and ``name``; plus the
      GPU's PCI function (vendor 0x1002, driver ``amdgpu``).
    * ``intel_devices`` (e.g. ``["0xe20b"]``; ``"0x56a0:i915"`` picks the
      driver, default ``xe``): PCI functions with vendor 0x8086, the device
      id, class 0x030000 and a ``driver`` symlink to
      ``sys/bus/pci/drivers/<driver>``.

    * ``device_tree`` (e.g. :data:`AGX_ORIN`'s entries) and ``model``: the device tree's
      ``compatible`` and ``model`` under ``sys/firmware/devicetree/base/`` (NUL-separated and
      NUL-terminated, as the kernel writes them) with ``proc/device-tree`` a symlink to it.
    * ``tegra_release`` (e.g. :data:`L4T_R36`): ``etc/nv_tegra_release``.

    PCI functions are ``0000:0N:00.0`` (N from 3 upwards, AMD first) in
    ``sys/devices/pci0000:00/`` with ``sys/bus/pci/devices/`` symlinks.
    ``root/proc`` and ``root/sys`` always exist.  Calling it again on the same
    root adds to the tree.
    """
    root = Path(root)
    (root / "proc").mkdir(parents=True, exist_ok=True)
    (root / "sys").mkdir(parents=True, exist_ok=True)

    if nvidia_driver is not None:
        _write(root / "proc" / "driver" / "nvidia" / "version",
               _NVIDIA_PROC_VERSION.format(driver=nvidia_driver))
        _write(root / "sys" / "module" / "nvidia" / "version", f"{nvidia_driver}\n")
    for minor, name in enumerate(nvidia_gpus):
        bus = f"0000:0{minor + 1}:00.0"
        uuid = "GPU-" + hashlib.sha1(f"{minor}:{name}".encode()).hexdigest()[:32]
        _write(root / "proc" / "driver" / "nvidia" / "gpus" / bus / "information",
               _NVIDIA_PROC_GPU.format(name=name, uuid=uuid, bus=bus, minor=minor))

    if device_tree or model is not None:
        base = root / "sys" / "firmware" / "devicetree" / "base"
        base.mkdir(parents=True, exist_ok=True)
        (base / "compatible").write_bytes(b"".join(e.encode() + b"\0" for e in device_tree))
        if model is not None:
            (base / "model").write_bytes(model.encode() + b"\0")
        link = root / "proc" / "device-tree"
        if not link.is_symlink():
            link.symlink_to("../sys/firmware/devicetree/base")  # the kernel links it to /sys/...
    if tegra_release is not None:
        _write(root / "etc" / "nv_tegra_release", tegra_release)

    pci_root = root / "sys" / "devices" / "pci0000:00"
    used_buses = [int(p.name.split(":")[1], 16) for p in pci_root.glob("0000:*:*.*")]
    bus = max([2, *used_buses]) + 1
    if amd_gfx:
        topology = root / "sys" / "class" / "kfd" / "kfd" / "topology"
        nodes = topology / "nodes"
        if not (nodes / "0").is_dir():
            _write(topology / "generation_id", "1\n")
            _write(topology / "system_properties",
                   "platform_oem 0\nplatform_id 0\nplatform_rev 0\n")
            _write(nodes / "0" / "properties", _kfd_properties(_kfd_cpu_node()))
            _write(nodes / "0" / "gpu_id", "0\n")
            _write(nodes / "0" / "name", "\n")
        first = len([p for p in nodes.iterdir() if p.name.isdigit()])
        for n, gfx in enumerate(amd_gfx, start=first):
            props = _kfd_gpu_node(gfx, n, bus)
            base = gfx.split(":", 1)[0].strip().lower()
            name = _AMD_TARGETS.get(base, (0, "ip discovery"))[1]
            _write(nodes / str(n) / "properties", _kfd_properties(props))
            _write(nodes / str(n) / "gpu_id", f"{40000 + 1234 * n}\n")
            _write(nodes / str(n) / "name", f"{name}\n")
            pci_class = 0x038000 if base in _AMD_DATACENTER else 0x030000
            _pci_device(root, f"0000:{bus:02x}:00.0", 0x1002, props["device_id"],
                        pci_class, "amdgpu")
            bus += 1

    for spec in intel_devices:
        dev_text, _, driver = spec.partition(":")
        device = int(dev_text, 16)
        _pci_device(root, f"0000:{bus:02x}:00.0", 0x8086, device, 0x030000, driver or "xe")
        bus += 1

    return root
