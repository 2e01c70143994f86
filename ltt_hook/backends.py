"""Computation backends: the names of the PyTorch index's sub-indexes and local labels."""

from __future__ import annotations

import re
from typing import NamedTuple, Optional, Tuple

__all__ = ["Backend", "InvalidBackend", "parse_backend", "backend_from_label", "backend_from_url",
           "backend_in_repository", "suggest_backend"]

_NAME = re.compile(r"^(?:(cpu|xpu)|cu(\d)(\d)|cu(\d\d)(\d)|rocm(\d+(?:\.\d+){1,2}))$")
# A local label starts with a backend; anything after a dot that follows it is a variant
# (``cpu.cxx11.abi``). Labels such as triton's ``git1a2b3c4d`` are not backends.
_LABEL = re.compile(r"^(cpu|xpu|cu\d{2,3}|rocm\d+(?:\.\d+){1,2})(?:\.[a-z].*)?$")
_URL = re.compile(r"/whl/(?:(?:nightly|test)/)?(cpu|xpu|cu\d{2,3}|rocm\d+(?:\.\d+){1,2})(?:/|$)")
# A company mirror's repository named after a backend: ``…/pytorch-cu126/simple``, ``…/torch_cu126/``.
_REPOSITORY = re.compile(r"(?:^|[/_-])(cpu|xpu|cu\d{2,3}|rocm\d+(?:\.\d+){1,2})(?:/|$)")

ACCEPTED = "cpu, cuXY or cuXYZ (e.g. cu126), rocmX.Y[.Z] (e.g. rocm6.4), xpu"

#: Ranking of backend families: any GPU build beats the CPU build.
_FAMILY_RANK = {"cpu": 0, "xpu": 1, "rocm": 2, "cuda": 3}


class InvalidBackend(ValueError):
    """A string that is not a PyTorch computation backend."""


class Backend(NamedTuple):
    """One PyTorch computation backend, e.g. ``cu126``, ``rocm6.2.4``, ``cpu``, ``xpu``.

    A named tuple (immutable, hashable, cheap to define: this module is imported by every pip run)."""

    name: str
    family: str
    version: Tuple[int, ...] = ()

    @property
    def is_gpu(self) -> bool:
        return self.family != "cpu"

    @property
    def rank(self) -> Tuple[int, Tuple[int, ...]]:
        """Our own order (PEP 440 would sort ``cu92`` above ``cu128``): GPU over CPU, then
        newer toolkit first."""
        return (_FAMILY_RANK[self.family], self.version)

    def __str__(self) -> str:
        return self.name


def parse_backend(text: str) -> Backend:
    """Parse a backend name; raise :class:`InvalidBackend` for anything else."""
    name = text.strip().lower()
    m = _NAME.match(name)
    if not m:
        raise InvalidBackend(f"{text!r} is not a PyTorch computation backend (accepted: {ACCEPTED})")
    simple, a, b, c, d, rocm = m.groups()
    if simple:
        return Backend(simple, simple)
    if rocm:
        return Backend(name, "rocm", tuple(int(p) for p in rocm.split(".")))
    major, minor = (a, b) if a else (c, d)
    return Backend(name, "cuda", (int(major), int(minor)))


# Patterns of typos, compiled (and cached by ``re``) only when a bad name needs a suggestion.
_CUDA_TYPO = r"^(?:cuda|cu)[-_ ]?(\d{2})\.?(\d)$|^(?:cuda|cu)[-_ ]?(\d{1,2})\.(\d)$"
_ROCM_TYPO = r"^rocm[-_ ]?(\d)\.?(\d)(?:\.?(\d))?$"


def suggest_backend(text: str) -> Optional[str]:
    """The backend a mistyped name most likely means: ``cuda126`` and ``cu12.6`` -> ``cu126``,
    ``rocm62`` -> ``rocm6.2``, ``CUDA`` or ``gpu`` -> ``auto``; None when nothing is close."""
    name = text.strip().lower()
    m = re.match(_CUDA_TYPO, name)
    if m:
        major, minor = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        return f"cu{int(major)}{minor}"
    m = re.match(_ROCM_TYPO, name)
    if m:
        return f"rocm{m.group(1)}.{m.group(2)}" + (f".{m.group(3)}" if m.group(3) else "")
    if name in ("cuda", "gpu", "rocm", "detect", "default"):
        return "auto"
    return None


def backend_from_label(local: Optional[str]) -> Optional[Backend]:
    """The backend named by a local version label (``cu126``, ``cpu.cxx11.abi``), else None."""
    if not local:
        return None
    m = _LABEL.match(local.lower())
    return parse_backend(m.group(1)) if m else None


def backend_from_url(url: str) -> Optional[Backend]:
    """The backend of a PyTorch index URL (``…/whl/nightly/cu126/…``), else None."""
    m = _URL.search(url)
    return parse_backend(m.group(1)) if m else None


def backend_in_repository(url: str) -> Optional[Backend]:
    """The backend a repository of the user's index URL is named after (``https://host/artifactory/
    api/pypi/pytorch-cu126/simple`` -> cu126), else None. Only a hint: such an index counts as the
    user's PyTorch index only for builds labelled for a backend (:meth:`ltt_hook.run.Run.rejects`)."""
    from urllib.parse import urlsplit

    m = _REPOSITORY.search(urlsplit(url).path.lower())
    return parse_backend(m.group(1)) if m else None
