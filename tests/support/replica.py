"""Loopback replica of the PyTorch wheel index (download.pytorch.org/whl) and a PyPI stand-in (stdlib only).

Follows /work/shared/reference/pytorch-index.md: static PEP 503 pages shaped like ``manage_v2.py``'s
(``%2B`` in hrefs, ``#sha256=`` except on nightly, PEP 658 ``.metadata`` attributes, channel-root files on
every backend page), served S3/CloudFront-style (rewrite to index.html, 403 XML for missing keys).
"""

from __future__ import annotations

import base64
import email.parser
import hashlib
import html
import http.server
import json
import os
import re
import threading
import urllib.parse
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

__all__ = ["make_wheel", "Release", "DEFAULT_RELEASES", "FREE_THREADED", "release_pythons", "newest_release",
           "aarch64_tag", "aarch64_label", "windows_pythons", "build_pytorch_index", "publish_variants", "variants_json", "build_pypi", "IndexServer"]

_TIMESTAMP = 1763769600  # fixed, so that generated trees are byte-for-byte reproducible
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)
_BACKEND_RE = re.compile(r"^(cpu|xpu|cu[0-9]+|rocm[0-9]+\.[0-9]+(\.[0-9]+)?)$")
_LINUX_X86 = 'platform_system == "Linux" and platform_machine == "x86_64"'
_LINUX = 'platform_system == "Linux"'  # the aarch64 CUDA wheels' marker (as torch 2.10's x86 ones)
_M228_ARM = "manylinux_2_28_aarch64"
_S3_ACCESS_DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>'
                    b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>")


# --------------------------------------------------------------------------------------------- wheels
def _normalize(name: str) -> str:  # wheel file name form
    return re.sub(r"[-_.]+", "_", name).lower()


