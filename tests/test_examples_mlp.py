"""The MLP-era experiments (examples/*.py) on reduced sizes, asserting their key numbers against
independent references: closed forms, NumPy least squares, SciPy optimisation, hand-written
backward passes and hand-computed loss values."""
from __future__ import annotations

import math

import numpy as np
import pytest

import autodiff as ad
from ref_nn import mlp_sgd
from examples_util import in_tmp, load_example as _load  # noqa: F401


def _openblas_thread_setters():
    """(get, set) for the OpenBLAS that NumPy loaded, or None (other BLAS, other OS)."""
    try:
        import ctypes
        with open("/proc/self/maps") as f:
            libs = {ln.split()[-1] for ln in f if "openblas" in ln.lower() and ".so" in ln}
        for path in libs:
            lib = ctypes.CDLL(path)
            for suffix in ("64_", ""):
                for prefix in ("scipy_openblas", "openblas"):
                    get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                    put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                    if get is not None and put is not None:
                        return get, put
    except Exception:  # pragma: no cover - best effort only
        pass
    return None


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """These examples multiply small matrices: on a shared, busy machine OpenBLAS's threads
    spin against each other and make them ~10x slower, so use one thread here (restored)."""
    fns = _openblas_thread_setters()
    if fns is None:
        yield
        return
    get, put = fns
    before = get()
    put(1)
    yield
    put(before)


# ----------------------------------------------------------------------------- experiment 2
def test_linear_regression_recovers_line(capsys):
    ex = _load("linear_regression")
    r = ex.main(["--iters", "1000"])
    x, y = ex.make_blob(1000)
    m_ls, b_ls = np.polyfit(x, y, 1)                        # independent reference
    assert r["error_after"] < 0.05 * r["error_before"]
    assert all(a >= b - 1e-12 for a, b in zip(r["history"], r["history"][1:]))  # monotone
    assert r["m"] == pytest.approx(m_ls, abs=1e-4) and r["b"] == pytest.approx(b_ls, abs=1e-4)
    # the population line of the blob: slope -0.68 / 0.52 through the center (1, 2)
    assert r["m_true"] == pytest.approx(-0.68 / 0.52) and r["b_true"] == pytest.approx(2 + 0.68 / 0.52)
    assert r["m"] == pytest.approx(r["m_true"], abs=0.1)
    assert r["b"] == pytest.approx(r["b_true"], abs=0.1)
    assert r["grad_diff"] < 1e-8
    assert "b = 0, m = 0" in capsys.readouterr().out


# ----------------------------------------------------------------------------- experiment 3
def test_mle_gaussians_matches_sample_and_scipy():
    scipy_opt = pytest.importorskip("scipy.optimize")
    st = pytest.importorskip("scipy.stats")
    ex = _load("mle_gaussians")
    r = ex.main(["--n1", "2000", "--n2", "1000", "--tol", "1e-7"])
    x = ex.make_data(2000, 1000)
    assert r["mu"] == pytest.approx(x.mean(), abs=1e-4)
    assert r["sigma"] == pytest.approx(x.std(), abs=1e-4)       # MLE: population std
    ref1 = -st.norm.logpdf(x, x.mean(), x.std()).mean()
    assert r["nll_single"] == pytest.approx(ref1, abs=1e-7)

    def nll(p):
        return -np.mean(np.logaddexp(st.norm.logpdf(x, p[0], abs(p[1])),
                                     st.norm.logpdf(x, p[2], abs(p[3]))) + math.log(0.5))

    ref = scipy_opt.minimize(nll, [1, 1, 2, 2], method="Nelder-Mead",
                             options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 20000})
    np.testing.assert_allclose(r["mixture"], ref.x, atol=5e-3)
    assert r["nll_mixture"] == pytest.approx(ref.fun, abs=1e-6)
    assert r["nll_mixture"] < r["nll_single"]


