"""``save``/``load`` for (nested) dicts of tensors, arrays and plain values, without pickle.

Two formats, neither of which can run code when read:

- ``npz`` (the default): a NumPy ``.npz`` archive read back with ``allow_pickle=False``.
- ``safetensors`` (``format="safetensors"``, or a path ending in ``.safetensors``): the format
  PyTorch, JAX and Hugging Face read (``safetensors.torch.load_file``); needs the optional
  ``safetensors`` package (``pip install 'autodiff[safetensors]'``).

The key scheme is the same in both. Each array leaf is stored as one tensor named by its path
of keys joined with ``/`` (``"state/0/exp_avg"``), so a flat state dict keeps its own keys
(``"0.weight"``) and another framework reads it as its own state dict. A JSON description of
the whole structure goes with it (in ``.npz`` the member ``__autodiff_meta__``; in safetensors
the header's metadata entry of that name, beside ``"format": "pt"``): dicts (any
str/int/float/bool/None keys, order kept), lists, tuples, ints, floats (NaN/inf included),
strings, bools, None, and references to the arrays (marked as Tensor, ndarray, or NumPy
scalar). Nested state such as an optimizer's therefore round-trips in both formats; other
readers of a safetensors file see only its tensors (Python numbers such as ``step`` live in the
metadata). Safetensors has no complex128 (nor float128) dtype: such arrays are refused when
saving in that format. A file that is not such an archive -- truncated, corrupt, a pickle, an
archive with object arrays, or whose description is inconsistent -- raises a ``ValueError``
naming the file. A safetensors file written elsewhere (no autodiff metadata) loads as a flat
dict of Tensors.
"""
from __future__ import annotations

import json
import os
import struct
import tempfile
import zipfile

import numpy

from .backends import device_of, to_host
from .tensor import Tensor, make

__all__ = ["save", "load"]

META = "__autodiff_meta__"
FORMAT = "autodiff-npz"
VERSION = 1
_SEP = "/"
FORMATS = ("npz", "safetensors")
# NumPy dtype names that safetensors stores (its numpy reader's table; no complex128/float128)
_SAFETENSORS_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "I64": "int64",
                       "U64": "uint64", "I32": "int32", "U32": "uint32", "I16": "int16",
                       "U16": "uint16", "I8": "int8", "U8": "uint8", "BOOL": "bool",
                       "C64": "complex64"}


def _host(a):
    """A NumPy array from a NumPy/CuPy array."""
    return to_host(a)


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
            return self._array(obj.array, "tensor", path)
        if isinstance(obj, numpy.ndarray) or device_of(obj) == "cuda":
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


def save(obj, path, format: str | None = None) -> None:
    """Write ``obj`` (typically a state dict) to ``path`` without pickle.

    ``format`` is ``"npz"`` or ``"safetensors"``; by default ``"safetensors"`` when ``path``
    ends in ``.safetensors``, else ``"npz"``. The write is atomic: a temporary file in the same
    directory is renamed into place."""
    path = os.fspath(path)
    fmt = _save_format(format, path)
    w = _Writer()
    tree = w.encode(obj, [])
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree},
                      allow_nan=False)
    if fmt == "safetensors":
        payload = _safetensors_bytes(w.arrays, meta)

        def write(f):
            f.write(payload)
    else:
        def write(f):
            numpy.savez(f, **{META: numpy.frombuffer(meta.encode("utf-8"), numpy.uint8)},
                        **w.arrays)
    _atomic_write(path, write)


def _save_format(format: str | None, path: str) -> str:
    if format is None:
        return "safetensors" if path.endswith(".safetensors") else "npz"
    if format not in FORMATS:
        raise ValueError(f"autodiff.save: unknown format {format!r}; use one of {FORMATS}")
    return format


def _safetensors_module():
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError("autodiff.save/load: the safetensors format needs the optional "
                          "'safetensors' package: pip install 'autodiff[safetensors]' (or pip "
                          "install safetensors)") from None
    return safetensors


