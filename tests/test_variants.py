"""What the tables do not know yet: an index's PEP 817 variants file (``torch-<version>-variants.json``
under ``<index>/variant/torch/``) gives the GPU architectures of a torch release the tables lack.
Read once per process through pip's session (pip's HTTP cache, the index's cache headers); without
a usable file the documented conservative rules hold, and pip goes on."""

from __future__ import annotations

import hashlib
import json

import pytest

from ltt_hook._packaging import Version
from ltt_hook.backends import parse_backend
from ltt_hook.config import Config
from ltt_hook.decision import Environment, Request, decide
from ltt_hook.detection import Gpu, Machine
from ltt_hook.selection import incompatibility, judged_by, rocm_arches, tables_know
from ltt_hook.variants import Facts, VariantsError, hash_problem, links, newest, parse
from support import replica
from support.harness import newest_release, test_python

PY = test_python()
URL = "https://mirror.example/whl/variant/torch/torch-2.20.0-variants.json"
#: A torch release no table knows (and none will soon), and its torchvision.
FUTURE, FUTURE_VISION = "2.20.0", "0.35.0"
#: A GPU generation after the tables: compute capability 13.0. The newest known rows of every
#: CUDA backend lack it (CUDA 13 release builds ship no PTX from 2.11 on); only old builds with
#: compute_120 PTX (2.10 cu130, 2.9 cu129, 2.7 cu128) run on it, so those pages are in the plan.
NEXT_GPU = ("13.0", "NVIDIA Next GPU")
RTX_3090 = ("8.6", "NVIDIA GeForce RTX 3090")
TURING_TO_BLACKWELL = ["75_real", "80_real", "86_real", "90_real", "100_real", "120_real"]


def b(name):
    return parse_backend(name)


def nvidia(driver, *caps, system="Linux", arch="x86_64"):
    return Machine(system, driver, [Gpu("nvidia", f"GPU {c}", c) for c in caps], arch=arch)


# --------------------------------------------------------------------------- parsing (pure)


def test_a_variants_file_gives_each_backends_architectures():
    body = json.dumps({
        "default-priorities": {"namespace": ["nvidia", "amd", "intel"]},
        "providers": {"nvidia": {"requires": ["nvidia-variant-provider"]}},
        "variants": {
            "cpu": {},
            "cu126": {"nvidia": {"cuda_version_lower_bound": ["12.6"],
                                 "sm_arch": ["50_real", "60_real", "70_real", "75_real", "80_real", "86_real", "90_real"]}},
            "cu130": {"nvidia": {"cuda_version_lower_bound": ["13.0"],
                                 "sm_arch": ["75_real", "80_real", "86_real", "90_real", "100_real", "120_real",
                                             "120_virtual"]}},
            "rocm7.1": {"amd": {"gfx_arch": ["gfx942", "gfx1100", "gfx1151"], "rocm_version": ["7.1"]}},
            "xpu": {"intel": {"device_ip": ["12.60.7"]}},
        },
    }).encode()
    facts = parse(body, URL)
    assert facts.source == URL and facts.platform == "linux-x86_64"
    assert facts.cuda == {
        "cu126": ((5, 0, False), (6, 0, False), (7, 0, False), (7, 5, False), (8, 0, False), (8, 6, False),
                  (9, 0, False)),
        "cu130": ((7, 5, False), (8, 0, False), (8, 6, False), (9, 0, False), (10, 0, False), (12, 0, True)),
    }
    assert facts.rocm == {"rocm7.1": frozenset({"gfx942", "gfx1100", "gfx1151"})}


