"""Benchmarks for ltt-hook: idle cost, working cost (on loopback, with latency, cold, outside the PyTorch
family), detection cost, scaling.

One command, from a clean clone (it needs what the tests need: ``virtualenv``, ``hatchling`` and
``gcc``, plus PyPI for the pip and light-the-torch wheels, cached in ``.ltt-test-cache/``):

    python benchmarks/run.py            # full run, about 5-7 minutes on 2 cores
    python benchmarks/run.py --quick    # fewer repetitions, about 2-3 minutes

Everything runs against the loopback stand-ins of ``tests/support`` (the PyTorch index replica, the
PyPI stand-in, the NVML library and ``nvidia-smi``), in virtualenvs isolated from this machine's pip
configuration. A/B runs are interleaved (A B B A ...) so that load from other processes falls on
both sides alike, and every figure is a median. The latency section adds a delay (40 ms by
default) before every answer of both servers, as a network round trip would. The result is
printed as markdown; ``--readme`` also writes it into docs/benchmarks.md between the
``benchmarks:begin`` and ``benchmarks:end`` markers.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO)]

from support import gpu, harness, replica  # noqa: E402

LTT_VERSION = "0.8.1"  # light-the-torch, the seed project (it requires pip < 26.1)
LTT_PIP = "26.0.1"  # the newest pip light-the-torch accepts
GPU_DRIVER = "550.54.14"
GPU_CARDS = (("8.6", "NVIDIA GeForce RTX 3090"),)
PUBLIC_INDEX = "https://download.pytorch.org/whl"
HEAVY = ("pip", "packaging", "pynvml")
MARK_BEGIN = "<!-- benchmarks:begin (written by python benchmarks/run.py --readme) -->"
MARK_END = "<!-- benchmarks:end -->"

# light-the-torch hard-codes the public index. This wrapper is benchmark scaffolding, not project
# code: it points that URL at the replica, then runs ltt's own command-line entry point.
LTT_WRAPPER = '''\
import os, sys
from light_the_torch import _patch
_public, _replica = "%s", os.environ["BENCH_REPLICA_URL"]
_get_index_urls = _patch.get_index_urls
_patch.get_index_urls = lambda *a, **k: [u.replace(_public, _replica) for u in _get_index_urls(*a, **k)]
from light_the_torch._cli import main
sys.exit(main())
''' % PUBLIC_INDEX

# Time spent in ltt_hook.detection.detect(), measured inside a fresh process.
DETECT_PROBE = '''\
import json, time
from ltt_hook import detection
t0 = time.perf_counter()
machine = detection.detect()
t1 = time.perf_counter()
print(json.dumps({"detect_ms": (t1 - t0) * 1e3, "driver": machine.nvidia_driver,
                  "gpus": [g.name for g in machine.gpus], "notes": list(machine.notes)}))
'''

# Section 2c's floor: plain pip, given the backend by hand, plus only the work that ltt-hook's
# job needs done in pip's process and that no code of its own can avoid, with no ltt-hook code:
# BENCH_FLOOR=nvml asks NVML through pynvml what this machine runs (the design card binds NVIDIA
# detection to pynvml; imported with the collector paused, as the hook does); BENCH_FLOOR=offer
# also reads the channel's union page through pip's session and finds the target's wheels on it
# (what the index really holds: issue 18). BENCH_FLOOR=none: the same script doing nothing else.
# pip's own modules are imported first, as they would be anyway.
FLOOR_JOB = '''\
import gc, os, re, sys
from pip._internal.cli.main import main
import pip._internal.commands.install, pip._internal.network.session
job = os.environ["BENCH_FLOOR"]
if job in ("nvml", "offer"):
    gc.disable()
    import pynvml
    gc.enable()
    pynvml.nvmlInit()
    pynvml.nvmlSystemGetDriverVersion()
    for i in range(pynvml.nvmlDeviceGetCount()):
        handle = pynvml.nvmlDeviceGetHandleByIndex(i)
        pynvml.nvmlDeviceGetName(handle), pynvml.nvmlDeviceGetCudaComputeCapability(handle)
    pynvml.nvmlShutdown()
if job == "offer":
    from urllib.parse import unquote
    from pip._internal.network.session import PipSession
    from pip._internal.utils.compatibility_tags import get_supported
    body = PipSession().get(os.environ["BENCH_FLOOR_PAGE"], headers={"Accept": "text/html"}).content
    tags = {str(tag) for tag in get_supported()}
    abis = b"|".join(sorted({re.escape(t.split("-")[1].encode()) for t in tags}))
    wheels = [h for h in re.findall(rb'href="([^"#]*-(?:' + abis + rb')-[^"#-]*\\.whl)', body)
              if "-".join(unquote(h.decode()).rsplit("/", 1)[-1][:-4].split("-")[-3:]) in tags]
sys.exit(main())
'''

# The start-up phase the hook takes part in, timed inside the process (no process-creation noise).
SITE_PHASE = "import time; t = time.perf_counter(); import site; site.main(); print(time.perf_counter() - t)"

SHOW_MODULES = ("import sys; print(' '.join(sorted(sys.modules))); "
                "print(' '.join(type(f).__name__ for f in sys.meta_path))")

# The benchmark's servers: the replica's handler (which sets TCP_NODELAY, so that no kept-alive
# response waits ~40 ms for a delayed ACK) plus an optional delay before every answer, to stand in
# for a network round trip. A server's delay is its ``bench_delay`` attribute (seconds, default 0);
# tests/support is left as it is.
_make_handler = replica._make_handler


def _make_bench_handler(server: replica.IndexServer) -> type:
    handler = _make_handler(server)
    handle = handler._handle  # type: ignore[attr-defined]

    def delayed(self: object) -> None:
        delay = getattr(server, "bench_delay", 0.0)
        if delay:
            time.sleep(delay)
        handle(self)

    return type(handler.__name__, (handler,), {"disable_nagle_algorithm": True, "do_GET": delayed,
                                               "do_HEAD": delayed})


replica._make_handler = _make_bench_handler


def set_delay(servers: Sequence[replica.IndexServer], seconds: float) -> None:
    for server in servers:
        server.bench_delay = seconds  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------- helpers
def log(msg: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def fmt_bytes(n: float) -> str:
    return f"{n / 1024:.0f} KiB" if n >= 10240 else f"{n / 1024:.1f} KiB"


def verdict(flag: bool) -> str:
    return "met" if flag else "**missed**"


def interleaved(n: int, runners: Sequence[Callable[[], object]]) -> List[List[object]]:
    """Run every runner ``n`` times, alternating the order (A B, B A, ...; rotated when there are
    more than two), and return the results per runner."""
    results: List[List[object]] = [[] for _ in runners]
    order = list(range(len(runners)))
    for i in range(n):
        seq = order if i % 2 == 0 else order[::-1]
        if len(runners) > 2:
            k = (i // 2) % len(runners)
            seq = seq[k:] + seq[:k]
        for j in seq:
            results[j].append(runners[j]())
    return results


def have_wheel(house: Path, name: str, version: Optional[str] = None) -> bool:
    for p in house.glob("*.whl"):
        n, v = p.name.split("-")[:2]
        if n.lower().replace("_", "-") == name and (version is None or v == version):
            return True
    return False


# ----------------------------------------------------------------------------------- replicas
def torch_releases(n: int) -> List[replica.Release]:
    """The newest ``n`` of 40 torch releases (1.8.0 ... 2.14.1); backends per release from
    ``ltt_hook/data.py`` RELEASE_BACKENDS, companions' versions as PyTorch numbers them."""
    from ltt_hook import data

    versions = ("1.8.0 1.8.1 1.9.0 1.9.1 1.10.0 1.10.1 1.10.2 1.11.0 1.12.0 1.12.1 1.13.0 1.13.1 "
                "2.0.0 2.0.1 2.1.0 2.1.1 2.1.2 2.2.0 2.2.1 2.2.2 2.3.0 2.3.1 2.4.0 2.4.1 2.5.0 2.5.1 "
                "2.6.0 2.7.0 2.7.1 2.8.0 2.9.0 2.9.1 2.10.0 2.10.1 2.11.0 2.12.0 2.12.1 2.13.0 2.14.0 "
                "2.14.1").split()
    out = []
    for v in versions[-n:]:
        major, minor, patch = (int(x) for x in v.split("."))
        vision = f"0.{minor + 1}.{patch}" if major == 1 else f"0.{minor + 15}.{patch}"
        audio = f"0.{minor}.{patch}" if major == 1 else (f"2.{minor}.{patch}" if minor <= 11 else None)
        backends = tuple(data.RELEASE_BACKENDS[f"{major}.{minor}"].split())
        plat = "manylinux_2_28_x86_64" if (major, minor) >= (2, 7) else "linux_x86_64"
        out.append(replica.Release(v, vision, audio, backends, plat))
    return out


