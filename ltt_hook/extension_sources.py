"""Extension sources: the publishers' per-torch wheel pages, as plain data and templates.

PyG's ``torch-scatter``, DGL's ``dgl``, OpenMMLab's ``mmcv`` and others publish one wheel per
torch release and backend on their own find-links pages. This module knows the pages: the table
(:data:`ltt_hook.data.EXTENSION_SOURCES`, one row per publisher with its public source), the
user's own sources (``[ltt] extensions``) and mirrors (``[ltt] extension-mirrors``), parsed here,
and the page and label of a torch release and backend. Pure: no I/O, no pip.
Templates know four fields: ``{major}``, ``{minor}`` (of the torch release), ``{torch}``
(``{major}.{minor}.0``) and ``{backend}`` (``cu124``, ``cpu``).

Who uses it: the configuration (parsing), :mod:`ltt_hook.extensions` (inside pip) and
:mod:`ltt_hook.extension_report` (reports and exports).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Mapping, Optional, Protocol, Tuple

from . import data
from ._packaging import Version, canonicalize_name
from .backends import Backend
from .errors import ConfigError
from .selection import torch_backend
from .urls import usable_url

__all__ = ["TABLE", "Source", "Target", "parse_extensions", "parse_mirrors", "sources", "source_for", "page_url",
           "expected_label", "user_gave_page", "from_page", "major_minor", "mismatch"]

_FIELDS = frozenset({"torch", "major", "minor", "backend"})
_FAMILIES = frozenset({"cpu", "cuda", "rocm", "xpu"})


@dataclass(frozen=True)
class Source:
    """One publisher's (or the user's) pages."""

    id: str
    publisher: str
    projects: Tuple[str, ...]
    base: str
    page: str
    cpu_page: Optional[str] = None
    label: Optional[str] = None
    backends: Tuple[str, ...] = ("cpu", "cuda")
    source: str = ""
    #: The page below ``base`` that links every page (PyG's ``index.html``), if any.
    listing: Optional[str] = None

    def serves(self, backend: Backend) -> bool:
        return backend.family in self.backends


def _row(row: Mapping[str, str]) -> Source:
    return Source(id=row["id"], publisher=row["publisher"],
                  projects=tuple(canonicalize_name(p) for p in row["projects"].split()),
                  base=row["base"], page=row["page"], cpu_page=row.get("cpu-page"), label=row.get("label"),
                  backends=tuple(row["backends"].split()), source=row["source"], listing=row.get("listing"))


#: The publishers' pages (:data:`ltt_hook.data.EXTENSION_SOURCES`), one row per publisher.
TABLE: Tuple[Source, ...] = tuple(_row(r) for r in data.EXTENSION_SOURCES)


def _check_template(text: str, what: str, origin: str) -> str:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise ConfigError(f"ltt-hook: {origin}: {what} {text!r} is not a template ({exc})") from None
    unknown = names - _FIELDS
    if unknown:
        raise ConfigError(f"ltt-hook: {origin}: {what} {text!r} uses {', '.join(sorted(unknown))}; "
                            "templates know {torch}, {major}, {minor} and {backend}")
    return text


def _check_url(text: str, origin: str) -> str:
    if not usable_url(text):
        raise ConfigError(f"ltt-hook: {origin}: {text!r} is not an http(s):// or file:// URL")
    return text


def parse_extensions(value: str, origin: str) -> Tuple[Source, ...]:
    """``[ltt] extensions``: one source per line (or ``;``-separated):
    ``PROJECT[,PROJECT...] = URL-TEMPLATE [label=TEMPLATE] [cpu=URL-TEMPLATE] [backends=cpu,cuda]``."""
    found: List[Source] = []
    for n, entry in enumerate((e.strip() for e in value.replace(";", "\n").splitlines()), 1):
        if not entry or entry.startswith("#"):
            continue
        names, sep, rest = entry.partition("=")
        tokens = rest.split()
        projects = tuple(canonicalize_name(p) for p in names.replace(",", " ").split())
        if not sep or not projects or not tokens:
            raise ConfigError(f"ltt-hook: {origin} line {n} is {entry!r}, not "
                              "'PROJECT[,PROJECT...] = URL-TEMPLATE [label=TEMPLATE] [cpu=URL-TEMPLATE]'")
        family = [p for p in projects if p in data.PYTORCH]
        if family:
            raise ConfigError(f"ltt-hook: {origin}: {', '.join(family)} belongs to the PyTorch index "
                              "and cannot have an extension page")
        url = _check_template(_check_url(tokens[0], origin), "URL", origin)
        options: Dict[str, str] = {}
        for token in tokens[1:]:
            key, eq, val = token.partition("=")
            if not eq or key not in ("label", "cpu", "backends"):
                raise ConfigError(f"ltt-hook: {origin}: {token!r} is not label=, cpu= or backends=")
            options[key] = val
        backends = tuple(b for b in options.get("backends", "cpu,cuda").replace(",", " ").split())
        if not backends or set(backends) - _FAMILIES:
            raise ConfigError(f"ltt-hook: {origin}: backends={options.get('backends')!r}; "
                                f"accepted: a comma-separated list of {', '.join(sorted(_FAMILIES))}")
        cpu = options.get("cpu")
        label = options.get("label") or None
        found.append(Source(id=f"user{n}", publisher=f"{origin} line {n}", projects=projects, base="",
                            page=url, cpu_page=_check_template(_check_url(cpu, origin), "URL", origin) if cpu else None,
                            label=_check_template(label, "label", origin) if label and label != "none" else None,
                            backends=backends, source=origin))
    return tuple(found)


def parse_mirrors(value: str, origin: str) -> Dict[str, str]:
    """``[ltt] extension-mirrors``: ``ID=BASE-URL`` pairs (``pyg=https://mirror.example/pyg/whl``)."""
    ids = {s.id for s in TABLE}
    mirrors: Dict[str, str] = {}
    for token in value.replace(";", " ").split():
        key, eq, url = token.partition("=")
        if not eq or key not in ids:
            raise ConfigError(f"ltt-hook: {origin}: {token!r} is not ID=BASE-URL with ID one of "
                              f"{', '.join(sorted(ids))}")
        mirrors[key] = _check_url(url.rstrip("/"), origin)
    return mirrors


class Settings(Protocol):
    """What of the configuration (:class:`ltt_hook.config.Config`) chooses the sources."""

    @property
    def extensions(self) -> Tuple[Source, ...]: ...

    @property
    def extension_mirrors(self) -> Mapping[str, str]: ...


def sources(config: Settings) -> List[Source]:
    """The user's sources first (they win for their projects), then the table's, mirrors applied."""
    mirrors = config.extension_mirrors
    return [*config.extensions, *(replace(s, base=mirrors.get(s.id, s.base)) for s in TABLE)]


def source_for(config: Settings, project: str) -> Optional[Source]:
    name = canonicalize_name(project)
    return next((s for s in sources(config) if name in s.projects), None)


def _fields(release: Version, backend: Backend) -> Dict[str, str]:
    return {"major": str(release.major), "minor": str(release.minor),
            "torch": f"{release.major}.{release.minor}.0", "backend": backend.name}


def page_url(source: Source, release: Version, backend: Backend) -> Optional[str]:
    """The page of ``source`` for torch ``release`` (``2.5``) built for ``backend``; None when
    the publisher builds nothing for that backend family."""
    if not source.serves(backend):
        return None
    template = source.cpu_page if backend.name == "cpu" and source.cpu_page else source.page
    path = template.format(**_fields(release, backend))
    return f"{source.base}/{path}" if source.base else path


def expected_label(source: Source, release: Version, backend: Backend) -> Optional[str]:
    """The local label ``source``'s wheels for that torch carry (``pt25cu124``); None: none."""
    if source.label is None:
        return None
    return str(Version(f"0+{source.label.format(**_fields(release, backend))}").local)


@dataclass(frozen=True)
class Target:
    """The torch an extension must be built for."""

    release: Version  # major.minor
    backend: Backend
    why: str
    version: Optional[Version] = None

    def __str__(self) -> str:
        return f"{self.release}+{self.backend.name}"


def major_minor(version: Version) -> Version:
    """The torch release a version belongs to (``2.5.1+cu124`` -> ``2.5``), the key of the pages."""
    return Version(f"{version.major}.{version.minor}")


def user_gave_page(source: Source, scope: Any) -> bool:
    """The user already names this publisher's pages (a ``--find-links`` or index URL): their
    choice stands."""
    base = (source.base or source.page.split("{", 1)[0]).rstrip("/")
    locations = list(getattr(scope, "find_links", []) or []) + list(getattr(scope, "index_urls", []) or [])
    return any(str(loc).startswith(base) for loc in locations)


def from_page(link: Any, page: str) -> bool:
    """Whether pip found ``link`` on ``page``."""
    comes_from = getattr(link, "comes_from", None)
    url = getattr(comes_from, "url", comes_from)
    if not isinstance(url, str):
        return False
    url = url.split("#", 1)[0]
    return url in (page, page.replace("+", "%2B"))


def mismatch(version: Version, source: Source, torch: Version, backend: Optional[Backend] = None) -> Optional[str]:
    """Why an extension build ``version`` does not fit ``torch`` (built for ``backend``, default
    what its version says); None when it does or cannot be told."""
    if source.label is None or not version.local:
        return None
    wanted = expected_label(source, major_minor(torch), backend or torch_backend(torch))
    if wanted is None or version.local == wanted:
        return None
    return f"built for +{version.local}, torch {torch} needs +{wanted}"
