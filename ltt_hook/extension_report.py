"""Extensions in reports and exports: ``python -m ltt_hook`` (the pages for this torch),
``check`` (installed extensions built for another torch) and ``requirements`` (their
``--find-links`` lines and pins)."""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import data
from ._packaging import NormalizedName, Version, canonicalize_name
from .backends import Backend
from .decision import Decision
from .extension_sources import Settings, Source, Target, major_minor, mismatch, page_url, source_for, sources
from .extension_wheels import Wheels
from .extensions import backend_of, installed_extensions, installed_target, target_from_decision
from .installed import read_installed
from .pages import fetch
from .selection import torch_backend
from .urls import redact

__all__ = ["check", "report", "render", "export"]


def check(config: Settings) -> Tuple[bool, List[str]]:
    """``python -m ltt_hook check``: installed extensions whose label does not match the torch."""
    build = read_installed("torch")
    if build is None:
        return True, []
    torch = build.version
    bad, lines = [], []
    for project, version, source in installed_extensions(config):
        why = mismatch(version, source, torch, backend_of(build))
        if why:
            bad.append(project)
            lines.append(f"{project} {version} does not match the installed torch: {why}.")
        elif source.label is not None and version.local:
            lines.append(f"{project} {version} matches the installed torch.")
    if bad:
        lines.append(f"Fix: {os.path.basename(sys.executable)} -m pip install --force-reinstall --no-deps "
                     + " ".join(bad))
    return not bad, lines


def report(config: Settings, decision: Decision) -> Dict[str, Any]:
    """The extension sources that apply to this environment, as plain data."""
    build = read_installed("torch")
    if build is not None:
        target: Optional[Target] = installed_target(build)
    else:
        target = target_from_decision(decision, {}, "the torch `pip install torch` would install")
    pages = []
    for source in sources(config):
        url = page_url(source, target.release, target.backend) if target else None
        newest = _newest_listed(source, target.backend) if target else None
        pages.append({"publisher": source.publisher, "projects": list(source.projects),
                      "page": redact(url) if url else None, "newest_torch_with_a_page": newest})
    return {"torch": str(target) if target else None, "why": target.why if target else None, "sources": pages}


def _newest_listed(source: Source, backend: Backend) -> Optional[str]:
    """The newest torch release the publisher's listing has a page for, built for ``backend``
    (one request, for a publisher with a listing; None otherwise or when it cannot be read)."""
    if not source.listing or not source.base:
        return None
    from pip._internal.network.session import PipSession

    with PipSession(retries=0) as session:
        session.timeout = 15
        wheels = Wheels(lambda url: fetch(session, url, "text/html"), frozenset())
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


def export(config: Settings, installs: Sequence[Mapping[str, Any]],
           torch_pin: Optional[str]) -> Tuple[List[str], Dict[NormalizedName, str]]:
    """For ``python -m ltt_hook requirements``: the ``--find-links`` lines and the pins of the
    extension projects among pip's ``installs`` (its ``--report``)."""
    build = read_installed("torch")
    torch = Version(torch_pin) if torch_pin else (build.version if build else None)
    if torch is None:
        return [], {}
    backend = torch_backend(torch) if torch_pin or build is None else backend_of(build)
    links: List[str] = []
    pins: Dict[NormalizedName, str] = {}
    for item in installs:
        meta = item.get("metadata", {})
        project = canonicalize_name(str(meta.get("name", "")))
        source = source_for(config, project)
        if source is None:
            continue
        pins[project] = str(meta.get("version"))
        url = page_url(source, major_minor(torch), backend)
        if url and f"--find-links {redact(url)}" not in links:
            links.append(f"--find-links {redact(url)}")
    return links, pins
