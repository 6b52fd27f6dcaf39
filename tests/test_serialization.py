"""autodiff.save / autodiff.load: round trips of nested state dicts, never unpickling, and clear
errors for corrupt or malicious files."""
from __future__ import annotations

import json
import pickle
import zipfile

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn


def _model():
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_state_dict_round_trip(tmp_path):
    m = _model()
    m(ad.randn(5, 3))  # updates running stats and num_batches_tracked
    path = tmp_path / "model.pt"
    ad.save(m.state_dict(), path)
    assert path.exists() and not (tmp_path / "model.pt.npz").exists()
    sd = ad.load(path)
    assert list(sd) == list(m.state_dict())
    for k, v in m.state_dict().items():
        assert isinstance(sd[k], ad.Tensor)
        assert sd[k].dtype == v.dtype and sd[k].shape == v.shape
        np.testing.assert_array_equal(sd[k].numpy(), v.numpy())
    assert sd["1.num_batches_tracked"].shape == () and sd["1.num_batches_tracked"].item() == 1
    m2 = _model()
    m2.load_state_dict(sd)
    x = ad.randn(2, 3)
    m.eval(), m2.eval()
    np.testing.assert_array_equal(m(x).numpy(), m2(x).numpy())


def test_nested_optimizer_like_state(tmp_path):
    state = {
        "state": {0: {"step": 3, "exp_avg": ad.randn(2, 2), "buf": np.arange(3.0)},
                  1: {"step": 3, "scalar": np.float32(1.5)}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "params": [0, 1],
                          "amsgrad": False, "name": "g0", "maximize": None,
                          "clip": float("inf"), "nan": float("nan")}],
        "nested/key": {"a.b": [1, [2, 3]], "": "empty"},
        2.5: "float key", None: True,
    }
    path = tmp_path / "opt.npz"
    ad.save(state, path)
    out = ad.load(path)
    assert set(out) == set(state)
    assert out["state"][0]["step"] == 3 and isinstance(out["state"][0]["exp_avg"], ad.Tensor)
    np.testing.assert_array_equal(out["state"][0]["exp_avg"].numpy(),
                                  state["state"][0]["exp_avg"].numpy())
    assert isinstance(out["state"][0]["buf"], np.ndarray)
    s = out["state"][1]["scalar"]
    assert isinstance(s, np.float32) and s == 1.5
    g = out["param_groups"][0]
    assert g["betas"] == (0.9, 0.999) and g["params"] == [0, 1] and g["amsgrad"] is False
    assert g["maximize"] is None and g["clip"] == float("inf") and np.isnan(g["nan"])
    assert out["nested/key"] == {"a.b": [1, [2, 3]], "": "empty"}
    assert out[2.5] == "float key" and out[None] is True


def test_file_holds_no_pickle(tmp_path):
    path = tmp_path / "m.npz"
    ad.save(_model().state_dict(), path)
    with np.load(path, allow_pickle=False) as z:  # readable by plain NumPy, no pickle
        names = set(z.files)
        assert "0.weight" in names and "__autodiff_meta__" in names
        assert all(z[n].dtype != object for n in names)


