"""What the index offers: every build of one PyTorch project that the target can install.

The PyTorch index has, beside one page per backend, one page per project and channel that lists
the builds of every backend (``<index>/<channel>/torch/``, pytorch/test-infra
``s3_management/manage_v2.py``: ``gen_file_list`` of the channel root). Read once, it tells which
releases exist and on which backend pages, whatever the tables expect: cu128 and cu129 gone in
2.12, cu129 back in 2.13, cu134 pulled from 2.14, no CUDA 12 in 2.15. :func:`read_offer` is pure:
it takes the page's bytes and the target's wheel tags (pip's own), and returns the builds. The
decision (:func:`ltt_hook.decision.decide`) then picks the best of them this machine runs, so the
first backend page pip reads is the one that holds it.

A mirror without such a page (a repository per backend) offers nothing here; the tables plan the
pages then, and a page that lacks a build hands over to the next.
"""

from __future__ import annotations

import re
from typing import AbstractSet, Dict, FrozenSet, NamedTuple, Optional, Tuple
from urllib.parse import unquote, urljoin

from ._packaging import InvalidVersion, Version, canonicalize_name
from .backends import Backend, backend_from_label, backend_from_url

__all__ = ["Build", "Offer", "read_offer"]

_HREF = re.compile(rb'href="([^"#]+\.whl)')



class Build(NamedTuple):
    """One build on the index: its version and backend (None: the file names none)."""

    version: Version
    backend: Optional[Backend]


class Offer(NamedTuple):
    """The builds of ``project`` on the page at ``url`` that the target's tags admit."""

    project: str
    url: str
    builds: FrozenSet[Build]


def _fits(tag_part: str, tags: AbstractSet[str]) -> bool:
    """Whether a wheel's (possibly compressed) ``py-abi-platform`` tag set meets ``tags``."""
    try:
        pys, abis, plats = tag_part.split("-")
    except ValueError:
        return False
    return any(f"{p}-{a}-{pl}" in tags for p in pys.split(".") for a in abis.split(".") for pl in plats.split("."))


def _build(project: str, url: str, folder: str, name: str, version: str) -> Optional[Build]:
    """The build ``name``-``version`` in ``folder`` (the link up to its last ``/``, or empty)."""
    if canonicalize_name(name) != project:
        return None
    try:
        parsed = Version(version)
    except InvalidVersion:
        return None
    backend = backend_from_label(parsed.local) or backend_from_url(urljoin(url, folder or "./"))
    return Build(parsed, backend)


def read_offer(project: str, url: str, body: bytes, tags: AbstractSet[str]) -> Offer:
    """The builds of ``project`` that ``body`` (the union page at ``url``) links, keeping only
    wheels whose tags meet ``tags`` (``cp311-cp311-manylinux_2_28_x86_64``...). A page lists each
    build once per Python and platform: each tag set and each (folder, name, version) is judged
    once."""
    builds = set()
    fits: Dict[str, bool] = {}
    judged: Dict[Tuple[str, str, str], Optional[Build]] = {}
    for href in _hrefs(tags).findall(body):
        folder, slash, file = href.decode("utf-8", "replace").rpartition("/")
        parts = unquote(file)[: -len(".whl")].split("-")
        if len(parts) not in (5, 6):
            continue
        tag_part = "-".join(parts[-3:])
        if tag_part not in fits:
            fits[tag_part] = _fits(tag_part, tags)
        if not fits[tag_part]:
            continue
        key = (folder, parts[0], parts[1])
        if key not in judged:
            judged[key] = _build(project, url, folder + slash, parts[0], parts[1])
        build = judged[key]
        if build is not None:
            builds.add(build)
    return Offer(project, url, frozenset(builds))


def _hrefs(tags: AbstractSet[str]) -> re.Pattern[bytes]:
    """The links to wheels of the target's ABIs (``-cp311-``, ``-abi3-``, ``-none-`` before the
    platform): one scan of the page, in the regular-expression engine; a page lists every Python
    and platform, and most of it is for other targets."""
    abis = sorted({tag.split("-")[1] for tag in tags if tag.count("-") == 2})
    if not abis:
        return _HREF
    either = b"|".join(re.escape(abi.encode()) for abi in abis)
    return re.compile(rb'href="([^"#]*-(?:' + either + rb')-[^"#-]*\.whl)')


def releases(offer: Offer) -> Tuple[Version, ...]:
    """The public versions the offer holds, newest first (for reports)."""
    return tuple(sorted({Version(b.version.public) for b in offer.builds}, reverse=True))
