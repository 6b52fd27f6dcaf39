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
