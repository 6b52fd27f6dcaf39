"""Smoke-and-numbers tests of the Hessian and style examples at reduced sizes: the SVM's
Hessian is lam * I, gradient descent stays at the strict saddle while noisy SGD escapes to a
minimum, texture synthesis lowers its loss, and the MNIST MLP's lambda_max is measured."""
from __future__ import annotations

import math

import numpy as np
import pytest

import autodiff as ad
from examples_util import in_tmp, load_example as _load  # noqa: F401


def test_svm_hessian_is_diagonal_positive_definite():
    res = _load("hessian_svm").main(["--n", "60", "--d", "4", "--lam", "0.3", "--steps", "100",
                                     "--quiet"])
    H = res["hessian"]
    np.testing.assert_allclose(H, 0.3 * np.eye(4), atol=1e-12)
    assert res["is_diagonal_pd"]
    np.testing.assert_allclose(res["eig_explicit"], 0.3, rtol=1e-12)
    assert res["lambda_min"] == pytest.approx(0.3, rel=1e-8)
    assert res["lambda_max"] == pytest.approx(0.3, rel=1e-8)
    assert res["trace"] == pytest.approx(1.2, rel=1e-10)  # exact for a diagonal Hessian
    assert res["classification"] == "minimum"
    assert res["accuracy"] > 0.8


def test_strict_saddle_gd_stuck_noisy_escapes():
    res = _load("strict_saddle").main(["--steps", "300", "--quiet"])
    np.testing.assert_array_equal(res["gd_final"], [0.0, 0.0])  # zero gradient: never moves
    assert abs(res["gd_axis_final"][1]) == 0.0 and abs(res["gd_axis_final"][0]) < 1e-9
    assert res["f_gd"] == 0.0
    assert res["escape_step"] is not None
    np.testing.assert_allclose(np.abs(res["noisy_final"]), [0.0, math.sqrt(2)], atol=0.05)
    assert res["f_noisy"] == pytest.approx(-1.0, abs=1e-2)
    kinds = res["classification"]
    assert kinds["(0, 0)"] == "saddle"
    assert kinds["(0, +sqrt2)"] == kinds["(0, -sqrt2)"] == "minimum"
    assert kinds["noisy endpoint"] == "minimum"
    np.testing.assert_allclose(res["saddle_eigenvalues"], [-2.0, 2.0], rtol=1e-8)


def test_texture_synthesis_loss_decreases(tmp_path):
    out = tmp_path / "tex.ppm"
    res = _load("texture_synthesis").main(["--size", "12", "--steps", "2", "--max-iter", "8",
                                           "--channels", "6", "8", "--texture", "checker",
                                           "--out", str(out), "--quiet"])
    losses = res["losses"]
    assert losses[-1] < 0.5 * losses[0]
    assert all(np.isfinite(losses))
    assert out.read_bytes().startswith(b"P6 12 12 255\n")
    assert res["image"].shape == (3, 12, 12)


def test_texture_synthesis_pretrained_weights_file(tmp_path):
    mod = _load("texture_synthesis")
    rng = np.random.default_rng(0)
    path = tmp_path / "w.npz"
    np.savez(path, **{"conv0.weight": rng.standard_normal((5, 3, 3, 3)) * 0.3,
                      "conv0.bias": np.zeros(5),
                      "conv1.weight": rng.standard_normal((4, 5, 3, 3)) * 0.3,
                      "mean": np.array([0.5, 0.5, 0.5]), "std": np.array([0.25, 0.25, 0.25])})
    ex = mod.FeatureExtractor(weights=path)
    np.testing.assert_array_equal(ex.convs[1].weight.numpy(),
                                  np.load(path)["conv1.weight"].astype(np.float32))
    assert ex.convs[1].bias is None
    feats = ex(ad.tensor(mod.make_texture("stripes", 8)))
    assert [tuple(f.shape) for f in feats] == [(1, 5, 8, 8), (1, 4, 4, 4)]
    assert all(not p.requires_grad for p in ex.parameters())
    np.savez(tmp_path / "bad.npz", something=np.zeros(3))
    with pytest.raises(ValueError, match="conv0.weight"):
        mod.FeatureExtractor(weights=tmp_path / "bad.npz")


def test_hessian_mlp_tiny(data_dir):
    from autodiff.data.mnist import find_mnist_dir
    if find_mnist_dir(str(data_dir)) is None:
        pytest.skip("MNIST files not in the shared data directory")
    res = _load("hessian_mlp").main(["--data", str(data_dir), "--n-train", "256",
                                     "--n-test", "128", "--hidden", "16", "--epochs", "1",
                                     "--batch-size", "32", "--checkpoints", "0", "8",
                                     "--hvp-batch", "64", "--lanczos-steps", "10", "--quiet"])
    assert res["steps"] == [0, 8]
    for r in res["records"]:
        assert r["lambda_max"] > 0
        assert r["max_stable_lr"] == pytest.approx(2 / r["lambda_max"])
        # the Rayleigh quotient along g cannot exceed the top eigenvalue (up to Lanczos error)
        assert r["curvature_along_gradient"] <= r["lambda_max"] * 1.05
