"""Extension packages built against torch: the publishers' per-torch wheel pages.

PyG's ``torch-scatter``, DGL's ``dgl``, OpenMMLab's ``mmcv`` and others publish one wheel per
torch release and backend on their own find-links pages. For such a project, the hook adds the
one page made for the torch the environment runs with (the installed torch the run keeps, else
the torch this run installs, else the torch ``pip install torch`` would install) as a
find-links page for that project only, the way a user would spell ``-f`` by hand.

The table (:data:`SOURCES`) is plain data with a public source per row. Users add their own in
``[ltt] extensions`` and point a row at a mirror with ``[ltt] extension-mirrors``
(``LTT_EXTENSIONS`` / ``LTT_EXTENSION_MIRRORS``). Templates know four fields: ``{major}``,
``{minor}`` (of the torch release), ``{torch}`` (``{major}.{minor}.0``) and ``{backend}``
(``cu124``, ``cpu``).
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import string
import sys
import weakref
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import data
from ._packaging import InvalidVersion, NormalizedName, SpecifierSet, Version, canonicalize_name, parse_wheel_filename
from .backends import Backend, backend_from_label, parse_backend

if TYPE_CHECKING:  # pragma: no cover
    from .config import Config
    from .installed import InstalledBuild
    from .run import Run

__all__ = ["SOURCES", "Source", "Target", "parse_extensions", "parse_mirrors", "sources", "source_for",
           "page_url", "expected_label", "target_torch", "page_for", "after_lookup", "prefers_page",
           "replaced_torch", "check", "report", "render", "export"]

logger = logging.getLogger("ltt_hook")

#: The publishers' pages: :data:`ltt_hook.data.EXTENSION_SOURCES`, one row per publisher.
SOURCES = data.EXTENSION_SOURCES

_FIELDS = {"torch", "major", "minor", "backend"}
_FAMILIES = {"cpu", "cuda", "rocm", "xpu"}


def _config_error(message: str) -> Exception:
    from .config import ConfigError

    return ConfigError(message)


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


TABLE: Tuple[Source, ...] = tuple(_row(r) for r in SOURCES)


# --------------------------------------------------------------------------- settings


def _check_template(text: str, what: str, origin: str) -> str:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise _config_error(f"ltt-hook: {origin}: {what} {text!r} is not a template ({exc})") from None
    unknown = names - _FIELDS
    if unknown:
        raise _config_error(f"ltt-hook: {origin}: {what} {text!r} uses {', '.join(sorted(unknown))}; "
                            "templates know {torch}, {major}, {minor} and {backend}")
    return text


def _check_url(text: str, origin: str) -> str:
    from .config import usable_url

    if not usable_url(text):
        raise _config_error(f"ltt-hook: {origin}: {text!r} is not an http(s):// or file:// URL")
    return text


def parse_extensions(value: str, origin: str) -> Tuple[Source, ...]:
    """``[ltt] extensions``: one source per line (or ``;``-separated):
    ``PROJECT[,PROJECT...] = URL-TEMPLATE [label=TEMPLATE] [cpu=URL-TEMPLATE] [backends=cpu,cuda]``."""
    from .run import PYTORCH

    found: List[Source] = []
    for n, entry in enumerate((e.strip() for e in value.replace(";", "\n").splitlines()), 1):
        if not entry or entry.startswith("#"):
            continue
        names, sep, rest = entry.partition("=")
        tokens = rest.split()
        projects = tuple(canonicalize_name(p) for p in names.replace(",", " ").split())
        if not sep or not projects or not tokens:
            raise _config_error(f"ltt-hook: {origin} line {n} is {entry!r}, not "
                                "'PROJECT[,PROJECT...] = URL-TEMPLATE [label=TEMPLATE] [cpu=URL-TEMPLATE]'")
        family = [p for p in projects if p in PYTORCH]
        if family:
            raise _config_error(f"ltt-hook: {origin}: {', '.join(family)} belongs to the PyTorch index "
                                "and cannot have an extension page")
        url = _check_template(_check_url(tokens[0], origin), "URL", origin)
        options: Dict[str, str] = {}
        for token in tokens[1:]:
            key, eq, val = token.partition("=")
            if not eq or key not in ("label", "cpu", "backends"):
                raise _config_error(f"ltt-hook: {origin}: {token!r} is not label=, cpu= or backends=")
            options[key] = val
        backends = tuple(b for b in options.get("backends", "cpu,cuda").replace(",", " ").split())
        if not backends or set(backends) - _FAMILIES:
            raise _config_error(f"ltt-hook: {origin}: backends={options.get('backends')!r}; "
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
            raise _config_error(f"ltt-hook: {origin}: {token!r} is not ID=BASE-URL with ID one of "
                                f"{', '.join(sorted(ids))}")
        mirrors[key] = _check_url(url.rstrip("/"), origin)
    return mirrors


def _settings(cfg: Config) -> Tuple[Tuple[Source, ...], Dict[str, str]]:
    user = getattr(cfg, "extensions", ()) or ()
    mirrors = getattr(cfg, "extension_mirrors", {}) or {}
    return tuple(user), dict(mirrors)


def sources(cfg: Config) -> List[Source]:
    """The user's sources first (they win for their projects), then the table's, mirrors applied."""
    user, mirrors = _settings(cfg)
    return [*user, *(replace(s, base=mirrors.get(s.id, s.base)) for s in TABLE)]


def source_for(cfg: Config, project: str) -> Optional[Source]:
    name = canonicalize_name(project)
    return next((s for s in sources(cfg) if name in s.projects), None)


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


# --------------------------------------------------------------------------- the torch that decides


@dataclass(frozen=True)
class Target:
    """The torch an extension must be built for."""

    release: Version  # major.minor
    backend: Backend
    why: str
    version: Optional[Version] = None

    def __str__(self) -> str:
        return f"{self.release}+{self.backend.name}"


def installed_torch() -> Optional[Version]:
    build = installed_build()
    return build.version if build is not None else None


def installed_build() -> Optional[InstalledBuild]:
    """The installed torch and the backend its own files name (:mod:`ltt_hook.installed`)."""
    from .installed import read_installed

    return read_installed("torch")


def _label_of_torch(version: Version) -> Backend:
    """A torch wheel's backend: its label, else (PyPI's unlabelled build) PyPI's flavour."""
    label = backend_from_label(version.local)
    if label is not None:
        return label
    from .selection import pypi_backend

    return pypi_backend(_release(version)) or parse_backend("cpu")