def test_a_label_that_is_no_backend_takes_its_cuda_or_rocm_version():
    body = json.dumps({"variants": {
        "nvidia_cuda_12_8": {"nvidia": {"cuda_version_lower_bound": ["12.8"], "sm_arch": ["120_virtual"]}},
        "amd_rocm": {"amd": {"rocm_version": ["7.1"], "gfx_arch": ["gfx1100"]}},
        # Two variants that only their properties name as cu129: which one whl/cu129 holds is unknown.
        "a_129": {"nvidia": {"cuda_version_lower_bound": ["12.9"], "sm_arch": ["86_real"]}},
        "b_129": {"nvidia": {"cuda_version_lower_bound": ["12.9"], "sm_arch": ["90_real"]}},
        # A label that names the backend beats a variant that only its properties name so.
        "cu132": {"nvidia": {"cuda_version_lower_bound": ["13.2"], "sm_arch": ["90_real"]}},
        "other_132": {"nvidia": {"cuda_version_lower_bound": ["13.2"], "sm_arch": ["86_real"]}},
    }}).encode()
    facts = parse(body, URL)
    assert facts.cuda == {"cu128": ((12, 0, True),), "cu132": ((9, 0, False),)}
    assert facts.rocm == {"rocm7.1": frozenset({"gfx1100"})}


def test_entries_that_do_not_fit_are_left_out():
    body = json.dumps({"variants": {
        "cu130": {"nvidia": {"sm_arch": ["90a_real", "100f_real", 42, None, "sm_86", "compute_120", " 75_REAL "]}},
        "cu128": {"nvidia": {"sm_arch": "120_real"}},  # one string, not a list: taken
        "cu126": {"nvidia": ["86_real"]},
        "rocm7.2": {"amd": {"gfx_arch": ["gfx1100", "not-a-gfx", 7]}},
        "rocm7.1": {"amd": {"gfx_arch": []}},
        "cu129": "no properties",
        "cpu": {"nvidia": {"sm_arch": ["86_real"]}},  # not a CUDA build, whatever it lists
    }}).encode()
    facts = parse(body, URL)
    assert facts.cuda == {"cu130": ((7, 5, False), (8, 6, False), (12, 0, True)), "cu128": ((12, 0, False),)}
    assert facts.rocm == {"rocm7.2": frozenset({"gfx1100"})}
    assert parse(b'{"variants": {}}', URL).empty


@pytest.mark.parametrize("body", [b"", b"garbage", b"\xff\xfe", b"[]", b'{"variants": []}', b'{"files": []}',
                                  b"<html><body>Access Denied</body></html>"])
def test_a_body_that_is_no_variants_file_is_an_error_of_its_own(body):
    with pytest.raises(VariantsError):
        parse(body, URL)


def test_the_page_links_the_files_relative_absolute_or_as_json():
    page = "https://mirror.example/whl/variant/torch/"
    sha = "a" * 64
    html = (f'<a href="/whl/variant/torch/torch-2.20.0-variants.json#sha256={sha}">torch-2.20.0-variants.json</a>'
            "<a href='torch-2.20.1-variants.json'>x</a>"
            '<a href="https://other.example/f/torch-2.19.0-variants.json">y</a>'
            '<a href="/whl/variant/torch/torch-2.20.1-cp311-cp311-linux_x86_64-cu130.whl">w</a>'
            '<a href="torchvision-0.35.0-variants.json">v</a><a href="torch-not..a..version-variants.json">z</a>')
    assert links(html.encode(), page) == {
        Version("2.20.0"): f"https://mirror.example/whl/variant/torch/torch-2.20.0-variants.json#sha256={sha}",
        Version("2.20.1"): "https://mirror.example/whl/variant/torch/torch-2.20.1-variants.json",
        Version("2.19.0"): "https://other.example/f/torch-2.19.0-variants.json",
    }
    pep691 = json.dumps({"files": [{"filename": "torch-2.20.0-variants.json", "url": "torch-2.20.0-variants.json",
                                    "hashes": {"sha256": sha}}]}).encode()
    assert links(pep691, page) == {Version("2.20.0"): f"{page}torch-2.20.0-variants.json#sha256={sha}"}
    found = links(html.encode(), page)
    assert newest(found, Version("2.20")).endswith("torch-2.20.1-variants.json")
    assert newest(found, Version("2.21")) is None


