"""One pip command as ltt-hook sees it: what it asked for and targets, the one decision, and the
verdicts on the builds pip finds.

The patch (:mod:`ltt_hook.wrappers`) keeps one :class:`Run` on pip's ``LinkCollector``. A run
answers questions and returns problems and lines as values; raising pip's errors and saying
lines is the wrappers' job. What a run learns per project is one
:class:`~ltt_hook.lookup.Lookup`; what its pages said is read by :mod:`ltt_hook.lookup`.
"""

from __future__ import annotations

import logging
import os
import sys
import sysconfig
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

from . import data
from ._packaging import InvalidVersion, SpecifierSet, Version
from .asked import Asked, read_requirements
from .backends import Backend, backend_from_label, backend_from_url
from .config import Config
from .decision import Decision, Environment, Request, decide
from .indexes import is_pytorch_index, named_mirror, pytorch_indexes
from .lines import Line, decision_lines
from .lookup import Lookup
from .pages import VERBOSE, Unavailable, fetch, index_page_problem, network_cause
from .selection import pypi_backend, release_of, tables_know
from .urls import redact

if TYPE_CHECKING:
    from .detection import Machine
    from .extension_wheels import Wheels
    from .offer import Offer
    from .process import PipProcess
    from .variants import Facts

__all__ = ["Run"]

logger = logging.getLogger("ltt_hook")
#: Projects whose versions follow torch's releases (:func:`ltt_hook.selection.release_of`).
_FOLLOWS_TORCH = ("torch", "torchvision", "torchaudio")


