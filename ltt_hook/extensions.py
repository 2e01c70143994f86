"""Extensions inside pip: which torch an extension must fit, the publisher's page pip reads for it,
and what to say when that page lacks a wheel or a run replaces torch.

For an extension project (:mod:`ltt_hook.extension_sources`), the hook adds the one page made
for the torch the environment runs with (the installed torch the run keeps, else the torch this
run installs, else the torch ``pip install torch`` would install) as a find-links page for that
project only, the way a user would spell ``-f`` by hand. Each function answers with values (a
page, a problem, lines to say); the wrappers raise and say them (:mod:`ltt_hook.wrappers`).
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, List, Mapping, Optional, Sequence, Tuple

from . import data
from ._packaging import InvalidVersion, SpecifierSet, Version, canonicalize_name, parse_wheel_filename
from .backends import Backend
from .decision import Decision, admits_release, python_fits
from .extension_sources import (
    Settings,
    Source,
    Target,
    from_page,
    major_minor,
    mismatch,
    page_url,
    source_for,
    sources,
    user_gave_page,
)
from .installed import InstalledBuild, read_installed
from .lines import Line
from .pages import VERBOSE
from .run import Run
from .selection import torch_backend
from .urls import redact

if TYPE_CHECKING:
    from .offer import Offer

__all__ = ["target_torch", "target_from_decision", "installed_target", "installed_extensions", "page_for",
           "after_lookup", "prefers_page", "built_for_another_torch", "replaced_torch"]

logger = logging.getLogger("ltt_hook")


# --------------------------------------------------------------------------- the torch that decides


def backend_of(build: InstalledBuild) -> Backend:
    """An installed torch's backend: what its files name, else what its version says."""
    return build.backend or torch_backend(build.version)


def installed_target(build: InstalledBuild) -> Target:
    return Target(major_minor(build.version), backend_of(build), f"the installed torch {build.version}",
                  build.version)


def _public(specifiers: Mapping[str, Sequence[Any]]) -> Mapping[str, Tuple[SpecifierSet, ...]]:
    """The specifiers without local labels (``==2.5.1+cu118`` admits the 2.5 release)."""
    return {project: tuple(SpecifierSet(",".join(str(s).split("+", 1)[0] for s in spec)) for spec in specs)
            for project, specs in specifiers.items()}


def _newest_release(specifiers: Mapping[str, Sequence[Any]], backend: Backend) -> Optional[Version]:
    specifiers = _public(specifiers)
    here = sys.version_info[:2]
    fitting = [r for r in data.RELEASE_BACKENDS if python_fits(r, here) and admits_release(r, specifiers)]
    with_backend = [r for r in fitting if backend.name in data.RELEASE_BACKENDS[r].split()]
    pool = with_backend or fitting
    return Version(max(pool, key=Version)) if pool else None


def target_from_decision(decision: Decision, specifiers: Mapping[str, Sequence[Any]], why: str,
                         offer: Optional[Offer] = None) -> Optional[Target]:
    """The torch the decision expects (capped where an extension held torch back)."""
    if decision.why_off or decision.expected is None:
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


def _newest_offered(offer: Optional[Offer], specifiers: Mapping[str, Sequence[Any]],
                    backend: Backend) -> Optional[Version]:
    """The newest torch release the index offers with ``backend`` builds (``offer``, read by the run)."""
    if offer is None:
        return None
    public = _public(specifiers).get("torch", ())
    found = [major_minor(b.version) for b in offer.builds if b.backend == backend and not b.version.is_prerelease
             and all(spec.contains(b.version.public) for spec in public)]
    return max(found, default=None)


def target_torch(run: Run) -> Optional[Target]:
    """The torch the extensions of this run must fit: the installed torch when the run keeps
    it (what its files say it is), else the torch pip picked for this run (found best on the
    index, its real release and backend), else the one the hook would install."""
    installed = read_installed("torch")
    opts = run.options
    requested = "torch" in run.asked.requested
    specs = list(run.asked.specifiers.get("torch", ()))  # pip's own SpecifierSets
    if installed is not None:
        version = installed.version
        replaces = requested and (getattr(opts, "upgrade", False) or getattr(opts, "force_reinstall", False)
                                  or getattr(opts, "ignore_installed", False)
                                  or not all(s.contains(str(version), prereleases=True) for s in specs))
        if not replaces:
            return installed_target(installed)
    picked = _picked_torch(run, specs) if requested else run.lookup("torch").picked
    if picked is not None and picked[1] is not None:
        return Target(major_minor(picked[0]), picked[1], "the torch this run installs", picked[0])
    decision = run.decide("torch")  # made now, if not yet: from what the index offers of torch
    why = "the torch this run installs" if requested else "the torch `pip install torch` would install"
    offer = run.offer("torch") if decision.fixed is not None else None
    return target_from_decision(decision, run.request().specifiers, why, offer)