def test_unsupported_objects_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot store a object"):
        ad.save({"x": object()}, tmp_path / "bad.npz")
    with pytest.raises(TypeError, match="dtype object"):
        ad.save({"x": np.array([object()])}, tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


def _expect_bad(path):
    with pytest.raises(ValueError, match=r"autodiff\.load: .*" + path.name):
        ad.load(path)


def test_plain_numpy_archive_suggests_numpy_load(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, w=np.zeros(3), b=np.ones(2))
    with pytest.raises(ValueError, match=r"not written by autodiff\.save.*numpy\.load\(path\) "
                                         r"\(arrays: w, b\)"):
        ad.load(path)


def test_corrupt_and_malicious_files(tmp_path):
    good = tmp_path / "good.npz"
    ad.save(_model().state_dict(), good)
    raw = good.read_bytes()

    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(raw[: len(raw) // 2])
    _expect_bad(truncated)

    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"\x00" * 100)
    _expect_bad(garbage)

    flipped = bytearray(raw)
    for i in range(200, 260):
        flipped[i] ^= 0xFF
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(bytes(flipped))
    _expect_bad(corrupt)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    pkl = tmp_path / "evil.pt"
    pkl.write_bytes(pickle.dumps({"w": Evil()}))
    _expect_bad(pkl)

    # an npz with an object array (a pickle inside), even with valid-looking metadata
    meta = json.dumps({"format": "autodiff-npz", "version": 1,
                       "tree": {"__dict__": [["w", {"__array__": "w", "kind": "ndarray"}]]}})
    objnpz = tmp_path / "objects.npz"
    with open(objnpz, "wb") as f:
        np.savez(f, __autodiff_meta__=np.frombuffer(meta.encode(), np.uint8),
                 w=np.array([Evil()], dtype=object))
    _expect_bad(objnpz)

    # metadata pointing at arrays that are not there; unknown format; plain npz
    meta2 = meta.replace('"__array__": "w"', '"__array__": "nope"')
    dangling = tmp_path / "dangling.npz"
    with open(dangling, "wb") as f:
        np.savez(f, __autodiff_meta__=np.frombuffer(meta2.encode(), np.uint8))
    _expect_bad(dangling)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.ones(2))
    _expect_bad(plain)
    notjson = tmp_path / "notjson.npz"
    with open(notjson, "wb") as f:
        np.savez(f, __autodiff_meta__=np.frombuffer(b"{not json", np.uint8))
    _expect_bad(notjson)

    with pytest.raises(FileNotFoundError):
        ad.load(tmp_path / "missing.npz")


def test_zip_members_are_only_npy(tmp_path):
    path = tmp_path / "m.npz"
    ad.save({"a": ad.ones(2)}, path)
    with zipfile.ZipFile(path) as z:
        assert all(n.endswith(".npy") for n in z.namelist())


class _ForeignTensor:
    """The part of torch.Tensor's interface that autodiff.save uses for foreign tensors
    (detach().cpu().numpy()), without PyTorch."""

    def __init__(self, array):
        self._array = array

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self._array


def test_foreign_state_dict_saved_and_loaded(tmp_path):
    """A state dict of foreign (torch-like) float32 tensors round-trips bit for bit as
    autodiff tensors and loads into nn.Linear, which then computes x W^T + b with them."""
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal(2).astype(
        np.float32)
    ad.save({"weight": _ForeignTensor(w), "bias": _ForeignTensor(b)}, tmp_path / "f.npz")
    sd = ad.load(tmp_path / "f.npz")
    assert list(sd) == ["weight", "bias"] and all(isinstance(v, ad.Tensor) for v in sd.values())
    ours = nn.Linear(3, 2)
    ours.load_state_dict(sd)
    for p, ref in ((ours.weight, w), (ours.bias, b)):
        assert p.dtype == np.float32
        np.testing.assert_array_equal(p.numpy(), ref)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(ad.tensor(x)).numpy(), x @ w.T + b, rtol=1e-6)


def test_torch_state_dict_saved_and_loaded(torch, tmp_path):
    theirs = torch.nn.Linear(3, 2)
    ad.save(theirs.state_dict(), tmp_path / "t.npz")
    ours = nn.Linear(3, 2)
    ours.load_state_dict(ad.load(tmp_path / "t.npz"))
    np.testing.assert_array_equal(ours.weight.numpy(), theirs.weight.detach().numpy())
    np.testing.assert_array_equal(ours.bias.numpy(), theirs.bias.detach().numpy())


# ------------------------------------------------------------------------------------ safetensors
def _special_values(dtype: np.dtype) -> np.ndarray:
    """Extremes and awkward values of ``dtype``: bounds, signed zeros, inf, NaN with payloads,
    subnormals; bit-exact round trips must keep every one."""
    if dtype.kind == "b":
        return np.array([[True, False, True], [False, False, True]])
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.array([info.min, info.max, 0, 1, info.max - 1, 7], dtype=dtype).reshape(2, 3)
    if dtype.kind == "c":
        re = _special_values(np.dtype(f"f{dtype.itemsize // 2}")).ravel()
        return np.stack([re, re[::-1]], axis=-1).copy().view(dtype).reshape(2, 3)
    info = np.finfo(dtype)
    vals = np.array([0.0, -0.0, np.inf, -np.inf, info.max, info.tiny], dtype=dtype)
    bits = vals.view(f"u{dtype.itemsize}").copy()
    bits[0] = bits[2] | 5                       # a NaN with a payload
    bits[1] = 1                                 # the smallest subnormal
    return bits.view(dtype).reshape(2, 3)


