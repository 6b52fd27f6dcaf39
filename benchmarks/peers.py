"""The peers timed beside PyTorch eager on a workload that has them: the step wrapped in
``autodiff.compile`` and JAX (``jax.jit``; optional). Each is timed interleaved with the PyTorch
step (``harness.measure_pair``) so its ratio is against PyTorch eager in the same run; without
PyTorch it is timed alone."""
from __future__ import annotations

from .harness import fmt_time, measure, measure_pair

__all__ = ["import_jax", "compiled_status", "measure_peers", "peer_cells"]


def import_jax():
    """JAX, or None when it is not installed."""
    try:
        import jax
    except ImportError:
        return None
    return jax


def compiled_status(step) -> str:
    """'replay' when every traced signature of the compiled step replays a program, else
    'eager fallback' (a graph break or a failed verification: the column times eager)."""
    cf = getattr(step, "compiled", step)
    progs = getattr(cf, "programs", None)
    if progs is None:
        return "not compiled"
    if not progs:
        return "not traced"
    return "eager fallback" if any(isinstance(p, str) for p in progs.values()) else "replay"


def measure_peers(w, device: str, sync, tstep, tsync, budget_s: float, settle_s: float) -> dict:
    """``compiled_*`` and ``jax_*`` entries of a row: seconds per step (per op where the
    workload's step has ``per``), the ratio to the PyTorch step ``tstep`` (None without it) and
    a note (the compiled step's status, or why there is no JAX time)."""
    out: dict = {}
    peers = []
    if w.build_compiled is not None:
        peers.append(("compiled", lambda: w.build_compiled(device), sync))
    if w.build_jax is not None:
        jax = import_jax()
        if jax is None or device != "cpu":
            out.update(jax_s=None, jax_ratio=None,
                       jax_note="not installed" if jax is None else "CPU only")
        else:
            peers.append(("jax", lambda: w.build_jax(jax, device), lambda: None))
    for key, build, psync in peers:
        step = build()
        per = getattr(step, "per", 1)
        if tstep is not None:
            t, _, ratio = measure_pair(step, tstep, psync, tsync, budget_s=budget_s,
                                       settle_s=settle_s)
        else:
            t, ratio = measure(step, psync, budget_s=budget_s), None
        out[f"{key}_s"] = t.median_s / per
        out[f"{key}_ratio"] = ratio
        out[f"{key}_note"] = compiled_status(step) if key == "compiled" else None
    return out


def peer_cells(row: dict) -> str:
    """'compiled <time> (<ratio>) jax <time> (<ratio>)' for the peers a row has."""
    cells = []
    for key in ("compiled", "jax"):
        if f"{key}_note" not in row:
            continue
        s, ratio, note = row.get(f"{key}_s"), row.get(f"{key}_ratio"), row.get(f"{key}_note")
        cell = f"{key} {fmt_time(s).strip()}" if s is not None else f"{key} -"
        if ratio is not None:
            cell += f" ({ratio:.3g}x)"
        if note and note != "replay":
            cell += f" [{note}]"
        cells.append(cell)
    return "  ".join(cells)
