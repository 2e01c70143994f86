"""One small wrapper per patched pip method (the rows of :data:`ltt_hook.pip_patch.PATCHES`).

Each wrapper is ``wrapper(process, original, *args)``: ``process`` is this pip process
(:class:`~ltt_hook.process.PipProcess`), ``original`` pip's original method (a
:class:`~ltt_hook.safety.PipCall`, callable once); the other arguments are pip's. A wrapper
holds no policy: it asks the :class:`~ltt_hook.run.Run` kept on pip's ``LinkCollector`` and
applies the answer. This layer, and only it, raises pip's errors and says ltt-hook's lines
(through the process, which remembers what was said). The safety net around it is
:func:`ltt_hook.safety.guard`.
"""

from __future__ import annotations

import logging
import os
from typing import Any, NamedTuple, Optional

from . import config as config_mod, data, options as pip_options
from ._packaging import canonicalize_name
from .adapters import FallbackSource, allow_prereleases
from .errors import ConfigError
from .indexes import is_pytorch_index, pytorch_indexes
from .lines import Line, compiling, what_happened
from .lookup import nothing_on_named_mirror, offline_build, page_problem, page_served
from .pages import VERBOSE
from .process import PipProcess
from .run import Run
from .safety import PipCall
from .selection import sort_key
from .urls import redact

logger = logging.getLogger("ltt_hook")


class Judging(NamedTuple):
    """What a pip evaluator of a PyTorch project carries (its ``_ltt``): the run and the project."""

    run: Run
    project: str


def _run_of(collector: Any) -> Optional[Run]:
    return getattr(collector, "_ltt", None)


def _say(process: PipProcess, *lines: Optional[Line]) -> None:
    """Say ltt-hook's lines: each keyed line once per process."""
    for line in lines:
        if line is None:
            continue
        if line.key is None:
            logger.log(line.level, "%s", line.text)
        else:
            process.note_once(line.key, "%s", line.text, level=line.level)


def _handles(process: PipProcess, run: Run, project: str) -> bool:
    """Whether the hook handles ``project`` in this run (its decision made at the first one); a
    configuration value that cannot be used stops pip here."""
    if project not in data.PYTORCH:
        return False
    if run.error:
        raise process.stop(f"{run.error}. Nothing was installed.")
    why_not = run.why_not_handled(project)
    _say(process, *run.take_lines(), why_not)
    return why_not is None


def _finder_run(process: PipProcess, finder: Any, project_name: str) -> Optional[Run]:
    """The run, if the hook handles this project's builds in this finder."""
    run = _run_of(getattr(finder, "_link_collector", None))
    name = canonicalize_name(project_name)
    if run is None or name in getattr(finder, "_locked_links", {}):  # pylock: locked links win
        return None
    return run if _handles(process, run, name) else None


def _extension_project(run: Optional[Run], project: str) -> bool:
    return run is not None and run.may_be_extension(project)


# --------------------------------------------------------------------------- the command


def command_init(process: PipProcess, original: PipCall, self: Any, *args: Any, **kwargs: Any) -> None:
    """``Command.__init__``: remember the command; resolving commands get the options."""
    original(self, *args, **kwargs)
    process.command = self
    if getattr(self, "name", None) in pip_options.COMMANDS:
        pip_options.add_options(self)


def get_requirements(process: PipProcess, original: PipCall, self: Any, args: Any, options: Any, finder: Any,
                     session: Any) -> Any:
    """``RequirementCommand.get_requirements``: note what the user asked for."""
    reqs = original(self, args, options, finder, session)
    run = _run_of(getattr(finder, "_link_collector", None))
    if run is not None:
        run.see_target(finder)
        asked = run.take_requirements(reqs)
        if asked.conflict:
            raise process.stop(f"{asked.conflict}. Nothing was installed.")
        if run.error and (asked.requested or asked.specifiers):
            raise process.stop(f"{run.error}. Nothing was installed.")
        if run.error:
            logger.warning("%s; it matters only for PyTorch packages, which this run does not name, so "
                           "pip goes on (it stops if one is needed).", run.error)
    return reqs


def build_env_install(process: PipProcess, original: PipCall, self: Any, requirements: Any, *args: Any,
                      **kwargs: Any) -> Any:
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
        torch = sorted(n for n in names if n in data.PYTORCH)
        if torch:
            process.note_once("venv-isolation", "ltt-hook: --use-feature=venv-isolation builds packages in "
                              "fresh virtualenvs where ltt-hook does not run; %s in these build requirements "
                              "comes from your indexes (PyPI's build). Set --no-build-isolation or drop the "
                              "feature to build against this machine's torch.", ", ".join(torch),
                              level=logging.WARNING)
    return original(self, requirements, *args, **kwargs)


