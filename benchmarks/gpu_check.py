"""``python -m benchmarks.gpu_check --out DIR``: the one prepared run that proves the CuPy backend
on a GPU (issue 17), in under 8 minutes on a fresh machine that has CuPy, numba and PyTorch.

Phases, each bounded in time; a failure is recorded and the next phase runs:

1. device: GPU name, driver, CUDA runtime and driver versions, CuPy/numba/PyTorch versions,
   whether PyTorch has CUDA (without it the PyTorch columns ran on the CPU, marked ``*``).
2. kernels: every ElementwiseKernel/RawKernel of ``backends/cuda_kernels.py`` compiled (into a
   CuPy kernel cache this run tars up, ``--kernel-cache`` to start from one) and run on small
   inputs per dtype against its NumPy twin; a kernel that fails is reported, not fatal.
3. pytest: ``AUTODIFF_BACKEND=cupy python -m pytest`` (the GPU-relevant files first, then the
   rest) stopped cleanly at its deadline (``benchmarks.pytest_deadline``), JUnit XML kept; the
   ``backend`` fixture's tests compare CuPy and NumPy against the same references.
4. benchmarks: ``python -m benchmarks --backend cupy --json`` side by side with PyTorch CUDA on
   every workload (TF32 off on both sides), the RESULTS table, the plot, a profile per workload
   (CPU vs GPU time, launches per step, the most frequent kernels) for both sides.

Everything lands in ``--out`` as at most 8 files: ``summary.json`` (all phases, written after
each), ``REPORT.md`` (for benchmarks/RESULTS.md), ``pytest.xml``, ``bench.json``, ``bench.png``,
``profiles.json``, ``logs.tar.gz`` (the phases' output) and ``kernel_cache.tar.gz``.

``--dry-run`` runs the same plumbing on the CPU (the NumPy twins, a tiny pytest subset, one small
benchmark with a tiny budget): ``tests/test_gpu_check.py`` runs it in CI.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable

import numpy

ROOT = Path(__file__).resolve().parents[1]
OUT_FILES = ("summary.json", "REPORT.md", "pytest.xml", "bench.json", "bench.png",
             "profiles.json", "logs.tar.gz", "kernel_cache.tar.gz")
#: pytest runs these first on the GPU (the backend-parametrized and CuPy-path tests), then the
#: rest of ``tests`` until its deadline
GPU_FIRST = ("test_gpu_backend.py", "test_cuda_kernels.py", "test_fused_routes.py",
             "test_cupy_paths.py", "test_backend_seam.py", "test_ops_elementwise.py",
             "test_ops_reduce.py", "test_ops_shape.py", "test_ops_index.py", "test_ops_linalg.py",
             "test_nn_losses.py", "test_nn_layers.py", "test_conv.py", "test_conv_kernels.py",
             "test_pooling.py", "test_rnn.py", "test_optim.py", "test_resnet.py")
DRY_TESTS = ("tests/test_backend_seam.py::test_backend_fixture",)
#: not worth GPU time: the dry run of this script (CPU plumbing, tested in CI)
GPU_DESELECT = ("tests/test_gpu_check.py::test_dry_run_writes_the_eight_files",)


# ----------------------------------------------------------------------------- setup
def _importable() -> bool:
    try:
        return importlib.util.find_spec("autodiff.backends") is not None
    except ModuleNotFoundError:
        return False


def ensure_importable(run: Callable = subprocess.run, execv: Callable = os.execv) -> bool:
    """Make ``autodiff`` importable, installing nothing else: on a fresh checkout (no editable
    install, so ``autodiff.backends`` cannot be found) ``pip install -e . --no-deps`` (offline:
    no build isolation), or where that fails a tree of symbolic links laid out as the
    package, put on ``PYTHONPATH``; then this script starts again (an install's path hook is
    read at start-up). Returns whether it had to."""
    if _importable():
        return False
    if os.environ.get("AUTODIFF_GPU_CHECK_SETUP"):
        raise RuntimeError(f"gpu_check: autodiff is still not importable after "
                           f"{os.environ['AUTODIFF_GPU_CHECK_SETUP']}")
    try:
        run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
             "-e", str(ROOT)], check=True)
        how = "pip install -e . --no-deps"
    except (subprocess.CalledProcessError, OSError):
        tree = link_tree(Path(tempfile.mkdtemp(prefix="autodiff_pkg_")))
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [str(tree)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
        how = f"a symlinked package tree in {tree} (pip install failed)"
    os.environ["AUTODIFF_GPU_CHECK_SETUP"] = how
    execv(sys.executable, [sys.executable, "-m", "benchmarks.gpu_check"] + sys.argv[1:])
    return True


def link_tree(dest: Path) -> Path:
    """``dest/autodiff``: links to the files of ``autodiff/`` plus ``backends``, ``nn`` and
    ``optim`` as its subpackages (pyproject's layout), without touching the checkout."""
    pkg = dest / "autodiff"
    pkg.mkdir(parents=True)
    for entry in (ROOT / "autodiff").iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry)
    for sub in ("backends", "nn", "optim"):
        (pkg / sub).symlink_to(ROOT / sub)
    return dest


