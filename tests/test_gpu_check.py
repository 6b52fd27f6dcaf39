"""``python -m benchmarks.gpu_check``: its dry run on the CPU writes the eight files with the
structure the GPU run fills; its kernel cases reach every CUDA kernel; the pieces it relies on
(the pytest deadline plugin, JUnit parsing, the GPU profile that never raises, the benchmark
run that goes on past a failing workload, no settling pause on a GPU, PyTorch's TF32 switches
set to autodiff's precision) do what they say."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import benchmarks.__main__ as bench_main
from benchmarks import gpu, gpu_check, harness
from benchmarks.workloads import REGISTRY

ROOT = Path(__file__).resolve().parents[1]


def _env(**kw) -> dict:
    env = dict(os.environ, **kw)
    env.pop("AUTODIFF_CUPY_STANDIN", None)
    return env


# ----------------------------------------------------------------------------- the dry run
@pytest.mark.slow
def test_dry_run_writes_the_eight_files(tmp_path):
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--out", str(out),
                          "--dry-run"], cwd=ROOT, env=_env(), capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(gpu_check.OUT_FILES)
    s = json.loads((out / "summary.json").read_text())
    assert s["dry_run"] and s["elapsed_s"] < s["budget_s"]
    assert s["device"]["gpu"].startswith("none") and s["device"]["numpy"]
    k = s["kernels"]
    assert k["failed"] == 0 and k["ok"] == 2 * len(gpu_check.kernel_cases()) == len(k["cases"])
    assert {c["dtype"] for c in k["cases"]} == {"float32", "float64"}
    assert all(c["max_rel_err"] == 0 for c in k["cases"])
    t = s["pytest"]
    assert t["returncode"] == 0 and t["collected"] == 2 and t["tests"] == 2
    assert t["passed"] + t["skipped"] == 2 and t["failures"] == t["errors"] == 0
    assert t["stopped"] is None and t["targets"] == list(gpu_check.DRY_TESTS)
    b = s["bench"]
    assert b["returncode"] == 0 and b["rows"] == 1 and b["errors"] == []
    rows = json.loads((out / "bench.json").read_text())
    assert rows[0]["workload"].startswith("op overhead") and rows[0]["autodiff_s"] > 0
    profiles = json.loads((out / "profiles.json").read_text())
    assert [p["workload"] for p in profiles] == [rows[0]["workload"]]
    assert {"autodiff", "pytorch", "ratio"} <= set(profiles[0])
    report = (out / "REPORT.md").read_text()
    for part in ("(dry run)", "## Kernels: %d ok, 0 failed" % k["ok"], "## pytest: ",
                 "## Benchmarks (1 rows", "## Profiles", rows[0]["workload"]):
        assert part in report, part
    if rows[0].get("ratio"):       # with PyTorch installed: the RESULTS table has the row
        assert "| op overhead" in b["results_table"] and "**" in b["results_table"]
    cases = list(ET.parse(out / "pytest.xml").getroot().iter("testcase"))
    assert len(cases) == 2
    with tarfile.open(out / "logs.tar.gz") as tf:
        logs = {m.name: tf.extractfile(m).read().decode() for m in tf.getmembers() if m.isfile()}
    assert set(logs) == {"pytest.log", "bench.log"}
    assert "-p benchmarks.pytest_deadline" in logs["pytest.log"]
    assert "--backend numpy" in logs["bench.log"] and "op overhead" in logs["bench.log"]
    with tarfile.open(out / "kernel_cache.tar.gz") as tf:
        assert tf.getnames() == ["kernel_cache"]


# ----------------------------------------------------------------------------- kernels
def _kernel_names_in_source() -> set[str]:
    src = (ROOT / "backends" / "cuda_kernels.py").read_text()
    return set(re.findall(r'_(?:elementwise|raw)\(\s*f?"([^"]+)"', src))


def test_kernel_cases_reach_every_cuda_kernel():
    names = _kernel_names_in_source()
    assert {"relu_bw", "sce_fwd", "sce_bw_{lt}", "bn_dx", "adam_amsgrad"} <= names
    declared = {k for case in gpu_check.kernel_cases() for k in case[2]}
    assert declared == names, f"kernels without a case: {sorted(names - declared)}; " \
                              f"cases naming no kernel: {sorted(declared - names)}"


def test_kernel_check_reports_a_wrong_result_and_goes_on(monkeypatch):
    """The second call of each case is the "device" one: a twin that is off by 1e-2 there, and
    one that raises, are reported per case while the other cases still pass."""
    from autodiff.backends import cuda_kernels as ck
    calls = []
    real = ck.sigmoid_backward

    def off(y, g):
        calls.append(1)
        return real(y, g) + (1e-2 if len(calls) % 2 == 0 else 0.0)

    def broken(*a, **k):
        raise RuntimeError("nvrtc: compilation failed")
    monkeypatch.setattr(ck, "sigmoid_backward", off)
    monkeypatch.setattr(ck, "adam_update", broken)
    res = gpu_check.check_kernels(dry_run=True)
    bad = {(c["case"], c["dtype"]): c for c in res["cases"] if not c["ok"]}
    assert set(bad) == {(n, d) for n in ("sigmoid_backward", "adam_update",
                                         "adam_update amsgrad decoupled")
                        for d in ("float32", "float64")}
    assert bad["sigmoid_backward", "float64"]["max_rel_err"] > 1e-3
    assert "nvrtc: compilation failed" in bad["adam_update", "float32"]["error"]
    assert res["ok"] == len(res["cases"]) - 6


# ----------------------------------------------------------------------------- pytest phase
def test_pytest_deadline_stops_cleanly_and_reports(tmp_path):
    (tmp_path / "test_three.py").write_text(
        "import time\n" + "".join(f"def test_{i}():\n    time.sleep(0.2)\n" for i in range(3)))
    report, xml = tmp_path / "report.json", tmp_path / "r.xml"
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
         "benchmarks.pytest_deadline", f"--junitxml={xml}", "--rootdir", str(tmp_path),
         str(tmp_path / "test_three.py")], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env=_env(AUTODIFF_PYTEST_DEADLINE="0", AUTODIFF_PYTEST_REPORT=str(report),
                 PYTHONPATH=str(ROOT)))
    rep = json.loads(report.read_text())
    assert rep["collected"] == 3 and "time budget reached after" in rep["stopped"], res.stdout
    summary = gpu_check.junit_summary(xml)
    assert summary["tests"] == 1 and summary["passed"] == 1


def test_junit_summary_lists_failures(tmp_path):
    xml = tmp_path / "j.xml"
    xml.write_text(
        '<testsuites><testsuite tests="4" failures="1" errors="1" skipped="1">'
        '<testcase classname="tests.test_a" name="test_ok"/>'
        '<testcase classname="tests.test_a" name="test_bad"><failure message="assert 1 == 2'
        '&#10;more">tb</failure></testcase>'
        '<testcase classname="tests.test_b" name="test_err"><error message="TypeError: x"/>'
        '</testcase><testcase classname="tests.test_b" name="test_skip"><skipped/></testcase>'
        '</testsuite></testsuites>')
    s = gpu_check.junit_summary(xml)
    assert (s["tests"], s["passed"], s["failures"], s["errors"], s["skipped"]) == (4, 1, 1, 1, 1)
    assert s["failed_tests"] == [
        {"test": "tests.test_a::test_bad", "kind": "failure", "message": "assert 1 == 2"},
        {"test": "tests.test_b::test_err", "kind": "error", "message": "TypeError: x"}]
    assert gpu_check.junit_summary(tmp_path / "none.xml")["tests"] == 0


def test_pytest_targets_put_the_gpu_files_first():
    t = gpu_check.pytest_targets(dry_run=False)
    paths = [p for p in t if not p.startswith("--")]
    assert paths[0] == "tests/test_gpu_backend.py" and paths[-1] == "tests"
    assert all((ROOT / p).exists() for p in paths)
    assert "--deselect=tests/test_gpu_check.py::test_dry_run_writes_the_eight_files" in t


def test_fresh_checkout_is_installed_then_restarted(monkeypatch, tmp_path):
    ran, execs = [], []
    monkeypatch.setattr(gpu_check, "_importable", lambda: False)
    monkeypatch.delenv("AUTODIFF_GPU_CHECK_SETUP", raising=False)
    monkeypatch.setenv("PYTHONPATH", "")
    assert gpu_check.ensure_importable(run=lambda cmd, check: ran.append(cmd),
                                       execv=lambda exe, argv: execs.append(argv))
    assert ran[0][1:] == ["-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "-e", str(ROOT)]
    assert execs[0][1:3] == ["-m", "benchmarks.gpu_check"]
    assert os.environ["AUTODIFF_GPU_CHECK_SETUP"].startswith("pip install")
    with pytest.raises(RuntimeError, match="still not importable"):     # no restart loop
        gpu_check.ensure_importable(run=None, execv=None)

    def offline(cmd, check):
        raise subprocess.CalledProcessError(1, cmd)
    monkeypatch.delenv("AUTODIFF_GPU_CHECK_SETUP")
    gpu_check.ensure_importable(run=offline, execv=lambda exe, argv: execs.append(argv))
    tree = Path(os.environ["PYTHONPATH"].split(os.pathsep)[0])
    assert "symlinked package tree" in os.environ["AUTODIFF_GPU_CHECK_SETUP"]
    assert len(execs) == 2
    monkeypatch.undo()
    assert not gpu_check.ensure_importable(run=None, execv=None)     # installed: nothing to do
    # the tree imports as the installed package does, in a fresh interpreter
    res = subprocess.run([sys.executable, "-S", "-c",
                          "import autodiff, autodiff.backends.precision, autodiff.nn, "
                          "autodiff.optim; print(autodiff.backends.__file__)"],
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                             [str(tree), *sys.path[1:]])),
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    shutil.rmtree(tree)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(tree / "autodiff" / "backends" / "__init__.py")


# ----------------------------------------------------------------------------- benchmarks
def test_gpu_profile_never_raises_without_a_gpu():
    prof = gpu.gpu_profile(lambda: None)
    assert prof["cpu_s"] is None and prof["launches"] is None
    assert any("timing failed" in n for n in prof["notes"])
    assert bench_main.profile_cells(prof) == "cpu n/a gpu n/a launches n/a"


def test_gpu_profile_divides_by_the_steps_per_call(monkeypatch):
    from autodiff.backends.cupy_backend import LaunchCount
    import types
    monkeypatch.setattr(gpu, "_cupy", lambda: types.SimpleNamespace(cuda=types.SimpleNamespace(
        Device=lambda: types.SimpleNamespace(synchronize=lambda: None))))
    monkeypatch.setattr(gpu, "gpu_time", lambda fn, **kw: gpu.GpuTime(0.04, 0.01, 20))
    monkeypatch.setattr(gpu, "count_launches", lambda fn: LaunchCount(
        40, 4, 0, "torch", "", kernels=["gemm"] * 30 + ["relu"] * 10))
    prof = gpu.gpu_profile(lambda: None, per=10)
    assert prof["cpu_s"] == pytest.approx(0.004) and prof["gpu_s"] == pytest.approx(0.001)
    assert prof["launches"] == 4 and prof["memcpy"] == pytest.approx(0.4)
    assert prof["kernels"] == {"gemm": 3, "relu": 1} and prof["launch_method"] == "torch"
    assert bench_main.profile_cells(prof) == "cpu 4.00 ms gpu 1.00 ms launches 4"


def test_benchmarks_keep_going_past_a_failing_workload(tmp_path, monkeypatch):
    w = next(w for w in REGISTRY if w.group == "overhead")

    def broken(device):
        raise RuntimeError("CUDA_ERROR_ILLEGAL_ADDRESS")
    monkeypatch.setattr(w, "build", broken)
    out = tmp_path / "b.json"
    with pytest.raises(RuntimeError):
        bench_main.main(["--only", "overhead", "--budget", "0.01"])
    rows = bench_main.main(["--only", "overhead", "--budget", "0.01", "--keep-going",
                            "--json", str(out)])
    assert rows == json.loads(out.read_text())
    assert rows[0]["error"] == "RuntimeError: CUDA_ERROR_ILLEGAL_ADDRESS"
    assert gpu_check.profiles(rows) == []


def test_no_settling_pause_on_a_gpu(monkeypatch):
    clock, sleeps = [0.0], []
    monkeypatch.setattr(harness.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(harness.time, "sleep", sleeps.append)

    def step():
        clock[0] += 0.001
    harness.measure_pair(step, step, budget_s=0.01, settle_s=0.0)
    assert sleeps == []
    harness.measure_pair(step, step, budget_s=0.01)
    assert sleeps and set(sleeps) == {harness.SETTLE_S}


def test_pytorch_tf32_follows_autodiff_precision(torch, monkeypatch):
    import autodiff as ad
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("CUPY_TF32", raising=False)
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = True                      # PyTorch's default
        _, (device, _) = bench_main._torch("cupy")
        assert device == "cuda"
        assert torch.backends.cudnn.allow_tf32 is False
        assert torch.backends.cuda.matmul.allow_tf32 is False
        monkeypatch.setenv("CUPY_TF32", "1")
        assert ad.get_float32_matmul_precision() == "high"
        bench_main._torch("cupy")
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_aims_read_from_the_rows():
    rows = [{"workload": "wide MLP 4096x4096 x2, batch 4096, train step", "group": "wide-gpu",
             "gflops": 45_000.0, "ratio": 1.1},
            {"workload": "ResNet-20 CIFAR train step, batch 128", "group": "resnet", "ratio": 1.3},
            {"workload": "small MNIST CNN train step, batch 64", "group": "cnn", "ratio": 1.1},
            {"workload": "MLP 784-100-10 train step (SGD), batch 64", "group": "mlp-train",
             "ratio": 1.4},
            {"workload": "MLP 784-100-10 train step (SGD), batch 1024", "group": "mlp-train",
             "ratio": 3.0}]
    got = {a["workload"]: (a["value"], a["met"])
           for a in gpu_check.aims(rows, {"torch_tflops": 50.0})}
    assert got == {rows[0]["workload"]: (0.9, True), rows[1]["workload"]: (1.3, False),
                   rows[2]["workload"]: (1.1, True), rows[3]["workload"]: (1.4, True)}
    assert gpu_check.aims(rows[:1], {}) == []         # no PyTorch rate: nothing to compare