def _backend_of(build: InstalledBuild) -> Backend:
    return build.backend or _label_of_torch(build.version)


def _release(version: Version) -> Version:
    return Version(f"{version.major}.{version.minor}")


def _public(specifiers: Mapping[str, Sequence[Any]]) -> Dict[str, Tuple[SpecifierSet, ...]]:
    """The specifiers without local labels (``==2.5.1+cu118`` admits the 2.5 release)."""
    return {project: tuple(SpecifierSet(",".join(str(s).split("+", 1)[0] for s in spec)) for spec in specs)
            for project, specs in specifiers.items()}


def _newest_release(specifiers: Mapping[str, Sequence[Any]], backend: Backend) -> Optional[Version]:
    from .decision import admits_release, python_fits

    specifiers = _public(specifiers)
    here = sys.version_info[:2]
    fitting = [r for r in data.RELEASE_BACKENDS if python_fits(r, here) and admits_release(r, specifiers)]
    with_backend = [r for r in fitting if backend.name in data.RELEASE_BACKENDS[r].split()]
    pool = with_backend or fitting
    return Version(max(pool, key=Version)) if pool else None


def _from_decision(decision: Any, specifiers: Mapping[str, Sequence[Any]], why: str,
                   offer: Any = None) -> Optional[Target]:
    if decision.off or decision.expected is None:
        return None
    release_text, backend = decision.expected
    try:
        release = Version(release_text)
    except InvalidVersion:  # nightly/test: no publisher builds for those
        return None
    if decision.fixed is not None and not decision.offered:
        found = _newest_offered(offer, specifiers, backend) or _newest_release(specifiers, backend)
        if found is None:
            return None
        release = found
    if decision.cap is not None and release > decision.cap:  # an extension held torch back
        release = decision.cap
    return Target(release, backend, why)


