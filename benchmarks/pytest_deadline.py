"""A pytest plugin (``-p benchmarks.pytest_deadline``) for time-boxed runs: the session stops
cleanly after the test that passes the deadline ``AUTODIFF_PYTEST_DEADLINE`` (a Unix time), so
that the JUnit XML and the summary are still written (a kill would lose them), and
``AUTODIFF_PYTEST_REPORT`` (a path) receives ``{"collected": n, "stopped": reason or null}``.
Used by ``benchmarks.gpu_check``."""
from __future__ import annotations

import json
import os
import time

import pytest

_COLLECTED: list[int] = []


def _deadline() -> float | None:
    v = os.environ.get("AUTODIFF_PYTEST_DEADLINE")
    return float(v) if v else None


def pytest_collection_finish(session: pytest.Session) -> None:
    _COLLECTED.append(len(session.items))


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem) -> None:
    deadline = _deadline()
    if deadline is not None and nextitem is not None and time.time() > deadline:
        item.session.shouldstop = (f"time budget reached after {item.nodeid}: the tests after "
                                   f"it were not run")


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    path = os.environ.get("AUTODIFF_PYTEST_REPORT")
    if path:
        stopped = session.shouldstop if isinstance(session.shouldstop, str) else None
        with open(path, "w") as f:
            json.dump({"collected": _COLLECTED[-1] if _COLLECTED else 0, "stopped": stopped}, f)