def _canonical(name: str) -> str:  # PEP 503 project name
    return re.sub(r"[-_.]+", "-", name).lower()


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_wheel(dest_dir: Path, name: str, version: str, tag: str = "py3-none-any",
               requires: Sequence[str] = (), requires_python: Optional[str] = None,
               files: Optional[Mapping[str, str]] = None) -> Path:
    """Write a tiny valid wheel ``<name_normalized>-<version>-<tag>.whl`` into ``dest_dir``.

    The wheel holds ``<name_normalized>/__init__.py`` (``__version__ = "<version>"``) and a
    ``.dist-info`` with METADATA (2.1: Name, Version, Requires-Python, Requires-Dist), WHEEL
    (``Root-Is-Purelib: true``, one ``Tag:`` line per expanded tag) and RECORD.  The PEP 658
    file ``<wheel file name>.metadata`` (the exact METADATA bytes) is written beside it.
    The file name keeps a literal ``+`` for local versions.  ``files`` adds members (path ->
    text), such as ``torch/version.py``.  Returns the wheel path.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    norm = _normalize(name)
    pys, abis, plats = tag.split("-")
    tags = [f"{p}-{a}-{pl}" for p in pys.split(".") for a in abis.split(".") for pl in plats.split(".")]
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
            f"Summary: Synthetic {name} wheel for the ltt-hook test replica"]
    if requires_python:
        meta.append(f"Requires-Python: {requires_python}")
    meta += [f"Requires-Dist: {req}" for req in requires]
    metadata = ("\n".join(meta) + "\n").encode()
    wheel_txt = ("Wheel-Version: 1.0\nGenerator: ltt-hook-replica\nRoot-Is-Purelib: true\n"
                 + "".join(f"Tag: {t}\n" for t in tags)).encode()
    dist_info = f"{norm}-{version}.dist-info"
    members = [
        (f"{norm}/__init__.py", f'__version__ = "{version}"\n'.encode()),
        *((path, text.encode()) for path, text in (files or {}).items()),
        (f"{dist_info}/METADATA", metadata),
        (f"{dist_info}/WHEEL", wheel_txt),
    ]
    b64 = lambda d: base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode()  # noqa: E731
    record = "".join(f"{p},sha256={b64(d)},{len(d)}\n" for p, d in members) + f"{dist_info}/RECORD,,\n"
    members.append((f"{dist_info}/RECORD", record.encode()))
    path = dest_dir / f"{norm}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in members:
            info = zipfile.ZipInfo(member, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    Path(f"{path}.metadata").write_bytes(metadata)
    return path


# --------------------------------------------------------------------------------------------- content
@dataclass(frozen=True)
class Release:
    """One torch release line on the replica: versions, backend directories and Linux platform tag."""

    torch: str
    torchvision: Optional[str]
    torchaudio: Optional[str]
    backends: Tuple[str, ...]
    platform: str  # "linux_x86_64" or "manylinux_2_28_x86_64"
    #: Backend directories that also hold Linux aarch64 wheels of torch and torchvision (no
    #: torchaudio on the replica): ``cpu`` and, from 2.7 on, the CUDA (SBSA) builds. See
    #: ``_AARCH64`` for the sources and :func:`aarch64_tag` for the file names.
    aarch64: Tuple[str, ...] = ()
    #: Backend directories that also hold Windows x86_64 (``win_amd64``) wheels of torch and
    #: torchvision (no torchaudio on the replica). See ``_WINDOWS`` for the sources and
    #: :func:`windows_pythons` for the interpreters.
    windows: Tuple[str, ...] = ()


_M228 = "manylinux_2_28_x86_64"
#: Linux aarch64 backends per release line, written here rather than read from ltt_hook/data.py so
#: that the aarch64 end-to-end tests (tests/test_arm.py) are not circular. Sources:
#: - build-facts audit (/work/shared/reference/build-facts-audit.md) §2 "CUDA, Linux aarch64":
#:   CUDA aarch64 (SBSA) wheels are on the PyTorch index from 2.7 on, ``manylinux_2_28_aarch64``,
#:   in the same ``cuXXX`` directories; PyPI's unlabelled aarch64 torch is a CPU build.
#: - pytorch-index reference (/work/shared/reference/pytorch-index.md) §4.1: aarch64 CPU wheels are
#:   unlabelled ``manylinux_2_17_aarch64.manylinux2014_aarch64`` up to 2.5 and ``+cpu``
#:   ``manylinux_2_28_aarch64`` from 2.7; ``CUDA_AARCH64_ARCHES`` is 12.8 in 2.7 and 12.6/12.8/13.0 in
#:   2.9; §6: cu126/cu130/cu132 for 2.12-2.14.
#: - pytorch/pytorch ``.github/scripts/generate_binary_build_matrix.py``: ``CUDA_AARCH64_ARCHES =
#:   ["12.6-aarch64", "12.8-aarch64", "13.0-aarch64"]`` (2.9, ROCm 6.3/6.4) and ``[..., "12.9-aarch64",
#:   ...]`` (2.10, ROCm 7.0/7.1).
#: - 2.8 (cu126 cu128 cu129): inferred, as in the build-facts audit, from the Linux CUDA builds of 2.8.
#: 2.0.1 is left without aarch64 wheels: its aarch64 file name is in none of the sources above.
_AARCH64 = {
    "2.5.1": ("cpu",),
    "2.7.1": ("cpu", "cu128"),
    "2.8.0": ("cpu", "cu126", "cu128", "cu129"),
    "2.9.1": ("cpu", "cu126", "cu128", "cu130"),
    "2.10.0": ("cpu", "cu126", "cu128", "cu129", "cu130"),
    "2.11.0": ("cpu", "cu126", "cu128", "cu129", "cu130"),  # inferred: 2.10's, as the Linux x86_64 side
    "2.13.0": ("cpu", "cu126", "cu130", "cu132"),
    "2.14.1": ("cpu", "cu126", "cu130", "cu132"),  # no cu134, as on x86_64 here
}
_WIN = "win_amd64"
#: Windows x86_64 backends per release line, written here rather than read from ltt_hook/data.py
#: so that the Windows end-to-end tests (tests/test_windows.py) are not circular. Sources:
#: - pytorch-index reference (/work/shared/reference/pytorch-index.md) §5, note "Windows": CUDA
#:   builds have the Linux cuXXX set, except cu134; ROCm is Linux only; §9: XPU is Linux and
#:   Windows x86_64 from 2.5, and in 2.5 only torch had Windows XPU wheels (torchvision from 2.6);
#:   §4.1: file names ``torch-2.5.1+cu124-cp311-cp311-win_amd64.whl``, ``+cpu`` and ``+xpu`` alike;
#:   §4.5: Windows CUDA wheels bundle the CUDA libraries and pin no ``nvidia-*`` wheels.
#: - build-facts audit (/work/shared/reference/build-facts-audit.md) §1 and §2 "CUDA, Windows":
#:   cu129 is Linux only in 2.10 and 2.11 ("limited release") and not on Windows in 2.9 either; no
#:   cu134 on Windows (pytorch/test-infra ``tools/scripts/generate_binary_build_matrix.py``,
#:   ``CUDA_ARCHES_NO_WINDOWS``). 2.8's cu129 (its experimental CUDA, RELEASE.md) was built for
#:   both.
_WINDOWS = {
    "2.0.1": ("cpu", "cu117", "cu118"),
    "2.5.1": ("cpu", "cu118", "cu121", "cu124", "xpu"),
    "2.7.1": ("cpu", "cu118", "cu126", "cu128", "xpu"),
    "2.8.0": ("cpu", "cu126", "cu128", "cu129", "xpu"),
    "2.9.1": ("cpu", "cu126", "cu128", "cu130", "xpu"),  # no cu129
    "2.10.0": ("cpu", "cu126", "cu128", "cu130", "xpu"),  # no cu129 (Linux only)
    "2.11.0": ("cpu", "cu126", "cu128", "cu130", "xpu"),  # no cu129 (Linux only)
    "2.13.0": ("cpu", "cu126", "cu130", "cu132", "xpu"),
    "2.14.1": ("cpu", "cu126", "cu130", "cu132", "xpu"),  # no cu134, which is Linux only anyway
}
DEFAULT_RELEASES: Tuple[Release, ...] = (
    Release("2.0.1", "0.15.2", "2.0.2", ("cpu", "cu117", "cu118", "rocm5.3", "rocm5.4.2"), "linux_x86_64",
            windows=_WINDOWS["2.0.1"]),
    Release("2.5.1", "0.20.1", "2.5.1", ("cpu", "cu118", "cu121", "cu124", "rocm6.1", "rocm6.2", "xpu"),
            "linux_x86_64", _AARCH64["2.5.1"], _WINDOWS["2.5.1"]),
    Release("2.7.1", "0.22.1", "2.7.1", ("cpu", "cu118", "cu126", "cu128", "rocm6.2.4", "rocm6.3", "xpu"), _M228,
            _AARCH64["2.7.1"], _WINDOWS["2.7.1"]),
    # The last release with Python 3.9 wheels: what `pip install torch` gets there.
    Release("2.8.0", "0.23.0", "2.8.0", ("cpu", "cu126", "cu128", "cu129", "rocm6.3", "rocm6.4", "xpu"), _M228,
            _AARCH64["2.8.0"], _WINDOWS["2.8.0"]),
    Release("2.9.1", "0.24.1", "2.9.1", ("cpu", "cu126", "cu128", "cu129", "cu130", "rocm6.3", "rocm6.4", "xpu"),
            _M228, _AARCH64["2.9.1"], _WINDOWS["2.9.1"]),
    # The release of issue 13's cases: cu129 beside CUDA 13 (Linux only), ROCm 7.0/7.1 listing gfx1151.
    Release("2.10.0", "0.25.0", "2.10.0",
            ("cpu", "cu126", "cu128", "cu129", "cu130", "rocm7.0", "rocm7.1", "xpu"), _M228, _AARCH64["2.10.0"],
            _WINDOWS["2.10.0"]),
    # The last release with cu128 (and cu129): what a mirror holding only cpu and cu128 serves (issue 11).
    Release("2.11.0", "0.26.0", "2.11.0",
            ("cpu", "cu126", "cu128", "cu129", "cu130", "rocm7.1", "rocm7.2", "xpu"), _M228, _AARCH64["2.11.0"],
            _WINDOWS["2.11.0"]),
    Release("2.13.0", "0.28.0", None, ("cpu", "cu126", "cu130", "cu132", "rocm7.1", "rocm7.2", "xpu"), _M228,
            _AARCH64["2.13.0"], _WINDOWS["2.13.0"]),
    Release("2.14.1", "0.29.1", None, ("cpu", "cu126", "cu130", "cu132", "rocm7.2", "rocm7.14", "xpu"), _M228,
            _AARCH64["2.14.1"], _WINDOWS["2.14.1"]),
)

_NIGHTLY_TORCH, _NIGHTLY_VISION = "2.15.0.dev20261101", "0.30.0.dev20261101"
_NIGHTLY_BACKENDS = ("cpu", "cu126", "cu130", "cu132", "cu134")
_NIGHTLY_TRITON = "3.6.0+git1a2b3c4d"
_TEST_TORCH, _TEST_VISION = "2.15.0", "0.30.0"
_TEST_BACKENDS = ("cpu", "cu126", "cu130", "cu132")
_TORCH_BASE_REQUIRES = ("filelock", "typing-extensions>=4.10.0")
#: The pre-release channels build for the Pythons of this stable release line.
_PRERELEASE_PYTHONS_OF = "2.14"
#: ltt-hook's Requires-Python: the replica builds no wheels for older interpreters.
MIN_PYTHON = (3, 9)
#: Free-threaded CPython builds (wheel tags ``cp313-cp313t``) per Python minor, as the first and
#: last torch release line with such wheels (None: still built).  Source: build-facts audit §3
#: (3.13t in 2.7-2.11, dropped in 2.12; 3.14t in 2.9+).
FREE_THREADED: Dict[str, Tuple[str, Optional[str]]] = {"3.13": ("2.7", "2.11"), "3.14": ("2.9", None)}

# (directory relative to root, name, version, tag, requires, requires_python)
_Spec = Tuple[str, str, str, str, Tuple[str, ...], Optional[str]]


def _vkey(version: str) -> Tuple[int, ...]:
    m = re.match(r"\d+(\.\d+)*", version)
    return tuple(int(x) for x in m.group().split(".")) if m else (0,)


def release_pythons(version: str) -> Tuple[str, ...]:
    """Interpreter tags a torch release has wheels for, oldest first: ``("cp310", ..., "cp314", "cp313t",
    "cp314t")``.  The GIL builds come from ``ltt_hook/data.py`` RELEASE_PYTHONS (inclusive minor range;
    pre-releases take the newest stable line's), from MIN_PYTHON on; free-threaded ones from FREE_THREADED."""
    from ltt_hook import data

    line = ".".join(str(p) for p in _vkey(version)[:2])
    if line not in data.RELEASE_PYTHONS:
        line = _PRERELEASE_PYTHONS_OF
    low, high = (_vkey(v) for v in data.RELEASE_PYTHONS[line].split())
    gil = [(3, m) for m in range(max(low, MIN_PYTHON)[1], high[1] + 1)]
    line_key = _vkey(line)
    free = [py for py, (first, last) in FREE_THREADED.items()
            if _vkey(first) <= line_key and (last is None or line_key <= _vkey(last)) and _vkey(py) in gil]
    return tuple(f"cp{a}{b}" for a, b in gil) + tuple(f"cp{py.replace('.', '')}t" for py in free)


def newest_release(python: Tuple[int, int], free_threaded: bool = False,
                   releases: Sequence[Release] = DEFAULT_RELEASES) -> Release:
    """The newest stable release of ``releases`` with wheels for ``python`` (what ``pip install torch`` gets)."""
    tag = f"cp{python[0]}{python[1]}{'t' if free_threaded else ''}"
    fitting = [r for r in releases if tag in release_pythons(r.torch)]
    if not fitting:
        raise LookupError(f"the replica has no torch release for {tag}")
    return max(fitting, key=lambda r: _vkey(r.torch))


def _wheel_tag(py: str, platform: str) -> str:
    """``cp311`` -> ``cp311-cp311-<platform>``; free-threaded ``cp313t`` -> ``cp313-cp313t-<platform>``."""
    return f"{py.rstrip('t')}-{py}-{platform}"


def aarch64_tag(version: str) -> str:
    """Platform tag of the Linux aarch64 wheels of torch ``version``: ``manylinux_2_28_aarch64`` from 2.7,
    ``manylinux_2_17_aarch64.manylinux2014_aarch64`` up to 2.5 (pytorch-index reference §4.1; 2.6, in
    neither source and not on the replica, is taken to be like 2.7)."""
    return _M228_ARM if _vkey(version)[:2] >= (2, 6) else "manylinux_2_17_aarch64.manylinux2014_aarch64"


def windows_pythons(version: str, pythons: Sequence[str]) -> Tuple[str, ...]:
    """The interpreter tags of ``pythons`` that torch ``version`` has Windows wheels for: not 3.13
    in 2.5 (3.13 was Linux only: pytorch-index reference §5, note "Windows"), and no free-threaded
    ones (which releases have free-threaded Windows wheels is in none of the replica's sources)."""
    early = _vkey(version)[:2] < (2, 6)
    return tuple(py for py in pythons if not py.endswith("t") and not (early and py == "cp313"))


def aarch64_label(version: str, backend: str) -> str:
    """The version of an aarch64 wheel on ``whl/<backend>``: ``2.7.1+cpu``; the CPU wheels before 2.6
    carry no local label (``2.5.1``)."""
    return version if backend == "cpu" and _vkey(version)[:2] < (2, 6) else f"{version}+{backend}"


def _torch_requires_python(version: str) -> str:
    v = _vkey(version) + (0, 0)
    return ">=3.8" if v[:2] < (2, 5) else ">=3.9" if v[:2] < (2, 9) else ">=3.10"


def _cuda_runtime_pin(backend: str, marker: str = _LINUX_X86) -> Optional[str]:
    """NVIDIA runtime pin of a CUDA torch wheel: cu126 -> nvidia-cuda-runtime-cu12==12.6.77; ..."""
    m = re.fullmatch(r"cu(1[1-9])(\d)", backend)
    if not m:
        return None
    major, minor = m.groups()
    name, patch = {"11": ("nvidia-cuda-runtime-cu11", 89), "12": ("nvidia-cuda-runtime-cu12", 77)}.get(
        major, ("nvidia-cuda-runtime", 48))
    return f"{name}=={major}.{minor}.{patch}; {marker}"


def _torch_requires(backend: str, marker: str = _LINUX_X86) -> Tuple[str, ...]:
    pin = _cuda_runtime_pin(backend, marker)
    return _TORCH_BASE_REQUIRES + ((pin,) if pin else ())


def _replica_specs(releases: Sequence[Release], python_tags: Optional[Sequence[str]], nightly: bool,
                   test: bool) -> Iterator[_Spec]:
    """Every wheel of the replica, as (directory, name, version, tag, requires, requires_python).
    ``python_tags`` None: each release's own Pythons (``release_pythons``)."""
    for rel in releases:
        rp = _torch_requires_python(rel.torch)
        pythons = release_pythons(rel.torch) if python_tags is None else python_tags
        for b in rel.backends:
            for py in pythons:
                tag = _wheel_tag(py, rel.platform)
                yield f"whl/{b}", "torch", f"{rel.torch}+{b}", tag, _torch_requires(b), rp
                if rel.torchvision:
                    yield (f"whl/{b}", "torchvision", f"{rel.torchvision}+{b}", tag,
                           ("numpy", f"torch=={rel.torch}"), rp)
                if rel.torchaudio:
                    yield f"whl/{b}", "torchaudio", f"{rel.torchaudio}+{b}", tag, (f"torch=={rel.torch}",), rp
        for b in rel.aarch64:  # Linux aarch64: torch and torchvision, in the same backend directories
            arm = aarch64_tag(rel.torch)
            for py in pythons:
                tag = _wheel_tag(py, arm)
                yield f"whl/{b}", "torch", aarch64_label(rel.torch, b), tag, _torch_requires(b, _LINUX), rp
                if rel.torchvision:
                    yield (f"whl/{b}", "torchvision", aarch64_label(rel.torchvision, b), tag,
                           ("numpy", f"torch=={rel.torch}"), rp)
        for b in rel.windows:  # Windows x86_64: torch and torchvision, in the same backend directories
            vision = rel.torchvision and not (b == "xpu" and _vkey(rel.torch)[:2] < (2, 6))  # 2.5: torch only
            for py in windows_pythons(rel.torch, pythons):
                tag = _wheel_tag(py, _WIN)
                # Windows CUDA wheels bundle CUDA: no NVIDIA runtime pin
                yield f"whl/{b}", "torch", f"{rel.torch}+{b}", tag, _TORCH_BASE_REQUIRES, rp
                if vision:
                    yield (f"whl/{b}", "torchvision", f"{rel.torchvision}+{b}", tag,
                           ("numpy", f"torch=={rel.torch}"), rp)
        if _vkey(rel.torch) >= (2, 5):  # macOS arm64: unlabelled, ABI tag none (GIL builds only)
            for py in pythons:
                if not py.endswith("t"):
                    yield "whl/cpu", "torch", rel.torch, f"{py}-none-macosx_11_0_arm64", _TORCH_BASE_REQUIRES, rp
    channels = []
    if nightly:
        channels.append(("whl/nightly", _NIGHTLY_BACKENDS, _NIGHTLY_TORCH, _NIGHTLY_VISION))
    if test:
        channels.append(("whl/test", _TEST_BACKENDS, _TEST_TORCH, _TEST_VISION))
    for prefix, backends, tv, vv in channels:
        rp = _torch_requires_python(tv)
        pythons = release_pythons(tv) if python_tags is None else python_tags
        for b in backends:
            treq = _torch_requires(b)
            if prefix == "whl/nightly" and b.startswith("cu"):
                treq += (f'pytorch-triton=={_NIGHTLY_TRITON}; platform_system == "Linux"',)
            for py in pythons:
                tag = _wheel_tag(py, _M228)
                yield f"{prefix}/{b}", "torch", f"{tv}+{b}", tag, treq, rp
                yield f"{prefix}/{b}", "torchvision", f"{vv}+{b}", tag, ("numpy", f"torch=={tv}"), rp
        if prefix == "whl/nightly":
            for py in pythons:
                yield prefix, "pytorch-triton", _NIGHTLY_TRITON, _wheel_tag(py, _M228), (), rp


# --------------------------------------------------------------------------------------------- pages
def _project_of(filename: str) -> str:
    return filename.split("-", 1)[0].lower().replace("_", "-")


def _write_page(path: Path, body_lines: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "<!DOCTYPE html>\n<html>\n  <body>\n" + "".join(f"    {line}\n" for line in body_lines)
    path.write_text(text + f"  </body>\n</html>\n<!--TIMESTAMP {_TIMESTAMP}-->\n", encoding="utf-8")


def _write_project_list(path: Path, projects: Set[str]) -> None:
    _write_page(path, [f'<a href="{p}/">{p}</a><br/>' for p in sorted(projects)])


def _anchor(href: str, text: str, sha: Optional[str], meta_sha: Optional[str],
            requires_python: Optional[str] = None) -> str:
    attrs = f' data-requires-python="{html.escape(requires_python)}"' if requires_python else ""
    if meta_sha:
        attrs += f' data-dist-info-metadata="sha256={meta_sha}" data-core-metadata="sha256={meta_sha}"'
    return f'<a href="{href}{"#sha256=" + sha if sha else ""}"{attrs}>{text}</a><br/>'


def _write_channel(root: Path, prefix: str, with_hash: bool) -> None:
    """Write the four page shapes of one channel (``whl``, ``whl/nightly``...) from the files on disk."""
    chan = root / prefix
    backends = sorted(d.name for d in chan.iterdir() if d.is_dir() and _BACKEND_RE.match(d.name))
    root_files = sorted(chan.glob("*.whl"))
    per_backend = {b: sorted((chan / b).glob("*.whl")) + root_files for b in backends}
    all_files = sorted(set(root_files).union(*per_backend.values()))

    def anchors(files: Sequence[Path]) -> List[str]:
        out = []
        for f in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
            key = f.relative_to(root).as_posix()
            meta = Path(f"{f}.metadata")
            out.append(_anchor("/" + key.replace("+", "%2B"), f.name, _sha256_file(f) if with_hash else None,
                               _sha256_file(meta) if meta.exists() else None))
        return out

    for directory, files in [(chan / b, fs) for b, fs in per_backend.items()] + [(chan, all_files)]:
        by_project: Dict[str, List[Path]] = {}
        for f in files:
            by_project.setdefault(_project_of(f.name), []).append(f)
        for project, pfiles in by_project.items():
            _write_page(directory / project / "index.html", [f"<h1>Links for {project}</h1>"] + anchors(pfiles))
        _write_project_list(directory / "index.html", set(by_project))


def build_pytorch_index(root: Path, releases: Sequence[Release] = DEFAULT_RELEASES,
                        python_tags: Optional[Sequence[str]] = None, nightly: bool = True,
                        test: bool = True) -> None:
    """Write the static replica tree under ``root/whl`` (serve ``root``; the index base is ``<url>/whl``).

    Every release gets wheels for each Python it supports (``release_pythons``: the
    RELEASE_PYTHONS range of ``ltt_hook/data.py`` plus its free-threaded builds), unless
    ``python_tags`` (``("cp311", "cp313t")``) fixes one list for all.

    Stable ``whl/<backend>/``, and when asked ``whl/nightly/<backend>/`` (no ``#sha256=``) and
    ``whl/test/<backend>/``; each channel gets ``<backend>/<project>/``, ``<backend>/``,
    ``<project>/`` (union of all backends) and a channel project list.
    """
    root = Path(root)
    for subdir, name, version, tag, requires, rp in _replica_specs(releases, python_tags, nightly, test):
        make_wheel(root / subdir, name, version, tag, requires, rp)
    (root / "whl").mkdir(parents=True, exist_ok=True)
    for prefix, wanted, with_hash in (("whl", True, True), ("whl/nightly", nightly, False), ("whl/test", test, True)):
        if wanted:
            _write_channel(root, prefix, with_hash)


def publish_variants(root: Path, files: Mapping[str, object], prefix: str = "whl") -> Path:
    """Publish PEP 817 variants files as PyTorch does since 2.10 (build-facts audit §5):
    ``<prefix>/variant/torch/torch-<version>-variants.json`` for each ``version -> content`` of
    ``files`` (a dict is written as JSON, bytes as they are: a broken file), linked from
    ``<prefix>/variant/torch/index.html`` the way the backend pages link wheels (an absolute
    path with ``#sha256=``). Returns the page's directory."""
    page = Path(root) / prefix / "variant" / "torch"
    page.mkdir(parents=True, exist_ok=True)
    lines = ["<h1>Links for torch</h1>"]
    for version, content in sorted(files.items()):
        body = content if isinstance(content, bytes) else json.dumps(content, indent=2).encode()
        path = page / f"torch-{version}-variants.json"
        path.write_bytes(body)
        href = "/" + path.relative_to(root).as_posix()
        lines.append(_anchor(href, path.name, hashlib.sha256(body).hexdigest(), None))
    _write_page(page / "index.html", lines)
    return page


def variants_json(cuda: Optional[Mapping[str, Sequence[str]]] = None,
                  rocm: Optional[Mapping[str, Sequence[str]]] = None) -> dict:
    """A variants file's content: ``cuda`` backend -> ``sm_arch`` values (``"86_real"``,
    ``"120_virtual"``), ``rocm`` backend -> gfx targets; a ``cpu`` variant besides, and the keys
    a real file has (``default-priorities``, ``providers``)."""
    variants: Dict[str, object] = {"cpu": {}}
    for name, arches in (cuda or {}).items():
        bound = f"{name[2:-1]}.{name[-1]}"
        variants[name] = {"nvidia": {"cuda_version_lower_bound": [bound], "sm_arch": list(arches)}}
    for name, gfx in (rocm or {}).items():
        variants[name] = {"amd": {"gfx_arch": list(gfx), "rocm_version": [name[4:]]}}
    return {"default-priorities": {"namespace": ["nvidia", "amd", "intel"]},
            "providers": {"nvidia": {"requires": ["nvidia-variant-provider"]}}, "variants": variants}


# --------------------------------------------------------------------------------------------- PyPI
_REQ_RE = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*\(?([^;)]*)\)?\s*(?:;.*)?$")
_DEFAULT_DEP_VERSIONS = {"filelock": "3.20.0", "typing-extensions": "4.15.0", "numpy": "2.3.4"}


def _dependency_wheels(requirements: Sequence[str], exclude: Set[str]) -> Dict[str, Set[str]]:
    """Versions needed to satisfy ``requirements``: every exact pin, plus one version for the rest."""
    pins: Dict[str, Set[str]] = {}
    floors: Dict[str, List[str]] = {}
    for req in requirements:
        m = _REQ_RE.match(req)
        if not m or _canonical(m.group(1)) in exclude:
            continue
        name = _canonical(m.group(1))
        clauses = [c.strip() for c in m.group(2).split(",") if c.strip()]
        exact = [c[2:].strip() for c in clauses if c.startswith("==") and not c.startswith("===") and "*" not in c]
        if exact:
            pins.setdefault(name, set()).add(exact[0])
        else:
            floors.setdefault(name, []).extend(
                re.sub(r"^(>=|~=|>)", "", c).strip() for c in clauses if c[:2] in (">=", "~=") or c[:1] == ">")
    for name, lows in floors.items():
        candidates = [_DEFAULT_DEP_VERSIONS.get(name, "1.0")] + lows
        pins.setdefault(name, set()).add(max(candidates, key=_vkey))
    return pins


def _pypi_torch_pythons() -> Dict[Release, List[str]]:
    """Release -> the interpreter tags for which it is PyPI's newest torch (within DEFAULT_RELEASES)."""
    out: Dict[Release, List[str]] = {}
    for py in sorted({py for rel in DEFAULT_RELEASES for py in release_pythons(rel.torch)}):
        newest = max((r for r in DEFAULT_RELEASES if py in release_pythons(r.torch)), key=lambda r: _vkey(r.torch))
        out.setdefault(newest, []).append(py)
    return out


def _pypi_cuda_flavour(version: str, machine: str = "x86_64") -> Optional[str]:
    """The CUDA build behind PyPI's unlabelled torch ``version`` for ``machine``; None: a CPU build.
    Written from the registry's own metadata (``pip install --dry-run --report --platform
    manylinux_2_28_<machine> torch==X``, /work/shared/reference/facts-2026.md): x86_64 builds are
    CUDA builds (cu128 for 2.10, CUDA 13.0 for 2.11-2.14, 13.2 for 2.15); aarch64 builds are CPU
    builds up to 2.10 and the same CUDA builds from 2.11."""
    line = _vkey(version)[:2]
    if line >= (2, 15):
        return "cu132"
    if line >= (2, 11):
        return "cu130"
    if machine != "x86_64":
        return None
    from ltt_hook import data

    return data.PYPI_CUDA_FLAVOUR.get(".".join(str(p) for p in line), "cu130")


def _pypi_torch_requires(version: str, machine: str) -> Tuple[str, ...]:
    """PyPI's torch ``Requires-Dist`` as the registry shows it: up to 2.10 the ``nvidia-*-cu12`` pins
    with ``platform_machine == "x86_64"``; from 2.11 ``cuda-toolkit[...]`` with ``platform_system ==
    "Linux"`` only (so aarch64 gets CUDA too)."""
    flavour = _pypi_cuda_flavour(version, machine)
    if flavour is None:
        return _TORCH_BASE_REQUIRES
    if _vkey(version)[:2] >= (2, 11):
        toolkit = "13.2.2" if flavour == "cu132" else "13.0.3"
        return _TORCH_BASE_REQUIRES + (f'cuda-toolkit[cublas,cudart,nvrtc]=={toolkit}; platform_system == "Linux"',)
    return _torch_requires(flavour)


def _pypi_version_py(version: str, machine: str) -> Dict[str, str]:
    """``torch/version.py`` of PyPI's build: the label in ``__version__`` and ``cuda``, as torch writes them."""
    flavour = _pypi_cuda_flavour(version, machine)
    cuda = f"'{flavour[2:-1]}.{flavour[-1]}'" if flavour else "None"
    label = f"+{flavour}" if flavour else ""
    return {"torch/version.py": f"from typing import Optional\n__version__ = '{version}{label}'\n"
                                f"cuda: Optional[str] = {cuda}\nhip: Optional[str] = None\n"}


def build_pypi(root: Path, pytorch_root: Optional[Path] = None,
               extra: Sequence[Tuple[str, str, Sequence[str]]] = ()) -> None:
    """Write a PEP 503 PyPI stand-in: ``root/simple/<project>/index.html`` and ``root/files/*.whl``.

    Holds unlabelled ``torch`` and ``torchvision`` manylinux_2_28 wheels of the newest release
    for every Python of DEFAULT_RELEASES (2.14.1 and 0.29.1 for 3.10+, 2.8.0 for 3.9, and so on),
    for x86_64 (a CUDA build: it pins the NVIDIA runtime) and, where the release has aarch64
    wheels, for aarch64 (a CPU build up to 2.10, a CUDA build from 2.11, as PyPI's are), each with
    the registry's shape of ``Requires-Dist`` and a ``torch/version.py`` (:func:`_pypi_torch_requires`),
    ``pystiche 1.0.1`` and a tiny py3-none-any wheel for every dependency the replica's wheels
    reference (scanned from ``pytorch_root``'s ``.metadata`` files if given, else computed from
    DEFAULT_RELEASES), plus the ``extra`` ``(name, version, requires)`` wheels.  Projects that
    live on the replica itself (torch, torchvision, torchaudio, pytorch-triton) are not auto-added.
    """
    root = Path(root)
    files = root / "files"
    builtin: List[Tuple[str, str, str, Tuple[str, ...], Optional[str]]] = []
    version_py: Dict[Tuple[str, str], Dict[str, str]] = {}  # (version, tag) -> torch/version.py
    for rel, pys in _pypi_torch_pythons().items():
        rp = _torch_requires_python(rel.torch)
        for py in pys:
            tag = _wheel_tag(py, _M228)
            builtin.append(("torch", rel.torch, tag, _pypi_torch_requires(rel.torch, "x86_64"), rp))
            version_py[rel.torch, tag] = _pypi_version_py(rel.torch, "x86_64")
            if rel.torchvision:
                builtin.append(("torchvision", rel.torchvision, tag, ("numpy", f"torch=={rel.torch}"), rp))
            if rel.aarch64:  # PyPI's aarch64 torch: a CPU build up to 2.10, a CUDA build from 2.11
                arm = _wheel_tag(py, aarch64_tag(rel.torch))
                builtin.append(("torch", rel.torch, arm, _pypi_torch_requires(rel.torch, "aarch64"), rp))
                version_py[rel.torch, arm] = _pypi_version_py(rel.torch, "aarch64")
                if rel.torchvision:
                    builtin.append(("torchvision", rel.torchvision, arm, ("numpy", f"torch=={rel.torch}"), rp))
    builtin.append(("pystiche", "1.0.1", "py3-none-any", ("torch>=1.7.1", "torchvision>=0.8.2"), ">=3.6"))
    builtin += [(n, v, "py3-none-any", tuple(r), None) for n, v, r in extra]

    requirements: List[str] = []
    replica_names: Set[str] = set()
    if pytorch_root is not None:
        parser = email.parser.BytesParser()
        for meta in Path(pytorch_root).rglob("*.whl.metadata"):
            msg = parser.parsebytes(meta.read_bytes())
            replica_names.add(_canonical(msg["Name"]))
            requirements += msg.get_all("Requires-Dist") or []
    else:
        for _dir, name, _v, _t, reqs, _rp in _replica_specs(DEFAULT_RELEASES, None, True, True):
            replica_names.add(_canonical(name))
            requirements += reqs
    for _n, _v, _t, reqs, _rp in builtin:
        requirements += reqs
    exclude = replica_names | {"torch", "torchvision", "torchaudio", "pystiche"}
    seen = {(_canonical(n), v) for n, v, _t, _r, _rp in builtin}
    for name, versions in sorted(_dependency_wheels(requirements, exclude).items()):
        builtin += [(name, v, "py3-none-any", (), None) for v in sorted(versions, key=_vkey)
                    if (name, v) not in seen]

    projects: Dict[str, List[Tuple[Path, Optional[str]]]] = {}
    for name, version, tag, reqs, rp in builtin:
        extra_files = version_py.get((version, tag)) if name == "torch" else None
        wheel = make_wheel(files, name, version, tag, reqs, rp, extra_files)
        projects.setdefault(_canonical(name), []).append((wheel, rp))
    for project, wheels in projects.items():
        lines = [f"<h1>Links for {project}</h1>"]
        for wheel, rp in sorted(set(wheels)):
            href = "../../files/" + urllib.parse.quote(wheel.name)
            lines.append(_anchor(href, wheel.name, _sha256_file(wheel),
                                 _sha256_file(Path(f"{wheel}.metadata")), rp))
        _write_page(root / "simple" / project / "index.html", lines)
    _write_project_list(root / "simple" / "index.html", set(projects))


# --------------------------------------------------------------------------------------------- server
class IndexServer:
    """Threaded loopback HTTP server for a replica tree, usable as a context manager.

    * ``url``: ``http://127.0.0.1:PORT`` (ephemeral port).
    * ``requests``: ``(method, raw path, status, bytes sent)`` per answered request.
    * ``fault`` (settable at any time): None, ``"403"`` (S3 XML for everything), ``"500"``, ``"hang"``
      (wait ``HANG_SECONDS``, cut short by ``stop()``) or ``"garbage"`` (pages: 200 ``text/html`` holding base64 of
      random bytes, i.e. valid UTF-8 without markup, so pip says "no matching distribution" rather than
      crashing on a decode error; files are served normally).
    * ``missing``: ``"403"`` (S3 ``AccessDenied`` XML, like the real index) or ``"404"``.
    * ``auth``: ``(user, password)`` to require HTTP Basic auth (401 otherwise).
    * ``json_max_age``: JSON files (the variants files of :func:`publish_variants`) are served as
      ``application/json`` with ``Cache-Control: max-age=<this>``; every other answer has no
      cache header, as before.
    """

    HANG_SECONDS = 60.0

    def __init__(self, root: Path, *, missing: str = "403", auth: Optional[Tuple[str, str]] = None) -> None:
        if missing not in ("403", "404"):
            raise ValueError(f"missing must be '403' or '404', not {missing!r}")
        self.root = Path(root).resolve()
        self.missing = missing
        self.auth = auth
        self.fault: Optional[str] = None
        self.requests: List[Tuple[str, str, int, int]] = []
        self.json_max_age = 600
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: Optional[http.server.ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.url = ""

    def clear(self) -> None:
        """Empty the request log."""
        with self._lock:
            self.requests.clear()

    def start(self) -> IndexServer:
        """Bind 127.0.0.1 on an ephemeral port and serve from a daemon thread."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        httpd.daemon_threads = True
        httpd.block_on_close = False  # a hanging handler must not delay stop()
        self._httpd = httpd
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"IndexServer{self.url}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; releases handlers stuck in a ``"hang"`` fault."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)  # type: ignore[union-attr]
        self._httpd = self._thread = None

    def __enter__(self) -> IndexServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _log(self, method: str, path: str, status: int, sent: int) -> None:
        with self._lock:
            self.requests.append((method, path, status, sent))

    def _resolve(self, raw_path: str) -> Tuple[Optional[Path], bool]:
        """Map a request path to (file or None, is_page) with the CloudFront rewrite rule."""
        path = urllib.parse.unquote(urllib.parse.urlsplit(raw_path).path)
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") or "\\" in p for p in parts):
            return None, False
        target = self.root.joinpath(*parts)
        if path.endswith("/") or not parts or "." not in parts[-1] or target.is_dir():
            target = target / "index.html"
        return (target if target.is_file() else None), target.name == "index.html"


def _make_handler(server: IndexServer) -> type:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else each kept-alive answer waits ~40 ms for a delayed ACK
        server_version = "ltt-replica"
        sys_version = ""

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence stderr
            pass

        def _send(self, status: int, body: bytes, ctype: str, extra: Sequence[Tuple[str, str]] = ()) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for key, value in extra:
                self.send_header(key, value)
            self.end_headers()
            sent = 0
            if self.command != "HEAD":
                try:
                    self.wfile.write(body)
                    sent = len(body)
                except OSError:
                    pass
            server._log(self.command, self.path, status, sent)

        def _denied(self) -> None:
            self._send(403, _S3_ACCESS_DENIED, "application/xml")

        def _handle(self) -> None:
            fault = server.fault
            if fault == "hang":
                server._stopping.wait(server.HANG_SECONDS)  # the instance's value, if a test set one
                if server._stopping.is_set():
                    self.close_connection = True
                    server._log(self.command, self.path, 0, 0)
                    return
            elif fault == "403":
                return self._denied()
            elif fault == "500":
                return self._send(500, b"Internal Server Error\n", "text/plain")
            if server.auth is not None:
                expected = base64.b64encode(":".join(server.auth).encode()).decode()
                if self.headers.get("Authorization", "") != f"Basic {expected}":
                    return self._send(401, b"Unauthorized\n", "text/plain",
                                      [("WWW-Authenticate", 'Basic realm="mirror"')])
            target, is_page = server._resolve(self.path)
            if fault == "garbage" and is_page:
                return self._send(200, base64.b64encode(os.urandom(384)), "text/html")
            if target is None:
                if server.missing == "404":
                    return self._send(404, b"Not Found\n", "text/plain")
                return self._denied()
            if target.suffix == ".json":
                return self._send(200, target.read_bytes(), "application/json",
                                  [("Cache-Control", f"max-age={server.json_max_age}")])
            ctype = "text/html" if target.suffix == ".html" else "application/octet-stream"
            self._send(200, target.read_bytes(), ctype)

        do_GET = do_HEAD = _handle  # noqa: N815

    return Handler
