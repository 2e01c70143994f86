"""Real virtualenvs with real pip, isolated from this machine's own pip configuration."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[2]
#: The interpreter of every test virtualenv: ``LTT_TEST_PYTHON=/path/to/python3.9 python -m pytest``
#: runs the suite against another CPython (pytest itself keeps running here).
TEST_PYTHON = os.environ.get("LTT_TEST_PYTHON") or sys.executable
HOOK_DEPENDENCIES = ("packaging", "nvidia-ml-py")


@dataclass(frozen=True)
class PythonInfo:
    """What the tests need to know about an interpreter."""

    version: Tuple[int, int]
    free_threaded: bool

    @property
    def tag(self) -> str:
        """The interpreter tag of its wheels: ``cp311``, ``cp313t`` (free-threaded)."""
        return f"cp{self.version[0]}{self.version[1]}{'t' if self.free_threaded else ''}"

    @property
    def wheel_tags(self) -> str:
        """Python and ABI tag of its wheels: ``cp311-cp311``, ``cp313-cp313t``."""
        return f"cp{self.version[0]}{self.version[1]}-{self.tag}"

    @property
    def dotted(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"


@functools.cache
def python_info(python: str = TEST_PYTHON) -> PythonInfo:
    """Version and build of ``python`` (asked once per interpreter)."""
    code = ("import sys, sysconfig; print(*sys.version_info[:2], "
            "int(bool(sysconfig.get_config_var('Py_GIL_DISABLED'))))")
    out = subprocess.run([str(python), "-I", "-c", code], check=True, capture_output=True, text=True).stdout
    major, minor, free = (int(x) for x in out.split())
    return PythonInfo((major, minor), bool(free))


def test_python() -> PythonInfo:
    """The interpreter of the test virtualenvs (``LTT_TEST_PYTHON``, else the one running pytest)."""
    return python_info(TEST_PYTHON)


test_python.__test__ = False  # type: ignore[attr-defined]  # not a test, despite the name

#: The newest pip on Pythons that the newest pip no longer supports (pip 26.1 requires 3.10).
NEWEST_PIP_FOR = {(3, 9): "26.0.1"}
#: The pip every end-to-end test runs unless the matrix runner says otherwise: the newest one
#: that runs on the test Python.
PIP_VERSION = os.environ.get("LTT_TEST_PIP") or NEWEST_PIP_FOR.get(test_python().version, "26.3")


def releases_for(info: Optional[PythonInfo] = None) -> list:
    """The replica's stable torch releases with wheels for ``info`` (default: the test Python), oldest first."""
    from support import replica

    tag = (info or test_python()).tag
    return sorted((r for r in replica.DEFAULT_RELEASES if tag in replica.release_pythons(r.torch)),
                  key=lambda r: replica._vkey(r.torch))


def newest_release(info: Optional[PythonInfo] = None):
    """The release a plain ``pip install torch`` gets on ``info`` (2.14.1 on 3.10+, 2.8.0 on 3.9)."""
    return releases_for(info)[-1]


#: For the newest release of each test Python: its best build for driver 550 + RTX 3090 (sm_86) and
#: for driver 580 + H100 (sm_90), and a CUDA backend it has that is neither. Worked out by hand
#: from ltt_hook/data.py: 2.14 has cu126/cu130/cu132 (CUDA 13 needs driver 580); 2.8, the last
#: release for Python 3.9, has cu126/cu128/cu129 and no CUDA 13.
NEWEST_BUILDS = {"2.14.1": ("cu126", "cu132", "cu130"), "2.8.0": ("cu129", "cu129", "cu128")}