# --------------------------------------------------------------------------- the index


def collector_create(process: PipProcess, original: PipCall, cls: Any, session: Any, options: Any,
                     suppress_no_index: bool = False) -> Any:
    """``LinkCollector.create``: read the configuration and start a :class:`Run`."""
    collector = original(cls, session, options, suppress_no_index=suppress_no_index)
    if suppress_no_index:  # pip's self-version check
        return collector
    parser = getattr(process.command, "parser", None)
    index_urls = list(collector.search_scope.index_urls)
    try:
        cli = pip_options.cli_settings(options)
        config = config_mod.load(isolated=bool(getattr(options, "isolated_mode", False)), options=cli,
                                 configuration=getattr(parser, "config", None))
    except ConfigError as exc:
        # A bad value stops pip only when a PyTorch project is involved (_handles).
        collector._ltt = Run(options, config_mod.Config(), process, session, index_urls, error=str(exc))
        return collector
    process.strict = config.strict
    # pip's build-dependency child gets no custom options: hand the decision down.
    for key, value in cli.items():
        if value:
            os.environ[config_mod.KEYS[key]] = value
    for warning in config.warnings:
        logger.warning(warning)
    if not config.disable:
        collector._ltt = Run(options, config, process, session, index_urls)
    return collector


def collect_sources(process: PipProcess, original: PipCall, self: Any, project_name: str,
                    candidates_from_page: Any) -> Any:
    """``LinkCollector.collect_sources``: a PyTorch project is looked up on the PyTorch index,
    its backend pages read lazily in the decision's order (:class:`~ltt_hook.adapters.FallbackSource`);
    an extension project also on its publisher's page for this torch."""
    run = _run_of(self)
    scope = self.search_scope
    name = canonicalize_name(project_name)
    handled = run is not None and bool(scope.index_urls) and _handles(process, run, name)
    if run is not None and not handled and _extension_project(run, name):
        return _collect_extension(process, original, self, run, project_name, candidates_from_page)
    if run is None or not handled:
        return original(self, project_name, candidates_from_page)
    urls = run.redirect(name, list(scope.index_urls))
    _check_transport(process, self, run)
    find_links = [link for link in scope.find_links if _local(link) or is_pytorch_index(run.config, link)]
    if len(find_links) < len(scope.find_links):
        logger.log(VERBOSE, "ltt-hook: %s is not taken from remote --find-links pages (only from this "
                   "machine's folders and the PyTorch index)", name)
    self.search_scope = process.api.search_scope.create(find_links=find_links, index_urls=urls,
                                                        no_index=scope.no_index)
    try:
        collected = original(self, project_name, candidates_from_page)
    finally:
        self.search_scope = scope
    decision = run.decision
    if name not in data.BACKEND_BUILT or decision is None or decision.consults_every_page:
        return collected
    sources = [source for source in collected.index_urls if source is not None]
    run.lookup(name).chain = chain = FallbackSource(sources, run.request_test(name))
    return collected._replace(index_urls=[chain])


def _collect_extension(process: PipProcess, original: PipCall, collector: Any, run: Run, project_name: str,
                       candidates_from_page: Any) -> Any:
    """An extension project: its page for this torch added as a find-links page, for this project only."""
    from .extensions import insecure_page, page_for

    scope = collector.search_scope
    name = canonicalize_name(project_name)
    page = page_for(run, name, scope)
    _say(process, *run.take_lines())  # the decision, when the extension made it
    if page is None:
        return original(collector, project_name, candidates_from_page)
    if not collector.session.is_secure_origin(process.api.link(page)):
        raise process.stop(insecure_page(run, name))
    collector.search_scope = process.api.search_scope.create(find_links=[*scope.find_links, page],
                                                             index_urls=list(scope.index_urls),
                                                             no_index=scope.no_index)
    try:
        return original(collector, project_name, candidates_from_page)
    finally:
        collector.search_scope = scope


def _local(location: str) -> bool:
    """A --find-links location on this machine (a folder or file), not a web page."""
    return "://" not in location or location.startswith("file:")


