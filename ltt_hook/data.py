"""Facts that change with PyTorch and CUDA releases, kept as plain data in one place.

Every table names its source. When a new PyTorch release ships, this is the only file
that should need an edit. Versions are written as strings here and parsed with
``packaging`` where they are used; nothing compares them as strings.
"""

from __future__ import annotations

#: The public PyTorch wheel index (PEP 503 HTML; one sub-index per channel and backend).
#: Source: download.pytorch.org, pytorch/test-infra ``s3_management/manage_v2.py``.
DEFAULT_INDEX_URL = "https://download.pytorch.org/whl"

#: Channel name -> path prefix below the index base. Source: test-infra ``PREFIXES``.
CHANNELS = {"stable": "", "test": "test/", "nightly": "nightly/"}

#: Distributions built once per backend: one wheel per backend page, the backend as the
#: local version label (``torch-2.14.1+cu126``). Their lookups go to the PyTorch index and
#: their candidates are filtered and ranked by backend.
#: Source: test-infra ``PACKAGE_ALLOW_LIST`` (HEAD 2026-08), ltt-hook issue #2.
BACKEND_BUILT = frozenset(
    {
        "torch",
        "torchvision",
        "torchaudio",
        "torchtext",
        "torchrec",
        "torchtune",
        "torchao",
        "torchcodec",
        "torchcsprng",
        "torchdistx",
        "torcharrow",
        "torch-tensorrt",
        "fbgemm-gpu",
        "fbgemm-gpu-genai",
        "xformers",
    }
)

#: Compiler packages that torch wheels depend on. Their local labels are git hashes, not
#: backends, and one wheel serves every backend of its vendor, so they are looked up on the
#: channel's union page ``<base>/<channel>/<project>/`` and not filtered by backend.
#: Plain ``triton`` is published on PyPI by OpenAI and is left to the user's indexes.
#: Source: pytorch-index reference §10.3; test-infra ``PT_R2_PACKAGES``.
TRITON_BUILDS = frozenset(
    {"pytorch-triton", "pytorch-triton-rocm", "pytorch-triton-xpu", "triton-rocm", "triton-xpu"}
)

#: Minimum NVIDIA driver for CUDA minor-version compatibility, as
#: (first CUDA version of the row, Linux minimum, Windows minimum). A row covers CUDA
#: versions from its first version up to the next row, within the same major version.
#: Source: CUDA Toolkit Release Notes, Table 2 (13.2 U2 notes for 12.x/13.x; 11.8 notes
#: for 11.x; 10.2 notes, Table 1, for older).
CUDA_DRIVER_MINIMUM = (
    ("13.0", "580", "580"),
    ("12.0", "525.60.13", "528.33"),
    ("11.1", "450.80.02", "452.39"),
    ("11.0", "450.36.06", "451.22"),
    ("10.2", "440.33", "441.22"),
    ("10.1", "418.39", "418.96"),
    ("10.0", "410.48", "411.31"),
    ("9.2", "396.26", "398.26"),
    ("9.1", "390.46", "391.29"),
    ("9.0", "384.81", "385.54"),
    ("8.0", "375.26", "376.51"),
)

