"""One small wrapper per patched pip method (the rows of :data:`ltt_hook.pip_patch.PATCHES`).

Each wrapper is ``wrapper(pip, *args)``: ``pip`` is pip's original method (a
:class:`~ltt_hook.safety.PipCall`, callable once); the other arguments are pip's. A wrapper
holds no policy: it asks the :class:`~ltt_hook.run.Run` kept on pip's ``LinkCollector`` and
applies the answer. The safety net around it is :func:`ltt_hook.safety.guard`.
"""

from __future__ import annotations

import logging
import os
from types import ModuleType
from typing import Any, Callable, List, Optional

from . import config as config_mod, data, options as pip_options
from ._packaging import canonicalize_name
from .run import PAGES, PYTORCH, VERBOSE, Run, allow_prereleases, compiling, note_requirements
from .safety import STATE, PipCall, note_once, stop
from .selection import sort_key

logger = logging.getLogger("ltt_hook")

#: :mod:`ltt_hook.extensions`, imported on the first lookup of an extension project (the
#: table's, or one of the user's ``[ltt] extensions``): most pip runs never need it.
_extensions: Optional[ModuleType] = None


def _extensions_for(run: Optional[Run], project: str) -> Optional[ModuleType]:
    global _extensions
    if _extensions is None and run is not None and (project in data.EXTENSION_PROJECTS or run.config.extensions):
        from . import extensions

        _extensions = extensions
    return _extensions


class PipApi:
    """pip's classes the wrappers need, found when the patch is applied."""

    search_scope: Any = None  # pip._internal.models.search_scope.SearchScope
    link: Any = None  # pip._internal.models.link.Link
    link_type: Any = None  # pip._internal.index.package_finder.LinkType


PIP = PipApi()


class Process:
    """This pip process: the command pip created (its configuration is read once, by pip)."""

    command: Any = None


PROCESS = Process()


def _run_of(collector: Any) -> Optional[Run]:
    return getattr(collector, "_ltt", None)


def _finder_run(finder: Any, project_name: str) -> Optional[Run]:
    """The run, if the hook handles this project's builds in this finder."""
    run = _run_of(getattr(finder, "_link_collector", None))
    name = canonicalize_name(project_name)
    if run is None or name in getattr(finder, "_locked_links", {}):  # pylock: locked links win
        return None
    return run if run.applies(name, list(finder.index_urls)) else None


# --------------------------------------------------------------------------- the command


def command_init(pip: PipCall, self: Any, *args: Any, **kwargs: Any) -> None:
    """``Command.__init__``: remember the command; resolving commands get the options."""
    pip(self, *args, **kwargs)
    PROCESS.command = self
    if getattr(self, "name", None) in pip_options.COMMANDS:
        pip_options.add_options(self)


def get_requirements(pip: PipCall, self: Any, args: Any, options: Any, finder: Any, session: Any) -> Any:
    """``RequirementCommand.get_requirements``: note what the user asked for."""
    reqs = pip(self, args, options, finder, session)
    run = _run_of(getattr(finder, "_link_collector", None))
    if run is not None:
        run.see_target(finder)
        conflict = note_requirements(run, reqs)
        if conflict:
            raise stop(f"{conflict}. Nothing was installed.")
        if run.error and (run.requested or run.specifiers):
            raise stop(f"{run.error}. Nothing was installed.")
        if run.error:
            logger.warning("%s; it matters only for PyTorch packages, which this run does not name, so "
                           "pip goes on (it stops if one is needed).", run.error)
    return reqs


def build_env_install(pip: PipCall, self: Any, requirements: Any, *args: Any, **kwargs: Any) -> Any:
    """``SubprocessBuildEnvironmentInstaller.install`` (pip 26.2+): under venv-isolation the
    build runs where no hook does; say so when a PyTorch project is among the requirements."""
    requirements = list(requirements)
    run = _run_of(getattr(getattr(self, "finder", None), "_link_collector", None))
    features = getattr(run.options, "features_enabled", None) or () if run else ()
    if "venv-isolation" in features:
        from ._packaging import InvalidRequirement, Requirement

        names = []
        for text in requirements:
            try:
                names.append(canonicalize_name(Requirement(str(text)).name))
            except InvalidRequirement:
                continue
        torch = sorted(n for n in names if n in PYTORCH)
        if torch:
            note_once("venv-isolation", "ltt-hook: --use-feature=venv-isolation builds packages in "
                      "fresh virtualenvs where ltt-hook does not run; %s in these build requirements "
                      "comes from your indexes (PyPI's build). Set --no-build-isolation or drop the "
                      "feature to build against this machine's torch.", ", ".join(torch),
                      level=logging.WARNING)
    return pip(self, requirements, *args, **kwargs)


