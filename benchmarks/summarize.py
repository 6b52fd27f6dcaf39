"""``python -m benchmarks.summarize run1.json run2.json ...``: merge repeated runs of
``python -m benchmarks --json`` into the markdown table kept in ``benchmarks/RESULTS.md``
(median time of each side over the runs, each run's ratio, the median ratio; ``*`` marks a ratio
of autodiff on the GPU against PyTorch on the CPU)."""
from __future__ import annotations

import json
import statistics
import sys

from .harness import fmt_time


def other_device(row: dict) -> bool:
    """Whether PyTorch ran on another device than autodiff (e.g. no CUDA in its build)."""
    return row.get("pytorch_device") not in (None, row.get("device"))


def table(runs: list[list[dict]]) -> str:
    names = [r["workload"] for r in runs[0] if r.get("ratio")]
    lines = ["| workload | autodiff (median) | PyTorch (median) | ratio per run | median ratio |",
             "|---|---|---|---|---|"]
    for name in names:
        rows = [r for run in runs for r in run if r["workload"] == name and r.get("ratio")]
        ours = statistics.median(r["autodiff_s"] for r in rows)
        theirs = statistics.median(r["pytorch_s"] for r in rows)
        ratios = [r["ratio"] for r in rows]
        mark = "*" if any(other_device(r) for r in rows) else ""
        lines.append(f"| {name} | {fmt_time(ours).strip()} | {fmt_time(theirs).strip()} | "
                     f"{', '.join(f'{x:.2f}' for x in ratios)} | "
                     f"**{statistics.median(ratios):.2f}x**{mark} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        raise SystemExit("usage: python -m benchmarks.summarize RUN.json [RUN.json ...]")
    runs = []
    for p in paths:
        with open(p) as f:
            runs.append(json.load(f))
    out = table(runs)
    print(out)
    return out


if __name__ == "__main__":
    main()