#: Backend sub-indexes published per torch release (stable channel, Linux x86_64).
#: Source: pytorch RELEASE.md "Release Compatibility Matrix", test-infra
#: ``generate_binary_build_matrix.py`` at each release, pytorch.org previous-versions page
#: (pytorch-index reference §5). XPU from 2.5 (§9). 2.14 as of its release candidate.
RELEASE_BACKENDS = {
    "1.8": "cpu cu101 cu102 cu111 rocm3.10 rocm4.0.1",
    "1.9": "cpu cu102 cu111 rocm4.0.1 rocm4.1 rocm4.2",
    "1.10": "cpu cu102 cu111 cu113 rocm4.0.1 rocm4.1 rocm4.2",
    "1.11": "cpu cu102 cu113 cu115 rocm4.3.1 rocm4.5.2",
    "1.12": "cpu cu102 cu113 cu116 rocm5.0 rocm5.1.1",
    "1.13": "cpu cu116 cu117 rocm5.1.1 rocm5.2",
    "2.0": "cpu cu117 cu118 rocm5.3 rocm5.4.2",
    "2.1": "cpu cu118 cu121 rocm5.5 rocm5.6",
    "2.2": "cpu cu118 cu121 rocm5.6 rocm5.7",
    "2.3": "cpu cu118 cu121 rocm5.7 rocm6.0",
    "2.4": "cpu cu118 cu121 cu124 rocm6.0 rocm6.1",
    "2.5": "cpu cu118 cu121 cu124 rocm6.1 rocm6.2 xpu",
    "2.6": "cpu cu118 cu124 cu126 rocm6.1 rocm6.2.4 xpu",
    "2.7": "cpu cu118 cu126 cu128 rocm6.2.4 rocm6.3 xpu",
    "2.8": "cpu cu126 cu128 cu129 rocm6.3 rocm6.4 xpu",
    "2.9": "cpu cu126 cu128 cu129 cu130 rocm6.3 rocm6.4 xpu",
    "2.10": "cpu cu126 cu128 cu130 rocm7.0 rocm7.1 xpu",
    "2.11": "cpu cu126 cu128 cu130 rocm7.1 rocm7.2 xpu",
    "2.12": "cpu cu126 cu130 cu132 rocm7.1 rocm7.2 xpu",
    "2.13": "cpu cu126 cu130 cu132 rocm7.1 rocm7.2 xpu",
    "2.14": "cpu cu126 cu130 cu132 rocm7.2 rocm7.14 xpu",
}

#: Python versions (minor, inclusive range) with wheels per torch release; pages of releases
#: without a wheel for the running Python are not requested.
#: Source: pytorch-index reference §5 ("Python (wheels)" column).
RELEASE_PYTHONS = {
    "1.8": "3.6 3.9", "1.9": "3.6 3.9", "1.10": "3.6 3.9", "1.11": "3.7 3.10", "1.12": "3.7 3.10",
    "1.13": "3.7 3.10", "2.0": "3.8 3.11", "2.1": "3.8 3.11", "2.2": "3.8 3.12", "2.3": "3.8 3.12",
    "2.4": "3.8 3.12", "2.5": "3.9 3.13", "2.6": "3.9 3.13", "2.7": "3.9 3.13", "2.8": "3.9 3.13",
    "2.9": "3.10 3.14", "2.10": "3.10 3.14", "2.11": "3.10 3.14", "2.12": "3.10 3.14",
    "2.13": "3.10 3.14", "2.14": "3.10 3.14",
}

#: Backends on the pre-release channels (they carry only the release in progress).
#: Source: test-infra ``generate_binary_build_matrix.py`` (nightly 2.15, candidate 2.14).
PRERELEASE_BACKENDS = {
    "test": "cpu cu126 cu130 cu132 cu134 rocm7.2 rocm7.14 xpu",
    "nightly": "cpu cu126 cu130 cu132 cu134 rocm7.2 rocm7.14 xpu",
}

#: The CUDA build behind PyPI's unlabelled Linux x86_64 torch wheel, per release; used to
#: judge an unlabelled torch wheel found outside the PyTorch index (for example in a
#: find-links folder). Source: pytorch-index reference §4.3 (test-infra
#: ``STABLE_CUDA_VERSIONS``; 2.5/2.6 inferred).
PYPI_CUDA_FLAVOUR = {
    "1.8": "cu102", "1.9": "cu102", "1.10": "cu102", "1.11": "cu102", "1.12": "cu102",
    "1.13": "cu117", "2.0": "cu117", "2.1": "cu121", "2.2": "cu121", "2.3": "cu121",
    "2.4": "cu121", "2.5": "cu124", "2.6": "cu124", "2.7": "cu126", "2.8": "cu128",
    "2.9": "cu128", "2.10": "cu128", "2.11": "cu130", "2.12": "cu130", "2.13": "cu130",
    "2.14": "cu130",
}

