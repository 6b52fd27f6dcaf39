"""Loading the example scripts in tests, and keeping the files they write out of the tree.

Test modules import ``load_example`` and the autouse fixture ``in_tmp`` (importing it into the
module is what activates it there)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str):
    """``examples/<name>.py`` as a fresh module (the examples folder on ``sys.path``, since the
    scripts import ``_common`` and each other as siblings)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """The examples write plots and images into the working directory: run them in tmp."""
    monkeypatch.chdir(tmp_path)
