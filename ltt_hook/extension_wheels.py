"""Which extension wheels exist: the publishers' pages read for one project, one torch and one target.

Extensions lag torch project by project (PyG's pyg-lib has wheels for torch 2.14 while
torch-scatter stops at 2.12), and a page for a torch release can exist and still lack the
project. :class:`Wheels` answers "does ``project`` have a wheel for torch ``release`` built for
``backend``, for this target's tags?" by reading the page (through pip's session, so pip's HTTP
cache applies), and learns which pages exist from the publisher's listing where it has one (PyG's
``whl/index.html``), so a page that does not exist costs no request. One instance per pip run;
nothing is kept at module level.
"""

from __future__ import annotations

import logging
from typing import AbstractSet, Callable, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple
from urllib.parse import unquote

from ._packaging import Version
from .backends import Backend
from .extension_sources import Source, page_url
from .offer import read_offer

__all__ = ["Wheels", "PAGE_BUDGET"]

logger = logging.getLogger("ltt_hook")

#: Pages one question may read (newest torch release first) before it gives up.
PAGE_BUDGET = 6

Fetch = Callable[[str], bytes]


class Wheels:
    """What the publishers' pages hold, for one target (its wheel tags)."""

    def __init__(self, fetch: Fetch, tags: AbstractSet[str]) -> None:
        self._fetch = fetch
        self._tags = tags
        self._bodies: Dict[str, Optional[bytes]] = {}
        self._listings: Dict[str, Optional[FrozenSet[str]]] = {}
        #: How many pages and listings were asked for (for tests and -v).
        self.requests = 0

    def _body(self, url: str) -> Optional[bytes]:
        if url not in self._bodies:
            self.requests += 1
            try:
                self._bodies[url] = self._fetch(url)
            except Exception as exc:  # missing or unreadable: no wheels there, as far as this answer goes
                logger.log(15, "ltt-hook: %s could not be read (%s)", url, exc)
                self._bodies[url] = None
        return self._bodies[url]

    def listed(self, source: Source) -> Optional[FrozenSet[str]]:
        """The page names the publisher's listing links (None: no listing, or unreadable)."""
        if not source.listing or not source.base:
            return None
        url = f"{source.base}/{source.listing}"
        if url not in self._listings:
            body = self._body(url)
            names = None
            if body is not None:
                import re

                names = frozenset(unquote(h.decode("utf-8", "replace")).rsplit("/", 1)[-1]
                                  for h in re.findall(rb'href="([^"#]+)', body))
            self._listings[url] = names
        return self._listings[url]

    def has_wheel(self, source: Source, project: str, release: Version, backend: Backend) -> bool:
        """Whether ``source`` has a wheel of ``project`` for torch ``release`` built for
        ``backend`` that this target can install."""
        url = page_url(source, release, backend)
        if url is None:
            return False
        listed = self.listed(source)
        if listed is not None and unquote(url.rsplit("/", 1)[-1]) not in listed:
            return False
        body = self._body(url)
        return body is not None and bool(read_offer(project, url, body, self._tags).builds)

    def newest(self, source: Source, project: str, backend: Backend, releases: Iterable[Version],
               budget: int = PAGE_BUDGET) -> Optional[Version]:
        """The newest of ``releases`` for which ``project`` has a wheel built for ``backend``
        (at most ``budget`` pages read)."""
        for release in sorted(set(releases), reverse=True)[:budget]:
            if self.has_wheel(source, project, release, backend):
                return release
        return None

    def first_fit(self, wanted: Sequence[Tuple[str, Source]], choices: Sequence[Tuple[Version, Backend]],
                  budget: int = PAGE_BUDGET) -> Tuple[Optional[Tuple[Version, Backend]], List[str]]:
        """The first of ``choices`` (torch release and backend, best first) for which every
        ``wanted`` project has a wheel, and the projects that lacked one in the choices before it
        (at most ``budget`` choices tried)."""
        lacking: List[str] = []
        for release, backend in list(choices)[:budget]:
            missing = [project for project, source in wanted if not self.has_wheel(source, project, release, backend)]
            if not missing:
                return (release, backend), lacking
            lacking += [p for p in missing if p not in lacking]
        return None, lacking