class Clock:
    """The run's deadline, shared out among the phases."""

    def __init__(self, budget_s: float) -> None:
        self.start = time.time()
        self.deadline = self.start + budget_s

    def left(self) -> float:
        return self.deadline - time.time()

    def elapsed(self) -> float:
        return time.time() - self.start


# ----------------------------------------------------------------------------- 1. device
def _try(fn: Callable, default=None):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001  (a missing piece is reported as such)
        return default if default is not None else f"unavailable ({type(e).__name__}: {e})"


def device_info(dry_run: bool) -> dict:
    """What ran where: the GPU (nvidia-smi and CuPy), CUDA versions and library versions."""
    info: dict = {"python": platform.python_version(), "machine": platform.machine(),
                  "numpy": numpy.__version__, "dry_run": dry_run,
                  "date": time.strftime("%Y-%m-%d %H:%M %Z")}
    info["numba"] = _try(lambda: __import__("numba").__version__)
    info["setup"] = os.environ.get("AUTODIFF_GPU_CHECK_SETUP", "already importable")
    # what the test suite needs beyond the library (without pytest the phase is skipped)
    info["missing_test_deps"] = [m for m in ("pytest", "hypothesis", "scipy")
                                 if importlib.util.find_spec(m) is None]
    torch = _try(lambda: __import__("torch"), default=False)
    if torch:
        info["torch"] = torch.__version__
        info["torch_cuda"] = torch.version.cuda
        info["torch_cuda_available"] = bool(torch.cuda.is_available())
    else:
        info["torch"] = "not installed"
    if dry_run:
        info["gpu"] = "none (dry run on the CPU)"
        return info
    smi = _try(lambda: subprocess.run(
        ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
         "--format=csv,noheader"], capture_output=True, text=True, timeout=20).stdout.strip())
    info["nvidia_smi"] = smi
    import cupy
    rt = cupy.cuda.runtime
    props = rt.getDeviceProperties(0)
    info.update(gpu=props["name"].decode() if isinstance(props["name"], bytes) else props["name"],
                compute_capability=f"{props['major']}.{props['minor']}",
                cupy=cupy.__version__, cuda_runtime=rt.runtimeGetVersion(),
                cuda_driver=rt.driverGetVersion(), device_count=rt.getDeviceCount(),
                driver=smi.split(",")[1].strip() if smi.count(",") >= 1 else smi)
    return info