def _picked_torch(run: Run, specs: Sequence[Any]) -> Optional[Tuple[Version, Optional[Backend]]]:
    """The torch build pip finds best for this run's torch requirement: asked of pip's finder
    when torch was not looked up yet (pip caches the answer for its resolver)."""
    if run.lookup("torch").picked is None and run.finder is not None:
        specifier = SpecifierSet(",".join(str(s) for s in specs if str(s)))
        run.finder.find_best_candidate("torch", specifier=specifier)  # pip's: its errors are pip's
    return run.lookup("torch").picked


# --------------------------------------------------------------------------- inside pip


def page_for(run: Run, project: str, scope: Any) -> Optional[str]:
    """``LinkCollector.collect_sources`` for an extension project: the page to add as a
    find-links page for this project only (recorded in the run's :class:`~ltt_hook.run.Lookup`);
    None leaves pip alone."""
    source = source_for(run.config, project)
    if source is None or getattr(scope, "no_index", False) or user_gave_page(source, scope):
        return None
    if project in run.asked.hashed:
        return None
    lookup = run.lookup(project)
    if lookup.extension_page is not None:
        return lookup.extension_page[0]
    target = target_torch(run)
    if target is None:
        return None
    url = page_url(source, target.release, target.backend)
    if url is None:
        logger.log(VERBOSE, "ltt-hook: %s publishes no %s builds of %s; %s comes from your indexes",
                   source.publisher, target.backend.family, project, project)
        return None
    lookup.extension_page = (url, source, target)
    logger.log(VERBOSE, "ltt-hook: %s is also looked up on %s, built for torch %s (%s)", project, redact(url),
               target, target.why)
    return url


def insecure_page(run: Run, project: str) -> str:
    """The problem of an extension page that is not HTTPS (nor under --trusted-host)."""
    chosen = run.lookup(project).extension_page
    assert chosen is not None
    url, source, _ = chosen
    origin = "your [ltt] extensions" if not source.base else source.publisher
    return (f"ltt-hook: the extension page {redact(url)} ({origin}) is not HTTPS; add --trusted-host "
            "for its host if you trust it. Nothing was installed.")


def after_lookup(run: Run, project: str, outcome: Optional[Tuple[str, str]],
                 found: Sequence[Any] = ()) -> Tuple[Optional[str], Optional[Line]]:
    """``PackageFinder.find_all_candidates`` of an extension project, its page having answered
    ``outcome`` (the page log's): the problem that stops pip and the line to say, each if any.
    A page that could not be read stops pip; so does a page that is missing or holds no wheel of
    ``project`` for this target (pip would build it from source, against no particular torch),
    naming the newest torch release with one, unless the user asked for a source build
    (``--no-binary``: then one warning)."""
    chosen = run.lookup(project).extension_page
    if chosen is None:
        return None, None
    url, source, target = chosen
    if outcome is not None and outcome[0] == "failed":
        way_out = (f"point [ltt] extension-mirrors (LTT_EXTENSION_MIRRORS) at a mirror you can reach, "
                   f"{source.id}=URL" if source.base else "fix the URL in your [ltt] extensions")
        return (f"ltt-hook: could not read the extension page {redact(url)}: {outcome[1]}. Nothing was "
                f"installed; {project} is not taken from other pages instead ({way_out}; or set "
                "LTT_DISABLE=1 to leave it to your indexes)"), None
    if outcome is None or any(from_page(getattr(c, "link", None), url) for c in found):
        return None, None
    why = f"{redact(url)} answered {outcome[1]}" if outcome[0] == "missing" else f"{redact(url)} has none"
    newest = _newest_with_wheel(run, source, project, target)
    if newest is not None:
        better = (f"the newest torch release with one is {newest[0]} ({redact(newest[1])}): install "
                  f"torch=={newest[0]}.* with it")
    else:
        better = "no torch release before it has one either"
    if _source_build_asked(run, project):
        return None, Line(f"extension-source:{project}", logging.WARNING,
                          f"ltt-hook: {project} has no wheel for torch {target} on {source.publisher}'s pages "
                          f"({why}); pip builds it from source, as --no-binary asks.")
    return (f"ltt-hook: {project} has no wheel for torch {target} on {source.publisher}'s pages ({why}), so "
            f"pip would build it from source (a compiler and, for GPU code, the CUDA toolkit); {better}, "
            f"or ask for the source build with --no-binary {project}. Nothing was installed."), None


