"""Detection and the ROCm/XPU rules as a specification.

The pure logic (gfx decoding, override parsing, which backend fits which GPUs) is called
directly. Detection itself runs in this process over stand-ins at the operating-system
boundary, given to :func:`detection.detect` as parameters: the operating system, a fake sysfs
tree as the root, a bin folder of stand-in tools as the whole ``PATH``, and the tool timeout.
pynvml is made absent, so NVIDIA is seen through the kernel module and ``nvidia-smi`` here (NVML
has its end-to-end tests in test_machines.py).
"""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ltt_hook import data, detection
from ltt_hook.backends import parse_backend
from ltt_hook.config import Config
from ltt_hook.decision import Environment, Request, decide
from ltt_hook.detection import Gpu, Machine, decode_gfx_target_version
from ltt_hook.detection.intel import intel_gpu
from ltt_hook.overrides import OverrideError, Overrides
from ltt_hook.selection import compatibility, incompatibility
from support import gpu as stand_in

LATEST = Version("2.14")


def b(name):
    return parse_backend(name)


def amd(*arches, system="Linux"):
    return Machine(system, gpus=[Gpu("amd", f"AMD GPU {a}", gfx=a) for a in arches])


def intel(*device_ids, system="Linux"):
    return Machine(system, gpus=[intel_gpu(int(d, 16)) for d in device_ids])


# --------------------------------------------------------------------------- gfx targets


@pytest.mark.parametrize("value, gfx", [
    (90010, "gfx90a"), (110000, "gfx1100"), (90402, "gfx942"), (90006, "gfx906"), (100300, "gfx1030"),
    (110501, "gfx1151"), (120001, "gfx1201"), (90012, "gfx90c"), (110003, "gfx1103"),
    (0, None),        # a CPU node
    (91600, None),    # minor 16 is not one hex digit
    (90016, None),    # nor is stepping 16
])
def test_kfd_gfx_target_version_decodes_with_hex_minor_and_stepping(value, gfx):
    assert decode_gfx_target_version(value) == gfx


def test_every_tabled_gfx_target_round_trips_through_kfd_encoding():
    targets = {a for _, _, _, arches, _ in data.ROCM_ARCHES for a in arches.split()}
    for target in targets:
        assert decode_gfx_target_version(stand_in.gfx_target_version(target)) == target


# --------------------------------------------------------------------------- ROCm


@pytest.mark.parametrize("arch, backend, ok", [
    ("gfx1100", "rocm7.2", True), ("gfx942", "rocm6.0", True), ("gfx950", "rocm6.4", False),
    ("gfx950", "rocm7.0", True), ("gfx1151", "rocm7.1", True), ("gfx1151", "rocm7.2", True),
    ("gfx1101", "rocm6.2", False), ("gfx1101", "rocm6.2.4", True),
    # a ROCm backend missing from the table borrows the nearest older one of its major version
    ("gfx1151", "rocm7.14", True), ("gfx1201", "rocm6.5", True), ("gfx950", "rocm6.5", False),
    # no data for ROCm 5.x, nor for a new major version: never chosen automatically
    ("gfx90a", "rocm5.7", False), ("gfx1100", "rocm8.0", False),
])
def test_a_rocm_build_fits_when_it_lists_the_gpu_architecture(arch, backend, ok):
    assert (incompatibility(b(backend), LATEST, amd(arch)) is None) is ok


def test_rocm_exclusions_say_why():
    assert (incompatibility(b("rocm6.4"), LATEST, amd("gfx1151"))
            == "rocm6.4 builds of torch 2.14 lack gfx1151 (AMD GPU gfx1151)")
    assert "used only when asked for explicitly" in incompatibility(b("rocm5.7"), LATEST, amd("gfx90a"))
    assert incompatibility(b("rocm7.2"), LATEST, Machine("Linux")) == "no AMD GPU detected"
    assert "Linux only" in incompatibility(b("rocm7.2"), LATEST, amd("gfx1100", system="Windows"))
    assert incompatibility(b("rocm7.2"), LATEST, amd("gfx1100", system="Darwin")) == "macOS has no ROCm builds"
    assert "using rocm7.2's list" in compatibility(b("rocm7.14"), LATEST, amd("gfx1100"))


def test_every_amd_gpu_must_be_listed():
    assert incompatibility(b("rocm6.4"), LATEST, amd("gfx90a", "gfx1151")) is not None
    assert incompatibility(b("rocm7.2"), LATEST, amd("gfx90a", "gfx1151")) is None


def test_an_amd_gpu_no_rocm_build_supports_does_not_veto_one_that_is_supported():
    # Ryzen 7000's Radeon iGPU (gfx1036) next to a Radeon RX 7900 XTX: ROCm for the card.
    machine = amd("gfx1100", "gfx1036")
    assert incompatibility(b("rocm7.2"), LATEST, machine) is None
    assert "left out: gfx1036, which no ROCm build supports" in compatibility(b("rocm7.2"), LATEST, machine)
    # an APU alone that no ROCm build lists (Cezanne's gfx90c): no ROCm build
    assert incompatibility(b("rocm7.2"), LATEST, amd("gfx90c")) == "rocm7.2 builds of torch 2.14 lack gfx90c (AMD GPU gfx90c)"


# --------------------------------------------------------------------------- Intel XPU


@pytest.mark.parametrize("device, ok", [
    ("0xe20b", True),    # Arc B580 (Battlemage)
    ("0x56a0", True),    # Arc A770 (Alchemist)
    ("0x0bd5", True),    # Data Center GPU Max 1550 (Ponte Vecchio)
    ("0x7d55", True),    # Core Ultra 7 155H, Arc graphics (Meteor Lake-H)
    ("0x64a0", True),    # Core Ultra 200V, Arc 140V (Lunar Lake)
    ("0x9a49", False),   # Tiger Lake Iris Xe
    ("0xa780", False),   # Raptor Lake UHD Graphics 770
    ("0x7d45", False),   # Meteor Lake-U "Intel Graphics"
    ("0x4905", False),   # DG1 (Iris Xe MAX)
])
def test_the_xpu_build_only_for_intel_gpus_pytorch_supports(device, ok):
    assert (incompatibility(b("xpu"), LATEST, intel(device)) is None) is ok