# --------------------------------------------------------------------------- the index


def collector_create(pip: PipCall, cls: Any, session: Any, options: Any, suppress_no_index: bool = False) -> Any:
    """``LinkCollector.create``: read the configuration and start a :class:`Run`."""
    collector = pip(cls, session, options, suppress_no_index=suppress_no_index)
    if suppress_no_index:  # pip's self-version check
        return collector
    parser = getattr(PROCESS.command, "parser", None)
    try:
        cli = pip_options.cli_settings(options)
        cfg = config_mod.load(isolated=bool(getattr(options, "isolated_mode", False)), options=cli,
                              configuration=getattr(parser, "config", None))
    except config_mod.ConfigError as exc:
        # A bad value stops pip only when a PyTorch project is involved (Run.applies).
        collector._ltt = Run(options, config_mod.Config(), error=str(exc))
        return collector
    STATE.strict = cfg.strict
    # pip's build-dependency child gets no custom options: hand the decision down.
    for key, value in cli.items():
        if value:
            os.environ[config_mod.KEYS[key]] = value
    for warning in cfg.warnings:
        logger.warning(warning)
    if not cfg.disable:
        collector._ltt = run = Run(options, cfg)
        run.session = session
    return collector


def collect_sources(pip: PipCall, self: Any, project_name: str, candidates_from_page: Any) -> Any:
    """``LinkCollector.collect_sources``: a PyTorch project is looked up on the PyTorch index,
    its backend pages read lazily in the decision's order (:class:`FallbackSource`)."""
    run = _run_of(self)
    scope = self.search_scope
    name = canonicalize_name(project_name)
    urls = run.redirect(name, list(scope.index_urls)) if run else None
    ext = _extensions_for(run, name) if urls is None else None
    page = ext.page_for(run, name, self) if ext is not None else None
    if page is not None:  # an extension project: its page for this torch, for this project only
        self.search_scope = PIP.search_scope.create(find_links=[*scope.find_links, page],
                                                    index_urls=list(scope.index_urls), no_index=scope.no_index)
        try:
            return pip(self, project_name, candidates_from_page)
        finally:
            self.search_scope = scope
    if run is None or urls is None:
        return pip(self, project_name, candidates_from_page)
    _check_transport(self, run)
    find_links = [link for link in scope.find_links if _local(link) or run.is_pytorch_index(link)]
    if len(find_links) < len(scope.find_links):
        logger.log(VERBOSE, "ltt-hook: %s is not taken from remote --find-links pages (only from this "
                   "machine's folders and the PyTorch index)", name)
    self.search_scope = PIP.search_scope.create(find_links=find_links, index_urls=urls,
                                                no_index=scope.no_index)
    try:
        collected = pip(self, project_name, candidates_from_page)
    finally:
        self.search_scope = scope
    if name not in data.BACKEND_BUILT or run.decision(list(scope.index_urls)).consults_every_page:
        return collected
    sources = [source for source in collected.index_urls if source is not None]
    chain = run.chains[name] = FallbackSource(sources, run.serves(name))
    return collected._replace(index_urls=[chain])


def _local(location: str) -> bool:
    """A --find-links location on this machine (a folder or file), not a web page."""
    return "://" not in location or location.startswith("file:")


class FallbackSource:
    """The backend pages of one project as one pip source: the first page that holds a build
    serving the request wins; a missing page, or one without such a build, hands over to the
    next. The last page (``cpu``) is taken as it is. Pages not read yet stay available to
    :meth:`more`, for a specifier the resolver brings later (a library's ``torch<2.6``)."""

    def __init__(self, sources: List[Any], serves: Callable[[Any], bool]) -> None:
        self._sources = sources
        self._serves = serves
        self._next = 0
        #: The page that served the request (its URL), once one did.
        self.served: Optional[str] = None
        #: Whether :meth:`more` added candidates to what pip found at first.
        self.extended = False

    @property
    def link(self) -> Any:
        return self._sources[0].link if self._sources else None

    def _read(self, serves: Callable[[Any], bool]) -> List[Any]:
        while self._next < len(self._sources):
            source = self._sources[self._next]
            self._next += 1
            found = list(source.page_candidates())
            if self._next == len(self._sources) or any(serves(candidate) for candidate in found):
                self.served = getattr(source.link, "url", None) if found else self.served
                return found
        return []

    def page_candidates(self) -> Any:
        yield from self._read(self._serves)

    def more(self, serves: Callable[[Any], bool]) -> List[Any]:
        """Candidates of the next unread page that serves ``serves`` (empty when none is left)."""
        found = self._read(serves)
        self.extended = self.extended or bool(found)
        return found

    def file_links(self) -> Any:
        for source in self._sources:
            yield from source.file_links()


