"""``save``/``load`` for (nested) dicts of tensors, arrays and plain values, without pickle.

The file is a NumPy ``.npz`` archive read back with ``allow_pickle=False``, so loading never
runs code. Each array leaf is stored as one member, named by its path of keys joined with
``/`` (``"state/0/exp_avg"``); one extra member, ``__autodiff_meta__``, holds a JSON description
of the whole structure: dicts (any str/int/float/bool/None keys, order kept), lists, tuples,
ints, floats (NaN/inf included), strings, bools, None, and references to the array members
(marked as Tensor, ndarray, or NumPy scalar). A file that is not such an archive -- truncated,
corrupt, a pickle, an archive with object arrays, or whose description is inconsistent --
raises a ``ValueError`` naming the file.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy

from .tensor import Tensor, make

__all__ = ["save", "load"]

META = "__autodiff_meta__"
FORMAT = "autodiff-npz"
VERSION = 1
_SEP = "/"


def _host(a):
    """A NumPy array from a NumPy/CuPy array."""
    if type(a).__module__.split(".")[0] == "cupy":
        return a.get()
    return numpy.asarray(a)


def _encode_key(k):
    if k is None or isinstance(k, (bool, int, float, str)):
        if isinstance(k, float) and not numpy.isfinite(k):
            return {"f": repr(k)}
        return k
    if isinstance(k, numpy.integer):
        return int(k)
    raise TypeError(f"save: dict keys must be str, int, float, bool or None, got "
                    f"{type(k).__name__}")


def _decode_key(k):
    if isinstance(k, dict) and set(k) == {"f"}:
        return float(k["f"])
    if isinstance(k, (dict, list)):
        raise ValueError("bad dict key")
    return k


class _Writer:
    def __init__(self) -> None:
        self.arrays: dict[str, numpy.ndarray] = {}

    def _name(self, path: list) -> str:
        base = _SEP.join(str(p) for p in path) or "value"
        name, i = base, 1
        while name in self.arrays or name == META:
            name = f"{base}#{i}"
            i += 1
        return name

    def _array(self, a, kind: str, path: list) -> dict:
        a = _host(a)
        if a.dtype.kind not in "biufc":
            raise TypeError(f"save: cannot store an array of dtype {a.dtype} at "
                            f"'{_SEP.join(map(str, path))}' (only numeric and bool arrays)")
        name = self._name(path)
        self.arrays[name] = a if a.flags.c_contiguous else a.copy(order="C")
        return {"__array__": name, "kind": kind}

    def encode(self, obj, path: list):
        if isinstance(obj, Tensor):
            return self._array(obj.data, "tensor", path)
        if isinstance(obj, numpy.ndarray) or type(obj).__module__.split(".")[0] == "cupy":
            return self._array(obj, "ndarray", path)
        if isinstance(obj, numpy.generic):
            return self._array(numpy.asarray(obj), "scalar", path)
        if obj is None or isinstance(obj, (bool, int, str)):
            return obj
        if isinstance(obj, float):
            return obj if numpy.isfinite(obj) else {"__float__": repr(obj)}
        if isinstance(obj, dict):
            return {"__dict__": [[_encode_key(k), self.encode(v, path + [k])]
                                 for k, v in obj.items()]}
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v, path + [i]) for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, path + [i]) for i, v in enumerate(obj)]
        if hasattr(obj, "detach") and hasattr(obj, "cpu") and hasattr(obj, "numpy"):
            return self._array(obj.detach().cpu().numpy(), "tensor", path)  # a torch.Tensor
        raise TypeError(f"save: cannot store a {type(obj).__name__} at "
                        f"'{_SEP.join(map(str, path))}'; only dicts, lists, tuples, tensors, "
                        f"arrays, numbers, strings, bools and None are supported")


def save(obj, path) -> None:
    """Write ``obj`` (typically a state dict) to ``path`` as a pickle-free ``.npz``.

    The write is atomic: a temporary file in the same directory is renamed into place."""
    w = _Writer()
    tree = w.encode(obj, [])
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree},
                      allow_nan=False)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".autodiff-", suffix=".npz.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            numpy.savez(f, **{META: numpy.frombuffer(meta.encode("utf-8"), numpy.uint8)},
                        **w.arrays)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _bad(path, why: str) -> ValueError:
    return ValueError(f"autodiff.load: {path!s} is not a valid autodiff checkpoint: {why}")


def load(path):
    """Read a file written by :func:`save`; tensors come back as Tensors (on the CPU), arrays
    as NumPy arrays. Never unpickles: a corrupt or malicious file raises ``ValueError``."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"autodiff.load: no such file: {path}")
    if not zipfile.is_zipfile(path):
        raise _bad(path, "not an .npz (zip) archive (truncated, corrupt, or another format "
                         "such as a pickle)")
    try:
        with numpy.load(path, allow_pickle=False) as z:
            names = list(z.files)
            if META not in names:
                raise _bad(path, f"the metadata entry '{META}' is missing")
            raw = z[META]
            if raw.dtype != numpy.uint8 or raw.ndim != 1:
                raise _bad(path, "the metadata entry is malformed")
            try:
                meta = json.loads(raw.tobytes().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise _bad(path, f"the metadata is not valid JSON ({e})") from None
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise _bad(path, "unknown format")
            if not isinstance(meta.get("version"), int) or meta["version"] > VERSION:
                raise _bad(path, f"unsupported format version {meta.get('version')!r}")
            arrays = {}

            def get(name):
                if not isinstance(name, str) or name == META or name not in names:
                    raise _bad(path, f"the metadata refers to a missing array {name!r}")
                if name not in arrays:
                    a = z[name]
                    if a.dtype.kind not in "biufc":
                        raise _bad(path, f"array {name!r} has unsupported dtype {a.dtype}")
                    arrays[name] = a
                return arrays[name]

            return _decode(meta.get("tree"), get, path, 0)
    except ValueError as e:
        if str(e).startswith("autodiff.load:"):
            raise
        raise _bad(path, str(e)) from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, RuntimeError, TypeError) as e:
        raise _bad(path, f"{type(e).__name__}: {e}") from None


def _decode(node, get, path, depth: int):
    if depth > 200:
        raise _bad(path, "structure nested too deeply")
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_decode(v, get, path, depth + 1) for v in node]
    if not isinstance(node, dict) or len(node) == 0:
        raise _bad(path, "malformed metadata node")
    if "__array__" in node:
        a = get(node["__array__"])
        kind = node.get("kind")
        if kind == "tensor":
            return make(numpy.array(a))
        if kind == "ndarray":
            return numpy.array(a)
        if kind == "scalar":
            return a[()]
        raise _bad(path, f"unknown array kind {kind!r}")
    if "__float__" in node:
        s = node["__float__"]
        if s not in ("nan", "inf", "-inf"):
            raise _bad(path, f"bad float {s!r}")
        return float(s)
    if "__tuple__" in node and isinstance(node["__tuple__"], list):
        return tuple(_decode(v, get, path, depth + 1) for v in node["__tuple__"])
    if "__dict__" in node and isinstance(node["__dict__"], list):
        out = {}
        for item in node["__dict__"]:
            if not isinstance(item, list) or len(item) != 2:
                raise _bad(path, "malformed dict entry")
            try:
                k = _decode_key(item[0])
            except ValueError:
                raise _bad(path, "malformed dict key") from None
            out[k] = _decode(item[1], get, path, depth + 1)
        return out
    raise _bad(path, "malformed metadata node")