def test_xpu_exclusions_say_why():
    assert (incompatibility(b("xpu"), LATEST, intel("0x9a49"))
            == "Intel GPU (PCI 8086:9a49) is not a GPU PyTorch's XPU builds support")
    assert incompatibility(b("xpu"), LATEST, Machine("Linux")) == "no Intel GPU detected"
    assert incompatibility(b("xpu"), LATEST, intel("0xe20b", system="Darwin")) == "macOS has no XPU builds"
    assert compatibility(b("xpu"), LATEST, intel("0xe20b")) == "PyTorch's XPU builds support Intel Arc B-series (Battlemage)"


def test_an_unsupported_intel_igpu_does_not_veto_an_arc_card():
    machine = intel("0xa780", "0x56a0")
    assert incompatibility(b("xpu"), LATEST, machine) is None
    assert "left out: 8086:a780" in compatibility(b("xpu"), LATEST, machine)


def test_every_xpu_device_id_is_unique_lowercase_hex():
    ids = [i for value in data.XPU_DEVICES.values() for i in value.split()]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("0x") and len(i) == 6 and i == i.lower() and int(i, 16) for i in ids)


# --------------------------------------------------------------------------- mixed machines


def pages(machine, release=">=2.13"):
    """The backend pages a ``pip install 'torch<release>'`` reads, in order (lazily)."""
    request = Request(requested=frozenset({"torch"}), specifiers={"torch": (SpecifierSet(release),)}, python=(3, 11))
    return [p.name for p in decide(Config(), machine, request, Environment()).plan]


def test_each_backend_is_judged_by_its_own_vendor_and_cuda_beats_rocm_beats_xpu():
    nvidia = [Gpu("nvidia", "NVIDIA GeForce RTX 3090", (8, 6))]
    iris = intel_gpu(0x9A49)
    arc = intel_gpu(0xE20B)
    radeon = Gpu("amd", "AMD GPU", gfx="gfx1100")
    # NVIDIA + an Intel iGPU: the iGPU neither helps nor hurts the CUDA build
    assert pages(Machine("Linux", "550.54.14", nvidia + [iris])) == ["cu126", "cu129", "cpu"]
    assert incompatibility(b("cu126"), LATEST, Machine("Linux", "550.54.14", nvidia + [iris])) is None
    # NVIDIA + an Arc card, AMD + an Arc card: the higher-ranked vendor's build first; the
    # other vendor's build is read only if the index lacks every page before it
    assert pages(Machine("Linux", "550.54.14", nvidia + [arc]), ">=2.13,<2.15") == ["cu126", "cu129", "xpu", "cpu"]
    # torch 2.15 has no CUDA 12 build: its XPU build is the newest GPU build this machine runs
    assert pages(Machine("Linux", "550.54.14", nvidia + [arc]))[0] == "xpu"
    assert pages(Machine("Linux", None, [radeon, arc])) == ["rocm7.14", "rocm7.2", "rocm7.1", "xpu", "cpu"]
    assert pages(Machine("Linux", None, [arc])) == ["xpu", "cpu"]
    assert pages(Machine("Linux", None, [iris])) == ["cpu"]


def test_rocm_pages_follow_each_release():
    assert pages(amd("gfx942"), "==2.5.1") == ["rocm6.2", "rocm6.1", "cpu"]
    # build-facts audit: rocm7.x builds list gfx1151 from 2.10 on (pytorch/pytorch PR #167299)
    assert pages(amd("gfx1151"), "==2.13.0") == ["rocm7.2", "rocm7.1", "cpu"]
    assert pages(amd("gfx1151"), "==2.10.0") == ["rocm7.1", "rocm7.0", "cpu"]
    assert pages(amd("gfx90a"), "==2.1.2") == ["cpu"]  # ROCm 5.x only: never automatic


# --------------------------------------------------------------------------- detection


@dataclass
class StandInMachine:
    """A machine made of stand-ins, handed to :func:`detection.detect` as parameters: an
    operating system, a fake sysroot, a bin folder that is the whole ``PATH``."""

    sysroot: Path
    bin: Path

    def detect(self, system: str = "Linux", timeout: float = detection.TOOL_TIMEOUT,
               arch: Optional[str] = None, overrides: Optional[Overrides] = None, **environ: str) -> Machine:
        return detection.detect(system=system, root=str(self.sysroot), timeout=timeout,
                                environ={"PATH": str(self.bin), **environ}, arch=arch, overrides=overrides)


@pytest.fixture
def host(tmp_path, monkeypatch) -> StandInMachine:
    """An empty sysroot and bin folder. pynvml is absent (``import pynvml`` fails, as where
    nvidia-ml-py is not installed), so NVML never answers with this machine's real GPUs."""
    monkeypatch.setitem(sys.modules, "pynvml", None)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    return StandInMachine(stand_in.make_sysroot(tmp_path / "sysroot"), bin_dir)


def arches(machine):
    """Each GPU's vendor and its vendor's identifier of what it runs (gfx target, PCI id)."""
    return [(g.vendor, g.gfx or g.pci_id) for g in machine.gpus]


def killed(tool: Path, times: int) -> bool:
    """The stand-in ``tool`` was started ``times`` times and none of those runs is still running."""
    pids = stand_in.runs(tool)
    return len(pids) == times and not any(stand_in.is_running(pid) for pid in pids)


def test_kfd_topology_needs_no_rocm_user_space(host):
    stand_in.make_sysroot(host.sysroot, amd_gfx=["gfx1100", "gfx942"])
    machine = host.detect()
    assert arches(machine) == [("amd", "gfx1100"), ("amd", "gfx942")]
    assert "KFD topology (/sys/class/kfd): AMD GPU(s) gfx1100, gfx942" in machine.notes


