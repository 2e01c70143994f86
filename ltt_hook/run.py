"""One pip command as ltt-hook sees it: the configuration, what the user asked for, the
decision, and how every PyTorch index page answered.

The patch (:mod:`ltt_hook.wrappers`) keeps one :class:`Run` on pip's ``LinkCollector``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import sysconfig
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

from . import config as config_mod, data, detection
from ._packaging import InvalidVersion, SpecifierSet, Version
from .backends import Backend, backend_from_label, backend_from_url, backend_in_repository
from .decision import Decision, Environment, Request, decide
from .safety import note_once, stop
from .selection import pypi_backend, release_of, tables_know

if TYPE_CHECKING:
    from .offer import Offer
    from .variants import Facts

__all__ = ["Run", "PageLog", "PAGES", "VariantFiles", "VARIANTS", "PYTORCH", "VERBOSE", "allow_prereleases", "fetch",
           "Unavailable"]

logger = logging.getLogger("ltt_hook")
VERBOSE = 15  # pip's level for -v
PYTORCH = data.BACKEND_BUILT | data.TRITON_BUILDS
_PUBLIC_HOSTS = ("download.pytorch.org", "download-r2.pytorch.org")
#: Projects whose versions follow torch's releases (:func:`ltt_hook.selection.release_of`).
_FOLLOWS_TORCH = ("torch", "torchvision", "torchaudio")
_redact = config_mod.redact


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
            self.record(url, "failed", _redact(network_cause(exc, status)))

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

PAGES = PageLog()


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
                           str(exc) if isinstance(exc, Unavailable) else _redact(network_cause(exc)))
        return self.learned[key]

    def _read(self, session: Any, channel_url: str, release: Version) -> Optional[Facts]:
        from . import variants

        page = f"{channel_url}/variant/torch/"
        if page not in self.pages:
            self.pages[page] = None
            self.pages[page] = variants.links(fetch(session, page, "text/html"), page)
        found = self.pages[page]
        if found is None:
            raise Unavailable(f"{_redact(page)} could not be read")
        url = variants.newest(found, release)
        if url is None:
            raise Unavailable(f"{_redact(page)} links no torch-{release}.*-variants.json")
        where = _redact(url.split("#", 1)[0])
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
        raise Unavailable(f"{_redact(url)} answered HTTP {status}")
    response.raise_for_status()
    return bytes(response.content)


VARIANTS = VariantFiles()


class Run:
    """One pip command's view: configuration, what the user asked for, and the decision."""

    def __init__(self, options: Any, config: config_mod.Config, error: Optional[str] = None) -> None:
        self.options = options
        self.config = config
        #: A configuration value that cannot be used: it stops pip once a PyTorch project is involved.
        self.error = error
        self.requested: Set[str] = set()  # PyTorch projects named as requirements
        self.hashed: Set[str] = set()  # PyTorch projects with --hash options
        self.pins: Set[Backend] = set()  # backends of explicit +label pins
        self.redirected: Dict[str, List[str]] = {}  # project -> PyTorch index pages consulted
        self.specifiers: Dict[str, List[Any]] = {}  # project -> specifiers (requirements, constraints)
        self._decision: Optional[Decision] = None
        #: What the environment held when the decision was made (None before).
        self.environment: Optional[Environment] = None
        #: project -> its backend pages as one lazily read pip source (wrappers.FallbackSource)
        self.chains: Dict[str, Any] = {}
        #: project -> the candidate list pip found (and caches) for it
        self.found: Dict[str, List[Any]] = {}
        self.transport_checked = False
        #: pip's session (:func:`ltt_hook.wrappers.collector_create`), for the index's variants files
        self.session: Any = None
        self._releases_seen: Set[Tuple[str, Tuple[int, ...]]] = set()
        #: The wheel tags of pip's target (``cp311-cp311-manylinux_2_28_x86_64``...), once pip's
        #: finder was seen (:meth:`see_target`); they filter what the index offers.
        self.tags: Optional[FrozenSet[str]] = None
        #: project -> (version, backend) of the build pip found best for it in this run.
        self.picked: Dict[str, Tuple[Version, Optional[Backend]]] = {}
        #: pip's PackageFinder of this run (for the torch an extension must fit).
        self.finder: Any = None
        #: Extension projects named as requirements (their publishers' pages: ltt_hook.extensions).
        self.extension_requests: Set[str] = set()
        #: What the publishers' pages hold, read once per run (:mod:`ltt_hook.extension_wheels`).
        self.extension_wheels: Any = None
        #: project -> what the index's channel page of it offers (None: not readable)
        self._offers: Dict[str, Optional[Offer]] = {}
        self._machine: Optional[detection.Machine] = None

    # -- what the user said explicitly

    def is_pytorch_index(self, url: str) -> bool:
        if self.config.serves(url):
            return True
        url = url.rstrip("/")
        base = data.DEFAULT_INDEX_URL
        if url == base or url.startswith(base + "/"):
            return True
        return any(f"//{host}/whl" in url for host in _PUBLIC_HOSTS)

    def user_pytorch_indexes(self, index_urls: List[str]) -> List[str]:
        """The user's index URLs that are PyTorch indexes: on the PyTorch index (or its configured
        mirror), or a repository named after a backend (a company mirror's ``pytorch-cu126``)."""
        return [u for u in index_urls if self.is_pytorch_index(u) or self.named_mirror(u)]

    def named_mirror(self, url: str) -> Optional[Backend]:
        """The backend of a user's index URL that is not the PyTorch index but is named after a
        backend (``…/pytorch-cu126/simple``); None otherwise."""
        return None if self.is_pytorch_index(url) else backend_in_repository(url)

    def _environment(self) -> Environment:
        """The installed torch (read from its own files), and whether this run may keep it."""
        from .installed import read_installed

        opts = self.options
        keeps = not (getattr(opts, "ignore_installed", True) or getattr(opts, "target_dir", None)
                     or getattr(opts, "upgrade_strategy", "") == "eager")
        build = read_installed("torch")
        if build is None:
            return Environment(keeps_installed=keeps)
        return Environment(torch=build.version, keeps_installed=keeps, torch_backend=build.backend,
                           torch_evidence=build.evidence)

    def see_target(self, finder: Any) -> None:
        """Remember pip's finder and its target's wheel tags (once per run)."""
        if self.tags is not None:
            return
        self.finder = finder
        target = getattr(finder, "target_python", None)
        get = getattr(target, "get_sorted_tags", None) or getattr(target, "get_tags", None)
        self.tags = frozenset(str(tag) for tag in get()) if get is not None else frozenset()

    def request(self, index_urls: List[str]) -> Request:
        url_backends = {b for b in (backend_from_url(u) or self.named_mirror(u)
                                    for u in self.user_pytorch_indexes(index_urls)) if b}
        opts = self.options
        python, free_threaded = self._target_python()
        return Request(requested=frozenset(self.requested),
                       specifiers={k: tuple(SpecifierSet(str(s)) for s in v) for k, v in self.specifiers.items()},
                       pins=frozenset(self.pins), index_backends=frozenset(url_backends), python=python,
                       cross_target=bool(getattr(opts, "platforms", None)), free_threaded=free_threaded)

    def _target_python(self) -> Tuple[Optional[Tuple[int, int]], bool]:
        """The Python the run installs for, and whether it is a free-threaded build: this
        interpreter, or ``--python-version`` (with ``--abi cp313t`` for a free-threaded one);
        None when ``--python-version`` names no minor version."""
        opts = self.options
        given = getattr(opts, "python_version", None)  # pip parses "3.13" into (3, 13)
        if not given:
            return sys.version_info[:2], bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
        if len(given) < 2:
            return None, False
        abis = getattr(opts, "abis", None) or []
        return (int(given[0]), int(given[1])), any(str(abi).endswith("t") for abi in abis)

    def decision(self, index_urls: List[str], project: Optional[str] = None) -> Decision:
        """The decision, made once per run (:func:`ltt_hook.decision.decide`), from what the
        index offers of ``project`` (the first PyTorch project looked up) where it can tell."""
        if self._decision is None:
            request = self.request(index_urls)
            needs_machine = not request.cross_target or self.config.backends is not None
            cache = getattr(self.options, "cache_dir", None)  # False with --no-cache-dir
            machine = (detection.detect(overrides=self.config.overrides,
                                        cache_dir=os.path.join(cache, "ltt-hook") if cache else None)
                       if needs_machine else None)
            self.environment = self._environment()
            self._machine = machine
            offer = self._offer(project, request) if machine is not None else None
            learned = self._variants(offer)
            self._decision = decide(self.config, machine, request, self.environment, offer, learned)
            if self.extension_requests and not self._decision.off:
                self._decision = self._held_back(self._decision, machine, request, offer, learned)
            log_decision(self, self._decision)
        return self._decision

    def _torch_free(self, decision: Decision) -> bool:
        """Whether this run may choose torch's release: torch is not pinned to one release (a
        version or a +label) and no installed torch is kept."""
        if decision.fixed_by.startswith("the installed torch") or self.pins:
            return False
        for spec in (s for specs in self.specifiers.get("torch", []) for s in specs):
            if spec.operator in ("==", "===") and not spec.version.endswith(".*"):
                return False
        return True

    def _held_back(self, decision: Decision, machine: Optional[detection.Machine], request: Request,
                   offer: Optional[Offer], learned: Dict[Version, Facts]) -> Decision:
        """With extensions asked for and torch free: the newest torch release this machine runs
        for which every extension asked for has a wheel (its pages read, newest first). The
        decision is taken again, capped at that release, with one line naming who held torch
        back; unchanged when the newest release fits, or none does within the page budget."""
        from types import SimpleNamespace

        from .extension_wheels import Wheels
        from .extensions import page_url, source_for, user_gave_page

        if not self._torch_free(decision) or not decision.choices or self.tags is None:
            return decision
        opts = self.options
        given = SimpleNamespace(find_links=list(getattr(opts, "find_links", None) or []),
                                index_urls=[getattr(opts, "index_url", None) or "",
                                            *(getattr(opts, "extra_index_urls", None) or [])])
        wanted = [(p, s) for p in sorted(self.extension_requests)
                  if (s := source_for(self.config, p)) is not None and not user_gave_page(s, given)]
        if not wanted:  # the user names the pages: their choice stands
            return decision
        session = self.session
        wheels = self.extension_wheels or Wheels(lambda url: fetch(session, url, "text/html"), self.tags, page_url)
        self.extension_wheels = wheels
        fit, lacking = wheels.first_fit(wanted, decision.choices)
        if fit is None or fit == decision.choices[0]:
            return decision
        release, backend = fit
        newest, newest_backend = decision.choices[0]
        publishers = ", ".join(sorted({s.publisher for p, s in wanted if p in lacking}))
        note = (f"{', '.join(lacking)} {'has' if len(lacking) == 1 else 'have'} no wheels for torch "
                f"{newest}+{newest_backend} on {publishers}'s pages; choosing torch {release}+{backend}, the newest "
                f"release with wheels of every extension asked for (pin torch, such as torch=={newest}.*, to choose "
                "otherwise)")
        return decide(self.config, machine, request, self.environment or Environment(), offer, learned,
                      hold=(release, note))

    def _variants(self, offer: Optional[Offer]) -> Dict[Version, Facts]:
        """What the index's variants files say of the offered releases the tables lack (stable
        and test channels; PyTorch publishes none for nightlies): at most the variants page and
        one file per such release, once per process."""
        learned: Dict[Version, Facts] = {}
        if offer is None:
            return learned
        releases = {release_of(offer.project, b.version) for b in offer.builds
                    if b.backend is not None and b.backend.is_gpu and not b.version.is_devrelease}
        for release in sorted((r for r in releases if r is not None and not tables_know(r)), reverse=True):
            facts = VARIANTS.facts(self.session, self.config.channel_url, release)
            if facts is not None:
                learned[release] = facts
        return learned

    def _offer(self, project: Optional[str], request: Request) -> Optional[Offer]:
        """What the channel's page of ``project`` offers (one request, through pip's session and
        cache), when the machine may decide; None when nothing fixes it that way, or the page is
        missing or unreadable (then the tables plan the pages)."""
        if request.pins or request.index_backends or self.config.backends is not None:
            return None
        machine, environment = self._machine, self.environment
        kept = environment is not None and environment.torch is not None and environment.keeps_installed
        if getattr(self.options, "no_index", False) or machine is None or (not machine.gpus and not kept):
            return None  # no index to read; or no GPU: the CPU build is the only one this machine runs
        return self.offer(project)

    def offer(self, project: Optional[str]) -> Optional[Offer]:
        """What the channel's page of ``project`` offers this target (read once per run)."""
        if project not in _FOLLOWS_TORCH or not self.tags:
            return None
        if project not in self._offers:
            self._offers[project] = self._read_offer(project)
        return self._offers[project]

    def _read_offer(self, project: str) -> Optional[Offer]:
        from .offer import read_offer

        assert self.tags is not None
        url = self.config.project_page(project)
        if url is None:
            return None
        try:
            body = fetch(self.session, url, "text/html")
        except Exception as exc:
            logger.log(VERBOSE, "ltt-hook: %s offers nothing readable (%s); the tables plan the pages", _redact(url),
                       str(exc) if isinstance(exc, Unavailable) else _redact(network_cause(exc)))
            return None
        if index_page_problem(body) is not None:
            return None
        offer = read_offer(project, url, body, self.tags)
        logger.log(VERBOSE, "ltt-hook: %s offers %d builds for this target", _redact(url), len(offer.builds))
        return offer

    # -- decisions

    def applies(self, project: str, index_urls: List[str]) -> bool:
        """Whether the hook handles ``project`` at all in this run."""
        if project not in PYTORCH:
            return False
        if self.error:
            raise stop(f"{self.error}. Nothing was installed.")
        if project in self.hashed:  # hashes are the user's choice: source and build stay theirs
            note_once(f"hashed:{project}", "ltt-hook: %s is pinned by hash; its index and build are "
                       "left to your requirements.", project)
            return False
        decision = self.decision(index_urls, project)
        if decision.off:
            note_once("off", "ltt-hook: %s; PyTorch packages come from your indexes as they are.",
                      decision.off, level=logging.WARNING)
            return False
        return True

    def redirect(self, project: str, index_urls: List[str]) -> Optional[List[str]]:
        """The index URLs to use for ``project`` instead of the user's; None keeps them.

        A PyTorch project comes only from PyTorch index pages: the user's own PyTorch index
        URLs when there are any (never the other indexes beside them), else the configured
        base, one backend page after the other."""
        if not index_urls or not self.applies(project, index_urls):
            return None
        users = [u.rstrip("/") for u in self.user_pytorch_indexes(index_urls)]
        if users:
            if project in data.TRITON_BUILDS:  # triton lives on the channel, beside the backends
                users += [u.rsplit("/", 1)[0] for u in users if backend_from_url(u + "/")]
            urls = list(dict.fromkeys(users))
            self.redirected[project] = [f"{u}/{project}/" for u in urls]
            logger.log(VERBOSE, "ltt-hook: %s is looked up on your PyTorch index URLs only: %s", project,
                       ", ".join(map(_redact, urls)))
            return urls
        decision = self.decision(index_urls)
        if project in data.TRITON_BUILDS:  # one wheel for every backend: the channel's page, else the plan's first
            base = self.config.channel_url if not self.config.is_template else self.config.page(decision.plan[0])
            self.redirected[project] = [f"{base}/{project}/"]
            return [base]
        pages = [self.config.page(b) for b in decision.plan]
        self.redirected[project] = [f"{page}/{project}/" for page in pages]
        how = "the first of" if not decision.consults_every_page and len(pages) > 1 else "on"
        logger.log(VERBOSE, "ltt-hook: %s is looked up %s %s", project, how, ", ".join(map(_redact, pages)))
        return pages

    def page_problem(self, project: str) -> Optional[str]:
        """After a lookup: why the PyTorch index could not answer for ``project``, if so.

        Any page that could not be read fails the lookup (a missing better build must not
        go unnoticed); so does a project for which every page is missing. PyTorch packages
        are never taken from another index instead.
        """
        urls = self.redirected.get(project)
        if not urls:
            return None
        outcomes = [(url, PAGES.get(url)) for url in urls]
        for url, outcome in outcomes:
            if outcome is not None and outcome[0] == "failed":
                if self.named_mirror(url):
                    where = "your index URL, which is named after a PyTorch backend"
                else:
                    where = self.config.origins["index-url"]
                    where = "the default index" if where == "default" else where
                return (f"could not read {_redact(url)}: {outcome[1]} (the PyTorch index comes from {where}; "
                        "set LTT_INDEX_URL or [ltt] index-url to a mirror you can reach, install from a folder "
                        "of wheels with --no-index -f DIR, or set LTT_DISABLE=1 to take PyTorch packages from "
                        "your own indexes)")
        missing = [(url, outcome) for url, outcome in outcomes if outcome is not None and outcome[0] == "missing"]
        if len(missing) == len(outcomes):
            url, (_, detail) = missing[0]
            return f"the PyTorch index has no page for {project} ({_redact(url)} answered {detail})"
        return None

    def offline_build(self, project: str, found: Sequence[Any]) -> Optional[str]:
        """When the PyTorch index could not be read: the build of ``found`` (pip's candidates,
        already judged) that lies on this machine (a --find-links folder or a file:// index) and
        is this machine's best build of its release, as ``torch 2.14.1+cu126 from DIR``; None
        when there is none, or when the index did answer."""
        failed = any((PAGES.get(url) or ("",))[0] == "failed" for url in self.redirected.get(project, []))
        decision = self._decision
        if not failed or decision is None:
            return None
        local = [c for c in found if str(getattr(c.link, "url", "")).startswith("file:")]
        for candidate in sorted(local, key=lambda c: Version(str(c.version)), reverse=True):
            version = Version(str(candidate.version))
            backend = self.backend_of(project, version, candidate.link)
            release = release_of(project, version)
            if backend is not None and release is not None and decision.best_for(release) == backend:
                where = str(candidate.link.url).rsplit("/", 1)[0]
                return f"{project} {version} from {_redact(where)}"
        return None

    def nothing_on_named_mirror(self, project: str, found: Sequence[Any]) -> Optional[str]:
        """After a lookup on the user's own index named after a backend: why it is not a source of
        PyTorch builds (no build labelled for a backend there), if so."""
        urls = [u for u in self.redirected.get(project, []) if self.named_mirror(u)]
        if not urls or found:
            return None
        url = urls[0].rstrip("/").rsplit("/", 1)[0]
        backend = self.named_mirror(url)
        template = url.replace(backend.name, "{backend}") if backend is not None else url
        return (f"your index {_redact(url)} is named after the PyTorch backend {backend} but holds no {project} "
                f"build labelled for it; PyTorch packages are not taken from other indexes. If it mirrors the "
                f"PyTorch index, declare it: [ltt] index-url = {_redact(template)} (LTT_INDEX_URL); or set "
                "LTT_DISABLE=1 to leave PyTorch packages to your indexes")

    def first_page_read(self, project: str) -> Optional[str]:
        """The first of ``project``'s pages that answered (fixed backends read them all)."""
        for url in self.redirected.get(project, []):
            outcome = PAGES.get(url)
            if outcome is not None and outcome[0] == "ok":
                return url
        return None

    def what_happened(self, page: str, project: str = "torch", found: Sequence[Any] = ()) -> str:
        """The one line of a pip run that resolves a PyTorch project: the backend, what chose
        it (the GPUs and driver, or the setting), and the index page. The tables' "choosing
        torch R" note is repeated only when ``found`` (pip's candidates from the pages read)
        agrees: its newest build this run admits is of release R."""
        decision = self._decision
        backend = self.config.backend_of(page) or backend_from_url(page)
        name = backend.name if backend else "this index's builds"
        index = _redact(page.rstrip("/").rsplit("/", 1)[0] if page.rstrip("/").endswith(tuple(PYTORCH)) else page)
        if decision is None:
            why = ""
        elif decision.fixed is not None:
            why = f" ({decision.fixed_by})"
        elif decision.machine is not None and decision.machine.gpus:
            gpus = ", ".join(sorted({g.name for g in decision.machine.gpus}))
            driver = decision.machine.nvidia_driver
            why = f" for {gpus}" + (f" (NVIDIA driver {driver})" if driver else "")
        else:
            why = " (no GPU that PyTorch can use was found)"
        unconfirmed = self._unconfirmed(project, found)
        notes = "".join(f"; {note}" for note in decision.notes if note != unconfirmed) if decision is not None else ""
        if compiling():
            notes += (f"; pip-compile pins them, so where ltt-hook is not installed add `--extra-index-url "
                      f"{index}` to requirements.in (or use `python -m ltt_hook requirements`)")
        return f"ltt-hook: PyTorch packages are {name} builds{why}, from {index}{notes}."

    def _unconfirmed(self, project: str, found: Sequence[Any]) -> Optional[str]:
        """The decision's fallback note when the pages read do not bear it out, else None."""
        decision = self._decision
        if decision is None or decision.fallback is None:
            return None
        note, release = decision.fallback
        specifiers = [SpecifierSet(str(spec)) for spec in self.specifiers.get(project, [])]
        versions = [(Version(str(c.version)), c.link) for c in found]  # pip's Version may be another copy's
        admitted = [v for v, link in versions if decision.admits(project, v, specifiers)
                    and decision.rejects(project, v, self.backend_of(project, v, link)) is None]
        newest = max(admitted, default=None)
        return None if newest is not None and release_of(project, newest) == Version(release) else note

    def backend_of(self, project: str, version: Version, link: Any) -> Optional[Backend]:
        """A build's backend: its local label, else its PyTorch index page, else (for an
        unlabelled torch found elsewhere, i.e. PyPI's build) PyPI's CUDA flavour."""
        backend = backend_from_label(version.local)
        if backend is not None:
            return backend
        page = getattr(link, "comes_from", None)
        page_url = getattr(page, "url", page) if page is not None else None
        for url in (page_url, getattr(link, "url", None)):
            if isinstance(url, str) and self.is_pytorch_index(url.split("#")[0]):
                backend = self.config.backend_of(url) or backend_from_url(url)
                if backend is not None:
                    return backend
        release = release_of(project, version)
        if release is None:
            return None
        return pypi_backend(release)

    def _from_named_mirror(self, link: Any) -> bool:
        page = getattr(link, "comes_from", None)
        url = getattr(page, "url", page)
        return isinstance(url, str) and self.named_mirror(url) is not None

    def pick(self, project: str, candidate: Any) -> None:
        """pip found ``candidate`` the best build of ``project`` (its resolver tries it first)."""
        try:
            version = Version(str(candidate.version))
        except InvalidVersion:
            return
        self.picked[project] = (version, self.backend_of(project, version, candidate.link))

    def serves(self, project: str) -> Any:
        """A test for a candidate found on a backend page: does it serve the request?"""
        specifiers = [SpecifierSet(str(s)) for s in self.specifiers.get(project, [])]
        decision = self._decision

        def serves(candidate: Any) -> bool:
            try:
                version = Version(str(candidate.version))
            except InvalidVersion:
                return False
            return decision is None or decision.admits(project, version, specifiers)

        return serves

    def rejects(self, project: str, version_text: str, link: Any, index_urls: List[str]) -> Optional[str]:
        decision = self.decision(index_urls)
        try:
            version = Version(version_text)
        except InvalidVersion:
            return None
        backend = self.backend_of(project, version, link)
        if backend is not None and backend.is_gpu and decision.fixed is None and not decision.off:
            self._learn(decision, project, version)
        if backend is None and release_of(project, version) is not None and not decision.off:
            return ("is an unlabelled build from outside the PyTorch index of a release ltt-hook does not "
                    "know: PyPI's CUDA build of an unknown CUDA version, not runnable unless proven")
        if version.local is None and not decision.off and self._from_named_mirror(link):
            return ("is an unlabelled build on an index that is not the PyTorch index: only builds labelled "
                    "for a backend are taken from it")
        return decision.rejects(project, version, backend)


    def _learn(self, decision: Decision, project: str, version: Version) -> None:
        """The first GPU build of a torch release the tables lack (of torch or a companion whose
        version follows torch's) reads the index's variants file of that release, so that the
        builds of both are judged alike (:class:`VariantFiles`)."""
        seen = (project, tuple(version.release[:2]))
        if seen in self._releases_seen:  # pip evaluates every link of every page: once per release
            return
        self._releases_seen.add(seen)
        release = release_of(project, version)
        if release is None or tables_know(release) or decision.learned(release) is not None:
            return
        if version.is_devrelease:  # a nightly: PyTorch publishes variants files for the stable and
            return  # test channels only (whl/variant/, whl/test/variant/), so asking would cost a request
        facts = VARIANTS.facts(self.session, self.config.channel_url, release)
        if facts is not None:
            decision.learn(release, facts)