def _check_transport(process: PipProcess, collector: Any, run: Run) -> None:
    """HTTPS (or a --trusted-host) for the PyTorch index; credentials through pip's auth
    (checked at the first PyTorch lookup of the run)."""
    if not run.first_pytorch_lookup():
        return
    url = run.config.index_url
    session = collector.session
    if not session.is_secure_origin(process.api.link(url + "/")):
        raise process.stop(f"ltt-hook: the PyTorch index {redact(url)} ({run.config.origins['index-url']}) "
                           "is not HTTPS; add --trusted-host for its host if you trust it. Nothing was installed.")
    auth = getattr(session, "auth", None)
    known = list(getattr(auth, "index_urls", None) or [])
    if hasattr(session, "update_index_urls") and url not in known:
        session.update_index_urls(known + [url])  # keyring/netrc look-ups by index prefix


def get_simple_response(process: PipProcess, original: PipCall, url: str, session: Any, *args: Any,
                        **kwargs: Any) -> Any:
    """``collector._get_simple_response``: record how each index page answered."""
    try:
        response = original(url, session, *args, **kwargs)
    except Exception as exc:
        process.pages.record_failure(url, exc)
        raise
    process.pages.record_answer(url, getattr(response, "content", b"") or b"")
    return response


def find_all_candidates(process: PipProcess, original: PipCall, self: Any, project_name: str) -> Any:
    """``PackageFinder.find_all_candidates``: an unreadable PyTorch page stops pip."""
    result = original(self, project_name)
    run = _run_of(getattr(self, "_link_collector", None))
    if run is None:
        return result
    name = canonicalize_name(project_name)
    _extension_lookup(process, run, name, result)
    _stop_on_page_problem(process, run, name, result)
    problem = nothing_on_named_mirror(run.config, name, run.looked_up(name), result) \
        if name in data.BACKEND_BUILT else None
    if problem:
        raise process.stop(f"ltt-hook: {problem}. Nothing was installed.")
    lookup = run.looked_up(name)
    if lookup is not None and lookup.chain is not None:
        lookup.found = result  # pip keeps this very list: later pages extend it in place
    if result and name in data.BACKEND_BUILT and lookup is not None and lookup.pages and "said" not in process.said:
        served = page_served(lookup, process.pages)
        if served:  # pip-compile shows no INFO lines of pip's: say it as a warning there
            process.note_once("said", "%s", what_happened(run.config, run.decision, served,
                                                          run.unconfirmed(name, result)),
                              level=logging.WARNING if compiling() else logging.INFO)
    return result


def _extension_lookup(process: PipProcess, run: Run, name: str, found: Any) -> None:
    """After an extension project's lookup: its page's problem stops pip; a line is said."""
    lookup = run.looked_up(name)
    if lookup is None or lookup.extension_page is None:
        return
    from .extensions import after_lookup

    url = lookup.extension_page[0]
    outcome = process.pages.get(url) or process.pages.get(url.replace("+", "%2B"))
    problem, line = after_lookup(run, name, outcome, found)
    if problem:
        raise process.stop(problem)
    _say(process, line)


def _stop_on_page_problem(process: PipProcess, run: Run, name: str, found: Any = None) -> None:
    lookup = run.looked_up(name)
    problem = page_problem(run.config, name, lookup, process.pages)
    if not problem:
        return
    local = offline_build(name, lookup, process.pages, run.decision, run.backend_of, found) if found else None
    if local:  # offline, with this machine's best build in a folder of wheels
        process.note_once(f"offline:{name}", "ltt-hook: the PyTorch index could not be read (%s); using %s, this "
                          "machine's best build of its release.", problem.split(" (the PyTorch index comes from", 1)[0],
                          local, level=logging.WARNING)
        return
    raise process.stop(f"ltt-hook: {problem}. Nothing was installed; PyTorch packages are not "
                       "taken from other indexes instead.")


def find_best_candidate(process: PipProcess, original: PipCall, self: Any, project_name: str, specifier: Any = None,
                        hashes: Any = None) -> Any:
    """``PackageFinder.find_best_candidate``: when the pages read so far hold nothing for this
    specifier (a cap the resolver found in a library's metadata), read the next pages."""
    result = original(self, project_name, specifier=specifier, hashes=hashes)
    run = _run_of(getattr(self, "_link_collector", None))
    name = canonicalize_name(project_name)
    lookup = run.looked_up(name) if run is not None else None
    chain = lookup.chain if lookup is not None else None
    found = lookup.found if lookup is not None else None
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
        _stop_on_page_problem(process, run, name)
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