# ----------------------------------------------------------------------------- experiment 1b
def test_from_scratch_gradients_equal_engine(data_dir):
    ex = _load("mlp_from_scratch")
    from autodiff.data import mnist_split
    s = mnist_split(data_dir)
    model = ex.ScratchMLP(seed=1, dtype=np.float64)
    x, y = s.x_train[:64].astype(np.float64), s.y_train[:64]
    loss = model.loss_and_backward(x, y)
    eloss, egrads = ex.engine_gradients(model.weights(), x, y)
    assert loss == pytest.approx(eloss, rel=1e-9)
    for g, e in zip(model.gradients(), egrads):
        assert np.allclose(g, e, rtol=1e-10, atol=1e-12)
    # the hand-written softmax backward against central differences of the loss
    W2 = model.layers[2].W
    i, j, h = 3, 17, 1e-6
    W2[i, j] += h
    lp = model.loss.forward(model.forward(x), y)
    W2[i, j] -= 2 * h
    lm = model.loss.forward(model.forward(x), y)
    W2[i, j] += h
    model.loss_and_backward(x, y)
    assert model.layers[2].dW[i, j] == pytest.approx((lp - lm) / (2 * h), rel=1e-5, abs=1e-9)


def test_from_scratch_trains(data_dir):
    ex = _load("mlp_from_scratch")
    r = ex.main(["--data", str(data_dir), "--epochs", "1"])
    assert r["grad_diff"] < 1e-5 and r["loss_diff"] < 1e-5
    assert r["test_acc"] > 0.85