class Run:
    """One pip command: what it asked for and targets, the one decision (taken once, from what
    was captured once), where each PyTorch project is looked up, and the verdict on each build."""

    def __init__(self, options: Any, config: Config, process: PipProcess, session: Any = None,
                 index_urls: Sequence[str] = (), error: Optional[str] = None) -> None:
        self.options = options
        self.config = config
        #: pip's session (the index's pages and variants files are read through it).
        self.session = session
        #: The index URLs of pip's search scope when the run began (the user's indexes).
        self.index_urls = list(index_urls)
        #: A configuration value that cannot be used: it stops pip once a PyTorch project is involved.
        self.error = error
        #: What the requirements ask of the PyTorch family (:meth:`take_requirements`).
        self.asked = Asked()
        #: What the environment held when the decision was made (None before).
        self.environment: Optional[Environment] = None
        #: pip's PackageFinder of this run, once seen (:meth:`see_target`): its target's wheel tags
        #: (:attr:`tags`), and the torch an extension must fit.
        self.finder: Any = None
        self._tags: Optional[FrozenSet[str]] = None
        #: What the publishers' pages hold, read once per run (:mod:`ltt_hook.extension_wheels`).
        self.extension_wheels: Optional[Wheels] = None
        #: Lines the run has to say (the decision's), taken by the wrappers (:meth:`take_lines`).
        self._lines: List[Line] = []
        self._process = process
        self._decision: Optional[Decision] = None
        self._lookups: Dict[str, Lookup] = {}
        self._offers: Dict[str, Optional[Offer]] = {}
        self._machine: Optional[Machine] = None
        self._pytorch_looked_up = False
        #: (project, version, page, file's folder) -> why pip must skip such a build (None: it may
        #: take it); pip evaluates every file of every page, most share their version and folder.
        self._skips: Dict[Tuple[str, str, Optional[str], Optional[str]], Optional[str]] = {}

    # -- what pip was asked and what it targets

    def take_requirements(self, reqs: List[Any]) -> Asked:
        """Read pip's requirements once (``RequirementCommand.get_requirements``)."""
        self.asked = read_requirements(reqs, self._is_extension)
        return self.asked

    def may_be_extension(self, project: str) -> bool:
        """Whether ``project`` (canonical) may have a publisher page: the table's projects, or any
        project where the user has extension sources of their own (a cheap test before any read)."""
        return project in data.EXTENSION_PROJECTS or bool(self.config.extensions)

    def _is_extension(self, name: str) -> bool:
        """Whether ``name`` is an extension project with publisher pages (the table's or the user's)."""
        from ._packaging import canonicalize_name

        project = canonicalize_name(name)
        if not self.may_be_extension(project):
            return False
        from .extension_sources import source_for  # only where extensions are asked for

        return source_for(self.config, project) is not None

    def see_target(self, finder: Any) -> None:
        """Remember pip's finder (the first one of the run)."""
        if self.finder is None:
            self.finder = finder

    @property
    def tags(self) -> Optional[FrozenSet[str]]:
        """The wheel tags of pip's target (``cp311-cp311-manylinux_2_28_x86_64``...), once pip's
        finder was seen; None before. They filter what the index offers, so they are read from the
        finder when first asked for: a run of no PyTorch project never computes them."""
        if self._tags is None and self.finder is not None:
            target = getattr(self.finder, "target_python", None)
            get = getattr(target, "get_sorted_tags", None) or getattr(target, "get_tags", None)
            self._tags = frozenset(str(tag) for tag in get()) if get is not None else frozenset()
        return self._tags

    def lookup(self, project: str) -> Lookup:
        """What this run learned of ``project`` (an empty record at first)."""
        if project not in self._lookups:
            self._lookups[project] = Lookup()
        return self._lookups[project]

    def looked_up(self, project: str) -> Optional[Lookup]:
        return self._lookups.get(project)

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

    def request(self) -> Request:
        """The request :func:`ltt_hook.decision.decide` takes."""
        config = self.config
        url_backends = {b for b in (backend_from_url(u) or named_mirror(config, u)
                                    for u in pytorch_indexes(config, self.index_urls)) if b}
        asked = self.asked
        python, free_threaded = self._target_python()
        return Request(requested=asked.requested,
                       specifiers={k: tuple(SpecifierSet(str(s)) for s in v) for k, v in asked.specifiers.items()},
                       pins=asked.pins, index_backends=frozenset(url_backends), python=python,
                       cross_target=bool(getattr(self.options, "platforms", None)), free_threaded=free_threaded)

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

    # -- the decision

    @property
    def decision(self) -> Optional[Decision]:
        """The decision once it was made (:meth:`decide`), else None."""
        return self._decision

    def decide(self, project: Optional[str] = None) -> Decision:
        """The decision (:func:`ltt_hook.decision.decide`), made once per run, at the first lookup
        of a PyTorch project (``project``): from the request, this machine, the environment, and
        what the index offers of that project where it can tell."""
        if self._decision is not None:
            return self._decision
        request = self.request()
        needs_machine = not request.cross_target or self.config.backends is not None
        cache = getattr(self.options, "cache_dir", None)  # False with --no-cache-dir
        machine = (self._process.machine(self.config.overrides, os.path.join(cache, "ltt-hook") if cache else None)
                   if needs_machine else None)
        self.environment = self._environment()
        self._machine = machine
        offer = self._offer(project, request) if machine is not None else None
        learned = self._variants(offer)
        decision = decide(self.config, machine, request, self.environment, offer, learned)
        if self.asked.extensions and not decision.why_off:
            decision = self._held_back(decision, machine, request, offer, learned)
        self._decision = decision
        self._lines += decision_lines(self.config, decision)
        return decision

    def take_lines(self) -> List[Line]:
        """The lines this run has to say that were not taken yet."""
        lines, self._lines = self._lines, []
        return lines

    def _torch_free(self, decision: Decision) -> bool:
        """Whether this run may choose torch's release: torch is not pinned to one release (a
        version or a +label) and no installed torch is kept."""
        if decision.fixed_by.startswith("the installed torch") or self.asked.pins:
            return False
        for spec in (s for specs in self.asked.specifiers.get("torch", ()) for s in specs):
            if spec.operator in ("==", "===") and not spec.version.endswith(".*"):
                return False
        return True

    def wheels(self) -> Optional[Wheels]:
        """What the publishers' pages hold for this run's target, read once per run."""
        if self.extension_wheels is None and self.tags is not None:
            from .extension_wheels import Wheels

            session = self.session

            self.extension_wheels = Wheels(lambda url: fetch(session, url, "text/html"), self.tags)
        return self.extension_wheels

    def _held_back(self, decision: Decision, machine: Optional[Machine], request: Request,
                   offer: Optional[Offer], learned: Dict[Version, Facts]) -> Decision:
        """With extensions asked for and torch free: the newest torch release this machine runs
        for which every extension asked for has a wheel (its pages read, newest first). The
        decision is taken again, capped at that release, with one line naming who held torch
        back; unchanged when the newest release fits, or none does within the page budget."""
        from .extension_sources import source_for, user_gave_page

        wheels = self.wheels()
        if not self._torch_free(decision) or not decision.choices or wheels is None:
            return decision
        opts = self.options
        given = SimpleNamespace(find_links=list(getattr(opts, "find_links", None) or []),
                                index_urls=[getattr(opts, "index_url", None) or "",
                                            *(getattr(opts, "extra_index_urls", None) or [])])
        wanted = [(p, s) for p in sorted(self.asked.extensions)
                  if (s := source_for(self.config, p)) is not None and not user_gave_page(s, given)]
        if not wanted:  # the user names the pages: their choice stands
            return decision
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
            facts = self._process.variant_files.facts(self.session, self.config.channel_url, release)
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
            logger.log(VERBOSE, "ltt-hook: %s offers nothing readable (%s); the tables plan the pages", redact(url),
                       str(exc) if isinstance(exc, Unavailable) else redact(network_cause(exc)))
            return None
        if index_page_problem(body) is not None:
            return None
        offer = read_offer(project, url, body, self.tags)
        logger.log(VERBOSE, "ltt-hook: %s offers %d builds for this target", redact(url), len(offer.builds))
        return offer

    # -- where a project is looked up

    def why_not_handled(self, project: str) -> Optional[Line]:
        """Why the hook leaves ``project`` (a PyTorch project) to pip's indexes in this run, as
        the line to say; None when it handles it. The decision is made here, at the first
        PyTorch project looked up."""
        if project in self.asked.hashed:  # hashes are the user's choice: source and build stay theirs
            return Line(f"hashed:{project}", logging.INFO, f"ltt-hook: {project} is pinned by hash; its index and "
                        "build are left to your requirements.")
        decision = self.decide(project)
        if decision.why_off:
            return Line("off", logging.WARNING, f"ltt-hook: {decision.why_off}; PyTorch packages come from your "
                        "indexes as they are.")
        return None

    def redirect(self, project: str, index_urls: List[str]) -> List[str]:
        """The index URLs to use for ``project`` instead of the user's ``index_urls``.

        A PyTorch project comes only from PyTorch index pages: the user's own PyTorch index
        URLs when there are any (never the other indexes beside them), else the configured
        base, one backend page after the other."""
        lookup = self.lookup(project)
        users = [u.rstrip("/") for u in pytorch_indexes(self.config, index_urls)]
        if users:
            if project in data.TRITON_BUILDS:  # triton lives on the channel, beside the backends
                users += [u.rsplit("/", 1)[0] for u in users if backend_from_url(u + "/")]
            urls = list(dict.fromkeys(users))
            lookup.pages = [f"{u}/{project}/" for u in urls]
            logger.log(VERBOSE, "ltt-hook: %s is looked up on your PyTorch index URLs only: %s", project,
                       ", ".join(map(redact, urls)))
            return urls
        decision = self.decide(project)
        if project in data.TRITON_BUILDS:  # one wheel for every backend: the channel's page, else the plan's first
            base = self.config.channel_url if not self.config.is_template else self.config.page(decision.plan[0])
            lookup.pages = [f"{base}/{project}/"]
            return [base]
        pages = [self.config.page(b) for b in decision.plan]
        lookup.pages = [f"{page}/{project}/" for page in pages]
        how = "the first of" if not decision.consults_every_page and len(pages) > 1 else "on"
        logger.log(VERBOSE, "ltt-hook: %s is looked up %s %s", project, how, ", ".join(map(redact, pages)))
        return pages

    def first_pytorch_lookup(self) -> bool:
        """True at this run's first lookup on the PyTorch index (its transport is checked then),
        False after."""
        first, self._pytorch_looked_up = not self._pytorch_looked_up, True
        return first

    def unconfirmed(self, project: str, found: Sequence[Any]) -> Optional[str]:
        """The decision's fallback note when ``found`` (pip's candidates from the pages read) does not
        bear it out: its newest build this run admits is not of the release the note names; else None."""
        decision = self._decision
        if decision is None or decision.fallback is None:
            return None
        specifiers = [SpecifierSet(str(spec)) for spec in self.asked.specifiers.get(project, ())]
        versions = [(Version(str(c.version)), c.link) for c in found]  # pip's Version may be another copy's
        admitted = [v for v, link in versions if decision.admits(project, v, specifiers)
                    and self._judge(decision, project, v, self.backend_of(project, v, link)) is None]
        newest = max(admitted, default=None)
        return None if newest is not None and release_of(project, newest) == Version(decision.fallback.release) \
            else decision.fallback.note

    # -- the builds

    def backend_of(self, project: str, version: Version, link: Any) -> Optional[Backend]:
        """A build's backend: its local label, else its PyTorch index page, else (for an
        unlabelled torch found elsewhere, i.e. PyPI's build) PyPI's CUDA flavour."""
        backend = backend_from_label(version.local)
        if backend is not None:
            return backend
        page = getattr(link, "comes_from", None)
        page_url_ = getattr(page, "url", page) if page is not None else None
        for url in (page_url_, getattr(link, "url", None)):
            if isinstance(url, str) and is_pytorch_index(self.config, url.split("#")[0]):
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
        return isinstance(url, str) and named_mirror(self.config, url) is not None

    def pick(self, project: str, candidate: Any) -> None:
        """pip found ``candidate`` the best build of ``project`` (its resolver tries it first)."""
        try:
            version = Version(str(candidate.version))
        except InvalidVersion:
            return
        self.lookup(project).picked = (version, self.backend_of(project, version, candidate.link))

    def request_test(self, project: str) -> Callable[[Any], bool]:
        """A test for a candidate found on a backend page: does it serve the request?"""
        specifiers = [SpecifierSet(str(s)) for s in self.asked.specifiers.get(project, ())]
        decision = self._decision

        def serves(candidate: Any) -> bool:
            try:
                version = Version(str(candidate.version))
            except InvalidVersion:
                return False
            return decision is None or decision.admits(project, version, specifiers)

        return serves

    def rejects(self, project: str, version_text: str, link: Any) -> Optional[str]:
        """Why pip must skip a build of ``project`` (its version and link); None when it may take it.
        Judged once per version, page and folder of the file (what the verdict reads of the link)."""
        page = getattr(link, "comes_from", None)
        page_url_ = getattr(page, "url", page)
        url = getattr(link, "url", None)
        key = (project, version_text, page_url_ if isinstance(page_url_, str) else None,
               url.rsplit("/", 1)[0] if isinstance(url, str) else None)
        if key not in self._skips:
            self._skips[key] = self._rejects(project, version_text, link)
        return self._skips[key]

    def _rejects(self, project: str, version_text: str, link: Any) -> Optional[str]:
        decision = self.decide(project)
        try:
            version = Version(version_text)
        except InvalidVersion:
            return None
        backend = self.backend_of(project, version, link)
        if backend is None and release_of(project, version) is not None and not decision.why_off:
            return ("is an unlabelled build from outside the PyTorch index of a release ltt-hook does not "
                    "know: PyPI's CUDA build of an unknown CUDA version, not runnable unless proven")
        if version.local is None and not decision.why_off and self._from_named_mirror(link):
            return ("is an unlabelled build on an index that is not the PyTorch index: only builds labelled "
                    "for a backend are taken from it")
        return self._judge(decision, project, version, backend)

    def _judge(self, decision: Decision, project: str, version: Version, backend: Optional[Backend]) -> Optional[str]:
        """The decision's verdict on a build, with what the index's variants file of its release
        says when the tables lack that release (:meth:`_facts`)."""
        return decision.rejects(project, version, backend, self._facts(decision, project, version, backend))

    def _facts(self, decision: Decision, project: str, version: Version,
               backend: Optional[Backend]) -> Optional[Facts]:
        """For a GPU build of a torch release the tables lack (of torch or a companion whose
        version follows torch's), what the index's variants file of that release says, so that
        the builds of both are judged alike; read once per process
        (:class:`ltt_hook.pages.VariantFiles`)."""
        if backend is None or not backend.is_gpu or decision.fixed is not None or decision.why_off:
            return None
        release = release_of(project, version)
        if release is None or tables_know(release) or decision.learned(release) is not None:
            return None
        if version.is_devrelease:  # a nightly: PyTorch publishes variants files for the stable and
            return None  # test channels only (whl/variant/, whl/test/variant/), so asking would cost a request
        return self._process.variant_files.facts(self.session, self.config.channel_url, release)