def test_rocm_agent_enumerator_comes_first(host):
    stand_in.make_sysroot(host.sysroot, amd_gfx=["gfx1100"])
    stand_in.make_rocm_agent_enumerator(host.bin, ["gfx90a:sramecc+:xnack-", "gfx90a"])
    assert arches(host.detect()) == [("amd", "gfx90a"), ("amd", "gfx90a")]


def test_rocminfo_next_with_the_marketing_name(host):
    stand_in.make_rocminfo(host.bin, [("gfx1100", "Radeon RX 7900 XTX")])
    machine = host.detect()
    assert machine.gpus == [Gpu("amd", "Radeon RX 7900 XTX", gfx="gfx1100")]
    assert machine.gpus[0].summary == "Radeon RX 7900 XTX (AMD, gfx1100)"


def test_a_tool_printing_garbage_falls_through_to_the_next_source(host):
    stand_in.make_sysroot(host.sysroot, amd_gfx=["gfx1100"])
    stand_in.make_rocm_agent_enumerator(host.bin, ["Segmentation fault (core dumped)"])
    machine = host.detect()
    assert arches(machine) == [("amd", "gfx1100")]
    assert "rocm_agent_enumerator: unexpected output 'Segmentation fault (core dumped)'" in machine.notes


def test_a_hanging_tool_is_killed_after_the_timeout_and_the_next_source_answers(host):
    stand_in.make_sysroot(host.sysroot, amd_gfx=["gfx942"])
    enumerator = stand_in.make_rocm_agent_enumerator(host.bin, ["gfx942"], hang=True)
    rocminfo = stand_in.make_rocminfo(host.bin, [("gfx942", "AMD Instinct MI300X")], hang=True)
    machine = host.detect(timeout=0.5)
    assert arches(machine) == [("amd", "gfx942")]
    assert "rocm_agent_enumerator: no answer within 0.5 s" in machine.notes
    assert "rocminfo: no answer within 0.5 s" in machine.notes
    assert killed(enumerator, times=1) and killed(rocminfo, times=1)


def test_intel_gpus_come_from_pci_display_devices(host):
    stand_in.make_sysroot(host.sysroot, intel_devices=["0xe20b", "0x9a49:i915"])
    machine = host.detect()
    assert [(g.name, g.pci_id) for g in machine.gpus] == [("Intel Arc B-series (Battlemage)", "0xe20b"),
                                                         ("Intel GPU", "0x9a49")]
    assert any("8086:9a49 (not an XPU-supported GPU)" in note for note in machine.notes)


def test_windows_reads_the_display_adapter_list_and_never_looks_for_rocm(host):
    stand_in.make_sysroot(host.sysroot, amd_gfx=["gfx1100"], intel_devices=["0x56a0"])  # Linux-only sources
    enumerator = stand_in.make_rocm_agent_enumerator(host.bin, ["gfx1100"])
    stand_in.make_powershell(host.bin, [
        (r"PCI\VEN_8086&DEV_E20B&SUBSYS_10008086&REV_00\4&1234", "Intel(R) Arc(TM) B580 Graphics"),
        (r"PCI\VEN_8086&DEV_A780&SUBSYS_7D251462&REV_04\3&11583659", "Intel(R) UHD Graphics 770"),
        (r"PCI\VEN_10DE&DEV_2684&SUBSYS_16F310DE&REV_A1\4&2B", "NVIDIA GeForce RTX 4090"),
    ])
    machine = host.detect(system="Windows")
    assert machine.system == "Windows"
    assert [(g.name, g.pci_id) for g in machine.gpus] == [("Intel Arc B-series (Battlemage)", "0xe20b"),
                                                         ("Intel(R) UHD Graphics 770", "0xa780")]
    assert incompatibility(b("xpu"), LATEST, machine) is None
    assert machine.amd_gpus == [] and stand_in.runs(enumerator) == []
    assert incompatibility(b("rocm7.2"), LATEST, machine) == "PyTorch's ROCm builds are for Linux only (this is Windows)"


def test_windows_display_adapter_query_is_bounded(host):
    powershell = stand_in.make_powershell(host.bin, [], hang=True)
    machine = host.detect(system="Windows", timeout=0.5)
    assert machine.gpus == []
    assert "display adapters (PowerShell Win32_VideoController): no answer within 0.5 s" in machine.notes
    assert killed(powershell, times=1)


def test_macos_probes_nothing(host):
    stand_in.make_sysroot(host.sysroot, amd_gfx=["gfx1100"], intel_devices=["0xe20b"])
    smi = stand_in.make_nvidia_smi(host.bin)
    machine = host.detect(system="Darwin", LTT_CUDA_DRIVER_VERSION="550.54.14")
    assert machine.gpus == [] and machine.nvidia_driver is None and stand_in.runs(smi) == []
    assert "LTT_CUDA_DRIVER_VERSION ignored on macOS" in machine.notes


# ----------------------------------------------------- NVIDIA without NVML: kernel module + nvidia-smi


def test_nvidia_smi_gives_driver_and_compute_capabilities(host):
    stand_in.make_nvidia_smi(host.bin, driver="550.54.14", gpus=[("8.6", "NVIDIA GeForce RTX 3090")])
    machine = host.detect()
    assert machine.nvidia_driver == "550.54.14"
    assert machine.gpus == [Gpu("nvidia", "NVIDIA GeForce RTX 3090", (8, 6))]
    assert "nvidia-smi: driver 550.54.14, 1 GPU(s)" in machine.notes