# ----------------------------------------------------------------------------- 2. kernels
def kernel_cases() -> list[tuple]:
    """(label, cuda_kernels function, kernels it compiles, args(dtype) -> (args, kwargs)): small
    inputs reaching every ElementwiseKernel/RawKernel of ``backends/cuda_kernels.py`` (the names
    as the source spells them; ``tests/test_gpu_check.py`` checks that none is missed)."""
    r = numpy.random.default_rng(0)

    def a(*shape, dt):
        return r.standard_normal(shape).astype(dt)

    lab = r.integers(0, 7, 33)
    lab[3] = -100

    def softmax(dt):
        x = a(33, 7, dt=dt)
        e = numpy.exp(x - x.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(dt)

    def bn_grad(dt, gamma):
        x = a(6, 3, 4, 4, dt=dt)
        m = x.mean(axis=(0, 2, 3))
        inv = 1 / numpy.sqrt(x.var(axis=(0, 2, 3)) + 1e-5)
        return (x, a(6, 3, 4, 4, dt=dt), gamma, m.astype(dt), inv.astype(dt))

    def state(dt, n):
        return tuple(numpy.abs(a(5, 4, dt=dt)) for _ in range(n))

    acts = [(f"{k}_backward", f"{k}_backward", (f"{k}_bw",),
             lambda dt: ((a(5, 7, dt=dt), a(5, 7, dt=dt)), {}))
            for k in ("relu", "sigmoid", "tanh")]
    return acts + [
        ("softmax_cross_entropy_forward int64", "softmax_cross_entropy_forward", ("sce_fwd",),
         lambda dt: ((a(33, 7, dt=dt), lab), {})),
        ("softmax_cross_entropy_forward int32", "softmax_cross_entropy_forward", ("sce_fwd",),
         lambda dt: ((a(33, 7, dt=dt), lab.astype(numpy.int32)), {})),
        ("softmax_cross_entropy_backward", "softmax_cross_entropy_backward", ("sce_bw_{lt}",),
         lambda dt: ((softmax(dt), lab, a(33, dt=dt)), {})),
        ("softmax_cross_entropy_backward scalar g", "softmax_cross_entropy_backward",
         ("sce_bw_{lt}",), lambda dt: ((softmax(dt), lab, 1.0 / 33), {})),
        ("batch_norm_forward (N, C)", "batch_norm_forward",
         ("bn_stats_partial", "bn_stats_final", "bn_apply"),
         lambda dt: ((a(16, 5, dt=dt), a(5, dt=dt), a(5, dt=dt)), {"return_var": True})),
        ("batch_norm_forward (N, C, H, W) no affine", "batch_norm_forward",
         ("bn_stats_partial", "bn_stats_final", "bn_apply"),
         lambda dt: ((a(6, 3, 4, 4, dt=dt), None, None), {})),
        ("batch_norm_backward", "batch_norm_backward", ("bn_grad_partial", "bn_grad_final",
                                                        "bn_dx"),
         lambda dt: (bn_grad(dt, a(3, dt=dt)), {})),
        ("batch_norm_backward no dx", "batch_norm_backward", ("bn_grad_partial", "bn_grad_final"),
         lambda dt: (bn_grad(dt, None), {"need_dx": False})),
        ("sgd_momentum_update plain", "sgd_momentum_update", ("sgd",),
         lambda dt: ((a(5, 4, dt=dt), a(5, 4, dt=dt), None, 0.1), {"weight_decay": 0.01})),
        ("sgd_momentum_update nesterov", "sgd_momentum_update", ("sgd_momentum",),
         lambda dt: ((a(5, 4, dt=dt), a(5, 4, dt=dt), a(5, 4, dt=dt), 0.1, 0.9),
                     {"nesterov": True})),
        ("adam_update", "adam_update", ("adam",),
         lambda dt: ((a(5, 4, dt=dt), a(5, 4, dt=dt)) + state(dt, 2) +
                     (1e-3, 0.9, 0.999, 1e-8, 0.01, 3), {})),
        ("adam_update amsgrad decoupled", "adam_update", ("adam_amsgrad",),
         lambda dt: ((a(5, 4, dt=dt), a(5, 4, dt=dt)) + state(dt, 2) +
                     (1e-3, 0.9, 0.999, 1e-8, 0.01, 3, state(dt, 1)[0], True), {})),
        ("sum_to_trailing short trailing", "sum_to_trailing", ("rowsum_short",),
         lambda dt: ((a(6, 5, 3, dt=dt), (6, 1, 1)), {})),
        ("sum_to_trailing leading", "sum_to_trailing", (),
         lambda dt: ((a(8, 9, dt=dt), (9,)), {})),
        ("sum_to_trailing (R, K, R)", "sum_to_trailing", ("rowsum_short",),
         lambda dt: ((a(4, 5, 3, 3, dt=dt), (5, 1, 1)), {})),
    ]


def _arrays_of(value) -> list:
    if value is None or numpy.isscalar(value):
        return []
    if isinstance(value, (tuple, list)):
        return [x for v in value for x in _arrays_of(v)]
    return [value]


def _host(a) -> numpy.ndarray:
    return a.get() if hasattr(a, "get") else numpy.asarray(a)


def check_kernels(dry_run: bool) -> dict:
    """Every case of :func:`kernel_cases` per float dtype: the device result (results and
    in-place updated arguments) against the NumPy twin's on copies of the same inputs."""
    from autodiff.backends import cuda_kernels as ck
    xp = numpy if dry_run else __import__("cupy")
    ck.clear_cache()
    rows, start = [], time.time()
    for label, fname, kernels, make in kernel_cases():
        for dt in ("float32", "float64"):
            args, kwargs = make(numpy.dtype(dt))
            ref_args = [x.copy() if isinstance(x, numpy.ndarray) else x for x in args]
            dev_args = [xp.asarray(x) if isinstance(x, numpy.ndarray) else x for x in args]
            t0 = time.time()
            row = {"case": label, "function": fname, "dtype": dt, "kernels": list(kernels)}
            try:
                want = getattr(ck, fname)(*ref_args, **kwargs)
                got = getattr(ck, fname)(*dev_args, **kwargs)
                if xp is not numpy:
                    xp.cuda.Device().synchronize()
                pairs = list(zip(_arrays_of(got) + _arrays_of(dev_args),
                                 _arrays_of(want) + _arrays_of(ref_args)))
                err = max([float(numpy.nanmax(numpy.abs(_host(g) - w) / (1 + numpy.abs(w)),
                                              initial=0.0)) for g, w in pairs] or [0.0])
                tol = 1e-4 if dt == "float32" else 1e-10
                row.update(ok=err <= tol, max_rel_err=err)
            except Exception as e:  # noqa: BLE001  (reported per kernel, the run goes on)
                row.update(ok=False, error=f"{type(e).__name__}: {e}")
            row["seconds"] = round(time.time() - t0, 3)
            rows.append(row)
    compiled = sorted({k[1] for k in ck._KERNELS})
    declared = sorted({k for case in kernel_cases() for k in case[2]})
    # "sce_bw_{lt}" is compiled once per label dtype, as sce_bw_int64 ...
    missing = [d for d in declared if not any(c == d or ("{" in d and c.startswith(d.split("{")[0]))
                                              for c in compiled)]
    return {"cases": rows, "ok": sum(r["ok"] for r in rows),
            "failed": sum(not r["ok"] for r in rows), "compiled": compiled,
            "declared": declared, "not_compiled": [] if dry_run else missing,
            "seconds": round(time.time() - start, 2)}


# ----------------------------------------------------------------------------- 3. pytest
def pytest_targets(dry_run: bool) -> list[str]:
    if dry_run:
        return list(DRY_TESTS)
    first = [f"tests/{f}" for f in GPU_FIRST if (ROOT / "tests" / f).exists()]
    return first + ["tests"] + [f"--deselect={t}" for t in GPU_DESELECT]


def _run(cmd: list[str], env: dict, timeout_s: float, log: Path) -> int:
    """Run ``cmd`` in the repository root with its output in ``log``; the exit status, or
    124 when it overran ``timeout_s`` (and was killed)."""
    with open(log, "w") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        try:
            return subprocess.run(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                  timeout=max(timeout_s, 1)).returncode
        except subprocess.TimeoutExpired:
            f.write(f"\n# killed after {timeout_s:.0f} s\n")
            return 124


def run_pytest(dry_run: bool, budget_s: float, work: Path, out: Path) -> dict:
    """pytest with the CuPy backend as the default (NumPy in the dry run), stopped cleanly at
    ``budget_s``; the counts from the JUnit XML, the first failures with their messages."""
    if importlib.util.find_spec("pytest") is None:
        return {"skipped": "pytest is not installed here (carry it in a folder on PYTHONPATH)"}
    xml, report = out / "pytest.xml", work / "pytest_report.json"
    env = dict(os.environ, AUTODIFF_BACKEND="numpy" if dry_run else "cupy",
               AUTODIFF_PYTEST_DEADLINE=str(time.time() + max(budget_s - 20, 5)),
               AUTODIFF_PYTEST_REPORT=str(report))
    env.pop("AUTODIFF_CUPY_STANDIN", None)
    targets = pytest_targets(dry_run)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
           "benchmarks.pytest_deadline", f"--junitxml={xml}", "-W", "ignore", *targets]
    t0 = time.time()
    rc = _run(cmd, env, budget_s, work / "pytest.log")
    res = {"returncode": rc, "seconds": round(time.time() - t0, 1), "targets": targets}
    res.update(json.loads(report.read_text()) if report.exists() else
               {"collected": None, "stopped": "killed at the time limit" if rc == 124 else None})
    res.update(junit_summary(xml))
    return res