class _PreReleasesFor:
    """pip 26's release control, but pre-releases allowed for one project unless the user
    said otherwise (``--only-final``)."""

    def __init__(self, inner: Any, project: str) -> None:
        self._inner, self._project = inner, project

    def allows_prereleases(self, name: Any) -> Optional[bool]:
        said = self._inner.allows_prereleases(name) if self._inner is not None else None
        return True if said is None and name == self._project else said

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)


def allow_prereleases(evaluator: Any, project: str) -> None:
    """The test and nightly channels carry pre-releases only: allow them for PyTorch
    projects without ``--pre``, and for nothing else."""
    if hasattr(evaluator, "_release_control"):  # pip 26.0+
        evaluator._release_control = _PreReleasesFor(evaluator._release_control, project)
    elif hasattr(evaluator, "_allow_all_prereleases"):  # pip <= 25.3
        evaluator._allow_all_prereleases = True


def compiling() -> bool:
    """Whether pip-tools' pip-compile is the program (it writes pins for other machines too)."""
    main = sys.modules.get("__main__")
    spec = getattr(getattr(main, "__spec__", None), "name", "") or ""
    script = (sys.argv or [""])[0].replace("\\", "/").rsplit("/", 1)[-1].lower()
    return spec.startswith("piptools") and "compile" in sys.argv[1:2] or script.startswith("pip-compile")