def resolve(process: PipProcess, original: PipCall, self: Any, root_reqs: Any, check_supported_wheels: Any) -> Any:
    """``Resolver.resolve``: a run that replaces torch names the extensions built for the old one."""
    result = original(self, root_reqs, check_supported_wheels)
    finder = getattr(getattr(self, "factory", None), "_finder", None)
    run = _run_of(getattr(finder, "_link_collector", None))
    if run is None:
        return result
    installs_torch = "torch" in (getattr(result, "requirements", None) or {})
    had_torch = run.environment is None or run.environment.torch is not None
    if installs_torch and had_torch:  # only then can installed extensions have been built for another torch
        from .extensions import replaced_torch

        _say(process, replaced_torch(run, result))
    if run.asked.extensions:  # an extension's build for another torch than this one
        from .extensions import built_for_another_torch

        _say(process, *built_for_another_torch(run, result))
    return result


# --------------------------------------------------------------------------- the builds


def make_link_evaluator(process: PipProcess, original: PipCall, self: Any, project_name: str) -> Any:
    """``PackageFinder.make_link_evaluator``: hand the run to the link evaluator."""
    evaluator = original(self, project_name)
    seen = _run_of(getattr(self, "_link_collector", None))
    if seen is not None:
        seen.see_target(self)
    run = _finder_run(process, self, project_name)
    if run is None:
        return evaluator
    name = canonicalize_name(project_name)
    filtered = getattr(evaluator, "_uploaded_prior_to", None) is not None
    if filtered and not pytorch_indexes(run.config, list(self.index_urls)):
        # The PyTorch index's HTML carries no upload times pip reads; the filter would
        # reject every build. Say so and let the PyTorch builds through.
        evaluator._uploaded_prior_to = None
        process.note_once("uploaded-prior-to", "ltt-hook: the PyTorch index publishes no upload times "
                          "that pip can read, so --uploaded-prior-to is not applied to %s; pin its "
                          "version for a reproducible install.", name)
    if name in data.BACKEND_BUILT:
        evaluator._ltt = Judging(run, name)
    return evaluator


def evaluate_link(process: PipProcess, original: PipCall, self: Any, link: Any) -> Any:
    """``LinkEvaluator.evaluate_link``: builds this machine cannot use are skipped links."""
    result, detail = original(self, link)
    judging = getattr(self, "_ltt", None)
    if judging is None or result is not process.api.link_type.candidate:
        return result, detail
    reason = judging.run.rejects(judging.project, detail, link)
    if not reason:
        return result, detail
    message = f"ltt-hook: {judging.project} {detail} {reason}"
    logger.log(VERBOSE, "Skipping link: %s", message)
    return process.api.link_type.platform_mismatch, message


def make_candidate_evaluator(process: PipProcess, original: PipCall, self: Any, project_name: str,
                             specifier: Any = None, hashes: Any = None) -> Any:
    """``PackageFinder.make_candidate_evaluator``: pre-releases on test/nightly; our ranking."""
    evaluator = original(self, project_name, specifier=specifier, hashes=hashes)
    collector_run = _run_of(getattr(self, "_link_collector", None))
    if _extension_project(collector_run, canonicalize_name(project_name)):
        from .extensions import prefers_page

        evaluator._ltt_page = prefers_page(collector_run, project_name)
    run = _finder_run(process, self, project_name)
    if run is None:
        return evaluator
    name = canonicalize_name(project_name)
    if run.config.channel != "stable":
        allow_prereleases(evaluator, name)
    if name in data.BACKEND_BUILT:
        evaluator._ltt = Judging(run, name)
    return evaluator


def candidate_sort_key(process: PipProcess, original: PipCall, self: Any, candidate: Any) -> Any:
    """``CandidateEvaluator._sort_key``: pip's key with the version replaced by ours."""
    key = original(self, candidate)
    page = getattr(self, "_ltt_page", None)
    if page is not None:  # an extension's builds for this torch rank first
        from .extension_sources import from_page

        return (from_page(candidate.link, page), *key)
    judging = getattr(self, "_ltt", None)
    if judging is None:
        return key
    from ._packaging import Version

    version = candidate.version
    for i, item in enumerate(key):
        if item is version:
            ours = Version(str(version))
            better = sort_key(ours, judging.run.backend_of(judging.project, ours, candidate.link))
            return key[:i] + ((better, version),) + key[i + 1:]
    return key