def junit_summary(xml: Path) -> dict:
    """Counts and the first 40 failures (test id and the first line of the message)."""
    if not xml.exists():
        return {"tests": 0, "passed": 0, "failures": 0, "errors": 0, "skipped": 0,
                "failed_tests": []}
    root = ET.parse(xml).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {k: sum(int(s.get(k, 0)) for s in suites)
              for k in ("tests", "failures", "errors", "skipped")}
    failed = []
    for case in root.iter("testcase"):
        for bad in list(case.findall("failure")) + list(case.findall("error")):
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            msg = (bad.get("message") or "").strip().splitlines()
            failed.append({"test": name, "kind": bad.tag, "message": msg[0][:300] if msg else ""})
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    counts["failed_tests"] = failed[:40]
    return counts


# ----------------------------------------------------------------------------- 4. benchmarks
def run_benchmarks(dry_run: bool, budget_s: float, bench_budget: float, work: Path,
                   out: Path) -> dict:
    """``python -m benchmarks`` (every workload on the GPU; one small one in the dry run) with
    its rows in bench.json (written after each workload), then the RESULTS table and the
    profiles from them."""
    path = out / "bench.json"
    cmd = [sys.executable, "-m", "benchmarks", "--backend", "numpy" if dry_run else "cupy",
           "--budget", str(bench_budget), "--json", str(path), "--keep-going"]
    if dry_run:
        cmd += ["--only", "overhead"]
    t0 = time.time()
    rc = _run(cmd, dict(os.environ), budget_s, work / "bench.log")
    rows = json.loads(path.read_text()) if path.exists() else []
    from .summarize import table
    timed = [r for r in rows if r.get("ratio")]
    reference = next((r for r in rows if r.get("group") == "reference"), {})
    return {"returncode": rc, "seconds": round(time.time() - t0, 1), "rows": len(rows),
            "errors": [{"workload": r["workload"], "error": r["error"]} for r in rows
                       if r.get("error")],
            "results_table": table([timed]) if timed else "",
            "reference_tflops": {k: reference[k] for k in ("cupy_tflops", "torch_tflops")
                                 if k in reference},
            "aims": aims(rows, reference), "profiles": profiles(rows)}