def test_a_file_that_does_not_match_its_links_hash_is_caught():
    body = b'{"variants": {}}'
    good = hashlib.sha256(body).hexdigest()
    assert hash_problem(f"{URL}#sha256={good}", body) is None
    assert hash_problem(URL, body) is None
    assert "sha256" in hash_problem(f"{URL}#sha256={'0' * 64}", body)


# --------------------------------------------------------------------------- judging (pure)


def facts(**cuda):
    return Facts(URL, {name: tuple(arches) for name, arches in cuda.items()}, {})


def test_learned_rows_judge_a_release_the_tables_lack_and_only_such_a_release():
    machine = nvidia("580.65.06", (13, 0))
    future = Version("2.20")
    learned = facts(cu130=[(7, 5, False), (12, 0, False), (13, 0, False)])
    assert not tables_know(future) and tables_know(Version("2.14"))
    # Conservative: the newest known cu130 row (2.11-2.14, no PTX) lacks sm_130.
    assert "lack sm_130" in incompatibility(b("cu130"), future, machine)
    assert incompatibility(b("cu130"), future, machine, learned) is None
    # The file has no row for cu132: the conservative rule judges it.
    assert incompatibility(b("cu132"), future, machine, learned) is not None
    # A release the tables know is judged by them (they cite PyTorch's sources).
    assert incompatibility(b("cu130"), Version("2.14"), machine, learned) is not None
    # Other platforms keep the conservative rules: the files describe the Linux x86_64 builds.
    windows = nvidia("580.88", (13, 0), system="Windows", arch="AMD64")
    assert incompatibility(b("cu130"), future, windows, learned) is not None
    # The other way round: the file says the build lacks an architecture the old row had.
    ampere = nvidia("580.65.06", (8, 6))
    assert incompatibility(b("cu132"), future, ampere) is None
    assert "lack sm_86" in incompatibility(b("cu132"), future, ampere, facts(cu132=[(9, 0, False)]))


def test_judged_by_names_the_variants_file():
    machine = nvidia("580.65.06", (13, 0))
    row, source = judged_by(b("cu130"), Version("2.20"), machine, facts(cu130=[(12, 0, True), (13, 0, False)]))
    assert source == URL
    assert row == {"releases": "2.20-2.20", "platforms": ["linux-x86_64"], "backends": ["cu130"],
                   "arches": ["12.0", "13.0"], "ptx": ["12.0"]}
    row, source = judged_by(b("cu130"), Version("2.20"), machine)
    assert source != URL and row["releases"] == "2.11-2.15"


def test_rocm_builds_of_a_release_the_tables_lack_use_the_files_gfx_list():
    machine = Machine("Linux", None, [Gpu("amd", "Radeon", gfx="gfx1250")])
    learned = Facts(URL, {}, {"rocm7.14": frozenset({"gfx1100", "gfx1250"})})
    assert "lack gfx1250" in incompatibility(b("rocm7.14"), Version("2.20"), machine)
    assert incompatibility(b("rocm7.14"), Version("2.20"), machine, learned) is None
    assert rocm_arches(b("rocm7.14"), Version("2.20"), learned) == (frozenset({"gfx1100", "gfx1250"}), "rocm7.14")
    assert judged_by(b("rocm7.14"), Version("2.20"), machine, learned) == (
        {"releases": "2.20-2.20", "backends": ["rocm7.14"], "arches": ["gfx1100", "gfx1250"]}, URL)


def test_the_decision_judges_with_the_facts_it_is_given_and_stays_as_it_was():
    # What a variants file teaches is a value handed to the decision, not a change of it.
    machine = nvidia("580.65.06", (13, 0))
    decision = decide(Config(), machine, Request(requested=frozenset({"torch"})), Environment())
    build = Version("2.20.0+cu130")
    taught = facts(cu130=[(13, 0, False)])
    assert decision.rejects("torch", build, b("cu130")) is not None
    assert decision.rejects("torch", build, b("cu130"), taught) is None
    assert decision.rejects("torchvision", Version("0.35.0+cu130"), b("cu130"), taught) is None  # follows torch
    assert decision.rejects("torch", build, b("cu130")) is not None and decision.learned(Version("2.20")) is None