def _newest_offered(offer: Any, specifiers: Mapping[str, Sequence[Any]], backend: Backend) -> Optional[Version]:
    """The newest torch release the index offers with ``backend`` builds (``offer``, read by the run)."""
    if offer is None:
        return None
    public = _public(specifiers).get("torch", ())
    found = [_release(b.version) for b in offer.builds if b.backend == backend and not b.version.is_prerelease
             and all(spec.contains(b.version.public) for spec in public)]
    return max(found, default=None)


def target_torch(run: Run, index_urls: List[str]) -> Optional[Target]:
    """The torch the extensions of this run must fit: the installed torch when the run keeps
    it (what its files say it is), else the torch pip picked for this run (found best on the
    index, its real release and backend), else the one the hook would install."""
    installed = installed_build()
    opts = run.options
    requested = "torch" in run.requested
    specs = list(run.specifiers.get("torch", []))  # pip's own SpecifierSets
    if installed is not None:
        version = installed.version
        replaces = requested and (getattr(opts, "upgrade", False) or getattr(opts, "force_reinstall", False)
                                  or getattr(opts, "ignore_installed", False)
                                  or not all(s.contains(str(version), prereleases=True) for s in specs))
        if not replaces:
            return Target(_release(version), _backend_of(installed), f"the installed torch {version}", version)
    picked = _picked_torch(run, specs) if requested else run.picked.get("torch")
    if picked is not None and picked[1] is not None:
        return Target(_release(picked[0]), picked[1], "the torch this run installs", picked[0])
    decision = run.decision(index_urls, "torch")  # made now: from what the index offers of torch
    why = "the torch this run installs" if requested else "the torch `pip install torch` would install"
    offer = run.offer("torch") if decision.fixed is not None else None
    return _from_decision(decision, run.request(index_urls).specifiers, why, offer)


def _picked_torch(run: Run, specs: Sequence[Any]) -> Optional[Tuple[Version, Optional[Backend]]]:
    """The torch build pip finds best for this run's torch requirement: asked of pip's finder
    when torch was not looked up yet (pip caches the answer for its resolver)."""
    if "torch" not in run.picked and run.finder is not None:
        specifier = SpecifierSet(",".join(str(s) for s in specs if str(s)))
        run.finder.find_best_candidate("torch", specifier=specifier)  # pip's: its errors are pip's
    return run.picked.get("torch")


# --------------------------------------------------------------------------- inside pip


@dataclass
class _RunState:
    pages: Dict[str, Tuple[str, Source, Target]] = field(default_factory=dict)
    noted: Dict[str, bool] = field(default_factory=dict)


_STATE: weakref.WeakKeyDictionary[Any, _RunState] = weakref.WeakKeyDictionary()


def _state(run: Any) -> _RunState:
    state = _STATE.get(run)
    if state is None:
        state = _STATE[run] = _RunState()
    return state


def _redact(url: str) -> str:
    from .config import redact

    return redact(url)


def user_gave_page(source: Source, scope: Any) -> bool:
    """The user already names this publisher's pages: their choice stands."""
    base = (source.base or source.page.split("{", 1)[0]).rstrip("/")
    locations = list(getattr(scope, "find_links", []) or []) + list(getattr(scope, "index_urls", []) or [])
    return any(str(loc).startswith(base) for loc in locations)


def page_for(run: Run, project: str, collector: Any) -> Optional[str]:
    """``LinkCollector.collect_sources`` for an extension project: the page to add as a
    find-links page for this project only; None leaves pip alone. A page that is not HTTPS
    (nor under --trusted-host, nor loopback) stops pip, as the PyTorch index does."""
    source = source_for(run.config, project)
    scope = collector.search_scope
    if source is None or getattr(scope, "no_index", False) or user_gave_page(source, scope):
        return None
    if project in run.hashed:
        return None
    state = _state(run)
    if project in state.pages:
        return state.pages[project][0]
    target = target_torch(run, list(scope.index_urls))
    if target is None:
        return None
    url = page_url(source, target.release, target.backend)
    if url is None:
        logger.log(15, "ltt-hook: %s publishes no %s builds of %s; %s comes from your indexes",
                   source.publisher, target.backend.family, project, project)
        return None
    from pip._internal.models.link import Link

    from .safety import stop

    if not collector.session.is_secure_origin(Link(url)):
        origin = "your [ltt] extensions" if not source.base else source.publisher
        raise stop(f"ltt-hook: the extension page {_redact(url)} ({origin}) is not HTTPS; add --trusted-host "
                   "for its host if you trust it. Nothing was installed.")
    state.pages[project] = (url, source, target)
    logger.log(15, "ltt-hook: %s is also looked up on %s, built for torch %s (%s)", project, _redact(url),
               target, target.why)
    return url