def _check_transport(collector: Any, run: Run) -> None:
    """HTTPS (or a --trusted-host) for the PyTorch index; credentials through pip's auth."""
    if run.transport_checked:
        return
    run.transport_checked = True
    url = run.config.index_url
    session = collector.session
    if not session.is_secure_origin(PIP.link(url + "/")):
        raise stop(f"ltt-hook: the PyTorch index {config_mod.redact(url)} ({run.config.origins['index-url']}) "
                   "is not HTTPS; add --trusted-host for its host if you trust it. Nothing was installed.")
    auth = getattr(session, "auth", None)
    known = list(getattr(auth, "index_urls", None) or [])
    if hasattr(session, "update_index_urls") and url not in known:
        session.update_index_urls(known + [url])  # keyring/netrc look-ups by index prefix


def get_simple_response(pip: PipCall, url: str, session: Any, *args: Any, **kwargs: Any) -> Any:
    """``collector._get_simple_response``: record how each index page answered."""
    try:
        response = pip(url, session, *args, **kwargs)
    except Exception as exc:
        PAGES.record_failure(url, exc)
        raise
    PAGES.record_answer(url, getattr(response, "content", b"") or b"")
    return response


def find_all_candidates(pip: PipCall, self: Any, project_name: str) -> Any:
    """``PackageFinder.find_all_candidates``: an unreadable PyTorch page stops pip."""
    result = pip(self, project_name)
    run = _run_of(getattr(self, "_link_collector", None))
    if run is not None:
        name = canonicalize_name(project_name)
        if _extensions is not None:
            _extensions.after_lookup(run, name, self._link_collector.session, result)  # an extension's page
        _stop_on_page_problem(run, name, result)
        problem = run.nothing_on_named_mirror(name, result) if name in data.BACKEND_BUILT else None
        if problem:
            raise stop(f"ltt-hook: {problem}. Nothing was installed.")
        if name in run.chains:
            run.found[name] = result  # pip keeps this very list: later pages extend it in place
        if result and name in data.BACKEND_BUILT and name in run.redirected and "said" not in STATE.notes:
            chain = run.chains.get(name)
            served = chain.served if chain is not None else run.first_page_read(name)
            if served:  # pip-compile shows no INFO lines of pip's: say it as a warning there
                note_once("said", "%s", run.what_happened(served, name, result),
                          level=logging.WARNING if compiling() else logging.INFO)
    return result


def _stop_on_page_problem(run: Run, name: str, found: Any = None) -> None:
    problem = run.page_problem(name)
    if not problem:
        return
    local = run.offline_build(name, found) if found else None
    if local:  # offline, with this machine's best build in a folder of wheels
        note_once(f"offline:{name}", "ltt-hook: the PyTorch index could not be read (%s); using %s, this machine's "
                  "best build of its release.", problem.split(" (the PyTorch index comes from", 1)[0], local,
                  level=logging.WARNING)
        return
    raise stop(f"ltt-hook: {problem}. Nothing was installed; PyTorch packages are not "
               "taken from other indexes instead.")


def find_best_candidate(pip: PipCall, self: Any, project_name: str, specifier: Any = None, hashes: Any = None) -> Any:
    """``PackageFinder.find_best_candidate``: when the pages read so far hold nothing for this
    specifier (a cap the resolver found in a library's metadata), read the next pages."""
    result = pip(self, project_name, specifier=specifier, hashes=hashes)
    run = _run_of(getattr(self, "_link_collector", None))
    name = canonicalize_name(project_name)
    chain = run.chains.get(name) if run is not None else None
    found = run.found.get(name) if run is not None else None
    if chain is None or found is None or (_applicable(result) and not chain.extended):
        _picked(run, name, result)
        return result

    def best_of_found() -> Any:
        evaluator = self.make_candidate_evaluator(project_name=project_name, specifier=specifier, hashes=hashes)
        return evaluator.compute_best_candidate(found)

    best = best_of_found() if chain.extended else result
    while not _applicable(best):
        more = chain.more(lambda c: specifier is None or bool(specifier.contains(str(c.version), prereleases=True)))
        assert run is not None
        _stop_on_page_problem(run, name)
        if not more:
            break
        found.extend(more)
        best = best_of_found()
    cache = getattr(self, "_best_candidates", None)  # pip 26's cache of this method
    if isinstance(cache, dict):
        cache[project_name, specifier, hashes] = best
    _picked(run, name, best)
    return best