def log_decision(run: Run, decision: Decision) -> None:
    """The decision block at ``-v``; its warnings at every verbosity (its notes go into the one
    line that says what happened, :meth:`Run.what_happened`)."""
    lines = ["ltt-hook decision:"]
    if decision.off:
        lines.append(f"  off: {decision.off}")
    machine = decision.machine
    if machine is not None and decision.fixed is None:
        root = os.environ.get("LTT_SYSROOT", "").strip()
        if root:
            lines.append(f"  detection reads /proc, /sys and /etc under {root} (environment variable LTT_SYSROOT)")
        lines += [f"  detected: {note}" for note in machine.notes]
        lines += [f"  GPU: {gpu.summary}" for gpu in machine.gpus]
    if decision.fixed is not None:
        lines.append(f"  backend fixed by {decision.fixed_by}")
    if decision.plan:
        order = "in this order, until one serves the request" if not decision.consults_every_page else "all"
        names = ", ".join(b.name for b in decision.plan)
        lines.append(f"  pages ({order}): {names} on {_redact(run.config.page(decision.plan[0]))} and so on")
    logger.log(VERBOSE, "\n".join(lines))
    for warning in decision.warnings:
        note_once(warning, "%s", warning, level=logging.WARNING)




def note_requirements(run: Run, reqs: List[Any]) -> Optional[str]:
    """Remember what the user asked for: PyTorch projects named, ``--hash`` options, torch
    specifiers and the backends of explicit ``+label`` pins. Returns why explicit pins
    contradict each other (different backends, a companion of another torch release)."""
    from ._packaging import canonicalize_name

    exact: Dict[str, str] = {}
    for ireq in reqs:
        req = getattr(ireq, "req", None)
        if req is not None and not getattr(ireq, "constraint", False) and _is_extension(run, req.name):
            run.extension_requests.add(canonicalize_name(req.name))
        if req is None or canonicalize_name(req.name) not in PYTORCH:
            continue
        name = canonicalize_name(req.name)
        if not getattr(ireq, "constraint", False):
            run.requested.add(name)
        if getattr(ireq, "hash_options", None):
            run.hashed.add(name)
        if str(req.specifier):
            run.specifiers.setdefault(name, []).append(req.specifier)
        for spec in req.specifier:
            if spec.operator in ("==", "===") and "*" not in spec.version:
                exact.setdefault(name, spec.version)
            if spec.operator in ("==", "===") and "+" in spec.version:
                backend = backend_from_label(spec.version.split("+", 1)[1])
                if backend is not None:
                    run.pins.add(backend)
    return pin_conflict(exact)


def _is_extension(run: Run, name: str) -> bool:
    """Whether ``name`` is an extension project with publisher pages (the table's or the user's)."""
    from ._packaging import canonicalize_name

    project = canonicalize_name(name)
    if project not in data.EXTENSION_PROJECTS and not run.config.extensions:
        return False
    from .extensions import source_for

    return source_for(run.config, project) is not None


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