#: the issue's aims: (workload group, name fragment, the largest autodiff/PyTorch ratio)
AIMS = (("resnet", "ResNet-20", 1.2), ("cnn", "CNN", 1.2), ("mlp-train", "batch 64", 1.5),
        ("legendre", "Legendre", 1.5), ("rnn", "char-LM", 1.5))


def aims(rows: list[dict], reference: dict) -> list[dict]:
    """Each aim of the issue with the measured value and whether it is met: the 4096-wide MLP
    at >= 90% of the cuBLAS rate PyTorch gets, ResNet-20 and the CNN within 1.2x of PyTorch,
    the small models within 1.5x."""
    out = []
    wide = next((r for r in rows if r.get("group") == "wide-gpu" and r.get("gflops")), None)
    if wide and reference.get("torch_tflops"):
        frac = wide["gflops"] / 1e3 / reference["torch_tflops"]
        out.append({"aim": "wide MLP >= 90% of PyTorch's cuBLAS rate", "workload":
                    wide["workload"], "value": round(frac, 3), "met": frac >= 0.9})
    for group, frag, limit in AIMS:
        for r in rows:
            if r.get("group") == group and frag in r["workload"] and r.get("ratio"):
                out.append({"aim": f"<= {limit}x PyTorch eager", "workload": r["workload"],
                            "value": round(r["ratio"], 3), "met": r["ratio"] <= limit})
    return out