def _source_build_asked(run: Run, project: str) -> bool:
    no_binary = getattr(getattr(run.options, "format_control", None), "no_binary", None) or set()
    return ":all:" in no_binary or project in {canonicalize_name(n) for n in no_binary if n != ":all:"}


def _newest_with_wheel(run: Run, source: Source, project: str, target: Target) -> Optional[Tuple[Version, str]]:
    """The newest torch release (of the tables, target's backend) whose page has a wheel of
    ``project`` for this target, and that page; the publisher's listing spares missing pages."""
    wheels = run.wheels()
    if wheels is None:
        return None
    releases = [Version(r) for r, names in data.RELEASE_BACKENDS.items()
                if target.backend.name == "cpu" or target.backend.name in names.split()]
    newest = wheels.newest(source, project, target.backend, [r for r in releases if r != target.release])
    url = page_url(source, newest, target.backend) if newest is not None else None
    return (newest, url) if newest is not None and url is not None else None


def prefers_page(run: Optional[Run], project: str) -> Optional[str]:
    """The page whose builds pip should rank first for ``project`` in this run, if any."""
    if run is None:
        return None
    lookup = run.looked_up(canonicalize_name(project))
    chosen = lookup.extension_page if lookup is not None else None
    return chosen[0] if chosen else None


# --------------------------------------------------------------------------- after pip's resolver


def installed_extensions(config: Settings) -> List[Tuple[str, Version, Source]]:
    """The extension projects installed here: (project, version, its source)."""
    found: List[Tuple[str, Version, Source]] = []
    for source in sources(config):
        for project in source.projects:
            try:
                version = Version(importlib.metadata.version(project))
            except Exception:
                continue
            if all(p != project for p, _, _ in found):
                found.append((project, version, source))
    return found


def built_for_another_torch(run: Run, requirement_set: Any) -> List[Line]:
    """After pip's resolver: an extension build this run installs whose label names another torch
    release or backend than the torch the environment will run (a user's own page for another
    torch, a pin, a wheel file): one warning naming both."""
    requirements = getattr(requirement_set, "requirements", {}) or {}
    torch_link = getattr(requirements.get("torch"), "link", None)
    if torch_link is not None and getattr(torch_link, "is_wheel", False):
        torch = parse_wheel_filename(torch_link.filename)[1]
        backend = torch_backend(torch)
    else:
        build = read_installed("torch")
        if build is None:
            return []
        torch, backend = build.version, backend_of(build)
    lines = []
    for project in sorted(run.asked.extensions):
        link = getattr(requirements.get(project), "link", None)
        source = source_for(run.config, project)
        if link is None or source is None or not getattr(link, "is_wheel", False):
            continue
        version = parse_wheel_filename(link.filename)[1]
        why = mismatch(version, source, torch, backend)
        if why:
            lines.append(Line(f"another-torch:{project}", logging.WARNING,
                              f"ltt-hook: {project} {version} is built for another torch than torch {torch} "
                              f"(+{backend.name}) that this environment will run: {why}. They will not load "
                              "together; let ltt-hook choose its page (drop your own -f page for it), or install "
                              "the torch it was built for."))
    return lines


def replaced_torch(run: Run, requirement_set: Any) -> Optional[Line]:
    """After pip's resolver: when the run replaces torch (release or backend), the line that
    names the installed extensions built for the old torch, with the command that rebuilds them."""
    requirements = getattr(requirement_set, "requirements", {}) or {}
    ireq = requirements.get("torch")
    link = getattr(ireq, "link", None)
    if ireq is None or link is None or not getattr(link, "is_wheel", False):
        return None  # the run installs no torch: nothing of the environment to read
    build = read_installed("torch")
    if build is None:
        return None
    installed = build.version
    try:
        new = parse_wheel_filename(link.filename)[1]
    except Exception:
        return None
    if (major_minor(new), torch_backend(new)) == (major_minor(installed), backend_of(build)):
        return None
    stale = []
    for project, version, source in installed_extensions(run.config):
        if project in requirements:  # reinstalled by this run
            continue
        if source.label is None or not version.local or mismatch(version, source, new):
            stale.append((project, version))
    if not stale:
        return None
    names = " ".join(p for p, _ in stale)
    return Line("extensions-replaced", logging.WARNING,
                f"ltt-hook: this run replaces torch {installed} with {new}; "
                f"{', '.join(f'{p} {v}' for p, v in stale)} {'was' if len(stale) == 1 else 'were'} built for the "
                f"old torch. Reinstall for the new one afterwards: {os.path.basename(sys.executable)} -m pip install "
                f"--force-reinstall --no-deps {names}")