def test_nvidia_smi_of_a_driver_older_than_510_has_no_compute_cap_field(host):
    # Drivers before 510 reject --query-gpu=compute_cap; the GPUs are then asked for without it.
    smi = stand_in.make_nvidia_smi(host.bin, driver="470.239.06", gpus=[("7.5", "Tesla T4"), ("7.5", "Tesla T4")],
                                   old=True)
    machine = host.detect()
    assert machine.nvidia_driver == "470.239.06"
    assert machine.gpus == [Gpu("nvidia", "Tesla T4", None)] * 2  # compute capability unknown
    assert "nvidia-smi: driver 470.239.06, 2 GPU(s)" in machine.notes
    assert len(stand_in.runs(smi)) == 2  # with compute_cap, then without
    # the driver alone decides: CUDA 11.x builds, not CUDA 12.x
    assert incompatibility(b("cu118"), Version("2.7"), machine) is None
    assert incompatibility(b("cu126"), LATEST, machine) is not None


def test_failing_nvidia_smi_leaves_the_kernel_modules_driver(host):
    stand_in.make_sysroot(host.sysroot, nvidia_driver="550.144.03")
    stand_in.make_nvidia_smi(host.bin, fail=True)
    machine = host.detect()
    assert machine.nvidia_driver == "550.144.03"
    assert machine.gpus == [Gpu("nvidia", "unknown NVIDIA GPU", None)]
    assert any(note.startswith("nvidia-smi: exit 9 (NVIDIA-SMI has failed because it couldn't communicate with "
                               "the NVIDIA driver") for note in machine.notes), machine.notes
    assert "nvidia-smi: GPUs unknown; assuming one GPU of unknown compute capability" in machine.notes


def test_failing_nvidia_smi_without_a_kernel_module_means_no_nvidia_gpu(host):
    stand_in.make_nvidia_smi(host.bin, fail=True)
    machine = host.detect()
    assert machine.nvidia_driver is None and machine.gpus == []
    assert "no usable NVIDIA driver found" in machine.notes


def test_the_kernel_modules_version_files_are_read_on_linux_only(host):
    stand_in.make_sysroot(host.sysroot, nvidia_driver="550.144.03")
    assert host.detect().nvidia_driver == "550.144.03"
    assert host.detect(system="Windows").nvidia_driver is None


# --------------------------------------------------------------------------- overrides and the cache


def test_overrides_replace_probing_of_their_vendor(host):
    stand_in.make_sysroot(host.sysroot, amd_gfx=["gfx1100"], intel_devices=["0xe20b"])
    machine = host.detect(LTT_AMD_GPU_ARCHITECTURE="gfx942,gfx942", LTT_CUDA_DRIVER_VERSION="550.54.14",
                          LTT_CUDA_COMPUTE_CAPABILITIES="7.0,8.0")
    assert arches(machine) == [("nvidia", None), ("nvidia", None), ("amd", "gfx942"), ("amd", "gfx942"),
                               ("intel", "0xe20b")]  # Intel is still probed
    assert [g.capability for g in machine.nvidia_gpus] == [(7, 0), (8, 0)]
    assert machine.nvidia_driver == "550.54.14"
    assert machine.overrides == {"LTT_AMD_GPU_ARCHITECTURE": "gfx942,gfx942", "LTT_CUDA_DRIVER_VERSION": "550.54.14",
                                 "LTT_CUDA_COMPUTE_CAPABILITIES": "7.0,8.0"}


def test_a_driver_override_alone_means_one_gpu_the_driver_judges(host):
    machine = host.detect(LTT_CUDA_DRIVER_VERSION="580.65.06")
    assert [(g.vendor, g.capability) for g in machine.gpus] == [("nvidia", None)]
    assert incompatibility(b("cu132"), LATEST, machine) is None


def test_capabilities_alone_still_need_a_driver(host):
    machine = host.detect(LTT_CUDA_COMPUTE_CAPABILITIES="8.6")
    assert machine.nvidia_driver is None and machine.gpus == []
    assert any("set LTT_CUDA_DRIVER_VERSION too" in note for note in machine.notes)
    stand_in.make_sysroot(host.sysroot, nvidia_driver="550.144.03")  # the kernel module's version file
    machine = host.detect(LTT_CUDA_COMPUTE_CAPABILITIES="8.6")
    assert machine.nvidia_driver == "550.144.03"
    assert [g.capability for g in machine.gpus] == [(8, 6)]


def test_a_bad_override_raises_from_detect_and_nothing_else_does(host):
    with pytest.raises(OverrideError, match="LTT_AMD_GPU_ARCHITECTURE is 'navi31'"):
        host.detect(LTT_AMD_GPU_ARCHITECTURE="navi31")


def test_detection_takes_the_overrides_the_configuration_read(host):
    # Config.overrides, as pip's run and python -m ltt_hook hand them over: the environment's
    # override variables are then not read again.
    stand_in.make_sysroot(host.sysroot, amd_gfx=["gfx1100"])
    given = Overrides(amd_architectures=("gfx942",), given=(("LTT_AMD_GPU_ARCHITECTURE", "gfx942"),))
    machine = host.detect(overrides=given, LTT_AMD_GPU_ARCHITECTURE="navi31")
    assert arches(machine) == [("amd", "gfx942")]
    assert machine.overrides == {"LTT_AMD_GPU_ARCHITECTURE": "gfx942"}
    assert "LTT_AMD_GPU_ARCHITECTURE: gfx942 (not probed)" in machine.notes
    # other overrides, another question: probed (none stated: the KFD topology answers)
    assert arches(host.detect(overrides=Overrides())) == [("amd", "gfx1100")]


def test_a_pip_process_probes_its_machine_once_and_a_new_process_again(host, monkeypatch):
    # The pip process object remembers the machine (no module does): the same question is
    # answered from memory, another question or another process probes again.
    from ltt_hook.process import PipProcess

    monkeypatch.setenv("LTT_SYSROOT", str(host.sysroot))
    monkeypatch.setenv("PATH", str(host.bin))
    for name in ("LTT_CUDA_DRIVER_VERSION", "LTT_CUDA_COMPUTE_CAPABILITIES", "LTT_AMD_GPU_ARCHITECTURE"):
        monkeypatch.delenv(name, raising=False)
    process = PipProcess()
    first = process.machine(Overrides(), None)
    stand_in.make_sysroot(host.sysroot, amd_gfx=["gfx1100"])
    assert process.machine(Overrides(), None) is first and not [g for g in first.gpus if g.vendor == "amd"]
    stated = Overrides(amd_architectures=("gfx942",), given=(("LTT_AMD_GPU_ARCHITECTURE", "gfx942"),))
    assert arches(process.machine(stated, None)) == [("amd", "gfx942")]  # another question, another probe
    assert ("amd", "gfx1100") in arches(PipProcess().machine(Overrides(), None))  # another process


