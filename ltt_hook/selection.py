"""Selection: which backend builds this machine can run, and which one is best.

Pure logic over :mod:`ltt_hook.data` and a detected :class:`~ltt_hook.detection.Machine`;
no pip imports, so it is unit-tested directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

from . import data
from ._packaging import InvalidVersion, Version
from .backends import Backend, backend_from_label, parse_backend

if TYPE_CHECKING:
    from .detection import Gpu, Machine
    from .variants import Facts  # imported only when an index publishes facts for a release the tables lack

__all__ = ["release_of", "companion_versions", "pypi_backend", "torch_backend", "interpreter_platform",
           "incompatibility", "compatibility", "known_backends", "sort_key", "platform_of", "published",
           "rocm_arches", "driver_minimum", "jetson_note", "judged_by", "tables_know"]

Arch = Tuple[int, int, bool]  # (major, minor, ships PTX)


def _release(text: str) -> Version:
    return Version(text)


def _arches(text: str) -> Tuple[Arch, ...]:
    out = []
    for item in text.split():
        ptx = item.endswith("+PTX")
        major, minor = item.replace("+PTX", "").split(".")
        out.append((int(major), int(minor), ptx))
    return tuple(out)


# Each row ends with the data.py row it was read from (for ``python -m ltt_hook --json``).
_CudaRow = Tuple[Version, Version, FrozenSet[str], FrozenSet[str], Tuple[Arch, ...], Tuple[str, ...]]
_CUDA_ROWS: Tuple[_CudaRow, ...] = tuple(
    (_release(row[0]), _release(row[1]), frozenset(row[2].split()), frozenset(row[3].split()), _arches(row[4]), row)
    for row in data.CUDA_ARCHES
)
_RocmRow = Tuple[Version, Version, FrozenSet[str], FrozenSet[str], Tuple[str, ...]]
_ROCM_ROWS: Tuple[_RocmRow, ...] = tuple(
    (_release(row[0]), _release(row[1]), frozenset(row[2].split()), frozenset(row[3].split()), row)
    for row in data.ROCM_ARCHES
)
_TABLE_RELEASES = frozenset(_release(r) for r in data.RELEASE_BACKENDS)
_CPUS = {"amd64": "x86_64", "x64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}
_OSES = {"Linux": "linux", "Windows": "windows", "Darwin": "macos"}


def platform_of(machine: Machine) -> str:
    """The platform PyTorch builds for that ``machine`` is, as :data:`ltt_hook.data.PLATFORMS`
    names them (``linux-x86_64``, ``windows-x86_64``, ``linux-aarch64``)."""
    return _platform(machine.system, machine.arch)


def _platform(system: str, arch: str) -> str:
    os_name = _OSES.get(system, system.lower())
    cpu = _CPUS.get(arch.lower(), arch.lower())
    return f"{os_name}-{cpu}"


def published(backend: Backend, release: Optional[Version], platform: str) -> Optional[bool]:
    """Whether ``backend`` builds of torch ``release`` are published for ``platform``; None when
    the tables do not say (a release they lack, a backend the release never had anywhere)."""
    if release is None:
        return None
    key = f"{release.major}.{release.minor}"
    everywhere = data.RELEASE_BACKENDS.get(key, "").split()
    if backend.name not in everywhere:
        return None
    if platform == "linux-x86_64":
        return True
    per_platform = data.PLATFORM_BACKENDS.get(platform)
    if per_platform is None:
        return backend.family == "cpu"  # macOS, Windows on Arm: CPU builds only
    return backend.name in per_platform.get(key, "").split()


def tables_know(release: Version) -> bool:
    """Whether the tables know torch ``release`` (``2.14``): then they judge its builds, whatever
    an index's variants file says (the tables cite PyTorch's sources)."""
    return release in _TABLE_RELEASES


def _learned(facts: Optional[Facts], release: Optional[Version], platform: str) -> Optional[Facts]:
    """``facts`` (read from the index's variants file of ``release``) where they may judge: a
    release the tables lack, on the platform the file describes."""
    if facts is None or release is None or platform != facts.platform or tables_know(release):
        return None
    return facts


def interpreter_platform() -> str:
    """This interpreter's platform as :data:`ltt_hook.data.PLATFORMS` names them (its platform tag)."""
    from .detection import interpreter_arch, interpreter_system  # loaded already once a machine was asked for

    return _platform(interpreter_system(), interpreter_arch())


def torch_backend(version: Version) -> Backend:
    """A torch wheel's backend by its version: its label, else (PyPI's unlabelled build) PyPI's
    flavour for this platform, else ``cpu``."""
    label = backend_from_label(version.local)
    if label is not None:
        return label
    return pypi_backend(Version(f"{version.major}.{version.minor}")) or parse_backend("cpu")


def pypi_backend(release: Version, platform: Optional[str] = None) -> Optional[Backend]:
    """The backend of PyPI's unlabelled torch of ``release`` for ``platform`` (default this
    interpreter's): the one rule for an unlabelled torch *wheel* found outside the PyTorch index.
    A CUDA build on Linux x86_64 (:data:`~ltt_hook.data.PYPI_CUDA_FLAVOUR`) and, from 2.11 on, on
    Linux aarch64 (:data:`~ltt_hook.data.PYPI_CUDA_FLAVOUR_AARCH64`); a CPU build everywhere else.
    None for a release the table lacks on a platform where PyPI's torch is a CUDA build: a CUDA
    version nobody knows. An *installed* torch is read from its files instead
    (:func:`ltt_hook.installed.read_installed`)."""
    platform = platform or interpreter_platform()
    key = f"{release.major}.{release.minor}"
    if platform == "linux-x86_64":
        flavour = data.PYPI_CUDA_FLAVOUR.get(key)
    elif platform == "linux-aarch64":
        first_cuda = min(Version(r) for r in data.PYPI_CUDA_FLAVOUR_AARCH64)
        if release < first_cuda:
            return parse_backend("cpu")
        flavour = data.PYPI_CUDA_FLAVOUR_AARCH64.get(key)
    else:
        return parse_backend("cpu")
    return parse_backend(flavour) if flavour else None


def release_of(project: str, version: Version) -> Optional[Version]:
    """The torch release (``2.14``) a build belongs to, for torch and the companions whose
    version follows torch's; None for the others (they are judged against every release)."""
    major, minor = version.major, version.minor
    if project == "torch":
        return Version(f"{major}.{minor}")
    if project == "torchvision" and major == 0:  # 0.(m+15) <-> 2.m, 0.(m+1) <-> 1.m
        return Version(f"2.{minor - 15}") if minor >= 15 else Version(f"1.{minor - 1}")
    if project == "torchaudio":  # 2.m <-> 2.m, 0.m <-> 1.m
        return Version(f"{major}.{minor}") if major >= 2 else Version(f"1.{minor}")
    return None


def companion_versions(project: str, release: Version) -> List[str]:
    """The versions a project released with torch ``release`` can have (patch 0-9): the inverse
    of :func:`release_of`, the one place that maps companions to torch releases. Empty for a
    project whose version does not follow torch's."""
    if project == "torch":
        base = f"{release.major}.{release.minor}"
    elif project == "torchvision":
        base = f"0.{release.minor + 15}" if release.major == 2 else f"0.{release.minor + 1}"
    elif project == "torchaudio":
        base = f"{release.major}.{release.minor}" if release.major == 2 else f"0.{release.minor}"
    else:
        return []
    return [f"{base}.{patch}" for patch in range(10)]


def _nearest(rows: Sequence[Any], release: Optional[Version]) -> List[Any]:
    """The rows (first, last, ...) that judge ``release``: the one covering it; for a release
    the rows lack, the newest row before it (else the oldest); every row when None."""
    if release is None:
        return list(rows)
    for row in rows:
        if row[0] <= release <= row[1]:
            return [row]
    before = [r for r in rows if r[1] < release]
    return [max(before, key=lambda r: r[1]) if before else min(rows, key=lambda r: r[0])]


def _arch_lists(backend: Backend, release: Optional[Version], platform: str,
                facts: Optional[Facts] = None) -> List[Tuple[Arch, ...]]:
    """GPU architectures of ``backend`` builds of ``release`` for ``platform`` (of every
    release when None); see :func:`_cuda_rows`."""
    return [r[4] for r in _cuda_rows(backend, release, platform, facts)]


def _cuda_rows(backend: Backend, release: Optional[Version], platform: str,
               facts: Optional[Facts] = None) -> List[_CudaRow]:
    """The rows that judge ``backend`` builds of ``release`` for ``platform`` (of every
    release when None).

    For a release the tables lack, the index's variants file of that release (``facts``,
    :mod:`ltt_hook.variants`) gives the row of each backend it lists. Conservative defaults for
    what neither knows: a release newer than the table uses the newest known row of that
    backend; a backend the table has never seen (``cu136``) uses the rows of the nearest older
    CUDA version of the same major version; a new CUDA major version, or a platform without
    rows, has no data and is treated as incompatible.
    """
    learned = _learned(facts, release, platform)
    if learned is not None and backend.name in learned.cuda:
        assert release is not None
        arches = tuple(learned.cuda[backend.name])
        listed = " ".join("%d.%d%s" % (a[0], a[1], "+PTX" if a[2] else "") for a in arches)
        raw = (str(release), str(release), platform, backend.name, listed, learned.source)
        return [(release, release, frozenset([platform]), frozenset([backend.name]), arches, raw)]
    here = [r for r in _CUDA_ROWS if platform in r[2]]
    rows = [r for r in here if backend.name in r[3]]
    if not rows:
        same_major = sorted({parse_backend(n) for r in here for n in r[3]}, key=lambda b: b.version)
        older = [b for b in same_major if b.version[0] == backend.version[0] and b.version < backend.version]
        if not older:
            return []
        rows = [r for r in here if older[-1].name in r[3]]
    return _nearest(rows, release)


def _covers(arches: Sequence[Arch], capability: Tuple[int, int]) -> bool:
    """CUDA binary compatibility: ``sm_XY`` code runs on X.Z with Z >= Y; PTX runs on newer."""
    major, minor = capability
    return any(
        (a_major == major and a_minor <= minor) or (ptx and (a_major, a_minor) <= capability)
        for a_major, a_minor, ptx in arches
    )


def driver_minimum(backend: Backend, system: str) -> Optional[str]:
    """The NVIDIA driver a CUDA build needs (minor-version compatibility), None if unknown."""
    major, minor = backend.version
    for first, linux, windows in data.CUDA_DRIVER_MINIMUM:
        f_major, f_minor = (int(p) for p in first.split("."))
        if f_major == major and f_minor <= minor:
            return windows if system == "Windows" else linux
    return None


def _rocm_rows(backend: Backend, release: Optional[Version],
               facts: Optional[Facts] = None) -> Tuple[List[_RocmRow], str]:
    """The rows that judge ``backend`` builds of ``release`` (every row when None) and the
    backend whose rows they are; see :func:`rocm_arches`."""
    learned = _learned(facts, release, "linux-x86_64")
    if learned is not None and backend.name in learned.rocm:
        assert release is not None
        gfx = learned.rocm[backend.name]
        raw = (str(release), str(release), backend.name, " ".join(sorted(gfx)), learned.source)
        return [(release, release, frozenset([backend.name]), frozenset(gfx), raw)], backend.name
    source = backend
    if not any(backend.name in r[2] for r in _ROCM_ROWS):
        known = sorted({parse_backend(n) for r in _ROCM_ROWS for n in r[2]}, key=lambda b: b.version)
        older = [b for b in known if b.version[0] == backend.version[0] and b.version < backend.version]
        if not older:
            return [], ""
        source = older[-1]
    return _nearest([r for r in _ROCM_ROWS if source.name in r[2]], release), source.name


def rocm_arches(backend: Backend, release: Optional[Version] = None,
                facts: Optional[Facts] = None) -> Tuple[Optional[FrozenSet[str]], str]:
    """The gfx targets of a ROCm backend's builds of ``release`` (of any release when None)
    and whose list it is.

    For a release the tables lack, the list of the index's variants file (``facts``) when it
    has one for the backend.

    A backend the table lacks (``rocm7.14``) borrows the list of the nearest older known
    backend of the same major version, as unknown CUDA backends do; without one (ROCm 5.x
    and older have no data) the result is None: never chosen automatically.
    """
    rows, source = _rocm_rows(backend, release, facts)
    if not rows:
        return None, ""
    return frozenset(a for r in rows for a in r[3]), source


_FAMILY_NAMES = {"cuda": "CUDA", "rocm": "ROCm", "xpu": "XPU"}
_ANY_ROCM = frozenset(a for row in data.ROCM_ARCHES for a in row[3].split())


def _judged(gpus: List[Gpu], supported: Callable[[Gpu], bool]) -> Tuple[List[Gpu], List[Gpu]]:
    """The GPUs of one vendor a backend is judged against, and those left out.

    A GPU that no build of the vendor supports at all (the Radeon iGPU of a Ryzen next to
    a Radeon card, the UHD graphics next to an Arc card) is left out when another GPU of
    the vendor is supported; otherwise every GPU counts.
    """
    usable = [g for g in gpus if supported(g)]
    if not usable:
        return gpus, []
    return usable, [g for g in gpus if not supported(g)]


def _amd_gpus(machine: Machine) -> Tuple[List[Gpu], List[Gpu]]:
    return _judged(machine.amd_gpus, lambda g: g.gfx in _ANY_ROCM)


def _xpu_supported(gpu: Gpu) -> bool:
    """Whether PyTorch's XPU builds support this Intel GPU (its PCI device ID is in the table)."""
    from .detection import intel_platform  # loaded with the machine

    return intel_platform(gpu.pci_id) is not None


def _intel_gpus(machine: Machine) -> Tuple[List[Gpu], List[Gpu]]:
    return _judged(machine.intel_gpus, _xpu_supported)


def _rocm_incompatibility(backend: Backend, release: Optional[Version], machine: Machine,
                          facts: Optional[Facts] = None) -> Optional[str]:
    if machine.system != "Linux":
        return f"PyTorch's ROCm builds are for Linux only (this is {machine.system})"
    if platform_of(machine) != "linux-x86_64":
        return f"PyTorch's ROCm builds are for Linux x86_64 only (this is {platform_of(machine)})"
    if not machine.amd_gpus:
        return "no AMD GPU detected"
    arches, _ = rocm_arches(backend, release, facts)
    if arches is None:
        return (f"no GPU-architecture data for ROCm {backend.version[0]}.x builds "
                "(used only when asked for explicitly)")
    judged, _ = _amd_gpus(machine)
    which = f"torch {release}" if release else "any release"
    for gpu in judged:
        if gpu.gfx not in arches:
            return f"{backend.name} builds of {which} lack {gpu.gfx} ({gpu.name})"
    return None


def _xpu_incompatibility(machine: Machine) -> Optional[str]:
    if machine.system not in ("Linux", "Windows"):
        return f"PyTorch's XPU builds are for Linux and Windows only (this is {machine.system})"
    if platform_of(machine) not in ("linux-x86_64", "windows-x86_64"):
        return f"PyTorch's XPU builds are for x86_64 only (this is {platform_of(machine)})"
    if not machine.intel_gpus:
        return "no Intel GPU detected"
    judged, _ = _intel_gpus(machine)
    for gpu in judged:
        if not _xpu_supported(gpu):
            return f"{gpu.name} (PCI 8086:{(gpu.pci_id or '0x????')[2:]}) is not a GPU PyTorch's XPU builds support"
    return None


def incompatibility(backend: Backend, release: Optional[Version], machine: Machine,
                    facts: Optional[Facts] = None) -> Optional[str]:
    """Why ``machine`` cannot run ``backend`` builds of ``release``; None when it can.

    ``facts``: what the index's variants file of ``release`` says (:mod:`ltt_hook.variants`);
    it judges only a release the tables lack.

    Each backend is judged only against its own vendor's GPUs: a CUDA build against the
    NVIDIA GPUs (every one must be covered), a ROCm build against the AMD GPUs, the XPU build
    against the Intel GPUs. Which compatible backend wins is :func:`sort_key`'s business
    (CUDA > ROCm > XPU > CPU).
    """
    if backend.family == "cpu":
        return None
    if machine.system == "Darwin":
        return f"macOS has no {_FAMILY_NAMES[backend.family]} builds"
    if backend.family == "rocm":
        return _rocm_incompatibility(backend, release, machine, facts)
    if backend.family == "xpu":
        return _xpu_incompatibility(machine)
    return _jetson_reason(machine) or _driver_reason(backend, machine) or _cuda_arch_reason(backend, release,
                                                                                            machine, facts)


def _driver_reason(backend: Backend, machine: Machine) -> Optional[str]:
    """Why the NVIDIA driver of ``machine`` cannot run ``backend`` builds; None when it can."""
    if machine.nvidia_driver is None:
        return "no NVIDIA driver found"
    minimum = driver_minimum(backend, machine.system)
    if minimum is None:
        return f"no driver data for CUDA {backend.version[0]}.x"
    try:
        driver = Version(machine.nvidia_driver)
    except InvalidVersion:
        return f"NVIDIA driver version {machine.nvidia_driver!r} does not parse"
    if driver < Version(minimum):
        return f"needs NVIDIA driver >= {minimum} (this machine has {machine.nvidia_driver})"
    return None


def _cuda_arch_reason(backend: Backend, release: Optional[Version], machine: Machine,
                      facts: Optional[Facts]) -> Optional[str]:
    """Why ``backend`` builds of ``release`` lack a GPU architecture of ``machine``; None when
    every NVIDIA GPU is covered."""
    gpus = machine.nvidia_gpus
    if not gpus:
        return "no NVIDIA GPU found"
    platform = platform_of(machine)
    if published(backend, release, platform) is False:
        return f"torch {release} has no {backend.name} builds for {platform}"
    lists = _arch_lists(backend, release, platform, facts)
    if not lists:
        return f"no GPU-architecture data for {backend.name} on {platform}"
    for gpu in gpus:
        if gpu.capability is None:
            continue  # unknown capability: the driver check alone decides (documented)
        if not any(_covers(arches, gpu.capability) for arches in lists):
            sm = "sm_%d%d" % gpu.capability
            which = f"torch {release}" if release else "any release"
            return f"{backend.name} builds of {which} lack {sm} ({gpu.name})"
    return None


def _jetson_reason(machine: Machine) -> Optional[str]:
    """Why no PyTorch-index CUDA build is for this Jetson (every Jetson before Thor), with
    where NVIDIA's own builds are; None for any other machine and for Thor."""
    jetson = machine.jetson
    if jetson is None or jetson.sbsa:
        return None
    cap = f", sm_{jetson.capability.replace('.', '')}" if jetson.capability else ""
    major = (jetson.l4t or "").split(".")[0]
    if major in data.JETSON_INDEXES:
        url, backend = data.JETSON_INDEXES[major]
        how = (f"for L4T R{major}: [ltt] index-url = {url} and backend = {backend} in pip.conf, or "
               f"LTT_INDEX_URL={url} LTT_PYTORCH_COMPUTATION_BACKEND={backend}")
    else:
        how = (f"choose the index of your JetPack on {data.JETSON_INDEX_HOME} and set it as [ltt] index-url "
               "(LTT_INDEX_URL), with its CUDA page as [ltt] backend")
    return (f"PyTorch's own CUDA builds do not support {jetson.family} GPUs ({jetson.model}{cap}); NVIDIA "
            f"publishes Jetson builds on its Jetson AI Lab index, which ltt-hook does not choose by itself: "
            f"to use it, set it yourself ({how})")


def jetson_note(machine: Machine) -> Optional[str]:
    """One line for a Jetson that gets a CPU build because of :func:`_jetson_reason`."""
    why = _jetson_reason(machine)
    return f"a CPU build, because {why}" if why else None


def _arch_text(arches: Sequence[Arch]) -> Tuple[List[str], List[str]]:
    return (["%d.%d" % (a[0], a[1]) for a in arches], ["%d.%d" % (a[0], a[1]) for a in arches if a[2]])


def judged_by(backend: Backend, release: Optional[Version], machine: Machine,
              facts: Optional[Facts] = None) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """The table row that judges ``backend`` builds of ``release`` on ``machine``, as plain data,
    and the source it cites; (None, None) where no row does (CPU builds, a backend without data).

    A CUDA row names its releases, platforms, backends, GPU architectures and the ones shipped
    as PTX; a ROCm row its releases, backends and gfx targets; ``borrowed_from`` names the
    backend whose row a backend missing from the tables uses. On a Jetson before Thor the
    Jetson rule judges every CUDA build. A row read from the index's variants file (``facts``,
    a release the tables lack) cites that file's URL.
    """
    if backend.family == "cuda":
        if _jetson_reason(machine) is not None:
            assert machine.jetson is not None
            return ({"rule": "jetson", "soc": machine.jetson.soc, "l4t": machine.jetson.l4t,
                     "sbsa_socs": sorted(data.JETSON_SBSA)}, data.JETSON_SOURCE)
        rows = _cuda_rows(backend, release, platform_of(machine), facts)
        if len(rows) != 1:
            return None, None
        first, last, platforms, names, arches, raw = rows[0]
        listed, ptx = _arch_text(arches)
        row: Dict[str, Any] = {"releases": f"{first}-{last}", "platforms": sorted(platforms), "backends": sorted(names),
                               "arches": listed, "ptx": ptx}
        if backend.name not in names:
            older = [parse_backend(n) for n in names if parse_backend(n).version < backend.version]
            row["borrowed_from"] = max(older, key=lambda b: b.version).name
        return row, raw[5]
    if backend.family == "rocm":
        rrows, source = _rocm_rows(backend, release, facts)
        if len(rrows) != 1:
            return None, None
        first, last, names, gfx, raw = rrows[0]
        row = {"releases": f"{first}-{last}", "backends": sorted(names), "arches": raw[3].split()}
        if source != backend.name:
            row["borrowed_from"] = source
        return row, raw[4]
    if backend.family == "xpu":
        return {"platforms": sorted(data.XPU_DEVICES)}, data.XPU_SOURCE
    return None, None


def compatibility(backend: Backend, release: Optional[Version], machine: Machine,
                  facts: Optional[Facts] = None) -> str:
    """Why ``machine`` can run ``backend`` builds of ``release`` (call it only when
    :func:`incompatibility` is None), in a few words for ``python -m ltt_hook``."""
    if backend.family == "cpu":
        return "runs on every machine"
    if backend.family == "cuda":
        minimum = driver_minimum(backend, machine.system)
        why = f"NVIDIA driver {machine.nvidia_driver} >= {minimum} (CUDA {backend.version[0]}.x)"
        known = sorted({g.capability for g in machine.nvidia_gpus if g.capability})
        if known:
            why += " and the build has code for " + ", ".join("sm_%d%d" % c for c in known)
        if len(known) < len(machine.nvidia_gpus):
            why += "; compute capability unknown, so the driver alone decides"
        return why
    if backend.family == "rocm":
        arches, source = rocm_arches(backend, release, facts)
        judged, left_out = _amd_gpus(machine)
        why = f"the build lists {', '.join(sorted({g.gfx or '?' for g in judged}))}"
        if source != backend.name:
            why += f" ({backend.name} is not in the tables; using {source}'s list)"
        if left_out:
            why += f"; left out: {', '.join(sorted({g.gfx or '?' for g in left_out}))}, which no ROCm build supports"
        return why
    judged, left_out = _intel_gpus(machine)
    why = f"PyTorch's XPU builds support {', '.join(sorted({g.name for g in judged}))}"
    if left_out:
        ids = ", ".join(sorted({"8086:" + (g.pci_id or "0x????")[2:] for g in left_out}))
        why += f"; left out: {ids}, which they do not"
    return why


def known_backends(channel: str) -> List[Backend]:
    """Backends that have sub-indexes on ``channel``, best first."""
    if channel == "stable":
        names = {n for value in data.RELEASE_BACKENDS.values() for n in value.split()}
    else:
        names = set(data.PRERELEASE_BACKENDS[channel].split())
    return sorted((parse_backend(n) for n in names), key=lambda b: b.rank, reverse=True)


def sort_key(version: Version, backend: Optional[Backend]) -> Tuple[Any, ...]:
    """Preference among builds: any GPU build over CPU builds (even of a newer torch), then
    the newest torch, then the most capable backend (our rank, not PEP 440's label order)."""
    is_gpu = bool(backend and backend.is_gpu)
    rank = backend.rank if backend else (-1, ())
    return (is_gpu, Version(version.public), rank)