ENGINE_DTYPES = ["float16", "float32", "float64", "int32", "int64", "bool"]
OTHER_DTYPES = ["int8", "int16", "uint8", "uint16", "uint32", "uint64", "complex64"]


def test_safetensors_round_trip_is_bit_exact_for_every_dtype(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    state = {f"t.{d}": ad.tensor(_special_values(np.dtype(d)), dtype=d) for d in ENGINE_DTYPES}
    state.update({f"a.{d}": _special_values(np.dtype(d)) for d in OTHER_DTYPES})
    state["scalar"] = ad.tensor(2.5, dtype="float64")
    state["empty"] = ad.zeros(0, 3)
    path = tmp_path / "weights.bin"  # no extension: format by argument, read back by magic
    ad.save(state, path, format="safetensors")
    assert path.read_bytes()[8:9] == b"{" and not zipfile.is_zipfile(path)
    out = ad.load(path)
    independent = safetensors_numpy.load_file(str(path))
    assert list(out) == list(state) and set(independent) == set(state)
    for k, v in state.items():
        ref = v.numpy() if isinstance(v, ad.Tensor) else v
        assert type(out[k]) is type(v)
        for got in (np.asarray(out[k]), independent[k]):
            assert got.dtype == ref.dtype and got.shape == ref.shape
            assert got.tobytes() == ref.tobytes()


def test_safetensors_by_extension_and_state_dict_keys(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    m = _model()
    m(ad.randn(5, 3))
    path = tmp_path / "model.safetensors"
    ad.save(m.state_dict(), path)                      # format from the extension
    raw = safetensors_numpy.load_file(str(path))
    assert set(raw) == set(m.state_dict())             # a flat state dict keeps its own keys
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(raw[k], v.numpy())
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8:8 + header_len])
    assert header["__metadata__"]["format"] == "pt"
    m2 = _model()
    m2.load_state_dict(ad.load(path))
    m.eval(), m2.eval()
    x = ad.randn(4, 3)
    np.testing.assert_array_equal(m(x).numpy(), m2(x).numpy())