def _outcome(url: str) -> Optional[Tuple[str, str]]:
    from .run import PAGES

    for candidate in (url, url.replace("+", "%2B")):
        found = PAGES.get(candidate)
        if found is not None:
            return found
    return None


def after_lookup(run: Run, project: str, session: Any, found: Sequence[Any] = ()) -> None:
    """``PackageFinder.find_all_candidates``: a page that could not be read stops pip; so does a
    page that is missing or holds no wheel of ``project`` for this target (pip would build it from
    source, against no particular torch), naming the newest torch release with one, unless the
    user asked for a source build (``--no-binary``)."""
    from .safety import note_once, stop

    chosen = _state(run).pages.get(project)
    if chosen is None:
        return
    url, source, target = chosen
    outcome = _outcome(url)
    if outcome is not None and outcome[0] == "failed":
        way_out = (f"point [ltt] extension-mirrors (LTT_EXTENSION_MIRRORS) at a mirror you can reach, "
                   f"{source.id}=URL" if source.base else "fix the URL in your [ltt] extensions")
        raise stop(f"ltt-hook: could not read the extension page {_redact(url)}: {outcome[1]}. Nothing was "
                   f"installed; {project} is not taken from other pages instead ({way_out}; or set "
                   "LTT_DISABLE=1 to leave it to your indexes)")
    if outcome is None or any(from_page(getattr(c, "link", None), url) for c in found):
        return
    why = f"{_redact(url)} answered {outcome[1]}" if outcome[0] == "missing" else f"{_redact(url)} has none"
    newest = _newest_with_wheel(run, session, source, project, target)
    if newest is not None:
        better = (f"the newest torch release with one is {newest[0]} ({_redact(newest[1])}): install "
                  f"torch=={newest[0]}.* with it")
    else:
        better = "no torch release before it has one either"
    if _source_build_asked(run, project):
        note_once(f"extension-source:{project}", "ltt-hook: %s has no wheel for torch %s on %s's pages (%s); "
                  "%s builds it from source, as --no-binary asks.", project, target, source.publisher, why,
                  "pip", level=logging.WARNING)
        return
    raise stop(f"ltt-hook: {project} has no wheel for torch {target} on {source.publisher}'s pages ({why}), so "
               f"pip would build it from source (a compiler and, for GPU code, the CUDA toolkit); {better}, "
               f"or ask for the source build with --no-binary {project}. Nothing was installed.")


def _source_build_asked(run: Run, project: str) -> bool:
    no_binary = getattr(getattr(run.options, "format_control", None), "no_binary", None) or set()
    return ":all:" in no_binary or project in {canonicalize_name(n) for n in no_binary if n != ":all:"}


def _newest_with_wheel(run: Run, session: Any, source: Source, project: str,
                       target: Target) -> Optional[Tuple[Version, str]]:
    """The newest torch release (of the tables, target's backend) whose page has a wheel of
    ``project`` for this target, and that page; the publisher's listing spares missing pages."""
    from .extension_wheels import Wheels
    from .run import fetch

    if run.tags is None:
        return None
    wheels = run.extension_wheels or Wheels(lambda url: fetch(session, url, "text/html"), run.tags, page_url)
    run.extension_wheels = wheels
    releases = [Version(r) for r, names in data.RELEASE_BACKENDS.items()
                if target.backend.name == "cpu" or target.backend.name in names.split()]
    newest = wheels.newest(source, project, target.backend, [r for r in releases if r != target.release])
    url = page_url(source, newest, target.backend) if newest is not None else None
    return (newest, url) if newest is not None and url is not None else None