_PROFILE_KEYS = ("cpu_s", "gpu_s", "launches", "memcpy", "memset", "launch_method", "kernels",
                 "notes")


def profiles(rows: list[dict]) -> list[dict]:
    """Per workload: autodiff's and PyTorch's profile (what ``gpu_profile`` measured), the
    ratio, and which side of the device each is bound by."""
    out = []
    for r in rows:
        if "workload" not in r or "autodiff_s" not in r:
            continue
        p = {"workload": r["workload"], "autodiff_s": r["autodiff_s"],
             "pytorch_s": r.get("pytorch_s"), "ratio": r.get("ratio")}
        for side, prefix in (("autodiff", ""), ("pytorch", "pytorch_")):
            prof = {k: r.get(prefix + k) for k in _PROFILE_KEYS if prefix + k in r}
            if prof.get("cpu_s") is not None and prof.get("gpu_s") is not None:
                prof["bound"] = "launch/CPU" if prof["cpu_s"] > prof["gpu_s"] else "GPU"
            p[side] = prof
        out.append(p)
    return out


# ----------------------------------------------------------------------------- report
def report_md(summary: dict) -> str:
    """The human-readable report: device, kernels, tests, the RESULTS table, the profiles."""
    d, k, t, b = (summary.get(x, {}) for x in ("device", "kernels", "pytest", "bench"))
    lines = [f"# GPU check {d.get('date', '')}" + (" (dry run)" if summary.get("dry_run") else ""),
             "", f"Device: {d.get('gpu')}, driver {d.get('driver', '-')}, CUDA runtime "
             f"{d.get('cuda_runtime', '-')}, CuPy {d.get('cupy', '-')}, PyTorch {d.get('torch')}"
             f" (CUDA {d.get('torch_cuda', '-')}, available: {d.get('torch_cuda_available')}), "
             f"numba {d.get('numba')}; total {summary.get('elapsed_s')} s.", "",
             f"## Kernels: {k.get('ok', 0)} ok, {k.get('failed', 0)} failed "
             f"({k.get('seconds', '-')} s; compiled: {', '.join(k.get('compiled', [])) or '-'};"
             f" never compiled: {', '.join(k.get('not_compiled', [])) or '-'})", ""]
    lines += [f"- {r['case']} {r['dtype']}: {r.get('error') or 'max rel err %.2g' % r['max_rel_err']}"
              for r in k.get("cases", []) if not r["ok"]]
    lines += ["", f"## pytest: {t.get('passed', 0)} passed, {t.get('failures', 0)} failed, "
              f"{t.get('errors', 0)} errors, {t.get('skipped', 0)} skipped of "
              f"{t.get('collected')} collected ({t.get('seconds')} s, exit {t.get('returncode')})"
              + (f"; stopped: {t['stopped']}" if t.get("stopped") else ""), ""]
    lines += [f"- {f['test']}: {f['message']}" for f in t.get("failed_tests", [])]
    lines += ["", f"## Benchmarks ({b.get('rows', 0)} rows, {b.get('seconds')} s, exit "
              f"{b.get('returncode')})", "", b.get("results_table", "")]
    lines += [f"- {e['workload']}: {e['error']}" for e in b.get("errors", [])]
    ref = b.get("reference_tflops", {})
    if ref:
        lines += ["", "cuBLAS 8192^3 float32 GEMM: " + ", ".join(
            f"{k.split('_')[0]} {v:.1f} TFLOP/s" for k, v in ref.items())]
    lines += ["", "## Aims", ""] + [
        f"- {a['aim']}: {a['workload']}: {a['value']} ({'met' if a['met'] else 'NOT met'})"
        for a in b.get("aims", [])]
    lines += ["", "## Profiles (per step)", "",
              "| workload | autodiff cpu / gpu / launches | PyTorch cpu / gpu / launches |",
              "|---|---|---|"]
    for p in b.get("profiles", []):
        lines.append(f"| {p['workload']} | {_cells(p['autodiff'])} | {_cells(p['pytorch'])} |")
    return "\n".join(lines) + "\n"


