"""Index pages read through pip's session: how each answered, what a body is, and the
index's PEP 817 variants files.

:class:`PageLog` is what the wrappers record of every index page pip fetched (one per pip
process, kept by :class:`ltt_hook.process.PipProcess`); :class:`VariantFiles` reads the index's
variants files for torch releases the tables lack (one per pip process too); :func:`fetch` reads a
page the way pip does (its session: its cache, its authentication, its timeout).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Dict, Optional, Set, Tuple

from ._packaging import Version
from .urls import redact

if TYPE_CHECKING:
    from .variants import Facts

__all__ = ["PageLog", "VariantFiles", "Unavailable", "fetch", "index_page_problem", "network_cause", "VERBOSE"]

logger = logging.getLogger("ltt_hook")
VERBOSE = 15  # pip's level for -v


class PageLog:
    """How every index page fetched in this process answered: url -> (outcome, detail), the
    outcome being "ok", "missing" (HTTP 403/404) or "failed"."""

    def __init__(self) -> None:
        self.outcomes: Dict[str, Tuple[str, str]] = {}

    def record(self, url: str, outcome: str, detail: str = "") -> None:
        if url.startswith("file:") and url.endswith("/index.html"):  # pip reads a file:// directory's index.html
            url = url[: -len("index.html")]
        self.outcomes[url] = (outcome, detail)

    def get(self, url: str) -> Optional[Tuple[str, str]]:
        return self.outcomes.get(url)

    def record_failure(self, url: str, exc: BaseException) -> None:
        """pip could not fetch ``url``: HTTP 403/404 means the page does not exist."""
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (403, 404):
            self.record(url, "missing", f"HTTP {status}")
        else:
            self.record(url, "failed", redact(network_cause(exc, status)))

    def record_answer(self, url: str, body: bytes) -> None:
        """pip fetched ``url``: it counts only if it is a package index page."""
        problem = index_page_problem(body)
        self.record(url, "failed" if problem else "ok", problem or "")


_CAUSES = (
    (("nameresolution", "name or service not known", "getaddrinfo", "nodename nor servname",
      "temporary failure in name resolution", "no address associated"), "the host name does not resolve (DNS)"),
    (("connection refused", "errno 111", "winerror 10061"), "the connection was refused"),
    (("timed out", "timeout"), "the connection timed out"),
    (("ssl", "certificate", "tls"), "the TLS handshake failed (certificate or proxy)"),
    (("proxy",), "the proxy failed"),
)


def network_cause(exc: BaseException, status: Optional[int] = None) -> str:
    """What went wrong reading a page, in words a user can act on (pip's own exception types
    differ between pip releases; their texts name the cause)."""
    if status is not None:
        return f"HTTP {status}"
    texts = []
    seen: Set[int] = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        extra = f"{getattr(current, 'reason', '')} {getattr(current, 'context', '')}"
        texts.append(f"{type(current).__name__} {current} {extra}")
        current = current.__cause__ or current.__context__
    text = " ".join(texts).lower()
    for needles, cause in _CAUSES:
        if any(n in text for n in needles):
            return cause
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def index_page_problem(body: bytes) -> Optional[str]:
    """Why ``body`` is not a PEP 503 (HTML) or PEP 691 (JSON) project page; None if it is one.

    A proxy's or captive portal's login page is HTML too: a password field gives it away (an
    index page has none; devpi's pages do carry a form, its "Refresh" button), and so does a form
    on a page that links no file."""
    lower = body.lower()
    if body.lstrip()[:1] == b"{":
        return None if b'"files"' in lower else "the answer is JSON but not a project page (no \"files\")"
    if _PASSWORD.search(lower) or (b"<form" in lower and b"<a " not in lower):
        return "the answer is not an index page (an HTML form: a login or proxy page)"
    if b"<a " in lower or b"<html" in lower or b"</html>" in lower:
        return None
    return "the answer is not an index page (malformed HTML)"


_PASSWORD = re.compile(rb"""type\s*=\s*["']?password""")

class Unavailable(Exception):
    """A variants page or file that is not there (HTTP 403/404) or could not be read."""


class VariantFiles:
    """The index's PEP 817 variants files (:mod:`ltt_hook.variants`) read in this process: for a
    torch release the tables lack, the channel's ``variant/torch/`` page (once per channel) and
    that release's file (once per release), at most two requests. They are read through pip's
    session: pip's HTTP cache and the index's cache headers apply (``--no-cache-dir`` reads
    again). A file that is missing, unreadable or not a variants file teaches nothing (one
    ``-v`` line; the conservative rules judge); it never stops pip."""

    def __init__(self) -> None:
        #: page URL -> version -> file URL; None when the page could not be read
        self.pages: Dict[str, Optional[Dict[Version, str]]] = {}
        #: (channel URL, release) -> what its file taught; None when nothing
        self.learned: Dict[Tuple[str, Version], Optional[Facts]] = {}

    def facts(self, session: Any, channel_url: str, release: Version) -> Optional[Facts]:
        """What the variants file of torch ``release`` on ``channel_url`` says; None when nothing
        (asked once per process, whatever the answer)."""
        key = (channel_url, release)
        if key not in self.learned:
            self.learned[key] = None
            try:
                self.learned[key] = self._read(session, channel_url, release)
            except Exception as exc:  # whatever the file or the network did: conservative rules
                logger.log(VERBOSE, "ltt-hook: torch %s is not in ltt-hook's tables and its variants file gives "
                           "no GPU architectures (%s); the conservative rules judge its builds", release,
                           str(exc) if isinstance(exc, Unavailable) else redact(network_cause(exc)))
        return self.learned[key]

    def _read(self, session: Any, channel_url: str, release: Version) -> Optional[Facts]:
        from . import variants

        page = f"{channel_url}/variant/torch/"
        if page not in self.pages:
            self.pages[page] = None
            self.pages[page] = variants.links(fetch(session, page, "text/html"), page)
        found = self.pages[page]
        if found is None:
            raise Unavailable(f"{redact(page)} could not be read")
        url = variants.newest(found, release)
        if url is None:
            raise Unavailable(f"{redact(page)} links no torch-{release}.*-variants.json")
        where = redact(url.split("#", 1)[0])
        body = fetch(session, url, "application/json")
        problem = variants.hash_problem(url, body)
        facts: Optional[Facts] = None
        try:
            facts = None if problem else variants.parse(body, where)
        except variants.VariantsError as exc:
            problem = str(exc)
        if facts is None or facts.empty:
            raise Unavailable(f"{where}: {problem or 'it names no GPU architectures'}")
        listed = [f"{name} {' '.join('%d.%d%s' % (a[0], a[1], '+PTX' if a[2] else '') for a in arches)}"
                  for name, arches in sorted(facts.cuda.items())]
        listed += [f"{name} {' '.join(sorted(gfx))}" for name, gfx in sorted(facts.rocm.items())]
        logger.log(VERBOSE, "ltt-hook: torch %s is not in ltt-hook's tables; its builds for %s are judged by "
                   "%s: %s", release, facts.platform, facts.source, "; ".join(listed))
        return facts


def fetch(session: Any, url: str, accept: str) -> bytes:
    """``url``'s body, through pip's session (its cache, its authentication, its timeout)."""
    if session is None:
        raise Unavailable("no pip session")
    if url.startswith("file:") and url.endswith("/"):
        url += "index.html"  # a file:// index: the directory's page, as pip reads it
    url = url.split("#", 1)[0]  # the hash is checked on the body; a fragment would miss pip's HTTP cache
    response = session.get(url, headers={"Accept": accept})
    status = response.status_code
    if status in (403, 404):
        raise Unavailable(f"{redact(url)} answered HTTP {status}")
    response.raise_for_status()
    return bytes(response.content)