def prefers_page(run: Optional[Run], project: str) -> Optional[str]:
    """The page whose builds pip should rank first for ``project`` in this run, if any."""
    if run is None:
        return None
    chosen = _state(run).pages.get(canonicalize_name(project))
    return chosen[0] if chosen else None


def from_page(link: Any, page: str) -> bool:
    comes_from = getattr(link, "comes_from", None)
    url = getattr(comes_from, "url", comes_from)
    if not isinstance(url, str):
        return False
    url = url.split("#", 1)[0]
    return url in (page, page.replace("+", "%2B"))


# --------------------------------------------------------------------------- torch replaced


def _installed_extensions(cfg: Config) -> List[Tuple[str, Version, Source]]:
    found: List[Tuple[str, Version, Source]] = []
    for source in sources(cfg):
        for project in source.projects:
            try:
                version = Version(importlib.metadata.version(project))
            except Exception:
                continue
            if all(p != project for p, _, _ in found):
                found.append((project, version, source))
    return found


def _mismatch(version: Version, source: Source, torch: Version, backend: Optional[Backend] = None) -> Optional[str]:
    """Why an installed extension does not fit ``torch`` (built for ``backend``, default what
    its version says); None when it does or cannot be told."""
    if source.label is None or not version.local:
        return None
    wanted = expected_label(source, _release(torch), backend or _label_of_torch(torch))
    if wanted is None or version.local == wanted:
        return None
    return f"built for +{version.local}, torch {torch} needs +{wanted}"


def built_for_another_torch(run: Run, requirement_set: Any) -> None:
    """After pip's resolver: an extension build this run installs whose label names another torch
    release or backend than the torch the environment will run (a user's own page for another
    torch, a pin, a wheel file): one warning naming both."""
    from .safety import note_once

    requirements = getattr(requirement_set, "requirements", {}) or {}
    torch_link = getattr(requirements.get("torch"), "link", None)
    if torch_link is not None and getattr(torch_link, "is_wheel", False):
        torch = parse_wheel_filename(torch_link.filename)[1]
        backend = _label_of_torch(torch)
    else:
        build = installed_build()
        if build is None:
            return
        torch, backend = build.version, _backend_of(build)
    for project in sorted(run.extension_requests):
        link = getattr(requirements.get(project), "link", None)
        source = source_for(run.config, project)
        if link is None or source is None or not getattr(link, "is_wheel", False):
            continue
        version = parse_wheel_filename(link.filename)[1]
        why = _mismatch(version, source, torch, backend)
        if why:
            note_once(f"another-torch:{project}", "ltt-hook: %s %s is built for another torch than torch %s (+%s) "
                      "that this environment will run: %s. They will not load together; let ltt-hook choose its "
                      "page (drop your own -f page for it), or install the torch it was built for.", project,
                      version, torch, backend.name, why, level=logging.WARNING)


def replaced_torch(run: Optional[Run], requirement_set: Any) -> None:
    """After pip's resolver: when the run replaces torch (release or backend), name in one line
    the installed extensions built for the old torch, with the command that rebuilds them."""
    if run is None:
        return
    requirements = getattr(requirement_set, "requirements", {}) or {}
    ireq = requirements.get("torch")
    link = getattr(ireq, "link", None)
    if ireq is None or link is None or not getattr(link, "is_wheel", False):
        return  # the run installs no torch: nothing of the environment to read
    build = installed_build()
    if build is None:
        return
    installed = build.version
    try:
        new = parse_wheel_filename(link.filename)[1]
    except Exception:
        return
    if (_release(new), _label_of_torch(new)) == (_release(installed), _backend_of(build)):
        return
    stale = []
    for project, version, source in _installed_extensions(run.config):
        if project in requirements:  # reinstalled by this run
            continue
        if source.label is None or not version.local or _mismatch(version, source, new):
            stale.append((project, version))
    if not stale:
        return
    from .safety import note_once

    names = " ".join(p for p, _ in stale)
    note_once("extensions-replaced", "ltt-hook: this run replaces torch %s with %s; %s %s built for the old "
              "torch. Reinstall for the new one afterwards: %s -m pip install --force-reinstall --no-deps %s",
              installed, new, ", ".join(f"{p} {v}" for p, v in stale), "was" if len(stale) == 1 else "were",
              os.path.basename(sys.executable), names, level=logging.WARNING)