def _cells(prof: dict) -> str:
    from .__main__ import profile_cells
    return profile_cells(prof).replace("cpu ", "").replace(" gpu ", " / ").replace(
        " launches ", " / ") + (f" ({prof['bound']})" if prof.get("bound") else "")


# ----------------------------------------------------------------------------- main
def _tar(path: Path, members: list[Path], arcroot: Path) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for m in members:
            if m.exists():
                tf.add(m, arcname=str(m.relative_to(arcroot)))


def _write_summary(out: Path, summary: dict) -> None:
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="the output folder (created; at most 8 files)")
    p.add_argument("--dry-run", action="store_true",
                   help="the same plumbing on the CPU: NumPy twins, a tiny pytest subset, one "
                        "small benchmark")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds for the whole run (default 450, dry run 60)")
    p.add_argument("--kernel-cache", default=None,
                   help="a kernel_cache.tar.gz of an earlier run to start from")
    args = p.parse_args(argv)
    ensure_importable()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clock = Clock(args.budget or (60.0 if args.dry_run else 450.0))
    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    cache = work / "kernel_cache"
    cache.mkdir()
    if args.kernel_cache:
        with tarfile.open(args.kernel_cache) as tf:
            tf.extractall(work, filter="data")
    # CuPy reads its cache folder at import; the subprocesses inherit it
    os.environ["CUPY_CACHE_DIR"] = str(cache)
    os.environ.pop("CUPY_TF32", None)        # full float32 products on both sides
    summary: dict = {"dry_run": args.dry_run, "budget_s": round(clock.left())}
    phases = [("device", lambda: device_info(args.dry_run)),
              ("kernels", lambda: check_kernels(args.dry_run)),
              ("pytest", lambda: run_pytest(args.dry_run, 0.45 * clock.left(), work, out)),
              ("bench", lambda: run_benchmarks(args.dry_run, clock.left() - 15,
                                               0.01 if args.dry_run else 0.4, work, out))]
    for name, phase in phases:
        print(f"# gpu_check: {name} ({clock.left():.0f} s left)", flush=True)
        try:
            summary[name] = phase()
        except Exception as e:  # noqa: BLE001  (recorded; the next phase still runs)
            summary[name] = {"error": f"{type(e).__name__}: {e}"}
        summary["elapsed_s"] = round(clock.elapsed(), 1)
        _write_summary(out, summary)
    bench = summary.get("bench", {})
    (out / "profiles.json").write_text(json.dumps(bench.get("profiles", []), indent=1))
    (out / "REPORT.md").write_text(report_md(summary))
    _tar(out / "logs.tar.gz", sorted(work.glob("*.log")), work)
    _tar(out / "kernel_cache.tar.gz", [cache], work)
    shutil.rmtree(work, ignore_errors=True)
    summary["elapsed_s"] = round(clock.elapsed(), 1)
    _write_summary(out, summary)
    print(f"# gpu_check: done in {summary['elapsed_s']} s; {out}/REPORT.md", flush=True)
    return summary


if __name__ == "__main__":
    main()
