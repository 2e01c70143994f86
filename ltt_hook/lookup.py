"""What a run learned of one project (:class:`Lookup`), and what its pages said after pip
looked it up: why it failed, the offline build to use instead, the page that served it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence, Tuple

from ._packaging import Version
from .backends import Backend
from .config import Config
from .decision import Decision
from .indexes import named_mirror
from .pages import PageLog
from .selection import release_of
from .urls import redact

if TYPE_CHECKING:
    from .adapters import FallbackSource
    from .extension_sources import Source

__all__ = ["Lookup", "page_problem", "offline_build", "nothing_on_named_mirror", "page_served"]


class Lookup:
    """What one run learned of one project it handles."""

    __slots__ = ("pages", "chain", "found", "picked", "extension_page")

    def __init__(self) -> None:
        #: The index pages (``…/cu126/torch/``) this project is looked up on.
        self.pages: List[str] = []
        #: Its backend pages as one lazily read pip source.
        self.chain: Optional[FallbackSource] = None
        #: The candidate list pip found (and caches) for it; later pages extend it in place.
        self.found: Optional[List[Any]] = None
        #: (version, backend) of the build pip found best for it.
        self.picked: Optional[Tuple[Version, Optional[Backend]]] = None
        #: An extension project: its publisher's page for the torch it must fit, the source and that torch.
        self.extension_page: Optional[Tuple[str, Source, Any]] = None


def page_problem(config: Config, project: str, lookup: Optional[Lookup], pages: PageLog) -> Optional[str]:
    """After a lookup: why the PyTorch index could not answer for ``project``, if so.

    Any page that could not be read fails the lookup (a missing better build must not
    go unnoticed); so does a project for which every page is missing. PyTorch packages
    are never taken from another index instead.
    """
    urls = lookup.pages if lookup is not None else []
    if not urls:
        return None
    outcomes = [(url, pages.get(url)) for url in urls]
    for url, outcome in outcomes:
        if outcome is not None and outcome[0] == "failed":
            if named_mirror(config, url):
                where = "your index URL, which is named after a PyTorch backend"
            else:
                where = config.origins["index-url"]
                where = "the default index" if where == "default" else where
            return (f"could not read {redact(url)}: {outcome[1]} (the PyTorch index comes from {where}; "
                    "set LTT_INDEX_URL or [ltt] index-url to a mirror you can reach, install from a folder "
                    "of wheels with --no-index -f DIR, or set LTT_DISABLE=1 to take PyTorch packages from "
                    "your own indexes)")
    missing = [(url, outcome) for url, outcome in outcomes if outcome is not None and outcome[0] == "missing"]
    if len(missing) == len(outcomes):
        url, (_, detail) = missing[0]
        return f"the PyTorch index has no page for {project} ({redact(url)} answered {detail})"
    return None


def offline_build(project: str, lookup: Optional[Lookup], pages: PageLog, decision: Optional[Decision],
                  backend_of: Callable[[str, Version, Any], Optional[Backend]], found: Sequence[Any]) -> Optional[str]:
    """When the PyTorch index could not be read: the build of ``found`` (pip's candidates,
    already judged) that lies on this machine (a --find-links folder or a file:// index) and
    is this machine's best build of its release, as ``torch 2.14.1+cu126 from DIR``; None
    when there is none, or when the index did answer."""
    failed = any((pages.get(url) or ("",))[0] == "failed" for url in (lookup.pages if lookup is not None else []))
    if not failed or decision is None:
        return None
    local = [c for c in found if str(getattr(c.link, "url", "")).startswith("file:")]
    for candidate in sorted(local, key=lambda c: Version(str(c.version)), reverse=True):
        version = Version(str(candidate.version))
        backend = backend_of(project, version, candidate.link)
        release = release_of(project, version)
        if backend is not None and release is not None and decision.best_for(release) == backend:
            where = str(candidate.link.url).rsplit("/", 1)[0]
            return f"{project} {version} from {redact(where)}"
    return None


def nothing_on_named_mirror(config: Config, project: str, lookup: Optional[Lookup],
                            found: Sequence[Any]) -> Optional[str]:
    """After a lookup on the user's own index named after a backend: why it is not a source of
    PyTorch builds (no build labelled for a backend there), if so."""
    urls = [u for u in (lookup.pages if lookup is not None else []) if named_mirror(config, u)]
    if not urls or found:
        return None
    url = urls[0].rstrip("/").rsplit("/", 1)[0]
    backend = named_mirror(config, url)
    template = url.replace(backend.name, "{backend}") if backend is not None else url
    return (f"your index {redact(url)} is named after the PyTorch backend {backend} but holds no {project} "
            f"build labelled for it; PyTorch packages are not taken from other indexes. If it mirrors the "
            f"PyTorch index, declare it: [ltt] index-url = {redact(template)} (LTT_INDEX_URL); or set "
            "LTT_DISABLE=1 to leave PyTorch packages to your indexes")


def page_served(lookup: Optional[Lookup], pages: PageLog) -> Optional[str]:
    """The page that served a project: the backend page that held a build serving the
    request, else the first of its pages that answered (fixed backends read them all)."""
    if lookup is None:
        return None
    if lookup.chain is not None:
        return lookup.chain.served
    for url in lookup.pages:
        outcome = pages.get(url)
        if outcome is not None and outcome[0] == "ok":
            return url
    return None