def test_from_scratch_same_as_nn_model(data_dir):
    """The same weights in nn's mnist_mlp give the same loss and gradients."""
    nn = pytest.importorskip("autodiff.nn")
    if not hasattr(nn, "Linear"):
        pytest.skip("nn.Linear not available yet")
    from autodiff.nn import functional as F
    from autodiff.nn.models import mnist_mlp
    ex = _load("mlp_from_scratch")
    from autodiff.data import mnist_split
    s = mnist_split(data_dir)
    scratch = ex.ScratchMLP(seed=2)
    net = mnist_mlp()
    net.load_state_dict({k: ad.tensor(w) for k, w in zip(["0.weight", "0.bias", "2.weight",
                                                           "2.bias"], scratch.weights())})
    x, y = s.x_train[:32], s.y_train[:32]
    loss = F.cross_entropy(net(ad.tensor(x)), ad.tensor(y))
    loss.backward()
    ref = scratch.loss_and_backward(x, y)
    assert loss.item() == pytest.approx(ref, rel=1e-5)
    for p, g in zip(net.parameters(), scratch.gradients()):
        assert np.allclose(p.grad.numpy(), g, rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------- experiment 1
def test_mnist_mlp_one_epoch(data_dir):
    ex = _load("mnist_mlp")
    r = ex.main(["--data", str(data_dir), "--epochs", "1", "--quiet"])
    assert r["test_acc"] > 0.85 and r["train_acc"] > 0.8
    assert r["loss"] < 2.0
    h = r["history"][0]
    assert h["epoch"] == 1 and 0 < h["loss"] < math.log(10) + 0.1


def test_mnist_mlp_losses_agree_and_match_numpy(data_dir):
    """log-softmax + NLL equals cross-entropy, and one SGD step equals a NumPy transcription."""
    ex = _load("mnist_mlp")
    from autodiff import optim
    from autodiff.nn.models import mnist_mlp
    xtr, ytr, _, _ = ex.load_data(str(data_dir), n_train=64)
    net = mnist_mlp()
    W1, b1, W2, b2 = (p.numpy().astype(np.float64) for p in net.parameters())
    x, y = ad.tensor(xtr), ad.tensor(ytr)
    l_nll = ex.loss_function("nll")(net(x), y)
    l_ce = ex.loss_function("ce")(net(x), y)
    assert l_nll.item() == pytest.approx(l_ce.item(), rel=1e-6)
    # NumPy reference of loss and gradient
    X = xtr.astype(np.float64)
    H = np.maximum(X @ W1.T + b1, 0)
    Z = H @ W2.T + b2
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    assert l_ce.item() == pytest.approx(-np.log(P[np.arange(64), ytr]).mean(), rel=1e-5)
    dZ = P.copy()
    dZ[np.arange(64), ytr] -= 1
    dZ /= 64
    opt = optim.SGD(net.parameters(), lr=0.01)
    loader = [(x, y)]
    ex.train_epoch(net, loader, opt, ex.loss_function("nll"))
    np.testing.assert_allclose(list(net.parameters())[2].numpy(), W2 - 0.01 * dZ.T @ H,
                               rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------- experiment 4
def test_optimizer_comparison_small(data_dir, tmp_path):
    ex = _load("optimizer_comparison")
    r = ex.main(["--data", str(data_dir), "--epochs", "1", "--n-train", "1024", "--quiet",
                 "--plot", str(tmp_path / "opt.png")])
    res, curves = r["results"], r["curves"]
    assert set(res) == {"SGD", "Momentum", "Nesterov", "RMSprop", "Adam", "Adagrad", "Adadelta"}
    for name, c in curves.items():
        assert res[name]["finite"] and len(c) == 16
        assert c[-1] < c[0], name                        # every optimizer lowers the loss
    # at this short horizon plain SGD (lr 0.01, no momentum) is the slowest
    assert all(res[n]["final_loss"] < res["SGD"]["final_loss"] for n in res if n != "SGD")
    # smoothing = bias-corrected EMA
    vals = [3.0, 1.0, 2.0]
    s = ex.smooth(vals, 0.5)
    assert s == pytest.approx([3.0, (0.25 * 3 + 0.5 * 1) / 0.75, (0.125 * 3 + 0.25 + 1.0) / 0.875])


# ----------------------------------------------------------------------------- experiment 5
def test_lr_finder_then_one_cycle(data_dir):
    ex = _load("lr_finder_1cycle")
    r = ex.main(["--data", str(data_dir), "--epochs", "1", "--n-train", "2048", "--plot", ""])
    assert r["restored"]
    lrs = np.array(r["lrs"])
    assert lrs[0] == pytest.approx(1e-8)
    ratios = lrs[1:] / lrs[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)      # geometric schedule
    k = int(np.argmin(r["losses"]))
    assert r["suggested_lr"] == pytest.approx(lrs[k] / 10)
    assert 1e-4 < r["suggested_lr"] < 1.0
    sched = np.array(r["schedule"])                                # LRs actually used
    assert sched.max() == pytest.approx(r["suggested_lr"], rel=0.1)
    assert sched[0] == pytest.approx(r["suggested_lr"] / 25, rel=1e-6)
    assert sched[-1] < r["suggested_lr"] / 1e4                     # annihilation
    assert r["test_acc"] > 0.75 and r["test_acc"] > r["baseline_test_acc"]


# ----------------------------------------------------------------------------- experiment 6
def test_batchnorm_keeps_signal_healthy():
    ex = _load("batchnorm_depth")
    r = ex.main([])                                       # the full 20 x 100, input 1000, batch 100
    plain, bn = np.array(r["act_std_plain"]), np.array(r["act_std_bn"])
    assert len(plain) == len(bn) == 20
    assert plain[-1] < 1e-12 * plain[0]                   # vanishes without batch norm
    assert np.all(np.diff(np.log(plain)) < 0)
    # with batch norm every layer has the std of relu(N(0, 1)) (batch of 100: a few % noise)
    np.testing.assert_allclose(bn, ex.HEALTHY_STD, rtol=0.1)
    gp, gb = np.array(r["grad_std_plain"]), np.array(r["grad_std_bn"])
    assert gp[0] < 1e-10 * gp[-1]                         # gradients vanish towards the input
    assert np.all(gb > 0) and gb.max() / gb.min() < 100   # ... but not with batch norm


# ----------------------------------------------------------------------------- experiment 7
def test_loss_functions_numbers():
    ex = _load("loss_functions")
    r = ex.main([])
    for row in r["sigmoid_grads"]:
        p = 1 / (1 + math.exp(-row["z"]))
        assert row["mse"] == pytest.approx(2 * (p - 1) * p * (1 - p), rel=1e-9, abs=1e-15)
        assert row["ce"] == pytest.approx(p - 1, rel=1e-9, abs=1e-15)
    sat = r["sigmoid_grads"][0]                           # z = -10, confidently wrong
    assert abs(sat["ce"]) > 1e3 * abs(sat["mse"])
    assert r["init_norms"]["ce"] > 2 * r["init_norms"]["mse"]
    a, b = r["hinge_ce"]
    assert a["scores"] == [10, 8, 8] and b["scores"] == [10, -10, -10]
    # hand-computed: hinge = sum_j max(0, s_j - s_y + 1); CE = log(1 + sum_j exp(s_j - s_y))
    assert a["hinge"] == 0.0 and b["hinge"] == 0.0
    assert a["hinge_grad_norm"] == 0.0 and b["hinge_grad_norm"] == 0.0
    assert a["ce"] == pytest.approx(math.log(1 + 2 * math.exp(-2)), rel=1e-12)
    assert b["ce"] == pytest.approx(math.log1p(2 * math.exp(-20)), rel=1e-6)
    assert a["ce"] == pytest.approx(0.2395, abs=1e-4) and b["ce"] < 1e-8
    assert a["ce_grad_norm"] > 0.1
    assert ex.hand_hinge([10, 9.5, 8]) == pytest.approx(0.5)
    if "multi_margin_loss" in a:                          # PyTorch's form: divided by C = 3
        assert a["multi_margin_loss"] == pytest.approx(a["hinge"] / 3)


# ----------------------------------------------------------------------------- experiment 8
def test_class_imbalance_weighting_fixes_minority_recall():
    ex = _load("class_imbalance")
    r = ex.main(["--n", "2000", "--epochs", "8"])
    triv = r["trivial"]
    assert triv["accuracy"] == pytest.approx(0.9) and triv["recall_minority"] == 0.0
    plain = r["plain"]
    for fix in ("weighted", "sampler"):
        assert r[fix]["recall_minority"] > plain["recall_minority"] + 0.25, fix
        assert r[fix]["balanced_accuracy"] > plain["balanced_accuracy"] + 0.05, fix
    # the hand-checked metric helper
    m = ex.metrics(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 1]))
    assert m == {"accuracy": 0.5, "recall_majority": 0.5, "recall_minority": 0.5,
                 "balanced_accuracy": 0.5}