def python_tags(release: replica.Release) -> Tuple[str, ...]:
    """cp39 ... cp313 wheels, as far as the release has them (``data.RELEASE_PYTHONS``)."""
    from ltt_hook import data

    major, minor = release.torch.split(".")[:2]
    low, high = (int(x.split(".")[1]) for x in data.RELEASE_PYTHONS[f"{major}.{minor}"].split())
    return tuple(f"cp3{m}" for m in range(max(low, 9), min(high, 13) + 1))


def build_scaled_index(root: Path, releases: Sequence[replica.Release]) -> None:
    groups: Dict[Tuple[str, ...], List[replica.Release]] = {}
    for rel in releases:
        groups.setdefault(python_tags(rel), []).append(rel)
    for tags, rels in groups.items():  # each call adds wheels and rewrites the pages from disk
        replica.build_pytorch_index(root, releases=rels, python_tags=tags, nightly=False, test=False)


def mirror_dependencies(index_root: Path, pypi_root: Path) -> None:
    """Put torch's third-party dependencies on every backend page of the stable channel, as
    download.pytorch.org does (light-the-torch looks them up there)."""
    whl = index_root / "whl"
    for wheel in (pypi_root / "files").glob("*.whl"):
        if wheel.name.split("-")[0] in ("torch", "torchvision", "pystiche"):
            continue
        shutil.copy2(wheel, whl / wheel.name)
        shutil.copy2(f"{wheel}.metadata", whl / f"{wheel.name}.metadata")
    replica._write_channel(index_root, "whl", True)  # channel-root files go onto every backend page


# ----------------------------------------------------------------------------------- set-up
@dataclass
class Machine:
    name: str
    env: Dict[str, str]


@dataclass
class Setup:
    work: Path
    source: str
    index: replica.IndexServer
    pypi: replica.IndexServer
    hook: harness.Venv
    plain: harness.Venv
    ltt: Optional[harness.Venv]
    ltt_problem: Optional[str]
    wrapper: Path
    machines: List[Machine]
    gpu_problem: Optional[str] = None
    nvml_lib: Optional[Path] = None
    smi_bin: Optional[Path] = None
    sysroot: Optional[Path] = None
    servers: List[replica.IndexServer] = field(default_factory=list)


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout.strip()


def build_hook(work: Path, ref: Optional[str]) -> Tuple[Path, str]:
    """The hook's wheel from the working tree, or from commit ``ref``; and a description of it."""
    paths = ["ltt_hook", "ltt_hook.pth", "ltt_hook.start", "pyproject.toml"]
    if ref is None:
        dirty = git("status", "--porcelain", "--", *paths)
        head = git("rev-parse", "--short", "HEAD") or "?"
        desc = f"working tree at {head}" + (" with uncommitted changes to ltt_hook/" if dirty else "")
        return harness.build_hook_wheel(work / "dist"), desc
    src = work / "hook-src"
    src.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(src, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(work / "dist"), str(src)], check=True, env=harness.isolated_env(work / "dist-home"))
    return next((work / "dist").glob("ltt_hook-*.whl")), f"commit {git('rev-parse', '--short', ref)}"


def setup(work: Path, ref: Optional[str]) -> Setup:
    try:
        import virtualenv  # noqa: F401
    except ImportError:
        sys.exit("benchmarks/run.py needs virtualenv: python -m pip install -r tests/requirements.txt")
    house = harness.cache_dir() / "wheelhouse"  # the tests' cache (.ltt-test-cache/, git-ignored)
    house.mkdir(parents=True, exist_ok=True)
    wanted = [("pip", harness.PIP_VERSION), ("pip", LTT_PIP), ("light-the-torch", LTT_VERSION)]
    wanted += [(n, None) for n in harness.HOOK_DEPENDENCIES]
    missing = [f"{n}=={v}" if v else n for n, v in wanted if not have_wheel(house, n, v)]
    ltt_problem = None
    if missing:
        log(f"downloading {' '.join(missing)} from PyPI into {house}")
    for req in missing:  # one at a time: pip refuses two versions of pip in one command
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary",
                               ":all:", "-d", str(house), req], capture_output=True, text=True,
                              env=harness.isolated_env(work / "download-home"))
        if proc.returncode != 0:
            ltt_problem = ltt_problem or f"could not download {req} from PyPI: {proc.stderr.strip()[-300:]}"

    log("building the hook wheel, the PyTorch index replica and the PyPI stand-in")
    hook_wheel, source = build_hook(work, ref)
    index_root, pypi_root = work / "pytorch-index", work / "pypi"
    replica.build_pytorch_index(index_root)
    replica.build_pypi(pypi_root, pytorch_root=index_root)
    mirror_dependencies(index_root, pypi_root)
    index = replica.IndexServer(index_root).start()
    pypi = replica.IndexServer(pypi_root, missing="404").start()

    log("creating virtualenvs: with ltt-hook, without it, with light-the-torch")
    hook = harness.Venv.create(work / "venv-hook", hook=hook_wheel)
    plain = harness.Venv.create(work / "venv-plain", hook=None)
    # Identical to the hook's virtualenv but for ltt-hook itself: same pip, same dependencies.
    deps = [p for p in house.glob("*.whl")
            if p.name.split("-")[0].lower().replace("_", "-") in harness.HOOK_DEPENDENCIES]
    subprocess.run([str(plain.python), "-m", "pip", "install", "--quiet", "--no-index", *map(str, deps)],
                   check=True, env=plain.env())
    hook.base_env = {"PIP_INDEX_URL": f"{pypi.url}/simple"}
    wrapper = work / "ltt_replica.py"
    wrapper.write_text(LTT_WRAPPER)
    ltt = None
    if ltt_problem is None:
        try:
            ltt = harness.Venv.create(work / "venv-ltt", hook=None, pip_version=LTT_PIP)
            subprocess.run([str(ltt.python), "-m", "pip", "install", "--quiet", "--no-index", "-f", str(house),
                            f"light-the-torch=={LTT_VERSION}"], check=True, env=ltt.env(), capture_output=True,
                           text=True)
            ltt.base_env = {"PIP_INDEX_URL": f"{pypi.url}/simple"}
        except subprocess.CalledProcessError as exc:
            ltt_problem = f"light-the-torch {LTT_VERSION} could not be installed: {(exc.stderr or str(exc))[-300:]}"
            ltt = None

    s = Setup(work, source, index, pypi, hook, plain, ltt, ltt_problem, wrapper, [Machine("CPU", {})])
    s.servers = [index, pypi]
    try:
        s.nvml_lib = gpu.build_fake_nvml(work / "nvml")
        s.smi_bin = work / "gpu-bin"
        gpu.make_nvidia_smi(s.smi_bin, driver=GPU_DRIVER, gpus=GPU_CARDS)
        s.sysroot = gpu.make_sysroot(work / "gpu-sysroot", nvidia_driver=GPU_DRIVER,
                                     nvidia_gpus=[name for _, name in GPU_CARDS])
        env = gpu.nvml_env(s.nvml_lib, driver=GPU_DRIVER, gpus=GPU_CARDS)
        env["LTT_SYSROOT"] = str(s.sysroot)
        s.machines.append(Machine("GPU", env))
    except RuntimeError as exc:
        s.gpu_problem = str(exc)
    return s