def cache_dir() -> Path:
    path = Path(os.environ.get("LTT_TEST_CACHE", REPO / ".ltt-test-cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def wheelhouse(pip_version: str = PIP_VERSION, python: str = TEST_PYTHON) -> Path:
    """pip and the hook's dependencies as wheels for ``python``, downloaded once (PyPI is reachable here)."""
    info = python_info(python)
    house = cache_dir() / "wheelhouse" / info.tag
    house.mkdir(parents=True, exist_ok=True)
    wanted = [f"pip=={pip_version}", *HOOK_DEPENDENCIES]
    have = {p.name.split("-")[0].lower().replace("_", "-") + "==" + p.name.split("-")[1] for p in house.glob("*.whl")}
    names = {p.name.split("-")[0].lower().replace("_", "-") for p in house.glob("*.whl")}
    missing = [w for w in wanted if (w not in have if "==" in w else w not in names)]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:",
                        "--python-version", info.dotted, "--no-deps", "-d", str(house), *missing], check=True)
    return house


def build_hook_wheel(dist: Path) -> Path:
    """The project's wheel, built from this checkout into ``dist``."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(REPO)], check=True, env=isolated_env(Path(dist)))
    return next(dist.glob("ltt_hook-*.whl"))


def isolated_env(home: Path, extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """This process's environment without any pip or ltt-hook settings and with no pip config
    file of the machine in reach (PIP_CONFIG_FILE=/dev/null loads none; tests that need a
    config file pass their own PIP_CONFIG_FILE and XDG_CONFIG_DIRS)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "LTT_", "FAKE_NVML_", "VIRTUAL_ENV", "PYTHON"))
           and k not in ("LD_LIBRARY_PATH",)}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_CONFIG_DIRS=str(home / "xdg"),
               PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_CACHE_DIR="1",
               PIP_NO_INPUT="1", LTT_SYSROOT=str(home / "sysroot"), PATH=f"{home / 'bin'}:/usr/bin:/bin")
    env.update(extra or {})
    return env


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    report: Optional[dict] = None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def chosen(self) -> Dict[str, str]:
        """project -> version pip chose (from ``--report``)."""
        assert self.report is not None, self.output
        return {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in self.report["install"]}

    def url(self, project: str) -> str:
        assert self.report is not None
        return next(i["download_info"]["url"] for i in self.report["install"]
                    if i["metadata"]["name"].lower() == project)

    def wheel(self, project: str) -> Tuple[str, str]:
        """(backend directory, file name) of the wheel pip chose for ``project``."""
        path = urllib.parse.urlsplit(self.url(project)).path
        directory, _, name = urllib.parse.unquote(path).rpartition("/")
        return directory, name

    def assert_build(self, project: str, version: str, backend: str, platform_tag: str) -> None:
        """pip chose ``project`` ``version``+``backend`` as the ``platform_tag`` wheel of the test
        Python, from the backend's page."""
        assert self.chosen[project] == f"{version}+{backend}", self.output
        tags = test_python().wheel_tags
        assert self.wheel(project) == (f"/whl/{backend}", f"{project}-{version}+{backend}-{tags}-{platform_tag}.whl")


