"""The one decision: which PyTorch builds a pip run may install, and where to look for them.

:func:`decide` is pure: it takes the configuration, the machine, the request and what the
environment holds, and returns a :class:`Decision`. The pip patch, ``python -m ltt_hook``
(text and ``--json``), ``check`` and every export ask it, so they cannot disagree.

What exists is the index's business: the decision gives an ordered *plan* of backend pages,
best first, and the patch reads them lazily (:mod:`ltt_hook.wrappers`): the first page that
holds a build this machine runs, of a release the request admits, wins; a page that is missing
or holds no such build hands over to the next one, and ``cpu`` comes last. The tables
(:mod:`ltt_hook.data` through :mod:`ltt_hook.selection`) only judge what runs here and order
the plan.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Dict, FrozenSet, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from . import data
from ._packaging import SpecifierSet, Version
from .backends import Backend, backend_from_label, parse_backend
from .config import Config
from .selection import (
    companion_versions,
    incompatibility,
    jetson_note,
    known_backends,
    platform_of,
    published,
    release_of,
)

if TYPE_CHECKING:
    from .detection import Machine
    from .offer import Offer
    from .variants import Facts

__all__ = ["Request", "Environment", "Decision", "Expected", "Fallback", "decide", "admits_release", "python_fits",
           "installed_misfit"]

CPU = parse_backend("cpu")


class Request(NamedTuple):
    """What the user asked pip for, as far as PyTorch projects go."""

    #: PyTorch projects named as requirements (not constraints).
    requested: FrozenSet[str] = frozenset()
    #: project -> specifiers from requirements and constraints.
    specifiers: Mapping[str, Tuple[SpecifierSet, ...]] = MappingProxyType({})
    #: Backends of explicit ``+label`` pins (``torch==2.5.1+cu118``).
    pins: FrozenSet[Backend] = frozenset()
    #: Backends named by the user's own PyTorch index URLs (``…/whl/cu126``).
    index_backends: FrozenSet[Backend] = frozenset()
    #: The target Python (major, minor); None when it is not this interpreter's.
    python: Optional[Tuple[int, int]] = None
    #: ``--platform``: the target is another machine.
    cross_target: bool = False
    #: The target Python is a free-threaded build (``python3.13t``: ``cp313t`` wheels only).
    free_threaded: bool = False


class Environment(NamedTuple):
    """What the environment holds before the run."""

    #: The installed torch, if any.
    torch: Optional[Version] = None
    #: Whether the run may keep it (pip install without --ignore-installed/--target/eager).
    keeps_installed: bool = False
    #: The backend the installed torch's own files name (:mod:`ltt_hook.installed`); None: its
    #: version's label alone says.
    torch_backend: Optional[Backend] = None
    #: Where that was read (``its metadata: cuda-toolkit==13.0.3``).
    torch_evidence: str = ""


class Expected(NamedTuple):
    """The outcome a decision expects: the newest admitted torch release and its backend."""

    release: str  # "2.14", or the channel's name ("nightly", "test")
    backend: Backend


class Fallback(NamedTuple):
    """The line "torch X exists for this machine only as a CPU build; choosing torch R+B" and
    R: the tables' expectation, which pip's one line repeats only when the index agrees (the
    newest admitted build found is of release R; :func:`ltt_hook.lines.what_happened`)."""

    note: str
    release: str


class Decision:
    """The answer, for pip and for every report. Made whole by :func:`decide`; nothing changes
    it afterwards (its verdicts are remembered, not changed)."""

    def __init__(self, channel: str, *, why_off: Optional[str] = None, machine: Optional[Machine] = None,
                 fixed: Optional[Tuple[Backend, ...]] = None, fixed_by: str = "", plan: Tuple[Backend, ...] = (),
                 releases: Tuple[str, ...] = (), expected: Optional[Expected] = None,
                 notes: Tuple[str, ...] = (), warnings: Tuple[str, ...] = (),
                 fallback: Optional[Fallback] = None, learned: Optional[Mapping[Version, Facts]] = None,
                 offered: bool = False, choices: Tuple[Tuple[Version, Backend], ...] = (),
                 cap: Optional[Version] = None) -> None:
        self.channel = channel
        #: Why the hook is off (pip is plain pip); None when it is on.
        self.why_off = why_off
        self.machine = machine
        #: The backends the user or the environment fixed, and by what; None: the machine decides.
        self.fixed = fixed
        self.fixed_by = fixed_by
        #: Backend pages to read, best first, lazily: the first that serves the request wins.
        self.plan = plan
        #: Releases (``2.14``) the request admits, newest first, per the tables.
        self.releases = releases
        #: The expected outcome per the tables (or the offer): the newest admitted release.
        self.expected = expected
        #: Lines worth saying (an explicit backend this machine cannot run, a GPU build over CPU).
        self.notes = notes
        #: Lines that must be seen even with ``-q`` (an explicit backend this machine cannot run).
        self.warnings = warnings
        #: The tables' fallback line, said only when the index agrees.
        self.fallback = fallback
        #: Whether what the index offers (not only the tables) gave ``expected``.
        self.offered = offered
        #: Per admitted torch release (newest first), the backend this run would take for it.
        self.choices = choices
        #: The newest torch release this run may install, when an extension holds it back.
        self.cap = cap
        self._verdicts: Dict[Tuple[Backend, Optional[Version], bool], Optional[str]] = {}
        #: What the index's variants files say of releases the tables lack.
        self._learned: Mapping[Version, Facts] = MappingProxyType(dict(learned or {}))

    def __repr__(self) -> str:
        return (f"Decision(channel={self.channel!r}, why_off={self.why_off!r}, fixed={self.fixed!r}, "
                f"plan={[b.name for b in self.plan]!r}, releases={self.releases!r}, expected={self.expected!r})")

    def held_at(self, cap: Version, note: str) -> Decision:
        """This decision, with no torch release newer than ``cap`` and the line that says why
        (a new decision; this one stays as it is)."""
        return Decision(self.channel, why_off=self.why_off, machine=self.machine, fixed=self.fixed,
                        fixed_by=self.fixed_by, plan=self.plan, releases=self.releases, expected=self.expected,
                        notes=(*self.notes, note), warnings=self.warnings, fallback=self.fallback,
                        learned=self._learned, offered=self.offered, choices=self.choices, cap=cap)

    @property
    def consults_every_page(self) -> bool:
        """Fixed backends: every page of the list is read (the user chose them all)."""
        return self.fixed is not None

    def learned(self, release: Version) -> Optional[Facts]:
        """What the index's variants file said of torch ``release`` when the decision was made."""
        return self._learned.get(release)

    def rejects(self, project: str, version: Version, backend: Optional[Backend],
                facts: Optional[Facts] = None) -> Optional[str]:
        """Why a build is not for this run; None when it may be installed. ``facts``: what the
        index's variants file of the build's release says, read after the decision was made
        (a release the tables lack, found on a page); the facts of the decision otherwise."""
        if backend is None or self.why_off:
            return None
        release = release_of(project, version)
        if self.cap is not None and release is not None and release > self.cap:
            return f"is newer than torch {self.cap}, which the extensions asked for have wheels for"
        if self.fixed is not None:
            if backend in self.fixed:
                return None
            return f"built for {backend}; {self.fixed_by} allows {', '.join(b.name for b in self.fixed)}"
        assert self.machine is not None
        release = release_of(project, version)
        facts = facts or (self._learned.get(release) if release is not None else None)
        key = (backend, release, facts is not None)  # a release's facts are the same all run long
        if key not in self._verdicts:  # pip evaluates every link of every page: judge once
            reason = incompatibility(backend, release, self.machine, facts)
            self._verdicts[key] = f"built for {backend}: {reason}" if reason else None
        return self._verdicts[key]

    def best_for(self, release: Version) -> Optional[Backend]:
        """This machine's best backend for torch ``release`` by the tables (the first allowed one
        when the backend is fixed); None for a release the tables lack."""
        if self.why_off:
            return None
        if self.fixed is not None:
            return self.fixed[0]
        names = data.RELEASE_BACKENDS.get(f"{release.major}.{release.minor}")
        if names is None or self.machine is None:
            return None
        gpu = _best([b for b in map(parse_backend, names.split()) if b.is_gpu], release, self.machine)
        return gpu or CPU

    def admits(self, project: str, version: Version, specifiers: Sequence[SpecifierSet]) -> bool:
        """Whether a build found on a page serves the request (then later pages are not read)."""
        if not all(spec.contains(version, prereleases=True) for spec in specifiers):
            return False
        release = release_of(project, version)
        if release is None or not self.releases:
            return True
        known = {Version(r) for r in self.releases}
        newest_known = max(Version(r) for r in data.RELEASE_BACKENDS)
        return release in known or release > newest_known  # a release the tables lack: judged on its own