def test_safetensors_nested_optimizer_state_resumes_exactly(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    from autodiff import optim

    def run(model, opt, steps, seed):
        rng = np.random.default_rng(seed)
        for _ in range(steps):
            x = ad.tensor(rng.standard_normal((8, 3)), dtype=ad.float32)
            loss = (model(x) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    m = _model()
    opt = optim.Adam(m.parameters(), lr=1e-2, betas=(0.8, 0.99))
    run(m, opt, 3, 1)
    path = tmp_path / "ckpt.safetensors"
    ad.save({"model": m.state_dict(), "optim": opt.state_dict(), "epoch": 3}, path)
    keys = set(safetensors_numpy.load_file(str(path)))
    assert "model/0.weight" in keys and "optim/state/0/exp_avg" in keys  # the key scheme
    ck = ad.load(path)
    assert ck["epoch"] == 3 and ck["optim"]["param_groups"][0]["betas"] == (0.8, 0.99)
    m2 = _model()
    opt2 = optim.Adam(m2.parameters(), lr=1.0)
    m2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["optim"])
    run(m, opt, 2, 2)
    run(m2, opt2, 2, 2)
    for (k, a), b in zip(m.state_dict().items(), m2.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


def test_safetensors_refusals_and_bad_files(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    with pytest.raises(TypeError, match=r"complex128 \(array 'z'\)"):
        ad.save({"z": np.ones(2, np.complex128)}, tmp_path / "c.safetensors")
    assert list(tmp_path.iterdir()) == []                # nothing half-written left behind
    with pytest.raises(ValueError, match="unknown format 'pickle'"):
        ad.save({"a": ad.ones(1)}, tmp_path / "a.bin", format="pickle")
    npz_named_st = tmp_path / "really_npz.safetensors"       # the content decides, not the name
    ad.save({"a": ad.ones(2)}, npz_named_st, format="npz")
    assert zipfile.is_zipfile(npz_named_st)
    np.testing.assert_array_equal(ad.load(npz_named_st)["a"].numpy(), np.ones(2, np.float32))

    good = tmp_path / "good.safetensors"
    ad.save(_model().state_dict(), good)
    raw = good.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(raw[: len(raw) - 20])
    _expect_bad(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x07" * 64)
    _expect_bad(garbage)
    pkl = tmp_path / "evil.safetensors"
    pkl.write_bytes(pickle.dumps({"w": [1, 2]}))
    _expect_bad(pkl)
    # valid tensors whose autodiff metadata points at a tensor that is not there
    meta = json.dumps({"format": "autodiff-npz", "version": 1,
                       "tree": {"__dict__": [["w", {"__array__": "nope", "kind": "tensor"}]]}})
    dangling = tmp_path / "dangling.safetensors"
    safetensors_numpy.save_file({"w": np.ones(2)}, str(dangling),
                                metadata={"__autodiff_meta__": meta})
    with pytest.raises(ValueError, match="missing tensor 'nope'"):
        ad.load(dangling)


def test_safetensors_written_elsewhere_loads_as_flat_dict(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    arrays = {"b": np.arange(6, dtype=np.int16).reshape(2, 3), "a": np.float32([1.5, -2])}
    path = tmp_path / "foreign.safetensors"
    safetensors_numpy.save_file(arrays, str(path))
    out = ad.load(path)
    assert set(out) == {"a", "b"} and all(isinstance(v, ad.Tensor) for v in out.values())
    for k, v in arrays.items():
        assert out[k].dtype == v.dtype
        np.testing.assert_array_equal(out[k].numpy(), v)


def test_safetensors_missing_package_names_the_extra(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"pip install 'autodiff\[safetensors\]'"):
        ad.save({"a": ad.ones(2)}, tmp_path / "a.safetensors")
    assert not (tmp_path / "a.safetensors").exists()


def _ad_net():
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(3 * 4 * 4, 5))


def _torch_net(torch):
    tnn = torch.nn
    return tnn.Sequential(tnn.Conv2d(2, 3, 3, padding=1), tnn.BatchNorm2d(3), tnn.ReLU(),
                          tnn.Flatten(), tnn.Linear(3 * 4 * 4, 5))


def test_safetensors_state_dict_to_pytorch_and_back(torch, tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    ours = _ad_net()
    ours(ad.randn(6, 2, 4, 4))                     # running statistics move off their init
    ours.eval()
    path = tmp_path / "ours.safetensors"
    ad.save(ours.state_dict(), path)
    theirs = _torch_net(torch)
    theirs.load_state_dict(safetensors_torch.load_file(str(path)), strict=True)
    theirs.eval()
    for k, v in ours.state_dict().items():
        got = theirs.state_dict()[k]
        assert got.numpy().tobytes() == v.numpy().tobytes(), k

    x = np.random.default_rng(0).standard_normal((3, 2, 4, 4)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(theirs(torch.from_numpy(x)).numpy(),
                                   ours(ad.tensor(x)).numpy(), rtol=1e-5, atol=1e-6)
        theirs[0].weight.mul_(-0.5)                # change it on the PyTorch side
        theirs(torch.from_numpy(x))
        back_path = tmp_path / "theirs.safetensors"
        safetensors_torch.save_file(theirs.state_dict(), str(back_path))
        ref = theirs(torch.from_numpy(x)).numpy()
    again = _ad_net()
    again.load_state_dict(ad.load(back_path))
    again.eval()
    np.testing.assert_allclose(again(ad.tensor(x)).numpy(), ref, rtol=1e-5, atol=1e-6)
    assert again.state_dict()["1.num_batches_tracked"].item() == 1