def _ten_sgd_steps(data_dir):
    """Ten SGD steps (lr 0.01, batches of 64 in order) of experiment 1's loop: the initial
    weights, the data, each batch's loss and the final weights."""
    ex = _load("mnist_mlp")
    from autodiff import optim
    from autodiff.data import DataLoader, TensorDataset
    from autodiff.nn.models import mnist_mlp
    xtr, ytr, _, _ = ex.load_data(str(data_dir), n_train=640)
    net = mnist_mlp()
    init = [p.numpy().copy() for p in net.parameters()]
    opt = optim.SGD(net.parameters(), lr=0.01)
    loader = DataLoader(TensorDataset(xtr, ytr), batch_size=64)
    losses: list[float] = []
    ex.train_epoch(net, loader, opt, ex.loss_function("nll"), losses=losses)
    return init, xtr, ytr, losses, [p.numpy() for p in net.parameters()]


def test_mnist_mlp_training_matches_numpy(data_dir):
    """The same ten steps written out in NumPy (float64 forward, hand-derived cross-entropy
    backward, p -= lr * grad): the float32 engine stays within float32 rounding."""
    init, xtr, ytr, losses, params = _ten_sgd_steps(data_dir)
    batches = [(xtr[i:i + 64], ytr[i:i + 64]) for i in range(0, 640, 64)]
    ref_losses, ref_params = mlp_sgd(init, batches, lr=0.01)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    assert ref_losses[-1] < ref_losses[0]
    for p, rp, p0 in zip(params, ref_params, init):
        np.testing.assert_allclose(p, rp, rtol=1e-4, atol=1e-6)
        assert np.abs(rp - p0).max() > 1e-4          # the steps moved every tensor


def test_mnist_mlp_training_matches_torch(torch, data_dir):
    """The same ten steps in PyTorch from the same weights on the same batches."""
    init, xtr, ytr, losses, params = _ten_sgd_steps(data_dir)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tlosses, tparams = _torch_sgd(torch, init, xtr, ytr)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_allclose(losses, tlosses, rtol=1e-5)
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p, tp, rtol=1e-4, atol=1e-6)


def _torch_sgd(torch, init, xtr, ytr):
    tnet = torch.nn.Sequential(torch.nn.Linear(784, 100), torch.nn.ReLU(),
                               torch.nn.Linear(100, 10))
    with torch.no_grad():
        for p, w in zip(tnet.parameters(), init):
            p.copy_(torch.from_numpy(w))
    topt = torch.optim.SGD(tnet.parameters(), lr=0.01)
    tlosses = []
    for i in range(0, 640, 64):
        xb, yb = torch.from_numpy(xtr[i:i + 64]), torch.from_numpy(ytr[i:i + 64])
        topt.zero_grad()
        loss = torch.nn.functional.nll_loss(torch.log_softmax(tnet(xb), dim=1), yb)
        loss.backward()
        topt.step()
        tlosses.append(loss.item())
    return tlosses, [p.detach().numpy() for p in tnet.parameters()]