#: GPU architectures compiled into each CUDA build, as (first torch release, last torch
#: release, backends, ``TORCH_CUDA_ARCH_LIST``). ``+PTX`` on the last entry means PTX is
#: shipped too, so newer GPUs can JIT it. Linux x86_64 / Windows.
#: Source: pytorch/builder ``manywheel/build_cuda.sh`` history, pytorch
#: ``.ci/manywheel/build_cuda.sh``, RELEASE.md "CUDA Support Matrix", issues #157517 and
#: #172352 (pytorch-index reference §6). Rows for cu118 in 2.6-2.7, cu124 in 2.6 and
#: cu128 in 2.10 and 1.x cu101 are inferred from the neighbouring releases.
CUDA_ARCHES = (
    ("1.8", "1.13", "cu101 cu102", "3.7 5.0 6.0 7.0"),
    ("1.8", "1.13", "cu111 cu113 cu115 cu116 cu117", "3.7 5.0 6.0 7.0 7.5 8.0 8.6"),
    ("2.0", "2.0", "cu117", "3.7 5.0 6.0 7.0 7.5 8.0 8.6"),
    ("2.0", "2.7", "cu118", "3.7 5.0 6.0 7.0 7.5 8.0 8.6 9.0"),
    ("2.1", "2.6", "cu121 cu124", "5.0 6.0 7.0 7.5 8.0 8.6 9.0"),
    ("2.6", "2.14", "cu126", "5.0 6.0 7.0 7.5 8.0 8.6 9.0"),
    ("2.7", "2.7", "cu128", "7.5 8.0 8.6 9.0 10.0 12.0"),
    ("2.8", "2.10", "cu128", "7.0 7.5 8.0 8.6 9.0 10.0 12.0"),
    ("2.11", "2.11", "cu128", "7.5 8.0 8.6 9.0 10.0 12.0"),
    ("2.8", "2.9", "cu129", "7.0 7.5 8.0 8.6 9.0 10.0 12.0+PTX"),
    ("2.9", "2.14", "cu130 cu132", "7.5 8.0 8.6 9.0 10.0 12.0+PTX"),
)

#: AMD GPU targets compiled into each ROCm build (``torch.cuda.get_arch_list()``), the same
#: for every torch release that publishes the backend. A ROCm backend missing here borrows
#: the list of the nearest older one of the same major version (``rocm7.14`` -> ``rocm7.2``).
#: Source: uv ``crates/uv-torch`` ``LINUX_AMD_GPU_DRIVERS`` (pytorch-index reference §8,
#: peers reference §A.5). ROCm 5.x/4.x have no row: those builds are only used when asked
#: for explicitly.
ROCM_ARCHES = {
    "rocm7.2": "gfx900 gfx906 gfx908 gfx90a gfx942 gfx950 gfx1030 gfx1100 gfx1101 gfx1102 gfx1150 gfx1151 gfx1200 gfx1201",
    "rocm7.1": "gfx900 gfx906 gfx908 gfx90a gfx942 gfx950 gfx1030 gfx1100 gfx1101 gfx1102 gfx1200 gfx1201",
    "rocm7.0": "gfx900 gfx906 gfx908 gfx90a gfx942 gfx950 gfx1030 gfx1100 gfx1101 gfx1102 gfx1200 gfx1201",
    "rocm6.4": "gfx900 gfx906 gfx908 gfx90a gfx942 gfx1030 gfx1100 gfx1101 gfx1102 gfx1200 gfx1201",
    "rocm6.3": "gfx900 gfx906 gfx908 gfx90a gfx942 gfx1030 gfx1100 gfx1101 gfx1102 gfx1200 gfx1201",
    "rocm6.2.4": "gfx900 gfx906 gfx908 gfx90a gfx942 gfx1030 gfx1100 gfx1101 gfx1102 gfx1200 gfx1201",
    "rocm6.2": "gfx900 gfx906 gfx908 gfx90a gfx942 gfx1030 gfx1100",
    "rocm6.1": "gfx900 gfx906 gfx908 gfx90a gfx942 gfx1030 gfx1100 gfx1101",
    "rocm6.0": "gfx900 gfx906 gfx908 gfx90a gfx942 gfx1030 gfx1100",
}