def test_the_root_defaults_to_ltt_sysroot_and_the_system_to_this_one(host):
    stand_in.make_sysroot(host.sysroot, amd_gfx=["gfx1100"])
    environ = {"PATH": str(host.bin), "LTT_SYSROOT": str(host.sysroot)}
    assert arches(detection.detect(system="Linux", environ=environ)) == [("amd", "gfx1100")]
    assert detection.detect(environ=environ).system == platform.system()


# --------------------------------------------------------------------------- NVIDIA on Arm

# Detection runs in a child interpreter, because the NVML stand-in is a shared library that
# pynvml loads from LD_LIBRARY_PATH at the process boundary; the child calls detect() with the
# operating system, the CPU architecture and the stand-in root as parameters, then asks the one
# decision what a plain ``pip install 'torch<spec>'`` gets.
_ARM_PROBE = r"""
import json, sys
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from ltt_hook import data, detection
from ltt_hook.backends import parse_backend
from ltt_hook.config import Config
from ltt_hook.decision import Environment, Request, decide
from ltt_hook.selection import incompatibility, judged_by, platform_of

root, bin_dir, arch, spec = sys.argv[1:]
machine = detection.detect(system="Linux", arch=arch, root=root, environ={"PATH": bin_dir})
request = Request(requested=frozenset({"torch"}), specifiers={"torch": (SpecifierSet(spec),)})
decision = decide(Config(), machine, request, Environment())
release = decision.expected[0]
verdicts = {}
for name in data.PLATFORM_BACKENDS["linux-aarch64"][release].split():
    backend = parse_backend(name)
    verdicts[name] = [incompatibility(backend, Version(release), machine), *judged_by(backend, Version(release), machine)]
print(json.dumps({"platform": platform_of(machine), "arch": machine.arch,
                  "jetson": machine.jetson._asdict() if machine.jetson else None,
                  "gpus": [g.capability for g in machine.nvidia_gpus], "notes": machine.notes,
                  "expected": [release, decision.expected[1].name], "decision_notes": list(decision.notes),
                  "verdicts": verdicts}))
"""


