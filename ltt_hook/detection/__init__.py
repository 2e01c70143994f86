"""Detection: what this machine can run (NVIDIA, AMD and Intel GPUs; otherwise CPU only).

Every probe is bounded and never raises: a failure is recorded as a note and the next
source is tried, ending in "no GPU". :func:`detect` probes each time it is asked; a pip process
asks once (:meth:`ltt_hook.process.PipProcess.machine` remembers the answer). One module per
concern:

- :mod:`~ltt_hook.detection.machine`: the model, :class:`Machine` with its :class:`Gpu` list
  and :class:`Jetson`, and the interpreter's operating system and CPU architecture
  (:func:`interpreter_system`, :func:`interpreter_arch`);
- :mod:`~ltt_hook.detection.host`: what the probes look at (:class:`Host`: files below a root,
  tools on ``PATH``, the bounded tool runner);
- :mod:`~ltt_hook.detection.nvidia`: NVML through pynvml, else the kernel module and
  ``nvidia-smi``;
- :mod:`~ltt_hook.detection.jetson`: NVIDIA Jetson modules, from the device tree and
  ``/etc/nv_tegra_release`` (Linux only);
- :mod:`~ltt_hook.detection.amd`: gfx targets from ``rocm_agent_enumerator``, else
  ``rocminfo``, else the KFD topology in sysfs (Linux only);
- :mod:`~ltt_hook.detection.intel`: display-class PCI devices of vendor 0x8086 (sysfs on Linux,
  the display-adapter list on Windows).

The override variables (``LTT_CUDA_DRIVER_VERSION``, ``LTT_CUDA_COMPUTE_CAPABILITIES``,
``LTT_AMD_GPU_ARCHITECTURE``) are configuration (:mod:`ltt_hook.overrides`): they state facts
instead of probing them, for machines that cannot be probed (Docker builds, CI).

:func:`detect` takes what it looks at as parameters: the operating system and the CPU
architecture (default the interpreter's, from its platform tag: :func:`interpreter_system`,
:func:`interpreter_arch`; in a normal run the system is ``platform.system()``), the filesystem
root below which ``/proc``, ``/sys``, ``/etc`` and ``/opt`` are read (default ``$LTT_SYSROOT``,
else ``/``; end-to-end tests point it at a fake tree), the environment (``PATH``,
``ROCM_PATH``), the parsed overrides and the time each external tool may take.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Optional, Tuple

from ..overrides import Overrides, read_overrides
from . import amd, intel, jetson, nvidia
from .amd import decode_gfx_target_version
from .host import TOOL_TIMEOUT, Host
from .intel import intel_platform
from .machine import Gpu, Jetson, Machine, interpreter_arch, interpreter_system

__all__ = ["Gpu", "Jetson", "Machine", "detect", "decode_gfx_target_version", "intel_platform", "interpreter_arch",
           "interpreter_system", "question", "TOOL_TIMEOUT"]

#: Environment variables the probes and the defaults read: with the overrides and the cache
#: directory they make one question (:func:`question`), which a pip process asks once.
_ENV_KEYS = ("PATH", "ROCM_PATH", "ProgramW6432", "ProgramFiles", "SystemRoot", "LTT_SYSROOT",
             "_PYTHON_HOST_PLATFORM")


def question(environ: Mapping[str, str]) -> Tuple[Optional[str], ...]:
    """What of ``environ`` the probes read: the same question gets the same machine."""
    return tuple(environ.get(k) for k in _ENV_KEYS)


def _guarded(machine: Machine, vendor: str, probe: Callable[..., None], *args: Any) -> None:
    """Run one vendor's probe; an unexpected error is a note, never an exception."""
    try:
        probe(machine, *args)
    except Exception as exc:  # pragma: no cover - defensive: the probes catch their own errors
        machine.notes.append(f"{vendor} detection failed ({type(exc).__name__}: {exc})")


def _probe_all(host: Host, overrides: Overrides) -> Machine:
    machine = Machine(system=host.system, overrides=dict(overrides.given), arch=host.arch)
    if machine.system == "Darwin":
        machine.notes.append("macOS: PyTorch ships CPU/MPS builds only")
        if overrides.given:
            machine.notes.append(f"{', '.join(v for v, _ in overrides.given)} ignored on macOS")
    else:
        _guarded(machine, "Jetson", jetson.probe, host)
        _guarded(machine, "NVIDIA", nvidia.probe, host, overrides)
        _guarded(machine, "AMD", amd.probe, host, overrides)
        _guarded(machine, "Intel", intel.probe, host)
    if machine.nvidia_driver is None:
        machine.gpus = [g for g in machine.gpus if g.vendor != "nvidia"]
        machine.notes.append("no usable NVIDIA driver found")
    return machine


def detect(*, system: Optional[str] = None, root: Optional[str] = None,
           timeout: Optional[float] = None, environ: Optional[Mapping[str, str]] = None,
           arch: Optional[str] = None, overrides: Optional[Overrides] = None,
           cache_dir: Optional[str] = None) -> Machine:
    """Probe a machine.

    ``system`` is the operating system to detect for (``platform.system()`` names; default this
    interpreter's, :func:`interpreter_system`: the OS of the wheels pip installs, in a normal run
    ``platform.system()``), ``arch`` its CPU architecture (``platform.machine()`` names; default
    this interpreter's, :func:`interpreter_arch`); both defaults honour ``_PYTHON_HOST_PLATFORM``
    in ``environ``, ``root`` the filesystem root of ``/proc``, ``/sys``, ``/etc`` and ``/opt``
    (default ``$LTT_SYSROOT``, else ``/``), ``timeout`` the seconds each external tool may take
    (default :data:`TOOL_TIMEOUT`), ``environ`` the environment (``PATH``, ``ROCM_PATH``; default
    ``os.environ``) and ``overrides`` the facts stated instead of probed (``Config.overrides``;
    default: read from ``environ``).

    ``cache_dir`` (pip passes its cache directory; None: off) lets the NVIDIA probe remember
    NVML's answer between processes while the kernel module's own account of the driver and of
    every GPU it drives (``/proc/driver/nvidia``, GPU UUIDs included) is unchanged
    (:func:`ltt_hook.detection.nvidia.fingerprint`).

    Raises :class:`~ltt_hook.overrides.OverrideError` when ``overrides`` is not given and an
    override variable of ``environ`` does not parse; nothing else.
    """
    env = os.environ if environ is None else environ
    if overrides is None:
        overrides = read_overrides(env)
    host = Host(system=system or interpreter_system(env), root=root or env.get("LTT_SYSROOT", "") or "/", environ=env,
                timeout=TOOL_TIMEOUT if timeout is None else timeout, arch=arch or interpreter_arch(env),
                cache_dir=cache_dir)
    return _probe_all(host, overrides)