# --------------------------------------------------------------------------- reading (a stand-in for pip's session)


class Answer:
    def __init__(self, status, body=b""):
        self.status_code, self.content = status, body

    def raise_for_status(self):
        if self.status_code >= 400:
            raise OSError(f"HTTP {self.status_code}")


class Session:
    """pip's session as the hook uses it: ``get(url, headers=...)``; ``answers`` url -> Answer or exception."""

    def __init__(self, answers):
        self.answers, self.asked = answers, []

    def get(self, url, headers=None):
        self.asked.append(url)
        answer = self.answers.get(url, Answer(404))
        if isinstance(answer, Exception):
            raise answer
        return answer


CHANNEL = "https://mirror.example/whl"
PAGE = f"{CHANNEL}/variant/torch/"
GOOD = json.dumps({"variants": {"cu130": {"nvidia": {"sm_arch": ["130_real"]}}}}).encode()


def test_the_page_is_read_once_per_channel_and_each_file_once(caplog):
    from ltt_hook.pages import VariantFiles

    page = (f'<a href="/whl/variant/torch/torch-2.20.0-variants.json#sha256={hashlib.sha256(GOOD).hexdigest()}">a</a>'
            '<a href="torch-2.21.0-variants.json">b</a>').encode()
    session = Session({PAGE: Answer(200, page), f"{PAGE}torch-2.20.0-variants.json": Answer(200, GOOD),
                       f"{PAGE}torch-2.21.0-variants.json": Answer(200, GOOD)})
    files = VariantFiles()
    for _ in range(2):
        assert files.facts(session, CHANNEL, Version("2.20")).cuda == {"cu130": ((13, 0, False),)}
        assert files.facts(session, CHANNEL, Version("2.21")).source == f"{PAGE}torch-2.21.0-variants.json"
        assert files.facts(session, CHANNEL, Version("2.22")) is None  # the page links no 2.22 file
    # Fragments stay off the request (pip's HTTP cache keys on the URL without them).
    assert session.asked == [PAGE, f"{PAGE}torch-2.20.0-variants.json", f"{PAGE}torch-2.21.0-variants.json"]


@pytest.mark.parametrize("answer, cause", [
    (Answer(403), "answered HTTP 403"), (Answer(404), "answered HTTP 404"),
    (Answer(500), "HTTP 500"), (ConnectionRefusedError("[Errno 111] Connection refused"), "connection was refused"),
    (RecursionError("maximum recursion depth exceeded"), "maximum recursion depth"),
])
def test_a_page_that_cannot_be_read_teaches_nothing_and_raises_nothing(caplog, answer, cause):
    from ltt_hook.pages import VERBOSE, VariantFiles

    files = VariantFiles()
    session = Session({PAGE: answer})
    with caplog.at_level(VERBOSE, logger="ltt_hook"):
        assert files.facts(session, CHANNEL, Version("2.20")) is None
        assert files.facts(session, CHANNEL, Version("2.21")) is None
    assert session.asked == [PAGE]  # not asked again in this process
    assert cause in caplog.records[0].getMessage() and "conservative rules" in caplog.records[0].getMessage()


def test_a_file_that_does_not_match_its_hash_teaches_nothing(caplog):
    from ltt_hook.pages import VERBOSE, VariantFiles

    page = f'<a href="torch-2.20.0-variants.json#sha256={"0" * 64}">a</a>'.encode()
    session = Session({PAGE: Answer(200, page), f"{PAGE}torch-2.20.0-variants.json": Answer(200, GOOD)})
    with caplog.at_level(VERBOSE, logger="ltt_hook"):
        assert VariantFiles().facts(session, CHANNEL, Version("2.20")) is None
    assert "does not match" in caplog.text


