"""What the environment holds: an installed PyTorch build, read from its own files.

An installed torch says what it was built for, whichever index it came from, in three places,
read here as text (the package is never imported):

1. the local label of its version (``2.5.1+cu118``: every build of the PyTorch index);
2. ``torch/version.py``: ``__version__`` with the label, and ``cuda``, ``hip``, ``xpu``
   (conda-forge's builds, NVIDIA's Jetson builds, a build of your own);
3. its ``Requires-Dist``, the markers evaluated for this interpreter: PyPI's builds pin the CUDA
   libraries they were built against (``nvidia-cuda-runtime-cu12==12.8.90`` up to 2.10,
   ``cuda-toolkit[...]==13.0.3`` from 2.11). A build whose metadata pins no CUDA library, and
   whose ``version.py`` names none, is a CPU build (PyPI's torch on Windows, macOS, and on Linux
   aarch64 up to 2.10).

No table is kept for any of it.
"""

from __future__ import annotations

import importlib.metadata
import re
from typing import Iterable, NamedTuple, Optional, Tuple

from ._packaging import InvalidRequirement, InvalidVersion, Requirement, Version
from .backends import Backend, InvalidBackend, backend_from_label, parse_backend

__all__ = ["InstalledBuild", "read_installed", "backend_from_requirements", "backend_from_version_py"]

#: The CUDA runtime each of PyPI's CUDA builds pins: its version is the build's CUDA version.
# Patterns compiled (and cached by ``re``) only when a torch is installed to be read.
_CUDA_LIBRARIES = r"^(cuda-toolkit|nvidia-cuda-runtime(-cu\d+)?)$"
_VERSION_PY = r"""^(__version__|cuda|hip|xpu)\s*(?::[^=]*)?=\s*['"]([^'"]+)['"]"""


class InstalledBuild(NamedTuple):
    """An installed distribution and the backend its own files name."""

    version: Version
    #: None when its files name no backend (a version.py of unknown shape).
    backend: Optional[Backend]
    #: Where the backend was read: ``its +cu118 label``, ``its metadata (cuda-toolkit==13.0.3)``.
    evidence: str

    def describe(self) -> str:
        """``torch 2.14.1, a cu130 build (its metadata: cuda-toolkit==13.0.3)``."""
        what = f"a {self.backend.name} build" if self.backend else "a build of unknown backend"
        return f"torch {self.version}, {what} ({self.evidence})"


def _cuda_backend(version_text: str) -> Optional[Backend]:
    parts = version_text.split(".")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    try:
        return parse_backend(f"cu{int(parts[0])}{int(parts[1])}")
    except InvalidBackend:
        return None


def backend_from_requirements(requires: Iterable[str]) -> Optional[Tuple[Backend, str]]:
    """The CUDA build a distribution's ``Requires-Dist`` pins (markers evaluated for this
    interpreter), with the requirement that says so; None when it pins no CUDA runtime."""
    for text in requires:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if not re.match(_CUDA_LIBRARIES, req.name.lower()):
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        for spec in req.specifier:
            if spec.operator in ("==", "===", "~="):
                backend = _cuda_backend(spec.version)
                if backend is not None:
                    return backend, f"{req.name}{spec}"
    return None


def backend_from_version_py(text: str) -> Optional[Tuple[Backend, str]]:
    """The backend ``torch/version.py`` names: the label of ``__version__``, else ``cuda``,
    ``hip`` or ``xpu``; None when it names none of them (a CPU build says ``cuda = None``)."""
    found = dict(re.findall(_VERSION_PY, text, re.MULTILINE))
    label = found.get("__version__", "").partition("+")[2]
    backend = backend_from_label(label)
    if backend is not None:
        return backend, f"torch/version.py: __version__ = {found['__version__']!r}"
    if "cuda" in found:
        cuda = _cuda_backend(found["cuda"])
        if cuda is not None:
            return cuda, f"torch/version.py: cuda = {found['cuda']!r}"
    if "hip" in found:
        parts = found["hip"].split(".")
        try:
            return parse_backend(f"rocm{int(parts[0])}.{int(parts[1])}"), f"torch/version.py: hip = {found['hip']!r}"
        except (IndexError, ValueError, InvalidBackend):
            pass
    if "xpu" in found:
        return parse_backend("xpu"), f"torch/version.py: xpu = {found['xpu']!r}"
    return None


def read_installed(project: str = "torch") -> Optional[InstalledBuild]:
    """The installed ``project`` (on this interpreter's path) and the backend its files name;
    None when it is not installed or its metadata cannot be read."""
    try:
        dist = importlib.metadata.distribution(project)
        version = Version(dist.version)
    except (importlib.metadata.PackageNotFoundError, InvalidVersion, TypeError, OSError):
        return None
    label = backend_from_label(version.local)
    if label is not None:
        return InstalledBuild(version, label, f"its +{version.local} label")
    try:
        version_py = dist.locate_file(f"{project.replace('-', '_')}/version.py").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, AttributeError):
        version_py = ""
    said = backend_from_version_py(version_py) if version_py else None
    if said is None:
        said = backend_from_requirements(dist.requires or ())
        if said is not None:
            said = (said[0], f"its metadata: {said[1]}")
    if said is not None:
        return InstalledBuild(version, said[0], said[1])
    where = "its metadata and torch/version.py name" if version_py else "its metadata names"
    return InstalledBuild(version, parse_backend("cpu"), f"{where} no CUDA, ROCm or XPU library")