def python_fits(release: str, python: Optional[Tuple[int, int]], free_threaded: bool = False,
                platform: str = "linux-x86_64") -> bool:
    """Whether torch ``release`` has wheels for ``python`` (a free-threaded one: ``cp313t``) on
    ``platform`` (``selection.platform_of``; :data:`~ltt_hook.data.PLATFORM_PYTHONS`)."""
    if python is None:
        return True
    if free_threaded:
        first, last = data.FREE_THREADED_PYTHONS.get("%d.%d" % python, (None, None))
        if first is None:
            return False
        return Version(first) <= Version(release) and (last is None or Version(release) <= Version(last))
    pythons = data.PLATFORM_PYTHONS.get((release, platform)) or data.RELEASE_PYTHONS[release]
    low, high = (tuple(int(p) for p in v.split(".")) for v in pythons.split())
    return low <= python <= high


def admits_release(release: str, specifiers: Mapping[str, Sequence[SpecifierSet]]) -> bool:
    """Whether torch ``release`` may satisfy the specifiers on torch and its versioned
    companions (``torchvision==0.20.1`` admits only torch 2.5)."""
    rel = Version(release)
    for project, specs in specifiers.items():
        versions = companion_versions(project, rel)
        if not versions:
            continue
        if not all(any(spec.contains(v, prereleases=True) for v in versions) for spec in specs):
            return False
    return True


