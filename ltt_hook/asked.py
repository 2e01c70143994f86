"""What the user asked pip for, as far as the PyTorch family and its extensions go: read once
from pip's requirements (requirement files, the command line and constraints)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, NamedTuple, Optional, Tuple

from . import data
from ._packaging import InvalidVersion, Version, canonicalize_name
from .backends import Backend, backend_from_label
from .selection import release_of

__all__ = ["Asked", "read_requirements", "pin_conflict"]


class Asked(NamedTuple):
    """The PyTorch part of pip's requirements."""

    #: PyTorch projects named as requirements (not constraints).
    requested: FrozenSet[str] = frozenset()
    #: PyTorch projects with ``--hash`` options (their index and build stay the user's).
    hashed: FrozenSet[str] = frozenset()
    #: Backends of explicit ``+label`` pins.
    pins: FrozenSet[Backend] = frozenset()
    #: project -> pip's specifiers of it (requirements and constraints).
    specifiers: Mapping[str, Tuple[Any, ...]] = MappingProxyType({})
    #: Extension projects named as requirements (their publishers' pages: ltt_hook.extensions).
    extensions: FrozenSet[str] = frozenset()
    #: Why explicit pins contradict each other, if they do.
    conflict: Optional[str] = None


def read_requirements(reqs: List[Any], is_extension: Callable[[str], bool]) -> Asked:
    """What pip's install requirements ask of the PyTorch family: projects named, ``--hash``
    options, specifiers, the backends of explicit ``+label`` pins, the extension projects
    named (``is_extension``), and whether exact pins contradict each other."""
    requested, hashed, pins, extensions = set(), set(), set(), set()
    specifiers: Dict[str, List[Any]] = {}
    exact: Dict[str, str] = {}
    for ireq in reqs:
        req = getattr(ireq, "req", None)
        constraint = bool(getattr(ireq, "constraint", False))
        if req is not None and not constraint and is_extension(req.name):
            extensions.add(canonicalize_name(req.name))
        if req is None or canonicalize_name(req.name) not in data.PYTORCH:
            continue
        name = canonicalize_name(req.name)
        if not constraint:
            requested.add(name)
        if getattr(ireq, "hash_options", None):
            hashed.add(name)
        if str(req.specifier):
            specifiers.setdefault(name, []).append(req.specifier)
        for spec in req.specifier:
            if spec.operator in ("==", "===") and "*" not in spec.version:
                exact.setdefault(name, spec.version)
            if spec.operator in ("==", "===") and "+" in spec.version:
                backend = backend_from_label(spec.version.split("+", 1)[1])
                if backend is not None:
                    pins.add(backend)
    return Asked(frozenset(requested), frozenset(hashed), frozenset(pins),
                 MappingProxyType({k: tuple(v) for k, v in specifiers.items()}), frozenset(extensions),
                 pin_conflict(exact))


def pin_conflict(exact: Dict[str, str]) -> Optional[str]:
    """Why exact pins (project -> version) of PyTorch projects cannot go together, if so."""
    labelled = {}
    for name, text in sorted(exact.items()):
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        backend = backend_from_label(version.local)
        if backend is not None:
            labelled[name] = (text, backend)
    backends = {b for _, b in labelled.values()}
    if len(backends) > 1:
        pins = " and ".join(f"{n}=={v}" for n, (v, _) in labelled.items())
        return (f"ltt-hook: {pins} are built for different backends "
                f"({', '.join(sorted(b.name for b in backends))}); pin one backend for all of them")
    if "torch" in exact:
        try:
            torch = release_of("torch", Version(exact["torch"]))
        except InvalidVersion:
            return None
        for name in sorted(exact):
            try:
                release = release_of(name, Version(exact[name])) if name != "torch" else None
            except InvalidVersion:
                continue
            if release is not None and torch is not None and release != torch:
                return (f"ltt-hook: {name}=={exact[name]} belongs to torch {release}, but torch=={exact['torch']} "
                        "is pinned; pin versions of the same release")
    return None