def _picked(run: Optional[Run], name: str, result: Any) -> None:
    """Tell the run which build pip found best for a PyTorch project (its resolver tries it first)."""
    best = getattr(result, "best_candidate", None)
    if run is not None and best is not None and name in data.BACKEND_BUILT:
        run.pick(name, best)


def _applicable(result: Any) -> bool:
    return bool(getattr(result, "applicable_candidates", None)  # pip 24.1+
                or getattr(result, "_applicable_candidates", None))  # pip 22.3 - 24.0


def resolve(pip: PipCall, self: Any, root_reqs: Any, check_supported_wheels: Any) -> Any:
    """``Resolver.resolve``: a run that replaces torch names the extensions built for the old one."""
    result = pip(self, root_reqs, check_supported_wheels)
    finder = getattr(getattr(self, "factory", None), "_finder", None)
    run = _run_of(getattr(finder, "_link_collector", None))
    installs_torch = "torch" in (getattr(result, "requirements", None) or {})
    had_torch = run is not None and (run.environment is None or run.environment.torch is not None)
    if installs_torch and had_torch:  # only then can installed extensions have been built for another torch
        from . import extensions

        extensions.replaced_torch(run, result)
    if run is not None and run.extension_requests:  # an extension's build for another torch than this one
        from . import extensions

        extensions.built_for_another_torch(run, result)
    return result


# --------------------------------------------------------------------------- the builds


def make_link_evaluator(pip: PipCall, self: Any, project_name: str) -> Any:
    """``PackageFinder.make_link_evaluator``: hand the run to the link evaluator."""
    evaluator = pip(self, project_name)
    seen = _run_of(getattr(self, "_link_collector", None))
    if seen is not None:
        seen.see_target(self)
    run = _finder_run(self, project_name)
    if run is None:
        return evaluator
    name = canonicalize_name(project_name)
    filtered = getattr(evaluator, "_uploaded_prior_to", None) is not None
    if filtered and not run.user_pytorch_indexes(list(self.index_urls)):
        # The PyTorch index's HTML carries no upload times pip reads; the filter would
        # reject every build. Say so and let the PyTorch builds through.
        evaluator._uploaded_prior_to = None
        note_once("uploaded-prior-to", "ltt-hook: the PyTorch index publishes no upload times "
                  "that pip can read, so --uploaded-prior-to is not applied to %s; pin its "
                  "version for a reproducible install.", name)
    if name in data.BACKEND_BUILT:
        evaluator._ltt = (run, name, list(self.index_urls))
    return evaluator


def evaluate_link(pip: PipCall, self: Any, link: Any) -> Any:
    """``LinkEvaluator.evaluate_link``: builds this machine cannot use are skipped links."""
    result, detail = pip(self, link)
    context = getattr(self, "_ltt", None)
    if context is None or result is not PIP.link_type.candidate:
        return result, detail
    run, project, index_urls = context
    reason = run.rejects(project, detail, link, index_urls)
    if not reason:
        return result, detail
    message = f"ltt-hook: {project} {detail} {reason}"
    logger.log(VERBOSE, "Skipping link: %s", message)
    return PIP.link_type.platform_mismatch, message


def make_candidate_evaluator(pip: PipCall, self: Any, project_name: str, specifier: Any = None,
                             hashes: Any = None) -> Any:
    """``PackageFinder.make_candidate_evaluator``: pre-releases on test/nightly; our ranking."""
    evaluator = pip(self, project_name, specifier=specifier, hashes=hashes)
    if _extensions is not None:
        evaluator._ltt_page = _extensions.prefers_page(_run_of(getattr(self, "_link_collector", None)), project_name)
    run = _finder_run(self, project_name)
    if run is None:
        return evaluator
    name = canonicalize_name(project_name)
    if run.config.channel != "stable":
        allow_prereleases(evaluator, name)
    if name in data.BACKEND_BUILT:
        evaluator._ltt = (run, name)
    return evaluator


def candidate_sort_key(pip: PipCall, self: Any, candidate: Any) -> Any:
    """``CandidateEvaluator._sort_key``: pip's key with the version replaced by ours."""
    key = pip(self, candidate)
    page = getattr(self, "_ltt_page", None)
    if page is not None and _extensions is not None:  # an extension's builds for this torch rank first
        return (_extensions.from_page(candidate.link, page), *key)
    context = getattr(self, "_ltt", None)
    if context is None:
        return key
    run, project = context
    from ._packaging import Version

    version = candidate.version
    for i, item in enumerate(key):
        if item is version:
            ours = Version(str(version))
            better = sort_key(ours, run.backend_of(project, ours, candidate.link))
            return key[:i] + ((better, version),) + key[i + 1:]
    return key