def _best(backends: Sequence[Backend], release: Optional[Version], machine: Machine) -> Optional[Backend]:
    fitting = [b for b in backends if incompatibility(b, release, machine) is None]
    return max(fitting, key=lambda b: b.rank) if fitting else None


def _offered(offer: Optional[Offer], request: Request) -> List[Tuple[Version, Backend]]:
    """The (release, backend) pairs the index offers that the request admits: the offered
    project's own specifiers, and the releases its other specifiers allow."""
    if offer is None:
        return []
    specs = request.specifiers.get(offer.project, ())
    pairs = set()
    for build in offer.builds:
        release = release_of(offer.project, build.version)
        if release is None or build.backend is None:
            continue
        if all(spec.contains(build.version, prereleases=True) for spec in specs) \
                and admits_release(str(release), request.specifiers):
            pairs.add((release, build.backend))
    return sorted(pairs, key=lambda p: (p[0], p[1].rank), reverse=True)


def _installed(environment: Environment) -> Optional[Backend]:
    torch = environment.torch
    if torch is None:
        return None
    return environment.torch_backend or backend_from_label(torch.local)


def _fixed(config: Config, request: Request, environment: Environment, machine: Optional[Machine],
           offer: Optional[Offer]) -> Tuple[Optional[Tuple[Backend, ...]], str]:
    """What fixes the backend, in order: an explicit +label pin, the user's PyTorch index URL,
    the configured backend, the installed torch that this run keeps."""
    if request.pins:
        return tuple(sorted(request.pins, key=lambda b: b.rank, reverse=True)), "the +label pinned in the requirements"
    if request.index_backends:
        return tuple(sorted(request.index_backends, key=lambda b: b.rank, reverse=True)), "your PyTorch index URL"
    if config.backends is not None:
        return config.backends, config.origins["backend"]
    installed, backend = environment.torch, _installed(environment)
    if installed is not None and backend is not None and environment.keeps_installed \
            and "torch" not in request.requested:
        release = Version(f"{installed.major}.{installed.minor}")
        # The run keeps this torch unless the release this machine would take is newer (then pip
        # replaces torch and the machine chooses for both). What exists is the index's offer when
        # it was read, else the tables'.
        offered = _offered(offer, request)
        if offered and machine is not None:
            runnable = [p for p in offered if incompatibility(p[1], p[0], machine) is None]
            newest = max(runnable, key=_preference)[0] if runnable else max(p[0] for p in offered)
        else:
            admitted = [Version(r) for r in data.RELEASE_BACKENDS if admits_release(r, request.specifiers)]
            newest = max(admitted) if admitted else release
        if newest <= release:
            evidence = environment.torch_evidence or f"its +{installed.local} label"
            return (backend,), f"the installed torch {installed}, a {backend.name} build by {evidence}"
    return None, ""


def _preference(pair: Tuple[Version, Backend]) -> Tuple[bool, Version, Tuple[int, Tuple[int, ...]]]:
    """GPU builds first, then the newest release, then the most capable backend."""
    return (pair[1].is_gpu, pair[0], pair[1].rank)