def arm_machine(tmp_path, nvml_lib, gpus, driver="580.65.06", spec=">=0", init_error=None, **sysroot):
    """What an aarch64 Linux machine made of stand-ins (NVML library, sysroot) is judged to get."""
    import json
    import os
    import subprocess

    root = stand_in.make_sysroot(tmp_path / "sysroot", **sysroot)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    env = {**os.environ, **stand_in.nvml_env(nvml_lib, driver=driver, gpus=gpus, init_error=init_error),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    env.pop("LTT_SYSROOT", None)
    proc = subprocess.run([sys.executable, "-c", _ARM_PROBE, str(root), str(bin_dir), "aarch64", spec],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


GH200 = ("9.0", "NVIDIA GH200 480GB")
GB10 = ("12.1", "NVIDIA GB10")
THOR = ("11.0", "NVIDIA Thor")
ORIN = ("8.7", "Orin (nvgpu)")


def test_gh200_gets_the_newest_aarch64_cuda_build_that_covers_sm_90(tmp_path, nvml_lib):
    got = arm_machine(tmp_path, nvml_lib, [GH200])
    assert (got["platform"], got["arch"], got["jetson"], got["gpus"]) == ("linux-aarch64", "aarch64", None, [[9, 0]])
    assert got["expected"] == ["2.15", "cu134"]  # the best of cu130 cu132 cu134 for aarch64 2.15
    reason, row, source = got["verdicts"]["cu134"]
    assert reason is None and "9.0" in row["arches"] and row["platforms"] == ["linux-aarch64"]
    assert "build_env_setup.py" in source
    # torch 2.7: aarch64 CUDA wheels begin with cu128 (its 2.7 list is 8.0 9.0 10.0 12.0)
    assert arm_machine(tmp_path / "2.7", nvml_lib, [GH200], spec="<2.8")["expected"] == ["2.7", "cu128"]


def test_dgx_spark_gb10_is_covered_by_sm_120_code_through_the_major_version_rule(tmp_path, nvml_lib):
    got = arm_machine(tmp_path, nvml_lib, [GB10], driver="580.95.05")
    assert got["gpus"] == [[12, 1]] and got["expected"] == ["2.15", "cu134"]
    reason, row, _ = got["verdicts"]["cu134"]
    assert reason is None and "12.0" in row["arches"] and "12.1" not in row["arches"]


def test_jetson_thor_is_sbsa_and_gets_a_cuda_13_aarch64_build(tmp_path, nvml_lib):
    got = arm_machine(tmp_path, nvml_lib, [THOR], device_tree=stand_in.AGX_THOR, model=stand_in.AGX_THOR_MODEL,
                      tegra_release=stand_in.L4T_R38, spec="<2.15")
    assert got["jetson"] == {"soc": "tegra264", "model": stand_in.AGX_THOR_MODEL, "l4t": "38.2.0"}
    assert got["expected"][1].startswith("cu13") and got["decision_notes"] == []
    assert "lack sm_110" in got["verdicts"]["cu126"][0]  # cu126 aarch64 is 8.0 9.0 only
    # torch 2.8 has no CUDA 13 build, and its aarch64 cu128/cu129 lists stop below 11.0
    assert arm_machine(tmp_path / "2.8", nvml_lib, [THOR], spec="<2.9", device_tree=stand_in.AGX_THOR,
                       tegra_release=stand_in.L4T_R38)["expected"] == ["2.8", "cpu"]


def test_jetson_orin_gets_cpu_with_one_line_naming_nvidias_jetson_index(tmp_path, nvml_lib):
    got = arm_machine(tmp_path, nvml_lib, [ORIN], driver="540.4.0", device_tree=stand_in.AGX_ORIN,
                      model=stand_in.AGX_ORIN_MODEL, tegra_release=stand_in.L4T_R36)
    assert got["jetson"] == {"soc": "tegra234", "model": stand_in.AGX_ORIN_MODEL, "l4t": "36.4.3"}
    assert got["expected"] == ["2.15", "cpu"]
    (note,) = got["decision_notes"]
    assert note.startswith("a CPU build, because PyTorch's own CUDA builds do not support Jetson Orin GPUs "
                           f"({stand_in.AGX_ORIN_MODEL}, sm_87)")
    assert "NVIDIA publishes Jetson builds on its Jetson AI Lab index" in note
    assert "[ltt] index-url = https://pypi.jetson-ai-lab.io/jp6/{backend}/+simple and backend = cu126" in note
    assert "LTT_INDEX_URL=https://pypi.jetson-ai-lab.io/jp6/{backend}/+simple" in note and "\n" not in note
    for name, (reason, row, source) in got["verdicts"].items():
        if name.startswith("cu"):  # sm_80 code would run on sm_87 by the rule: the Jetson rule decides
            assert reason == note[len("a CPU build, because "):], name
            assert row["rule"] == "jetson" and row["soc"] == "tegra234" and "8.7" in source
    assert any(n.startswith("Jetson Orin: NVIDIA Jetson AGX Orin Developer Kit (nvidia,tegra234, sm_87, L4T R36.4.3)")
               for n in got["notes"])


def test_jetson_orin_without_nvml_or_device_tree_is_still_recognised(tmp_path, nvml_lib):
    # JetPack 6 on Orin has no NVML; a container may see only /etc/nv_tegra_release
    got = arm_machine(tmp_path, nvml_lib, [], init_error=9, tegra_release=stand_in.L4T_R36)
    assert got["jetson"] == {"soc": None, "model": "Jetson", "l4t": "36.4.3"}
    assert got["expected"] == ["2.15", "cpu"]
    assert "PyTorch's own CUDA builds do not support Jetson GPUs (Jetson)" in got["decision_notes"][0]


def test_the_jetson_files_are_read_below_the_detection_root(host):
    stand_in.make_sysroot(host.sysroot, device_tree=stand_in.AGX_ORIN, model=stand_in.AGX_ORIN_MODEL)
    machine = host.detect(arch="aarch64")
    assert machine.jetson == detection.Jetson("tegra234", stand_in.AGX_ORIN_MODEL, None)
    assert (machine.arch, machine.nvidia_driver) == ("aarch64", None)
    # no NVIDIA driver either: the Jetson rule still says why, not "no NVIDIA driver found"
    assert "do not support Jetson Orin GPUs" in incompatibility(b("cu130"), LATEST, machine)
    assert host.detect(system="Windows", arch="aarch64").jetson is None


def test_another_arm_board_is_no_jetson(host):
    stand_in.make_sysroot(host.sysroot, device_tree=("raspberrypi,5-model-b", "brcm,bcm2712"),
                          model="Raspberry Pi 5 Model B Rev 1.0")
    assert host.detect(arch="aarch64").jetson is None


def test_the_cpu_architecture_defaults_to_this_interpreters(host):
    assert host.detect().arch == detection.interpreter_arch()
    if sysconfig.get_platform() in ("linux-x86_64", "linux-aarch64") and sys.maxsize > 2**32:
        assert host.detect().arch == sysconfig.get_platform().partition("-")[2] == platform.machine()
    assert host.detect(arch="aarch64").arch == "aarch64"


# The CPU architecture is the interpreter's platform tag's (``sysconfig.get_platform()``, which
# ``_PYTHON_HOST_PLATFORM`` replaces, for pip too), not the kernel's: a child interpreter started
# with that variable set is asked, as a pip process with it would be.
_ARCH_PROBE = r"""
import json, sys
from ltt_hook import detection
from ltt_hook.selection import platform_of

root, system = sys.argv[1:]
machine = detection.detect(system=system, root=root)
pinned = detection.detect(system=system, root=root, arch="x86_64")
print(json.dumps({"arch": machine.arch, "platform": platform_of(machine), "pinned": pinned.arch}))
"""


def arch_of_child(tmp_path, host_platform, system="Linux"):
    """What detect() in a child interpreter with ``_PYTHON_HOST_PLATFORM=host_platform`` says."""
    import json
    import os
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    env = {**os.environ, "_PYTHON_HOST_PLATFORM": host_platform, "PATH": str(bin_dir),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    env.pop("LTT_SYSROOT", None)
    root = stand_in.make_sysroot(tmp_path / "sysroot")
    proc = subprocess.run([sys.executable, "-c", _ARCH_PROBE, str(root), system], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.skipif(os.name != "posix", reason="CPython reads _PYTHON_HOST_PLATFORM on POSIX only")
def test_a_process_whose_interpreter_is_linux_aarch64_detects_aarch64(tmp_path):
    got = arch_of_child(tmp_path, "linux-aarch64")
    assert (got["arch"], got["platform"]) == ("aarch64", "linux-aarch64")  # PyTorch's Linux aarch64 builds
    assert got["platform"] in data.PLATFORMS
    assert got["pinned"] == "x86_64"  # detect(arch=...) still decides


@pytest.mark.skipif(os.name != "posix", reason="CPython reads _PYTHON_HOST_PLATFORM on POSIX only")
@pytest.mark.parametrize("host_platform, system, arch, platform_name", [
    ("linux-x86_64", "Linux", "x86_64", "linux-x86_64"),
    ("macosx-11.0-arm64", "Darwin", "arm64", "macos-aarch64"),
    ("win-amd64", "Windows", "AMD64", "windows-x86_64"),
    ("macosx-10.9-universal2", "Darwin", platform.machine(), None),  # several CPUs: the process's own
])
def test_the_platform_tag_names_the_cpu(tmp_path, host_platform, system, arch, platform_name):
    got = arch_of_child(tmp_path, host_platform, system)
    assert got["arch"] == arch
    assert platform_name is None or got["platform"] == platform_name


def test_the_platform_tag_can_be_given_in_the_environment_parameter(host):
    if os.name != "posix":
        pytest.skip("CPython reads _PYTHON_HOST_PLATFORM on POSIX only")
    assert host.detect(_PYTHON_HOST_PLATFORM="linux-aarch64").arch == "aarch64"
    assert detection.interpreter_arch({"_PYTHON_HOST_PLATFORM": "linux-aarch64"}) == "aarch64"


# The operating system, too, is the interpreter's platform tag's: pip installs that platform's
# wheels, so its build tables must judge them. A child interpreter with
# ``_PYTHON_HOST_PLATFORM=win-amd64`` (as a pip process with it) detects for Windows without being
# told, through the real pynvml and the NVML stand-in: pynvml picks its library by ``sys.platform``,
# still ``linux``, so it loads the stand-in ``libnvidia-ml.so.1``; the Windows-only probes
# (``nvidia-smi.exe`` under ``ProgramFiles``, the display adapters through PowerShell) find nothing.
_SYSTEM_PROBE = r"""
import json, sys
from packaging.specifiers import SpecifierSet
from ltt_hook import detection
from ltt_hook.config import Config
from ltt_hook.decision import Environment, Request, decide
from ltt_hook.selection import platform_of

root, bin_dir = sys.argv[1:]
machine = detection.detect(root=root, environ={"PATH": bin_dir})
pinned = detection.detect(root=root, environ={"PATH": bin_dir}, system="Linux")
request = Request(requested=frozenset({"torch"}), specifiers={"torch": (SpecifierSet("==2.10.0"),)})
decision = decide(Config(), machine, request, Environment())
print(json.dumps({"system": machine.system, "arch": machine.arch, "platform": platform_of(machine),
                  "driver": machine.nvidia_driver, "gpus": [g.capability for g in machine.gpus],
                  "notes": machine.notes, "pinned": [pinned.system, platform_of(pinned)],
                  "interpreter": [detection.interpreter_system(), detection.interpreter_arch()],
                  "expected": [decision.expected[0], decision.expected[1].name]}))
"""


def system_of_child(tmp_path, nvml_lib, host_platform=None, **nvml):
    """What detect() (no ``system=``, no ``arch=``) says in a child interpreter with
    ``_PYTHON_HOST_PLATFORM=host_platform`` (None: unset) on the NVML stand-in."""
    import json
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    env = {**os.environ, **stand_in.nvml_env(nvml_lib, **nvml),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    for name in ("LTT_SYSROOT", "_PYTHON_HOST_PLATFORM"):
        env.pop(name, None)
    if host_platform is not None:
        env["_PYTHON_HOST_PLATFORM"] = host_platform
    root = stand_in.make_sysroot(tmp_path / "sysroot")
    proc = subprocess.run([sys.executable, "-c", _SYSTEM_PROBE, str(root), str(bin_dir)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


RTX_4090 = ("8.9", "NVIDIA GeForce RTX 4090")


@pytest.mark.skipif(os.name != "posix", reason="CPython reads _PYTHON_HOST_PLATFORM on POSIX only")
def test_a_process_whose_interpreter_is_windows_detects_windows(tmp_path, nvml_lib):
    got = system_of_child(tmp_path, nvml_lib, "win-amd64", driver="575.57.08", gpus=[RTX_4090])
    # Windows names the CPU AMD64; both name PyTorch's windows-x86_64 builds.
    assert (got["system"], got["arch"], got["platform"]) == ("Windows", "AMD64", "windows-x86_64")
    assert got["interpreter"] == ["Windows", "AMD64"]
    assert got["platform"] in data.PLATFORMS
    # NVML through pynvml answers on "Windows" too: the stand-in library was loaded.
    assert (got["driver"], got["gpus"]) == ("575.57.08", [[8, 9]])
    assert "NVML: driver 575.57.08, 1 GPU(s)" in got["notes"]
    # torch 2.10 on Windows has no cu129 (Linux only: CUDA_ARCHES_NO_WINDOWS), so cu128 (12.8 needs
    # driver 570+; 575 has no CUDA 13, which needs 580).
    assert got["expected"] == ["2.10", "cu128"]
    assert got["pinned"] == ["Linux", "linux-x86_64"]  # detect(system=...) still decides


@pytest.mark.skipif(os.name != "posix", reason="CPython reads _PYTHON_HOST_PLATFORM on POSIX only")
def test_windows_detection_on_this_box_degrades_to_no_gpu_when_nvml_fails(tmp_path, nvml_lib):
    # NVML_ERROR_LIBRARY_NOT_FOUND (12): then the kernel module (Linux only: skipped) and
    # nvidia-smi (not on PATH, not under the Windows folders) find nothing; no exception.
    got = system_of_child(tmp_path, nvml_lib, "win-amd64", gpus=[RTX_4090], init_error=12)
    assert (got["system"], got["driver"], got["gpus"]) == ("Windows", None, [])
    assert "no usable NVIDIA driver found" in got["notes"]
    assert "display adapters: PowerShell not found" in got["notes"]
    assert got["expected"] == ["2.10", "cpu"]


def test_without_the_host_platform_the_system_is_this_ones(tmp_path, nvml_lib):
    # A normal run: the platform tag's OS is platform.system()'s, and 2.10 on Linux has cu129.
    got = system_of_child(tmp_path, nvml_lib, None, driver="575.57.08", gpus=[RTX_4090])
    assert got["interpreter"] == [platform.system(), detection.interpreter_arch()]
    assert got["system"] == platform.system()
    if got["platform"] == "linux-x86_64":
        assert got["expected"] == ["2.10", "cu129"]


@pytest.mark.parametrize("tag, system", [
    ("linux-x86_64", "Linux"), ("linux-aarch64", "Linux"),
    ("win-amd64", "Windows"), ("win-arm64", "Windows"), ("win32", "Windows"),
    ("macosx-11.0-arm64", "Darwin"), ("macosx-10.9-universal2", "Darwin"),
    ("freebsd-14.0-RELEASE-amd64", platform.system()),  # no PyTorch platform: the process's own
])
def test_the_platform_tag_names_the_operating_system(tag, system):
    if os.name != "posix":
        pytest.skip("CPython reads _PYTHON_HOST_PLATFORM on POSIX only")
    assert detection.interpreter_system({"_PYTHON_HOST_PLATFORM": tag}) == system


def test_the_operating_system_defaults_to_this_interpreters():
    assert detection.interpreter_system() == detection.interpreter_system({}) == platform.system()


# --------------------------------------------------------------------------- NVML remembered
_MEMORY_PROBE = """
import json, sys
from ltt_hook import detection
root, cache = sys.argv[1:]
machine = detection.detect(system="Linux", root=root, environ={"PATH": ""}, cache_dir=cache or None)
print(json.dumps({"driver": machine.nvidia_driver, "gpus": [[g.name, g.capability] for g in machine.nvidia_gpus],
                  "notes": machine.notes}))
"""


def remembered_machine(root: Path, cache: Optional[Path], nvml_lib: Path, log: Path,
                       gpus=(("8.6", "NVIDIA GeForce RTX 3090"),), driver="550.54.14"):
    """detect() in a fresh process (the NVML stand-in loads at start-up); what it found and how
    many calls NVML got (the stand-in logs each)."""
    import json
    import os
    import subprocess

    env = {**os.environ, **stand_in.nvml_env(nvml_lib, driver=driver, gpus=gpus, log=log),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    env.pop("LTT_SYSROOT", None)
    before = len(log.read_text().splitlines()) if log.exists() else 0
    proc = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(root), str(cache or "")],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    calls = (len(log.read_text().splitlines()) if log.exists() else 0) - before
    return json.loads(proc.stdout), calls


def test_nvml_is_asked_once_while_the_kernel_shows_the_same_driver_and_gpus(tmp_path, nvml_lib):
    root = stand_in.make_sysroot(tmp_path / "root", nvidia_driver="550.54.14", nvidia_gpus=["NVIDIA GeForce RTX 3090"])
    cache, log = tmp_path / "cache", tmp_path / "nvml.log"
    first, asked = remembered_machine(root, cache, nvml_lib, log)
    second, asked_again = remembered_machine(root, cache, nvml_lib, log)
    assert first["driver"] == second["driver"] == "550.54.14"
    assert first["gpus"] == second["gpus"] == [["NVIDIA GeForce RTX 3090", [8, 6]]]
    assert asked > 0 and asked_again == 0
    assert any("remembered" in n for n in second["notes"]) and not any("remembered" in n for n in first["notes"])


def test_another_gpu_or_driver_in_proc_means_nvml_is_asked_again(tmp_path, nvml_lib):
    root = stand_in.make_sysroot(tmp_path / "root", nvidia_driver="550.54.14", nvidia_gpus=["NVIDIA GeForce RTX 3090"])
    cache, log = tmp_path / "cache", tmp_path / "nvml.log"
    remembered_machine(root, cache, nvml_lib, log)
    # The card is swapped: the kernel module names another model (and UUID) at that address.
    stand_in.make_sysroot(root, nvidia_gpus=["NVIDIA GeForce RTX 4090"])
    swapped, asked = remembered_machine(root, cache, nvml_lib, log, gpus=(("8.9", "NVIDIA GeForce RTX 4090"),))
    assert asked > 0 and swapped["gpus"] == [["NVIDIA GeForce RTX 4090", [8, 9]]]
    # A driver update rewrites /proc/driver/nvidia/version.
    stand_in.make_sysroot(root, nvidia_driver="580.65.06")
    updated, asked = remembered_machine(root, cache, nvml_lib, log, gpus=(("8.9", "NVIDIA GeForce RTX 4090"),),
                                        driver="580.65.06")
    assert asked > 0 and updated["driver"] == "580.65.06"


def test_nothing_is_remembered_without_the_kernels_gpu_list_or_a_cache_dir(tmp_path, nvml_lib):
    log = tmp_path / "nvml.log"
    no_list = stand_in.make_sysroot(tmp_path / "no-list", nvidia_driver="550.54.14")  # no proc/.../gpus
    for _ in range(2):
        _, asked = remembered_machine(no_list, tmp_path / "cache", nvml_lib, log)
        assert asked > 0
    assert not (tmp_path / "cache" / "nvml.json").exists()
    listed = stand_in.make_sysroot(tmp_path / "listed", nvidia_driver="550.54.14",
                                   nvidia_gpus=["NVIDIA GeForce RTX 3090"])
    for _ in range(2):
        _, asked = remembered_machine(listed, None, nvml_lib, log)  # pip --no-cache-dir
        assert asked > 0


def test_an_unreadable_memory_is_ignored(tmp_path, nvml_lib):
    root = stand_in.make_sysroot(tmp_path / "root", nvidia_driver="550.54.14", nvidia_gpus=["NVIDIA GeForce RTX 3090"])
    cache, log = tmp_path / "cache", tmp_path / "nvml.log"
    cache.mkdir()
    (cache / "nvml.json").write_text("{not json")
    found, asked = remembered_machine(root, cache, nvml_lib, log)
    assert asked > 0 and found["gpus"] == [["NVIDIA GeForce RTX 3090", [8, 6]]]
    again, asked = remembered_machine(root, cache, nvml_lib, log)  # rewritten by the first run
    assert asked == 0 and again == {**found, "notes": again["notes"]}