def machine_env(s: Setup, venv: harness.Venv, machine: Machine) -> Dict[str, str]:
    """The machine's stand-ins; a GPU machine also has nvidia-smi on PATH (light-the-torch uses it)."""
    env = dict(machine.env)
    bins = [str(venv.home / "bin"), str(venv.path / "bin"), "/usr/bin", "/bin"]
    if machine.env and s.smi_bin:
        bins.insert(0, str(s.smi_bin))
    env["PATH"] = ":".join(bins)
    return env


# ----------------------------------------------------------------------------------- 1. idle
def timed_run(argv: Sequence[str], env: Dict[str, str], cwd: Path) -> Tuple[float, float]:
    """(wall seconds, CPU seconds of the child)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{argv} exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def idle_cost(s: Setup, reps: int) -> dict:
    script = s.work / "empty_script.py"
    script.write_text("")
    commands = [("python -c pass", ["-c", "pass"]), ('python -c "import json"', ["-c", "import json"]),
                ("python empty_script.py", [str(script)])]
    rows = []
    for label, args in commands:
        runners = [(lambda v=v, a=args: timed_run([str(v.python), *a], v.env(), v.home)) for v in (s.hook, s.plain)]
        for r in runners:  # warm-up: byte-code and page caches
            for _ in range(5):
                r()
        log(f"idle: {label}, {reps} interleaved runs each")
        with_hook, without = interleaved(reps, runners)
        wall_h, wall_p = median([w for w, _ in with_hook]), median([w for w, _ in without])
        cpu_h, cpu_p = median([c for _, c in with_hook]), median([c for _, c in without])
        rows.append({"command": label, "hook": wall_h, "plain": wall_p, "ratio": wall_h / wall_p,
                     "cpu_hook": cpu_h, "cpu_plain": cpu_p, "cpu_ratio": cpu_h / cpu_p,
                     "paired_diff": median([a[0] - b[0] for a, b in zip(with_hook, without)]), "n": reps})

    def site_phase(v: harness.Venv) -> float:
        out = subprocess.run([str(v.python), "-S", "-c", SITE_PHASE], env=v.env(), cwd=v.home, capture_output=True,
                             text=True, check=True).stdout
        return float(out.split()[-1])

    log(f"idle: site.main() timed in-process, {reps} interleaved runs each")
    with_hook, without = interleaved(reps, [lambda: site_phase(s.hook), lambda: site_phase(s.plain)])
    site_h, site_p = median(with_hook), median(without)
    site_row = {"hook": site_h, "plain": site_p, "ratio": site_h / site_p,
                "paired_diff": median([a - b for a, b in zip(with_hook, without)]), "n": reps}

    def modules(v: harness.Venv, *argv: str) -> Tuple[List[str], List[str]]:
        out = subprocess.run([str(v.python), *argv], env=v.env(), cwd=v.home, capture_output=True, text=True,
                             check=True).stdout.splitlines()
        return out[-2].split(), out[-1].split()

    shower = s.work / "show_modules.py"
    shower.write_text(SHOW_MODULES)
    added = {}
    for label, argv in (("python -c …", ["-c", SHOW_MODULES]), ("python script.py", [str(shower)])):
        hook_mods, hook_finders = modules(s.hook, *argv)
        plain_mods, _ = modules(s.plain, *argv)
        added[label] = {"modules": sorted(set(hook_mods) - set(plain_mods)),
                        "finder": "LttFinder" in hook_finders,
                        "heavy": sorted(m for m in hook_mods if m.split(".")[0] in HEAVY)}
    # The hook's own modules in -X importtime (microseconds, self time, median of several runs).
    imp: Dict[str, List[int]] = {}
    heavy = set()
    for _ in range(max(5, reps // 10)):
        err = subprocess.run([str(s.hook.python), "-X", "importtime", "-c", "import json"], env=s.hook.env(),
                             cwd=s.hook.home, capture_output=True, text=True, check=True).stderr
        for line in err.splitlines():
            m = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s*(\S+)", line)
            if m and m.group(3).startswith("ltt_hook"):
                imp.setdefault(m.group(3), []).append(int(m.group(1)))
            if m and m.group(3).split(".")[0] in HEAVY:
                heavy.add(m.group(3))
    return {"rows": rows, "site": site_row, "added": added, "importtime": {k: median(v) for k, v in imp.items()},
            "heavy_importtime": sorted(heavy)}


# ----------------------------------------------------------------------------------- 2. working
@dataclass
class PipRun:
    seconds: float
    cpu: float  # user + system time of pip and its children
    requests: int
    bytes: int
    index_requests: int
    pypi_requests: int
    rc: int
    chosen: Dict[str, str]
    output: str


def pip_run(s: Setup, index: replica.IndexServer, venv: harness.Venv, program: Sequence[str],
            env: Dict[str, str], extra: Sequence[str] = (), cache: bool = True,
            projects: Sequence[str] = ("torch", "torchvision")) -> PipRun:
    """``<program> install --dry-run --report R <projects> <extra>`` (``torch torchvision``), with
    the request logs.

    pip's cache directory is on, as it is by default (``<venv home>/pip-cache``), with its HTTP
    cache emptied before every run, so every page is fetched (and counted) every time; what
    ltt-hook remembers there (NVML's answer, while ``/proc/driver/nvidia`` is unchanged) stays,
    as it does for a user's second and later pip runs on a machine. ``cache=False``: pip's cache
    directory is off (``PIP_NO_CACHE_DIR=1``, as ``--no-cache-dir``, CI images and Docker builds),
    so nothing is remembered at all."""
    report = venv.home / "report.json"
    if report.exists():
        report.unlink()
    cache_dir = venv.home / "pip-cache"
    if cache_dir.is_dir():
        for entry in cache_dir.iterdir():
            if entry.name != "ltt-hook":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    full_env = venv.env(env)
    full_env.pop("PIP_NO_CACHE_DIR", None)
    full_env["PIP_CACHE_DIR"] = str(cache_dir)
    if not cache:
        full_env.pop("PIP_CACHE_DIR")
        full_env["PIP_NO_CACHE_DIR"] = "1"
    for server in (index, s.pypi):
        server.clear()
    argv = [*program, "install", "--dry-run", "--quiet", "--report", str(report), *projects, *extra]
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    proc = subprocess.run(argv, env=full_env, cwd=venv.home, capture_output=True, text=True, timeout=600)
    seconds, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    chosen = {}
    if proc.returncode == 0 and report.exists():
        chosen = {i["metadata"]["name"].lower(): i["metadata"]["version"]
                  for i in json.loads(report.read_text())["install"]}
    on_index, on_pypi = list(index.requests), list(s.pypi.requests)
    return PipRun(seconds, cpu, len(on_index) + len(on_pypi), sum(r[3] for r in on_index + on_pypi), len(on_index),
                  len(on_pypi), proc.returncode, chosen, proc.stdout + proc.stderr)


def summarize(runs: List[PipRun]) -> dict:
    good = [r for r in runs if r.rc == 0]
    return {"seconds": median([r.seconds for r in runs]), "cpu": median([r.cpu for r in runs]),
            "all_seconds": [r.seconds for r in runs], "requests": median([r.requests for r in runs]),
            "bytes": median([r.bytes for r in runs]), "index_requests": median([r.index_requests for r in runs]),
            "pypi_requests": median([r.pypi_requests for r in runs]), "ok": len(good), "n": len(runs),
            "chosen": (good or runs)[0].chosen,
            "error": None if good else (runs[0].output.strip().splitlines() or ["(no output)"])[-1][:300]}


def tools_for(s: Setup, index: replica.IndexServer, machine: Machine, backend: str,
              with_ltt: bool, cache: bool = True,
              wrap: Sequence[str] = ()) -> List[Tuple[str, str, Callable[[], PipRun]]]:
    """(key, label, runner) for every tool compared on this machine and index; ``wrap`` is put
    before each program (``valgrind --tool=callgrind``)."""
    hook_env = {**machine_env(s, s.hook, machine), "LTT_INDEX_URL": f"{index.url}/whl"}
    fixed_env = {**hook_env, "LTT_PYTORCH_COMPUTATION_BACKEND": backend}
    plain_env = machine_env(s, s.plain, machine)
    by_hand = ["--index-url", f"{index.url}/whl/{backend}", "--extra-index-url", f"{s.pypi.url}/simple"]
    hook_pip = [*wrap, str(s.hook.python), "-m", "pip"]
    tools = [
        ("hook", "ltt-hook: `pip install`", lambda: pip_run(s, index, s.hook, hook_pip, hook_env, cache=cache)),
        ("hand", f"plain pip, `--index-url …/whl/{backend} --extra-index-url …` by hand",
         lambda: pip_run(s, index, s.plain, [*wrap, str(s.plain.python), "-m", "pip"], plain_env, by_hand,
                         cache=cache)),
        ("fixed", f"ltt-hook, backend configured (`LTT_PYTORCH_COMPUTATION_BACKEND={backend}`)",
         lambda: pip_run(s, index, s.hook, hook_pip, fixed_env, cache=cache)),
    ]
    if with_ltt and s.ltt is not None:
        ltt_env = {**machine_env(s, s.ltt, machine), "BENCH_REPLICA_URL": f"{index.url}/whl"}
        tools.append(("ltt", f"light-the-torch {LTT_VERSION}: `ltt install`",
                      lambda: pip_run(s, index, s.ltt, [*wrap, str(s.ltt.python), str(s.wrapper)], ltt_env)))
    return tools


def chosen_backend(s: Setup, index: replica.IndexServer, machine: Machine) -> str:
    """The backend a user would type by hand: the one the hook picks on this machine."""
    env = {**machine_env(s, s.hook, machine), "LTT_INDEX_URL": f"{index.url}/whl"}
    version = pip_run(s, index, s.hook, [str(s.hook.python), "-m", "pip"], env).chosen.get("torch", "")
    return version.split("+", 1)[1] if "+" in version else ("cu126" if machine.env else "cpu")


def quartiles(values: Sequence[float]) -> Tuple[float, float, float]:
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
    return q[0], q[1], q[2]


def compare(s: Setup, index: replica.IndexServer, machine: Machine, reps: int, with_ltt: bool) -> dict:
    backend = chosen_backend(s, index, machine)
    tools = tools_for(s, index, machine, backend, with_ltt)
    for _, _, run in tools:  # warm-up: byte-code and page caches
        run()
    results = interleaved(reps, [run for _, _, run in tools])
    out = {key: dict(summarize(runs), label=label) for (key, label, _), runs in zip(tools, results)}
    # Runs i of two tools are neighbours in time: their ratio cancels slow changes in load.
    paired = [a / b for a, b in zip(out["hook"]["all_seconds"], out["hand"]["all_seconds"])]
    return {"machine": machine.name, "backend": backend, "tools": out, "paired": quartiles(paired)}


def working_cost(s: Setup, reps: int) -> List[dict]:
    out = []
    for machine in s.machines:
        log(f"working: {machine.name} machine, {reps} interleaved runs per tool")
        out.append(compare(s, s.index, machine, reps, with_ltt=True))
    return out


# ----------------------------------------------------------------------------------- 2c. cold
def cold_tools(s: Setup, machine: Machine, backend: str,
               wrap: Sequence[str] = ()) -> List[Tuple[str, str, Callable[[], PipRun]]]:
    """Section 2c's rows: the hook, the hand-written command and the floor, cache directory off."""
    tools = [t for t in tools_for(s, s.index, machine, backend, with_ltt=False, cache=False, wrap=wrap)
             if t[0] in ("hook", "hand")]
    return tools + floor_tools(s, machine, backend, wrap)


_CALLGRIND = re.compile(r"Collected : (\d+)")


def instructions(s: Setup, machine: Machine, backend: str, runs: int) -> Optional[Dict[str, Tuple[float, int]]]:
    """(instructions, requests) of each row of section 2c (``valgrind --tool=callgrind``, the
    median of ``runs`` runs per row, after the rows' warm-up), which load on a shared machine does
    not change; and of the hook and the hand-written command with the cache directory on
    (section 2's setting: ``hook_warm``, ``hand_warm``). None without valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None or runs < 1:
        return None
    log(f"cold: instructions, {runs} callgrind runs per row")
    out: Dict[str, Tuple[float, int]] = {}
    wrap = (valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null")
    warm = [(f"{key}_warm", label, run) for key, label, run in
            tools_for(s, s.index, machine, backend, with_ltt=False, wrap=wrap) if key in ("hook", "hand")]
    for key, _, run in cold_tools(s, machine, backend, wrap) + warm:
        counts, requests = [], 0
        for _ in range(runs):
            r = run()
            found = _CALLGRIND.search(r.output)
            if r.rc != 0 or found is None:
                raise RuntimeError(f"callgrind run of {key} failed: {r.output[-500:]}")
            counts.append(int(found.group(1)))
            requests = r.requests
        out[key] = (median(counts), requests)
    return out


def cold_cost(s: Setup, reps: int, instruction_runs: int = 0) -> List[dict]:
    """The hook against the hand-written command on the GPU machine (the CPU machine if there is
    none) with pip's cache directory off: nothing remembered between runs (NVML is asked every
    time), as in CI images and Docker builds. Paired runs; the instructions of each row
    (:func:`instructions`); and where the hook's time goes: the self time of its modules'
    imports (``-X importtime``, one more run)."""
    machine = s.machines[-1]
    log(f"cold: {machine.name} machine, pip's cache directory off, {reps} interleaved pairs")
    backend = chosen_backend(s, s.index, machine)
    tools = cold_tools(s, machine, backend)
    for _, _, run in tools:  # warm-up: byte-code and page caches
        run()
    results = interleaved(reps, [run for _, _, run in tools])
    out = {key: dict(summarize(runs), label=label) for (key, label, _), runs in zip(tools, results)}
    hand = results[[key for key, _, _ in tools].index("hand")]
    ratios = {key: (quartiles([a.seconds / b.seconds for a, b in zip(runs, hand)]),
                    quartiles([a.cpu / b.cpu for a, b in zip(runs, hand)]))
              for (key, _, _), runs in zip(tools, results)}
    hook_env = {**machine_env(s, s.hook, machine), "LTT_INDEX_URL": f"{s.index.url}/whl",
                "PYTHONPROFILEIMPORTTIME": "1"}
    timed = pip_run(s, s.index, s.hook, [str(s.hook.python), "-m", "pip"], hook_env, cache=False)
    imports: Dict[str, float] = {}
    for line in timed.output.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[0].startswith("import time:") and parts[0][12:].strip().isdigit():
            name = parts[2]
            top = name.split(".")[0]
            if top in ("ltt_hook", "pynvml"):
                imports[name] = int(parts[0][12:]) / 1e3
    return [{"machine": machine.name, "backend": backend, "tools": out, "paired": ratios["hook"][0],
             "ratios": ratios, "imports_ms": imports,
             "instructions": instructions(s, machine, backend, instruction_runs), "instruction_runs": instruction_runs}]


def floor_tools(s: Setup, machine: Machine, backend: str,
                wrap: Sequence[str] = ()) -> List[Tuple[str, str, Callable[[], PipRun]]]:
    """Section 2c's floor (:data:`FLOOR_JOB`): the hand-written command in the virtualenv without
    ltt-hook (same pip, same pynvml), started by a script that first does only what the hook's
    job cannot avoid; and the same script doing nothing else, as the control."""
    script = s.work / "floor_job.py"
    script.write_text(FLOOR_JOB)
    by_hand = ["--index-url", f"{s.index.url}/whl/{backend}", "--extra-index-url", f"{s.pypi.url}/simple"]
    env = {**machine_env(s, s.plain, machine), "BENCH_FLOOR_PAGE": f"{s.index.url}/whl/torch/"}
    rows = [("floor_none", "floor control: the hand-written command, started by the floor script doing nothing else",
             "none"),
            ("floor_nvml", "floor: the hand-written command, plus NVML through pynvml (no ltt-hook code)", "nvml"),
            ("floor_offer", "floor: the same, plus reading the union page `…/whl/torch/` and finding the target's "
             "wheels on it", "offer")]
    program = [*wrap, str(s.plain.python), str(script)]
    return [(key, label, lambda job=job: pip_run(s, s.index, s.plain, program, {**env, "BENCH_FLOOR": job}, by_hand,
                                                 cache=False))
            for key, label, job in rows]


# ----------------------------------------------------------------------------------- 2d. other projects
#: What section 2d installs: projects outside the PyTorch family, from the PyPI stand-in.
OTHER_PROJECTS = ("filelock", "numpy")


def other_cost(s: Setup, reps: int) -> List[dict]:
    """What the hook costs a pip run that installs nothing of the PyTorch family (most pip runs):
    ``pip install --dry-run`` of :data:`OTHER_PROJECTS` from the PyPI stand-in, in the virtualenv
    with ltt-hook and in the one without it, on the GPU machine, with pip's cache directory on and
    off; paired runs. The hook imports its modules when pip loads its finder, whatever the
    projects; it never asks the machine or the PyTorch index for them."""
    machine = s.machines[-1]
    extra = ["--index-url", f"{s.pypi.url}/simple"]

    def runner(venv: harness.Venv, cache: bool) -> Callable[[], PipRun]:
        env = {**machine_env(s, venv, machine), "LTT_INDEX_URL": f"{s.index.url}/whl"}
        return lambda: pip_run(s, s.index, venv, [str(venv.python), "-m", "pip"], env, extra, cache=cache,
                               projects=OTHER_PROJECTS)

    out = []
    for cache in (True, False):
        log(f"other projects: {' '.join(OTHER_PROJECTS)}, cache {'on' if cache else 'off'}, {reps} interleaved pairs")
        runners = [runner(s.hook, cache), runner(s.plain, cache)]
        for run in runners:  # warm-up: byte-code and page caches
            run()
        hook, plain = interleaved(reps, runners)
        out.append({"cache": cache, "hook": summarize(hook), "plain": summarize(plain),
                    "same": all(a.chosen == b.chosen and a.rc == b.rc == 0 for a, b in zip(hook, plain)),
                    "wall": quartiles([a.seconds / b.seconds for a, b in zip(hook, plain)]),
                    "cpu": quartiles([a.cpu / b.cpu for a, b in zip(hook, plain)])})
    return out


def render_other(other: List[dict], add: Callable[[str], None]) -> None:
    if not other:
        return
    add(f"**2d. Outside the PyTorch family.** `install --dry-run --report R {' '.join(OTHER_PROJECTS)}` from the "
        "PyPI stand-in (`--index-url`), in the virtualenv with ltt-hook and in the one without it, on the GPU "
        f"machine; {other[0]['hook']['n']} interleaved pairs, medians; the run-by-run columns are the median (and "
        "middle half) of the ratio of each pair. The hook loads its modules when pip loads its finder; it asks "
        "neither the machine nor the PyTorch index for these projects.")
    add("")
    add("| pip's cache directory | with ltt-hook | without | Requests (with, without) | Same result | "
        "run by run: time | run by run: CPU time |")
    add("|---|---|---|---|---|---|---|")
    for o in other:
        wall, cpu = o["wall"], o["cpu"]
        add(f"| {'on' if o['cache'] else 'off'} | {fmt_ms(o['hook']['seconds'])} | {fmt_ms(o['plain']['seconds'])} | "
            f"{o['hook']['requests']:.0f}, {o['plain']['requests']:.0f} | {'yes' if o['same'] else 'NO'} | "
            f"{wall[1]:.3f}× ({wall[0]:.2f}–{wall[2]:.2f}×) | {cpu[1]:.3f}× ({cpu[0]:.2f}–{cpu[2]:.2f}×) |")
    add("")


# ----------------------------------------------------------------------------------- 2b. latency
def latency_cost(s: Setup, reps: int, delay_ms: float) -> List[dict]:
    """The working comparison on the GPU machine (the CPU machine if there is none) with every request
    to both servers delayed by ``delay_ms``: what each request costs once it is not on loopback."""
    machine = s.machines[-1]
    log(f"latency: {machine.name} machine, +{delay_ms:g} ms per request, {reps} interleaved runs per tool")
    set_delay([s.index, s.pypi], delay_ms / 1e3)
    try:
        row = compare(s, s.index, machine, reps, with_ltt=True)
    finally:
        set_delay([s.index, s.pypi], 0.0)
    row["delay_ms"] = delay_ms
    return [row]


# ----------------------------------------------------------------------------------- 3. detection
def detection_cost(s: Setup, reps: int) -> List[dict]:
    if s.nvml_lib is None:
        return []
    bins = f"{s.smi_bin}:{s.hook.path / 'bin'}:/usr/bin:/bin"
    paths = [
        ("NVML (pynvml over libnvidia-ml.so.1)",
         {**gpu.nvml_env(s.nvml_lib, driver=GPU_DRIVER, gpus=GPU_CARDS), "LTT_SYSROOT": str(s.sysroot),
          "PATH": bins}),
        ("nvidia-smi (NVML init fails with error 9)",
         {**gpu.nvml_env(s.nvml_lib, driver=GPU_DRIVER, gpus=GPU_CARDS, init_error=9),
          "LTT_SYSROOT": str(s.sysroot), "PATH": bins}),
        ("CPU machine (no NVML library, no nvidia-smi)", {}),
    ]
    probe = s.work / "detect_probe.py"
    probe.write_text(DETECT_PROBE)

    def runner(env: Dict[str, str]) -> Callable[[], dict]:
        def run() -> dict:
            proc = subprocess.run([str(s.hook.python), str(probe)], env=s.hook.env(env), cwd=s.hook.home,
                                  capture_output=True, text=True, check=True)
            return json.loads(proc.stdout.splitlines()[-1])
        return run

    runners = [runner(env) for _, env in paths]
    for r in runners:
        r()
    log(f"detection: {reps} interleaved processes per path")
    results = interleaved(reps, runners)
    return [{"path": label, "detect_ms": median([r["detect_ms"] for r in runs]), "driver": runs[0]["driver"],
             "gpus": runs[0]["gpus"], "notes": runs[0]["notes"], "n": reps}
            for (label, _), runs in zip(paths, results)]


# ----------------------------------------------------------------------------------- 4. scaling
def scaling(s: Setup, reps: int, sizes: Sequence[int]) -> List[dict]:
    out = []
    for n in sizes:
        root = s.work / f"index-{n}"
        t0 = time.perf_counter()
        releases = torch_releases(n)
        build_scaled_index(root, releases)
        mirror_dependencies(root, s.pypi.root)
        files = len(list(root.rglob("*.whl")))
        log(f"scaling: {n} torch releases ({releases[0].torch} … {releases[-1].torch}, {files} wheels) built in "
            f"{time.perf_counter() - t0:.1f} s; {reps} interleaved runs per tool and machine")
        with replica.IndexServer(root) as index:
            for machine in s.machines:
                row = compare(s, index, machine, reps, with_ltt=False)
                row.update(releases=n, span=f"{releases[0].torch}–{releases[-1].torch}", files=files)
                out.append(row)
    return out


# ----------------------------------------------------------------------------------- report
def machine_info(s: Setup) -> Dict[str, str]:
    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = "%.1f %.1f %.1f" % os.getloadavg() if hasattr(os, "getloadavg") else "?"
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "python": platform.python_version(),
            "pip": harness.PIP_VERSION, "ltt_pip": LTT_PIP, "os": f"{platform.system()} {platform.release()}",
            "load": load, "source": s.source}


def versions(chosen: Dict[str, str]) -> str:
    return " + ".join(f"{p} {chosen[p]}" for p in ("torch", "torchvision") if p in chosen) or "–"


def cell(r: dict) -> str:
    return f"{fmt_ms(r['seconds'])}, {r['requests']:.0f} req., {fmt_bytes(r['bytes'])}"


def render_cold(cold: List[dict], add: Callable[[str], None]) -> None:
    for c in cold:
        t = c["tools"]
        add(f"**2c. Cold cost.** The same dry run on the {c['machine']} machine with pip's cache directory off "
            "(`PIP_NO_CACHE_DIR=1`, as `--no-cache-dir`, CI images and Docker builds): nothing is remembered "
            f"between runs, so NVML is asked every time; {t['hook']['n']} interleaved pairs, medians; the "
            "run-by-run column is the median (and middle half) of the ratio of each pair.")
        add("")
        add("| Tool | Result | Time | CPU time | Requests (index + PyPI) | run by run, vs by hand: time; CPU time |")
        add("|---|---|---|---|---|---|")
        for key in (k for k in ("hook", "hand", "floor_none", "floor_nvml", "floor_offer") if k in t):
            r = t[key]
            result = versions(r["chosen"]) if r["ok"] else f"failed: {r['error']}"
            wall, cpu = c["ratios"][key]
            ratio = "1.00×" if key == "hand" else (
                f"{wall[1]:.3f}× ({wall[0]:.2f}–{wall[2]:.2f}×); {cpu[1]:.3f}× ({cpu[0]:.2f}–{cpu[2]:.2f}×)")
            add(f"| {r['label']} | {result} | {fmt_ms(r['seconds'])} | {fmt_ms(r['cpu'])} | "
                f"{r['requests']:.0f} ({r['index_requests']:.0f} + {r['pypi_requests']:.0f}) | {ratio} |")
        add("")
        render_instructions(c, add)
        imports = c["imports_ms"]
        ours = sum(v for k, v in imports.items() if k.startswith("ltt_hook"))
        nvml = sum(v for k, v in imports.items() if k.startswith("pynvml"))
        top = sorted(((v, k) for k, v in imports.items() if k.startswith("ltt_hook")), reverse=True)[:5]
        add(f"- Where the hook's time goes, one run with `-X importtime`: importing ltt-hook's modules {ours:.1f} ms "
            f"(the largest: {', '.join(f'`{k}` {v:.1f} ms' for v, k in top)}), importing pynvml {nvml:.1f} ms; "
            "NVML itself: section 3.")
        if "floor_offer" in t:
            add(f"- The floor rows: the hand-written command run by a script that first does only what the hook's "
                "job cannot avoid in pip's process, with no code of ltt-hook's: ask NVML through pynvml "
                f"({c['ratios']['floor_nvml'][0][1]:.3f}×), and also read the union page and find the target's "
                f"wheels on it ({c['ratios']['floor_offer'][0][1]:.3f}×); the same script doing nothing else is "
                f"{c['ratios']['floor_none'][0][1]:.3f}×. What the hook costs beyond the floor is its own code, "
                "less the requests it saves.")
        add("")


_INSTRUCTION_ROWS = (("hand", "plain pip, by hand"), ("floor_none", "floor control (the script, doing nothing else)"),
                     ("floor_nvml", "floor: + NVML through pynvml"),
                     ("floor_offer", "floor: + NVML + the union page read and scanned"),
                     ("hook", "ltt-hook: `pip install`"))


def render_instructions(c: dict, add: Callable[[str], None]) -> None:
    """Section 2c in instructions, which load does not change (the wall-time ratios above move by
    more than the differences in question on a shared machine)."""
    counts = c.get("instructions")
    if not counts:
        add("Instructions: not counted (valgrind not found, or `--instructions 0`).")
        add("")
        return
    n = {key: v[0] for key, v in counts.items()}
    hand = n["hand"]
    runs = c["instruction_runs"]
    add(f"In instructions (`valgrind --tool=callgrind`, {'the median of %d runs' % runs if runs > 1 else 'one run'} "
        "per row, same replica), which load does not change:")
    add("")
    add("| Row | Instructions | vs by hand | Requests |")
    add("|---|---|---|---|")
    for key, label in _INSTRUCTION_ROWS:
        add(f"| {label} | {n[key] / 1e6:.1f} M | {n[key] / hand:.3f}× | {counts[key][1]} |")
    add(f"| pip's cache directory on (section 2): ltt-hook, against plain pip by hand ({n['hand_warm'] / 1e6:.1f} M, "
        f"{counts['hand_warm'][1]} requests) | {n['hook_warm'] / 1e6:.1f} M | {n['hook_warm'] / n['hand_warm']:.3f}× | "
        f"{counts['hook_warm'][1]} |")
    add("")
    add(f"- Above the floor with the union page, the hook is {n['hook'] / n['floor_offer']:.3f}× "
        f"({(n['hook'] - n['floor_offer']) / 1e6:+.1f} M): its own code, less the requests it saves. "
        f"The floor itself is {n['floor_offer'] / hand:.3f}× the hand-written command: pynvml and NVML "
        f"{(n['floor_nvml'] - n['floor_none']) / 1e6:.1f} M, the union page "
        f"{(n['floor_offer'] - n['floor_nvml']) / 1e6:.1f} M.")
    add("")


def render(s: Setup, info: dict, idle: dict, work: List[dict], latency: List[dict], detect: List[dict],
           scale: List[dict], command: str, elapsed: float, cold: Sequence[dict] = (),
           other: Sequence[dict] = ()) -> str:
    L: List[str] = []
    add = L.append
    add(f"Ran `{command}` in {elapsed / 60:.1f} min on {info['nproc']} CPUs ({info['cpu']}), {info['os']}, "
        f"Python {info['python']}, pip {info['pip']} (light-the-torch: pip {info['ltt_pip']}); load average "
        f"{info['load']} at the end (the machine is shared); ltt-hook built from the {info['source']}.")
    add("")
    if idle.get("rows"):
        add(f"**1. Idle cost.** Interpreter start in a virtualenv with ltt-hook and in an identical one without "
            f"it (same pip, packaging, nvidia-ml-py), {idle['rows'][0]['n']} interleaved runs each, medians.")
        add("")
        add("| Command | with ltt-hook | without | ratio | paired difference | CPU time ratio |")
        add("|---|---|---|---|---|---|")
        for r in idle["rows"]:
            add(f"| `{r['command']}` | {fmt_ms(r['hook'])} | {fmt_ms(r['plain'])} | {r['ratio']:.3f}× | "
                f"{r['paired_diff'] * 1e3:+.2f} ms | {r['cpu_ratio']:.3f}× |")
        site = idle["site"]
        add(f"| `site.main()` only: the start-up phase that runs `.pth` lines, timed in-process "
            f"(`python -S -c …`) | {fmt_ms(site['hook'])} | {fmt_ms(site['plain'])} | {site['ratio']:.3f}× | "
            f"{site['paired_diff'] * 1e3:+.2f} ms | |")
        add("")
        for label, a in idle["added"].items():
            mods = ", ".join(f"`{m}`" for m in a["modules"]) or "none"
            add(f"- `{label}`: modules added at start-up: {mods}; meta-path finder "
                f"{'inserted' if a['finder'] else 'not inserted'}; pip, packaging or pynvml imported: "
                f"{', '.join(a['heavy']) or 'none'}.")
        if idle["importtime"]:
            add("- `python -X importtime`, self time of the hook's modules (median): " + ", ".join(
                f"`{k}` {v:.0f} µs" for k, v in sorted(idle["importtime"].items())) + ".")
        add("")
    if work:
        add("**2. Working cost.** `install --dry-run --report R torch torchvision` with pip's cache directory on "
            "(as by default) and its HTTP cache emptied before every run, so every page is fetched; what ltt-hook "
            "remembers there (NVML's answer while `/proc/driver/nvidia` shows the same driver and GPUs) stays, as "
            "for a user's second and later runs (section 3 gives the first run's detection cost); against the "
            "replica of download.pytorch.org (which, like the real one, also mirrors torch's third-party "
            "dependencies) and the PyPI stand-in; requests and bytes from both servers' logs; "
            f"{work[0]['tools']['hook']['n']} interleaved runs per tool, medians. GPU machine: driver {GPU_DRIVER}, "
            "RTX 3090 (NVML stand-in, nvidia-smi stand-in).")
        add("")
        add("| Machine | Tool | Result | Time | vs by hand | CPU time, vs by hand | Requests (index + PyPI) | Bytes |")
        add("|---|---|---|---|---|---|---|---|")
        for w in work:
            base, base_cpu = w["tools"]["hand"]["seconds"], w["tools"]["hand"]["cpu"]
            for key in ("hook", "hand", "fixed", "ltt"):
                r = w["tools"].get(key)
                if r is None:
                    continue
                result = versions(r["chosen"]) if r["ok"] else f"failed: {r['error']}"
                if r["ok"] and r["ok"] < r["n"]:
                    result += f" ({r['n'] - r['ok']} of {r['n']} runs failed)"
                add(f"| {w['machine']} | {r['label']} | {result} | {fmt_ms(r['seconds'])} | "
                    f"{r['seconds'] / base:.2f}× | {fmt_ms(r['cpu'])}, {r['cpu'] / base_cpu:.2f}× | "
                    f"{r['requests']:.0f} ({r['index_requests']:.0f} + "
                    f"{r['pypi_requests']:.0f}) | {fmt_bytes(r['bytes'])} |")
        if s.ltt is None:
            add("")
            add(f"light-the-torch could not run: {s.ltt_problem}")
        add("")
    for lat in latency:
        loop = next((w for w in work if w["machine"] == lat["machine"]), None)
        delay = f"+{lat['delay_ms']:g} ms"
        add(f"**2b. Added latency.** The same dry run on the {lat['machine']} machine with every request to both "
            f"servers (the PyTorch replica and the PyPI stand-in) answered {lat['delay_ms']:g} ms late, as across a "
            f"network; {lat['tools']['hook']['n']} interleaved runs per tool, medians. The loopback column repeats "
            "the table above (same run).")
        add("")
        add(f"| Tool | Result | Requests (index + PyPI) | loopback: time, vs by hand | {delay}: time, vs by hand |")
        add("|---|---|---|---|---|")
        for key in ("hook", "hand", "fixed", "ltt"):
            r = lat["tools"].get(key)
            if r is None:
                continue
            result = versions(r["chosen"]) if r["ok"] else f"failed: {r['error']}"
            before = "–"
            if loop is not None and key in loop["tools"]:
                b = loop["tools"][key]
                before = f"{fmt_ms(b['seconds'])}, {b['seconds'] / loop['tools']['hand']['seconds']:.2f}×"
            add(f"| {r['label']} | {result} | {r['requests']:.0f} ({r['index_requests']:.0f} + "
                f"{r['pypi_requests']:.0f}) | {before} | {fmt_ms(r['seconds'])}, "
                f"{r['seconds'] / lat['tools']['hand']['seconds']:.2f}× |")
        add("")
    render_cold(list(cold), add)
    render_other(list(other), add)
    if s.gpu_problem:
        add(f"No GPU machine: {s.gpu_problem}")
        add("")
    if detect:
        add(f"**3. Detection cost.** `ltt_hook.detection.detect()`, timed inside a fresh process, "
            f"{detect[0]['n']} interleaved processes per path, medians.")
        add("")
        add("| Path | detect() | Found |")
        add("|---|---|---|")
        for d in detect:
            found = (f"driver {d['driver']}, " + ", ".join(d["gpus"])) if d["driver"] else "no NVIDIA driver"
            add(f"| {d['path']} | {d['detect_ms']:.1f} ms | {found} |")
        add("")
    if scale:
        add(f"**4. Scaling.** The same dry run against replicas with 5, 15 and 40 torch releases (backends per "
            f"release from `ltt_hook/data.py`; cp39–cp313 wheels as far as each release has them); "
            f"{scale[0]['tools']['hook']['n']} interleaved runs per tool, medians.")
        add("")
        add("| torch releases (wheels) | Machine | ltt-hook | by hand | ltt-hook, backend configured | "
            "ltt-hook vs by hand: time, CPU time |")
        add("|---|---|---|---|---|---|")
        for r in scale:
            t = r["tools"]
            add(f"| {r['releases']}: {r['span']} ({r['files']}) | {r['machine']} ({r['backend']}) | "
                f"{cell(t['hook'])} | {cell(t['hand'])} | {cell(t['fixed'])} | "
                f"{t['hook']['seconds'] / t['hand']['seconds']:.2f}×, "
                f"{t['hook']['cpu'] / t['hand']['cpu']:.2f}× |")
        add("")
    add("**Targets.**")
    add("")
    add("| Target | Measured (wall time) | |")
    add("|---|---|---|")
    if idle.get("rows"):
        worst = max(r["ratio"] for r in idle["rows"][:2])
        add(f"| idle ≤ 1.01× (`-c pass`, `-c \"import json\"`) | {worst:.3f}× (the worse of the two) | "
            f"{verdict(worst <= 1.01)} |")
        heavy = sorted({m for a in idle["added"].values() for m in a["heavy"]} | set(idle["heavy_importtime"]))
        add(f"| no pip, packaging or pynvml import at start-up | {', '.join(heavy) or 'none imported'} | "
            f"{verdict(not heavy)} |")
    for w in work:
        t = w["tools"]
        ratio = t["hook"]["seconds"] / t["hand"]["seconds"]
        low, mid, high = w["paired"]
        add(f"| working ≤ 1.10× by hand, {w['machine']} machine | {ratio:.2f}× (run by run: median {mid:.2f}×, "
            f"middle half {low:.2f}–{high:.2f}×) | {verdict(ratio <= 1.10)} |")
        if "ltt" in t:
            add(f"| fewer requests than light-the-torch, {w['machine']} machine | {t['hook']['requests']:.0f} vs "
                f"{t['ltt']['requests']:.0f} | {verdict(t['hook']['requests'] < t['ltt']['requests'])} |")
    for lat in latency:
        loop = next((w for w in work if w["machine"] == lat["machine"]), None)
        for label, row, limit in (("on loopback", loop, 1.05), (f"at +{lat['delay_ms']:g} ms per request", lat, 1.10)):
            if row is None:
                continue
            t = row["tools"]
            ratio = t["hook"]["seconds"] / t["hand"]["seconds"]
            low, mid, high = row["paired"]
            add(f"| {lat['machine']} machine, `pip install` ≤ {limit:.2f}× by hand {label} (issue 11) | "
                f"{ratio:.2f}× (run by run: median {mid:.2f}×, middle half {low:.2f}–{high:.2f}×); "
                f"{t['hook']['requests']:.0f} vs {t['hand']['requests']:.0f} requests | "
                f"{verdict(ratio <= limit)} |")
    for c in cold:
        low, mid, high = c["paired"]
        n = c["tools"]["hook"]["n"]
        add(f"| {c['machine']} machine, cache directory off: `pip install` ≤ 1.05× by hand on loopback, median of "
            f"≥ 25 pairs (issue 21) | {mid:.3f}× over {n} pairs (middle half {low:.2f}–{high:.2f}×) | "
            f"{verdict(mid <= 1.05 and n >= 25)} |")
        counts = c.get("instructions")
        if counts:
            ratio = counts["hook"][0] / counts["hand"][0]
            add(f"| the same, in instructions (callgrind; not a wall-time figure) | {ratio:.3f}× (the floor without "
                f"ltt-hook code: {counts['floor_offer'][0] / counts['hand'][0]:.3f}×) | {verdict(ratio <= 1.05)} |")
    if detect:
        add(f"| detection ≤ 30 ms, NVML path | {detect[0]['detect_ms']:.1f} ms | "
            f"{verdict(detect[0]['detect_ms'] <= 30)} |")
    return "\n".join(L) + "\n"


def write_readme(text: str) -> None:
    readme = REPO / "docs" / "benchmarks.md"
    content = readme.read_text()
    if MARK_BEGIN not in content or MARK_END not in content:
        sys.exit("docs/benchmarks.md has no benchmarks markers")
    head, rest = content.split(MARK_BEGIN, 1)
    readme.write_text(head + MARK_BEGIN + "\n" + text + MARK_END + rest.split(MARK_END, 1)[1])


def main() -> None:
    ap = argparse.ArgumentParser(description="Benchmarks for ltt-hook (see docs/benchmarks.md).")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    ap.add_argument("--idle-reps", type=int, help="interpreter starts per side (default 100, quick 40)")
    ap.add_argument("--pip-reps", type=int, help="pip runs per tool (default 11, quick 3)")
    ap.add_argument("--detect-reps", type=int, help="detection processes per path (default 30, quick 10)")
    ap.add_argument("--scale-reps", type=int, help="pip runs per tool and replica (default 7, quick 2)")
    ap.add_argument("--latency-reps", type=int, help="pip runs per tool with added latency (default 11, quick 3)")
    ap.add_argument("--cold-reps", type=int, help="pairs with pip's cache directory off (default 25, quick 5)")
    ap.add_argument("--instructions", type=int, help="callgrind runs per row of the cold section (default 3, quick 1; "
                    "0 skips; needs valgrind)")
    ap.add_argument("--other-reps", type=int, help="pairs per cache setting outside the PyTorch family (default 25, "
                    "quick 5)")
    ap.add_argument("--delay-ms", type=float, default=40.0,
                    help="latency added to every request in the latency section (default 40)")
    ap.add_argument("--sizes", default="5,15,40", help="torch releases per scaling replica (default 5,15,40)")
    ap.add_argument("--only", default="idle,working,latency,cold,other,detection,scaling",
                    help="comma-separated sections to run")
    ap.add_argument("--ref", help="build ltt-hook from this git commit instead of the working tree")
    ap.add_argument("--json", type=Path, help="also write the raw results to this file")
    ap.add_argument("--readme", action="store_true", help="write the result into docs/benchmarks.md")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    quick = args.quick
    idle_reps = args.idle_reps or (40 if quick else 100)
    pip_reps = args.pip_reps or (3 if quick else 11)
    detect_reps = args.detect_reps or (10 if quick else 30)
    scale_reps = args.scale_reps or (2 if quick else 7)
    latency_reps = args.latency_reps or (3 if quick else 11)
    cold_reps = args.cold_reps or (5 if quick else 25)
    other_reps = args.other_reps or (5 if quick else 25)
    instruction_runs = args.instructions if args.instructions is not None else (1 if quick else 3)
    only = set(args.only.split(","))
    shown = {"--quick": args.quick, "--idle-reps": args.idle_reps, "--pip-reps": args.pip_reps,
             "--detect-reps": args.detect_reps, "--scale-reps": args.scale_reps,
             "--latency-reps": args.latency_reps, "--cold-reps": args.cold_reps, "--other-reps": args.other_reps,
             "--instructions": None if args.instructions is None else str(args.instructions),
             "--delay-ms": None if args.delay_ms == 40 else f"{args.delay_ms:g}",
             "--sizes": None if args.sizes == "5,15,40" else args.sizes,
             "--only": None if len(only) == 7 else args.only, "--ref": args.ref}
    command = "python benchmarks/run.py" + "".join(
        f" {k}" if v is True else f" {k} {v}" for k, v in shown.items() if v)

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="ltt-bench-"))
    s = None
    try:
        s = setup(work, args.ref)
        log(f"set-up done in {time.perf_counter() - started:.0f} s (work directory {work})")
        idle = idle_cost(s, idle_reps) if "idle" in only else {}
        wk = working_cost(s, pip_reps) if "working" in only else []
        lat = latency_cost(s, latency_reps, args.delay_ms) if "latency" in only else []
        cold = cold_cost(s, cold_reps, instruction_runs) if "cold" in only else []
        other = other_cost(s, other_reps) if "other" in only else []
        det = detection_cost(s, detect_reps) if "detection" in only else []
        sizes = [int(x) for x in args.sizes.split(",") if x]
        sc = scaling(s, scale_reps, sizes) if "scaling" in only else []
        info = machine_info(s)
        text = render(s, info, idle, wk, lat, det, sc, command, time.perf_counter() - started, cold, other)
        print(text)
        if args.json:
            args.json.write_text(json.dumps({"machine": info, "idle": idle, "working": wk, "latency": lat, "cold": cold,
                                             "other": other,
                                             "detection": det, "scaling": sc}, indent=1, default=str))
        if args.readme:
            write_readme(text)
            log("docs/benchmarks.md updated")
    finally:
        if s is not None:
            for server in s.servers:
                server.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