def decide(config: Config, machine: Optional[Machine], request: Request, environment: Environment,
           offer: Optional[Offer] = None, learned: Optional[Mapping[Version, Facts]] = None,
           hold: Optional[Tuple[Version, str]] = None) -> Decision:
    """The decision for one pip run (or one report). ``offer``: what the index's page of the
    project looked up first holds (:mod:`ltt_hook.offer`); None when it was not read.
    ``learned``: what the index's variants files say of the offered releases the tables lack
    (:mod:`ltt_hook.variants`). ``hold``: the newest torch release the extensions asked for have
    wheels for, and the line that says so (:meth:`ltt_hook.run.Run.decide`): no newer release
    is planned or accepted."""
    if hold is not None:
        release = hold[0]
        cap = SpecifierSet(f"<{release.major}.{release.minor + 1}")
        request = request._replace(specifiers={**request.specifiers,
                                               "torch": (*request.specifiers.get("torch", ()), cap)})
    decision = _decide(config, machine, request, environment, offer, learned)
    if hold is not None and not decision.why_off:
        return decision.held_at(*hold)
    return decision


def _decide(config: Config, machine: Optional[Machine], request: Request, environment: Environment,
            offer: Optional[Offer], learned: Optional[Mapping[Version, Facts]]) -> Decision:
    channel = config.channel
    if config.disable:
        return Decision(channel, why_off=f"{config.origins['disable']} turns ltt-hook off")
    fixed, fixed_by = _fixed(config, request, environment, machine, offer)
    if fixed is not None:
        notes: List[str] = []
        # On a Jetson whose index is not PyTorch's own (NVIDIA's Jetson index, as its note advises),
        # the builds are NVIDIA's: PyTorch's tables say nothing about them.
        foreign = machine is not None and machine.jetson is not None and config.index_url != data.DEFAULT_INDEX_URL
        asked = fixed_by == config.origins.get("backend")
        if machine is not None and not foreign and not request.cross_target and asked:
            reasons = [f"{b.name} ({why})" for b in fixed if (why := incompatibility(b, None, machine))]
            if reasons and len(reasons) == len(fixed):
                notes.append(f"ltt-hook: {fixed_by} asks for {','.join(b.name for b in fixed)}, which this "
                             f"machine cannot run: {'; '.join(reasons)}; installing it as asked.")
        release = max(data.RELEASE_BACKENDS, key=Version)
        offered_here = [r for r, b in _offered(offer, request) if b in fixed]
        if offered_here:  # the newest release the index offers for the backends fixed
            release = f"{max(offered_here).major}.{max(offered_here).minor}"
        installed = environment.torch
        if installed is not None and fixed_by.startswith("the installed torch"):
            release = f"{installed.major}.{installed.minor}"
            if machine is not None and not request.cross_target:
                notes += _installed_misfit(installed, fixed[0], machine)
        known = sorted({r for r in offered_here} or {Version(r) for r in data.RELEASE_BACKENDS
                                                     if admits_release(r, request.specifiers)}, reverse=True)
        return Decision(channel, machine=machine, fixed=fixed, fixed_by=fixed_by, plan=fixed,
                        expected=Expected(release, fixed[0]), warnings=tuple(notes), offered=bool(offered_here),
                        choices=tuple((r, fixed[0]) for r in known if r <= Version(release)))
    if request.cross_target:
        note = ("--platform targets another machine, which ltt-hook cannot probe; set "
                "LTT_PYTORCH_COMPUTATION_BACKEND (or --pytorch-computation-backend) to choose its backend")
        return Decision(channel, fixed=(CPU,), fixed_by="--platform", plan=(CPU,),
                        expected=Expected(max(data.RELEASE_BACKENDS, key=Version), CPU), notes=(note,))
    assert machine is not None
    return _machine_decides(channel, machine, request, offer, learned or {})


def installed_misfit(backend: Backend, release: Version, machine: Machine) -> Optional[str]:
    """Why an installed torch built for ``backend`` does not fit ``machine``; None when it does.
    The one rule behind pip's line about a kept torch and ``python -m ltt_hook check``."""
    problem = incompatibility(backend, release, machine)
    if problem:
        return f"it cannot use this machine: {problem}"
    if not backend.is_gpu and any(incompatibility(b, release, machine) is None
                                  for b in map(parse_backend, data.RELEASE_BACKENDS.get(
                                      f"{release.major}.{release.minor}", "").split()) if b.is_gpu):
        return "it is a CPU build on a machine whose GPU PyTorch can use"
    return None


def _installed_misfit(installed: Version, backend: Backend, machine: Machine) -> List[str]:
    why = installed_misfit(backend, Version(f"{installed.major}.{installed.minor}"), machine)
    if why is None:
        return []
    return [f"ltt-hook: the installed torch {installed} is a {backend.name} build, and {why}; its companions "
            f"follow it. To replace it with this machine's build: python -m pip install --force-reinstall "
            f"torch=={installed.public} (with the companions you use)."]