def test_a_file_index_reads_the_directorys_page():
    from ltt_hook.pages import VariantFiles

    session = Session({})
    assert VariantFiles().facts(session, "file:///srv/whl", Version("2.20")) is None
    assert session.asked == ["file:///srv/whl/variant/torch/index.html"]


# --------------------------------------------------------------------------- real pip against the replica


@pytest.fixture
def future_index(tmp_path):
    """A replica holding only torch 2.20.0 (cpu, cu126, cu130, cu132), which no table knows."""
    root = tmp_path / "future"
    release = replica.Release(FUTURE, FUTURE_VISION, None, ("cpu", "cu126", "cu130", "cu132"), "manylinux_2_28_x86_64")
    replica.build_pytorch_index(root, releases=[release], python_tags=[PY.tag], nightly=False, test=False)
    return root


def variant_requests(server):
    return [path for _, path, _, _ in server.requests if path.startswith("/whl/variant/")]


def test_a_variants_file_lets_a_new_gpu_get_the_build_that_has_its_code(hook_venv, nvidia, future_index):
    env = nvidia("580.65.06", NEXT_GPU)
    with replica.IndexServer(future_index) as index:
        env["LTT_INDEX_URL"] = f"{index.url}/whl"
        # No variants file (the page answers 403): the conservative rule judges 2.20 by the newest
        # known cu130 row (2.11-2.14, no PTX), which lacks sm_130; cu129 and cu128 are not on
        # this index; so CPU.
        result = hook_venv.pip("install", "-v", "torch", "torchvision", env=env)
        assert result.returncode == 0, result.output
        assert (result.chosen["torch"], result.chosen["torchvision"]) == ("2.20.0+cpu", "0.35.0+cpu")
        assert "no GPU architectures" in result.output and "HTTP 403" in result.output
        # The tables alone would pick an older GPU release (2.10+cu130); the index holds 2.20,
        # so pip's one line does not repeat that expectation.
        assert "choosing torch" not in result.output, result.output
        # The index says 2.20's cu130 builds have sm_130 code: torch and torchvision get cu130.
        replica.publish_variants(future_index, {FUTURE: replica.variants_json(cuda={
            "cu126": ["50_real", "60_real", "70_real", "75_real", "80_real", "86_real", "90_real"],
            "cu130": [*TURING_TO_BLACKWELL, "130_real"], "cu132": [*TURING_TO_BLACKWELL, "130_real"]})})
        index.clear()
        result = hook_venv.pip("install", "-v", "torch", "torchvision", env=env)
        assert result.returncode == 0, result.output
        # cu132's list has sm_130 too, and it ranks above cu130
        assert (result.chosen["torch"], result.chosen["torchvision"]) == ("2.20.0+cu132", "0.35.0+cu132")
        assert "torch-2.20.0-variants.json" in result.output
        assert "choosing torch" not in result.output, result.output  # it installs 2.20.0, not 2.10
        # Once per process, for torch and torchvision alike: the page and the file.
        assert variant_requests(index) == ["/whl/variant/torch/", "/whl/variant/torch/torch-2.20.0-variants.json"]


def test_a_variants_file_that_drops_the_gpu_hands_over_to_the_next_backend(hook_venv, nvidia, future_index):
    env = nvidia("580.65.06", RTX_3090)
    with replica.IndexServer(future_index) as index:
        env["LTT_INDEX_URL"] = f"{index.url}/whl"
        # Conservative: the newest known cu132 row has sm_86 (cu134 is not on this index).
        result = hook_venv.pip("install", "torch", env=env)
        assert result.returncode == 0, result.output
        assert result.chosen["torch"] == "2.20.0+cu132"
        # The file says 2.20's cu132 builds start at Hopper: the next page, cu130, has sm_86.
        replica.publish_variants(future_index, {FUTURE: replica.variants_json(cuda={
            "cu130": TURING_TO_BLACKWELL, "cu132": ["90_real", "100_real", "120_real"]})})
        result = hook_venv.pip("install", "torch", env=env)
        assert result.returncode == 0, result.output
        assert result.chosen["torch"] == "2.20.0+cu130"