def _safetensors_bytes(arrays: dict, meta: str) -> bytes:
    supported = set(_SAFETENSORS_DTYPES.values())
    for name, a in arrays.items():
        if a.dtype.name not in supported:
            raise TypeError(f"autodiff.save(format='safetensors'): safetensors has no dtype "
                            f"for {a.dtype} (array '{name}'); save it in the npz format")
    st = _safetensors_module()
    return st.numpy.save(arrays, metadata={"format": "pt", META: meta})


def _atomic_write(path: str, write) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".autodiff-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
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
    """Read a file written by :func:`save` (npz or safetensors, told apart by the extension
    ``.safetensors`` or the file's header), or a safetensors file from elsewhere; tensors come
    back as Tensors (on the CPU), arrays as NumPy arrays. Never unpickles: a corrupt or
    malicious file raises ``ValueError``."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"autodiff.load: no such file: {path}")
    header = _safetensors_header(path)
    if header is not None:
        return _load_safetensors(path, header)
    if not zipfile.is_zipfile(path):
        if path.endswith(".safetensors"):
            raise _bad(path, "not a safetensors file (its header is missing or not JSON)")
        raise _bad(path, "neither an .npz (zip) archive nor a safetensors file (truncated, "
                         "corrupt, or another format such as a pickle)")
    try:
        with numpy.load(path, allow_pickle=False) as z:
            names = list(z.files)
            if META not in names:
                shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
                raise _bad(path, f"the metadata entry '{META}' is missing, so it was not "
                                 f"written by autodiff.save; a plain NumPy archive (np.savez) "
                                 f"is read with numpy.load(path) (arrays: {shown})")
            raw = z[META]
            if raw.dtype != numpy.uint8 or raw.ndim != 1:
                raise _bad(path, "the metadata entry is malformed")
            try:
                text = raw.tobytes().decode("utf-8")
            except UnicodeDecodeError as e:
                raise _bad(path, f"the metadata is not valid JSON ({e})") from None
            meta = _parse_meta(path, text)
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


def _parse_meta(path: str, text: str) -> dict:
    """The JSON structure description, checked for format and version."""
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as e:
        raise _bad(path, f"the metadata is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _bad(path, "unknown format")
    if not isinstance(meta.get("version"), int) or meta["version"] > VERSION:
        raise _bad(path, f"unsupported format version {meta.get('version')!r}")
    return meta


def _safetensors_header(path: str) -> dict | None:
    """The JSON header of a safetensors file (8-byte little-endian length, then JSON), or None
    when the file does not start like one."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return None
        (n,) = struct.unpack("<Q", head)
        if n < 2 or n > size - 8 or n > (100 << 20):
            return None
        text = f.read(n)
    if text[:1] != b"{":
        return None
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return header if isinstance(header, dict) else None


def _load_safetensors(path: str, header: dict):
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = info.get("dtype") if isinstance(info, dict) else None
        if dt not in _SAFETENSORS_DTYPES:
            raise _bad(path, f"tensor {name!r} has dtype {dt}, which NumPy (and so autodiff) "
                             f"cannot hold")
    st = _safetensors_module()
    try:
        with st.safe_open(path, framework="np") as f:
            names = list(f.keys())
            metadata = f.metadata() or {}
            if META not in metadata:  # written elsewhere: a flat dict of tensors
                order = [k for k in header if k in names]
                return {k: make(numpy.array(f.get_tensor(k))) for k in order}
            meta = _parse_meta(path, metadata[META])
            arrays = {}

            def get(name):
                if not isinstance(name, str) or name not in names:
                    raise _bad(path, f"the metadata refers to a missing tensor {name!r}")
                if name not in arrays:
                    arrays[name] = f.get_tensor(name)
                return arrays[name]

            return _decode(meta.get("tree"), get, path, 0)
    except (st.SafetensorError, OSError, KeyError, TypeError) as e:
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