def _machine_decides(channel: str, machine: Machine, request: Request, offer: Optional[Offer] = None,
                     learned: Optional[Mapping[Version, Facts]] = None) -> Decision:
    learned = learned or {}
    offered = _offered(offer, request)
    if offered:
        offer_plan, offer_releases = _plan_from_offer(offered, machine, learned)
        seen = [r for r, _ in offer_releases]
        if channel == "stable":  # the tables' releases too: a cap found later may admit one
            seen = sorted(set(seen) | {r for r in data.RELEASE_BACKENDS if admits_release(r, request.specifiers)},
                          key=Version, reverse=True)
        return _decision(channel, machine, offer_plan, offer_releases, seen, learned, offered=True)
    plan: List[Backend] = []
    per_release: List[Tuple[str, Optional[Backend]]] = []
    releases: List[str] = []
    platform = platform_of(machine)
    if channel == "stable":
        releases = sorted((r for r in data.RELEASE_BACKENDS
                           if python_fits(r, request.python, request.free_threaded, platform)
                           and admits_release(r, request.specifiers)),
                          key=Version, reverse=True)
        for release in releases:
            gpu_builds = [b for b in map(parse_backend, data.RELEASE_BACKENDS[release].split()) if b.is_gpu]
            best = _best(gpu_builds, Version(release), machine)
            per_release.append((release, best))
            if best is not None and best not in plan:
                plan.append(best)
        candidates = sorted({b for r in releases for b in map(parse_backend, data.RELEASE_BACKENDS[r].split())
                             if published(b, Version(r), platform) is not False},
                            key=lambda b: b.rank, reverse=True)
    else:
        candidates = known_backends(channel)
    # Then every other backend this machine can run, best first: the index may lack a page
    # the tables expect (a nightly day, a partial mirror).
    for backend in candidates:
        if backend.is_gpu and backend not in plan and incompatibility(backend, None, machine) is None:
            plan.append(backend)
    if CPU not in plan:
        plan.append(CPU)
    return _decision(channel, machine, plan, per_release if channel == "stable" else [], releases)


def _plan_from_offer(offered: Sequence[Tuple[Version, Backend]], machine: Machine,
                     learned: Mapping[Version, Facts]) -> Tuple[List[Backend], List[Tuple[str, Optional[Backend]]]]:
    """The pages to read from what the index offers: per release (newest first), the GPU
    backends it offers that this machine runs, best first, then ``cpu``; and the best per release."""
    plan: List[Backend] = []
    others: List[Backend] = []
    per_release: List[Tuple[str, Optional[Backend]]] = []
    for release in sorted({p[0] for p in offered}, reverse=True):
        facts = learned.get(release)
        runnable = sorted((b for r, b in offered
                           if r == release and b.is_gpu and incompatibility(b, r, machine, facts) is None),
                          key=lambda b: b.rank, reverse=True)
        per_release.append((str(release), runnable[0] if runnable else None))
        if runnable and runnable[0] not in plan:
            plan.append(runnable[0])
        others += runnable[1:]
    # Then every other backend offered that this machine runs, best first: a cap found later
    # (a library's torch<2.6) may need one.
    plan += sorted({b for b in others if b not in plan}, key=lambda b: b.rank, reverse=True)
    return plan + [CPU], per_release


def _decision(channel: str, machine: Machine, plan: List[Backend], per_release: List[Tuple[str, Optional[Backend]]],
              releases: List[str], learned: Optional[Mapping[Version, Facts]] = None,
              offered: bool = False) -> Decision:
    """The machine's decision from its plan and its choice per release (newest first)."""
    expected: Optional[Expected] = None
    notes: List[str] = []
    fallback: Optional[Fallback] = None
    if per_release and channel == "stable":
        gpu = [Expected(r, b) for r, b in per_release if b is not None]
        expected = gpu[0] if gpu else Expected(per_release[0][0], CPU)
        newest = per_release[0][0]
        if gpu and gpu[0].release != newest:
            fallback = Fallback(f"torch {newest} exists for this machine only as a CPU build; choosing torch "
                                f"{gpu[0].release}+{gpu[0].backend}, the newest release with a build this "
                                "machine's GPU can run", gpu[0].release)
            notes.append(fallback.note)
    elif plan:
        expected = Expected("nightly" if channel == "nightly" else channel, plan[0])
    if expected is not None and not expected.backend.is_gpu and (jetson := jetson_note(machine)):
        notes.append(jetson)  # a Jetson before Thor: why CPU, and where NVIDIA's builds are
    choices = tuple((Version(r), b or CPU) for r, b in per_release) if channel == "stable" else ()
    return Decision(channel, machine=machine, plan=tuple(plan), releases=tuple(releases), expected=expected,
                    notes=tuple(notes), fallback=fallback, learned=learned, offered=offered, choices=choices)
