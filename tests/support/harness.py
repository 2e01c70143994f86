"""Real virtualenvs with real pip, isolated from this machine's own pip configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

REPO = Path(__file__).resolve().parents[2]
#: The pip every end-to-end test runs unless the matrix runner says otherwise.
PIP_VERSION = os.environ.get("LTT_TEST_PIP", "26.3")
HOOK_DEPENDENCIES = ("packaging", "nvidia-ml-py")


def cache_dir() -> Path:
    path = Path(os.environ.get("LTT_TEST_CACHE", REPO / ".ltt-test-cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def wheelhouse(pip_version: str = PIP_VERSION) -> Path:
    """pip and the hook's dependencies as wheels, downloaded once (PyPI is reachable here)."""
    house = cache_dir() / "wheelhouse"
    house.mkdir(exist_ok=True)
    wanted = [f"pip=={pip_version}", *HOOK_DEPENDENCIES]
    have = {p.name.split("-")[0].lower().replace("_", "-") + "==" + p.name.split("-")[1] for p in house.glob("*.whl")}
    names = {p.name.split("-")[0].lower().replace("_", "-") for p in house.glob("*.whl")}
    missing = [w for w in wanted if (w not in have if "==" in w else w not in names)]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:",
                        "--no-deps", "-d", str(house), *missing], check=True)
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


@dataclass
class Venv:
    path: Path
    home: Path
    #: Environment every command in this venv starts from (index URLs, machine stand-ins).
    base_env: Dict[str, str] = field(default_factory=dict)

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @classmethod
    def create(cls, path: Path, *, hook: Optional[Path], pip_version: str = PIP_VERSION,
               python: str = sys.executable) -> "Venv":
        home = path.parent / (path.name + "-home")
        env = isolated_env(home)
        subprocess.run([python, "-m", "virtualenv", "--quiet", "--no-download", "--no-periodic-update",
                        "--activators", "", str(path)], check=True, env=env)
        house = wheelhouse(pip_version)
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


def write_config(path: Path, sections: Mapping[str, Mapping[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
                            for name, values in sections.items()))
    return path


def nvidia_machine(lib_dir: Path, driver: str, gpus: Sequence[tuple]) -> Dict[str, str]:
    """Environment for a machine with an NVIDIA driver and GPUs, seen through the real pynvml."""
    from support import gpu

    return gpu.nvml_env(lib_dir, driver=driver, gpus=list(gpus))