def test_the_file_is_read_once_and_cached_as_the_index_says(hook_venv, nvidia, future_index, tmp_path):
    replica.publish_variants(future_index, {
        FUTURE: replica.variants_json(cuda={"cu130": [*TURING_TO_BLACKWELL, "130_real"]}),
        "2.19.0": replica.variants_json(cuda={"cu130": TURING_TO_BLACKWELL})})
    env = nvidia("580.65.06", NEXT_GPU)
    # pip caches over plain HTTP only for a --trusted-host (as for any mirror); the tests' pip
    # runs with PIP_NO_CACHE_DIR=1, which --cache-dir overrides.
    cache = ["--trusted-host", "127.0.0.1", "--cache-dir", str(tmp_path / "pip-cache")]
    json_file = "/whl/variant/torch/torch-2.20.0-variants.json"
    with replica.IndexServer(future_index) as index:
        env["LTT_INDEX_URL"] = f"{index.url}/whl"
        for run in range(2):
            index.clear()
            result = hook_venv.pip("install", *cache, "torch", "torchvision", env=env)
            assert result.returncode == 0, result.output
            assert result.chosen["torch"] == "2.20.0+cu130", result.output
            # The page has no cache header: read each run. The file says max-age=600: read once.
            assert variant_requests(index) == ["/whl/variant/torch/"] + ([json_file] if run == 0 else [])
        index.clear()
        result = hook_venv.pip("install", "--no-cache-dir", "torch", env=env)
        assert result.chosen["torch"] == "2.20.0+cu130", result.output
        assert variant_requests(index) == ["/whl/variant/torch/", json_file]


def test_releases_the_tables_know_are_judged_by_them_without_asking_the_index(hook_venv, nvidia, tmp_path):
    known = newest_release()
    root = tmp_path / "known"
    replica.build_pytorch_index(root, releases=[known], python_tags=[PY.tag], nightly=False, test=False)
    # A variants file that contradicts the tables (cu126/cu132 without sm_86) is not even read.
    replica.publish_variants(root, {known.torch: replica.variants_json(cuda={
        name: ["90_real", "100_real", "120_real"] for name in known.backends if name.startswith("cu")})})
    with replica.IndexServer(root) as index:
        env = {**nvidia("580.65.06", RTX_3090), "LTT_INDEX_URL": f"{index.url}/whl"}
        result = hook_venv.pip("install", "torch", "torchvision", env=env)
        assert result.returncode == 0, result.output
        assert result.chosen["torch"].startswith(known.torch + "+cu"), result.chosen
        assert variant_requests(index) == []


@pytest.mark.parametrize("content", [b"\x00garbage{", b'{"variants": "cu130"}', b"<html>Access Denied</html>", None],
                         ids=["bytes", "wrong-shape", "html", "not-the-linked-file"])
def test_a_broken_variants_file_leaves_the_conservative_rules(hook_venv, nvidia, future_index, content):
    page = replica.publish_variants(future_index, {FUTURE: content or b"{}"})
    if content is None:  # a file that would teach cu130 has sm_130, but is not the one the page's hash names
        (page / f"torch-{FUTURE}-variants.json").write_text(json.dumps(replica.variants_json(cuda={
            "cu130": [*TURING_TO_BLACKWELL, "130_real"]})))
    with replica.IndexServer(future_index) as index:
        env = {**nvidia("580.65.06", NEXT_GPU), "LTT_INDEX_URL": f"{index.url}/whl"}
        result = hook_venv.pip("install", "-v", "torch", env=env)
        assert result.returncode == 0, result.output
        assert result.chosen["torch"] == "2.20.0+cpu"  # the hook is still on (else: PyPI's torch)
        assert "Traceback" not in result.output and "does not support pip" not in result.output
        line = next(line for line in result.output.splitlines() if "torch-2.20.0-variants.json" in line
                    and "no GPU architectures" in line)
        assert "conservative rules" in line, line