# --------------------------------------------------------------------------- reports


def check(cfg: Config) -> Tuple[bool, List[str]]:
    """``python -m ltt_hook check``: installed extensions whose label does not match the torch."""
    build = installed_build()
    if build is None:
        return True, []
    torch = build.version
    bad, lines = [], []
    for project, version, source in _installed_extensions(cfg):
        why = _mismatch(version, source, torch, _backend_of(build))
        if why:
            bad.append(project)
            lines.append(f"{project} {version} does not match the installed torch: {why}.")
        elif source.label is not None and version.local:
            lines.append(f"{project} {version} matches the installed torch.")
    if bad:
        lines.append(f"Fix: {os.path.basename(sys.executable)} -m pip install --force-reinstall --no-deps "
                     + " ".join(bad))
    return not bad, lines


def report(cfg: Config, decision: Any) -> Dict[str, Any]:
    """The extension sources that apply to this environment, as plain data."""
    build = installed_build()
    if build is not None:
        torch = build.version
        target: Optional[Target] = Target(_release(torch), _backend_of(build), f"the installed torch {torch}")
    else:
        target = _from_decision(decision, {}, "the torch `pip install torch` would install")
    pages = []
    for source in sources(cfg):
        url = page_url(source, target.release, target.backend) if target else None
        newest = _newest_listed(source, target.backend) if target else None
        pages.append({"publisher": source.publisher, "projects": list(source.projects),
                      "page": _redact(url) if url else None, "newest_torch_with_a_page": newest})
    return {"torch": str(target) if target else None, "why": target.why if target else None, "sources": pages}


def _newest_listed(source: Source, backend: Backend) -> Optional[str]:
    """The newest torch release the publisher's listing has a page for, built for ``backend``
    (one request, for a publisher with a listing; None otherwise or when it cannot be read)."""
    if not source.listing or not source.base:
        return None
    from pip._internal.network.session import PipSession

    from .extension_wheels import Wheels
    from .run import fetch

    with PipSession(retries=0) as session:
        session.timeout = 15
        wheels = Wheels(lambda url: fetch(session, url, "text/html"), frozenset(), page_url)
        listed = wheels.listed(source)
    if not listed:
        return None
    releases = [Version(r) for r in data.RELEASE_BACKENDS]
    found = [r for r in releases if (u := page_url(source, r, backend)) and u.rsplit("/", 1)[-1] in listed]
    return str(max(found)) if found else None


def render(info: Optional[Mapping[str, Any]]) -> List[str]:
    if not info or not info.get("torch"):
        return []
    lines = ["", f"Extension pages for torch {info['torch']} ({info['why']}):"]
    for s in info["sources"]:
        where = s["page"] or "no builds for this backend"
        newest = f" (its newest page for this backend: torch {s['newest_torch_with_a_page']})" \
            if s.get("newest_torch_with_a_page") else ""
        lines.append(f"  {s['publisher']}: {', '.join(s['projects'])}: {where}{newest}")
    return lines


def export(cfg: Config, installs: Sequence[Mapping[str, Any]],
           torch_pin: Optional[str]) -> Tuple[List[str], Dict[NormalizedName, str]]:
    """For ``python -m ltt_hook requirements``: the ``--find-links`` lines and the pins of the
    extension projects among pip's ``installs`` (its ``--report``)."""
    build = installed_build()
    torch = Version(torch_pin) if torch_pin else (build.version if build else None)
    if torch is None:
        return [], {}
    backend = _label_of_torch(torch) if torch_pin or build is None else _backend_of(build)
    links: List[str] = []
    pins: Dict[NormalizedName, str] = {}
    for item in installs:
        meta = item.get("metadata", {})
        project = canonicalize_name(str(meta.get("name", "")))
        source = source_for(cfg, project)
        if source is None:
            continue
        pins[project] = str(meta.get("version"))
        url = page_url(source, _release(torch), backend)
        if url and f"--find-links {_redact(url)}" not in links:
            links.append(f"--find-links {_redact(url)}")
    return links, pins
