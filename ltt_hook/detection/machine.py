"""The machine model: what detection found, as plain typed data.

:class:`Machine` is what selection judges builds against: the operating system, the CPU
architecture of the interpreter, the NVIDIA driver, the GPUs (:class:`Gpu`), an NVIDIA Jetson
module (:class:`Jetson`), and the notes that say where each fact came from.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import sysconfig
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple

from .. import data

__all__ = ["Gpu", "Jetson", "Machine", "interpreter_arch", "interpreter_system"]

#: Platform-tag CPUs that name more than one architecture (macOS fat builds): the running
#: process's own, ``platform.machine()``, decides.
_MULTI_ARCH = frozenset({"universal2", "universal", "intel", "fat", "fat3", "fat64"})


def _platform_tag(environ: Optional[Mapping[str, str]]) -> str:
    """This interpreter's platform tag, ``sysconfig.get_platform()``, or ``_PYTHON_HOST_PLATFORM``
    of ``environ`` (default ``os.environ``), which replaces it on POSIX as it does for pip."""
    env = os.environ if environ is None else environ
    return (env.get("_PYTHON_HOST_PLATFORM", "") if os.name == "posix" else "") or sysconfig.get_platform()


def interpreter_system(environ: Optional[Mapping[str, str]] = None) -> str:
    """The operating system of this interpreter's platform tag (``sysconfig.get_platform()``),
    named as ``platform.system()`` names it: ``linux-*`` is ``Linux``, ``win-*`` and ``win32``
    ``Windows``, ``macosx-*`` ``Darwin``; any other tag (``freebsd-...``, ``cygwin-...``,
    ``android-...``) leaves ``platform.system()``.

    pip installs the wheels of the interpreter's platform, so the build tables that judge them
    must be that platform's, exactly as for the CPU architecture (:func:`interpreter_arch`). In
    every normal run this is ``platform.system()``; the two differ only when
    ``_PYTHON_HOST_PLATFORM`` in ``environ`` (default ``os.environ``; read on POSIX, as CPython
    does) names another platform's tag, as the end-to-end tests do to run pip as a Windows
    interpreter on Linux.
    """
    tag = _platform_tag(environ)
    if tag.startswith("linux-"):
        return "Linux"
    if tag == "win32" or tag.startswith("win-"):
        return "Windows"
    if tag.startswith("macosx-"):
        return "Darwin"
    return platform.system()


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
    tag = _platform_tag(environ)
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


class Gpu(NamedTuple):
    """One GPU, with what selection judges it by: its vendor's identifier of what it runs."""

    vendor: str  # "nvidia", "amd" or "intel"
    name: str
    #: NVIDIA: the compute capability as (major, minor); None when it could not be read.
    capability: Optional[Tuple[int, int]] = None
    #: AMD: the gfx target (``gfx1100``).
    gfx: Optional[str] = None
    #: Intel: the PCI device id (``0xe20b``).
    pci_id: Optional[str] = None

    @property
    def summary(self) -> str:
        """One line for people: name and what selection judges it by."""
        if self.vendor == "nvidia":
            cap = "%d.%d" % self.capability if self.capability else "unknown"
            return f"{self.name} (NVIDIA, compute capability {cap})"
        if self.vendor == "amd":
            return f"{self.name} (AMD, {self.gfx})"
        if self.vendor == "intel":
            pci = f"PCI 8086:{self.pci_id[2:]}" if self.pci_id else "PCI id unknown"
            return f"{self.name} (Intel, {pci})"
        return self.name


class Jetson(NamedTuple):
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


class Machine:
    """What detection found (plain data; a class of its own rather than a dataclass, which costs
    every pip run about a millisecond to create)."""

    def __init__(self, system: str, nvidia_driver: Optional[str] = None, gpus: Optional[List[Gpu]] = None,
                 notes: Optional[List[str]] = None, overrides: Optional[Dict[str, str]] = None,
                 arch: Optional[str] = None, jetson: Optional[Jetson] = None) -> None:
        #: The interpreter's operating system (:func:`interpreter_system`, ``platform.system()``
        #: names): "Linux", "Windows", "Darwin".
        self.system = system
        self.nvidia_driver = nvidia_driver
        self.gpus: List[Gpu] = list(gpus) if gpus is not None else []
        #: Where each fact came from and what failed, in order; shown by ``python -m ltt_hook``
        #: and in pip's ``-v`` log.
        self.notes: List[str] = list(notes) if notes is not None else []
        #: Override variables that replaced probing: name -> value.
        self.overrides: Dict[str, str] = dict(overrides) if overrides is not None else {}
        #: The interpreter's CPU architecture (:func:`interpreter_arch`, ``platform.machine()``
        #: names): "x86_64", "AMD64", "aarch64", "arm64"; selection reads it with ``system`` to pick
        #: the build tables of the platform (``selection.platform_of``).
        self.arch: str = arch if arch is not None else interpreter_arch()
        #: The NVIDIA Jetson module this is, None for any other machine.
        self.jetson = jetson

    _FIELDS = ("system", "nvidia_driver", "gpus", "notes", "overrides", "arch", "jetson")

    def __repr__(self) -> str:
        return "Machine(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS) + ")"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Machine):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self._FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable: not hashable, as before

    def as_dict(self) -> Dict[str, Any]:
        """Plain data for ``--json``: every field, the GPUs and the Jetson module as dicts."""
        return {"system": self.system, "nvidia_driver": self.nvidia_driver,
                "gpus": [gpu._asdict() for gpu in self.gpus], "notes": list(self.notes),
                "overrides": dict(self.overrides), "arch": self.arch,
                "jetson": self.jetson._asdict() if self.jetson is not None else None}

    @property
    def nvidia_gpus(self) -> List[Gpu]:
        return [g for g in self.gpus if g.vendor == "nvidia"]

    @property
    def amd_gpus(self) -> List[Gpu]:
        return [g for g in self.gpus if g.vendor == "amd"]

    @property
    def intel_gpus(self) -> List[Gpu]:
        return [g for g in self.gpus if g.vendor == "intel"]