#: Intel GPUs that PyTorch's XPU builds support, as PCI device ids (vendor 0x8086) per
#: platform. Only these get an ``xpu`` build; any other Intel GPU (the Iris Xe 0x9a49 of
#: Tiger Lake, the UHD graphics of Alder/Raptor Lake, DG1, Data Center GPU Flex, Meteor
#: Lake-U/M, Arrow Lake-U/S, platforms newer than PyTorch's list) counts as no GPU.
#: Platforms: PyTorch "Getting Started on Intel GPU" (docs.pytorch.org
#: ``notes/get_start_xpu``; pytorch-index reference §9): Data Center GPU Max, Arc A- and
#: B-series, Core Ultra with Arc graphics (Meteor Lake-H, Arrow Lake-H, Lunar Lake, Panther
#: Lake). Device ids: the Linux kernel's list shared by i915 and xe,
#: ``include/drm/intel/pciids.h`` (torvalds/linux, 2026), macro named per row.
#: Inferred: 0x7dd5 and 0x7dd1 are the Meteor Lake-H / Arrow Lake-H GPU that pci.ids calls
#: "Intel Graphics" rather than "Arc" (the name depends on the memory fitted, not the GPU);
#: the kernel groups them with 0x7d55 / 0x7d51. Meteor Lake ids outside MTL-U that pci.ids
#: names "Meteor Lake-M" (0x7d60) are left out. Panther Lake is the whole kernel list, as
#: PyTorch names the platform, not SKUs.
XPU_DEVICES = {
    # INTEL_PVC_IDS
    "Intel Data Center GPU Max (Ponte Vecchio)":
        "0x0b69 0x0b6e 0x0bd4 0x0bd5 0x0bd6 0x0bd7 0x0bd8 0x0bd9 0x0bda 0x0bdb 0x0be0 0x0be1 0x0be5",
    # INTEL_DG2_IDS (G10, G11, G12: desktop, mobile, embedded and Pro cards)
    "Intel Arc A-series (Alchemist)":
        "0x5690 0x5691 0x5692 0x56a0 0x56a1 0x56a2 0x56be 0x56bf "
        "0x5693 0x5694 0x5695 0x56a5 0x56a6 0x56b0 0x56b1 0x56ba 0x56bb 0x56bc 0x56bd "
        "0x5696 0x5697 0x56a3 0x56a4 0x56b2 0x56b3",
    # INTEL_BMG_IDS (G21 and G31; 0xe20b is the Arc B580)
    "Intel Arc B-series (Battlemage)":
        "0xe202 0xe209 0xe20b 0xe20c 0xe20d 0xe210 0xe211 0xe212 0xe216 0xe220 0xe221 0xe222 0xe223",
    # INTEL_MTL_IDS without INTEL_MTL_U_IDS and 0x7d60 (see above)
    "Intel Core Ultra with Arc graphics (Meteor Lake-H)": "0x7d55 0x7dd5",
    # INTEL_ARL_H_IDS
    "Intel Core Ultra with Arc graphics (Arrow Lake-H)": "0x7d51 0x7dd1",
    # INTEL_LNL_IDS
    "Intel Core Ultra with Arc graphics (Lunar Lake)": "0x6420 0x64a0 0x64b0",
    # INTEL_PTL_IDS
    "Intel Core Ultra with Arc graphics (Panther Lake)":
        "0xb080 0xb081 0xb082 0xb083 0xb084 0xb085 0xb086 0xb087 0xb08f 0xb090 0xb0a0 0xb0b0",
}