@dataclass
class Venv:
    path: Path
    home: Path
    #: Environment every command in this venv starts from (index URLs, machine stand-ins).
    base_env: Dict[str, str] = field(default_factory=dict)

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def info(self) -> PythonInfo:
        """Version and wheel tags of this virtualenv's interpreter."""
        return python_info(str(self.python))

    @classmethod
    def create(cls, path: Path, *, hook: Optional[Path], pip_version: str = PIP_VERSION,
               python: Optional[str] = None) -> Venv:
        """A virtualenv of ``python`` (default: TEST_PYTHON) with pip ``pip_version`` and, if given, the hook."""
        python = python or TEST_PYTHON
        home = path.parent / (path.name + "-home")
        env = isolated_env(home)
        subprocess.run([sys.executable, "-m", "virtualenv", "--quiet", "--no-download", "--no-periodic-update",
                        "--activators", "", "--python", str(python), str(path)], check=True, env=env)
        house = wheelhouse(pip_version, python)
        pip = [str(path / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index", "-f", str(house)]
        subprocess.run([*pip, f"pip=={pip_version}"], check=True, env=env)
        if hook is not None:
            subprocess.run([*pip, str(hook)], check=True, env=env)
        return cls(path, home)

    def env(self, extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
        env = isolated_env(self.home, self.base_env)
        env["PATH"] = f"{self.home / 'bin'}:{self.path / 'bin'}:/usr/bin:/bin"
        env.update(extra or {})
        return env

    def run(self, *args: str, env: Optional[Mapping[str, str]] = None, timeout: float = 240) -> Result:
        proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                              env=self.env(env), cwd=str(self.home))
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def pip(self, *args: str, env: Optional[Mapping[str, str]] = None, report: bool = True) -> Result:
        """``python -m pip ARGS``; for install with ``report``, a dry run with ``--report``."""
        extra: List[str] = []
        out = self.home / "report.json"
        if report and "install" in args[:2] and "--help" not in args:
            if out.exists():
                out.unlink()
            extra = ["--dry-run", "--report", str(out)]
        result = self.run(self.python, "-m", "pip", *args, *extra, env=env)
        if extra and result.returncode == 0:
            result.report = json.loads(out.read_text())
        return result

    def installed(self) -> Dict[str, str]:
        result = self.run(self.python, "-m", "pip", "list", "--format=json")
        assert result.returncode == 0, result.output
        return {p["name"].lower(): p["version"] for p in json.loads(result.stdout)}

    def site_packages(self) -> Path:
        return next((self.path / "lib").glob("python3*/site-packages"))


def fails_in_one_line(venv: Venv, *args: str, env: Optional[Mapping[str, str]] = None) -> str:
    """Run a real ``pip install ARGS``: it must fail with exactly one ERROR line and change
    nothing (``pip list`` before and after); returns that line."""
    before = venv.installed()
    result = venv.pip("install", *args, report=False, env=env)
    errors = [line for line in result.output.splitlines() if line.startswith("ERROR")]
    assert result.returncode == 1, result.output
    assert len(errors) == 1, result.output
    assert venv.installed() == before
    return errors[0]


def write_config(path: Path, sections: Mapping[str, Mapping[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
                            for name, values in sections.items()))
    return path


def nvidia_machine(lib_dir: Path, driver: str, gpus: Sequence[tuple]) -> Dict[str, str]:
    """Environment for a machine with an NVIDIA driver and GPUs, seen through the real pynvml."""
    from support import gpu

    return gpu.nvml_env(lib_dir, driver=driver, gpus=list(gpus))


#: A ``sitecustomize`` that records, for every garbage collection of the process, the modules
#: being imported at that moment (the ``<module>`` frames on the stack); and at the end the
#: modules of ltt_hook and pynvml loaded and whether the collector is on.
RECORDER = '''
import atexit, gc, json, os, sys

_log = {"collections": [], "inside": []}

def _importing():
    frame, names = sys._getframe(2), []
    while frame is not None:
        if frame.f_code.co_name == "<module>":
            names.append(frame.f_globals.get("__name__", "?"))
        frame = frame.f_back
    return names

def _seen(phase, info):
    if phase == "start":
        _log["collections"].append(info["generation"])
        _log["inside"].append(_importing())

gc.callbacks.append(_seen)

@atexit.register
def _write():
    _log["loaded"] = sorted(m for m in sys.modules if m == "pynvml" or m.startswith("ltt_hook"))
    _log["enabled"] = gc.isenabled()
    with open(os.environ["LTT_TEST_RECORD"], "w") as f:
        json.dump(_log, f)
'''


def recorded_pip(venv: Venv, tmp_path: Path, *args: str, env: Mapping[str, str]) -> Tuple[Result, dict]:
    """``venv.pip(*args)`` with pip's cache directory off and :data:`RECORDER` running in pip's
    process; the result, and what the recorder saw (``collections``, ``inside``, ``loaded``,
    ``enabled``)."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(RECORDER)
    log = tmp_path / "recorded.json"
    result = venv.pip(*args, env={**env, "PYTHONPATH": str(site), "LTT_TEST_RECORD": str(log),
                                  "PIP_NO_CACHE_DIR": "1"})
    return result, json.loads(log.read_text()) if log.exists() else {}
