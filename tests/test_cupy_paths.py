"""The CuPy code paths of the engine, nn and optim, run on the CPU stand-in of CuPy
(``tests/cupy_standin.py``: device arrays that refuse ``numpy.asarray`` and host values, wrap
out-of-range indices, and log host synchronisations and the arrays they make) beside NumPy.

Each test names the defect of the GPU path it guards against: raw device targets and weights
in the losses, host arrays written into device tensors, host synchronisations in a training
step, out-of-range indices that wrap silently, float64 temporaries on float32 data, half
precision in the fused activation backwards, and the RNN's one-hot input projection. Values are
checked against formulas written out in NumPy and float64 finite differences."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import autodiff as ad
import autodiff.nn.functional as F
from autodiff import nn, optim
from autodiff.nn.functional_rnn import index_projection

import cupy_standin


@pytest.fixture(params=["numpy", "standin"])
def dev(request):
    """'cpu' (NumPy), or 'cuda' on the CuPy stand-in."""
    if request.param == "numpy":
        yield "cpu"
        return
    with cupy_standin.activated():
        yield "cuda"


@pytest.fixture
def standin():
    with cupy_standin.activated():
        yield


def _on(a, dev, grad=False, dtype=None) -> ad.Tensor:
    return ad.tensor(a, device=dev, requires_grad=grad, dtype=dtype)


def _raw(a, dev):
    """A raw array (not a Tensor) on ``dev``: what a user may pass as a target or a weight."""
    return ad.tensor(a, device=dev).array


def _logp(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


# ----------------------------------------------------------------------------- raw device data
def test_losses_take_targets_and_weights_as_raw_device_arrays(dev):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    t = np.array([0, 3, 1, 1, 2, 0])
    w = np.array([0.5, 2.0, 1.0, 3.0], np.float32)
    lp = _logp(x)
    picked = lp[np.arange(6), t]
    for target in (_raw(t, dev), _on(t, dev), t.tolist()):
        loss = F.cross_entropy(_on(x, dev), target)
        np.testing.assert_allclose(loss.item(), -picked.mean(), rtol=1e-6)
    loss = F.nll_loss(_on(lp.astype(np.float32), dev), _raw(t, dev), weight=_raw(w, dev))
    np.testing.assert_allclose(loss.item(), -(w[t] * picked).sum() / w[t].sum(), rtol=1e-6)
    eps = 0.1   # label smoothing: (1 - eps) nll + eps / C * sum_c -w_c log p_c, both / sum w_t
    loss = F.cross_entropy(_on(x, dev), _raw(t, dev), weight=_raw(w, dev), label_smoothing=eps)
    ref = ((1 - eps) * -(w[t] * picked) + eps / 4 * -(lp * w).sum(axis=1)).sum() / w[t].sum()
    np.testing.assert_allclose(loss.item(), ref, rtol=1e-6)
    loss = F.multi_margin_loss(_on(x, dev), _raw(t, dev))
    xy = x[np.arange(6), t][:, None]
    ref = (np.maximum(0, 1 - xy + x) * (np.arange(4) != t[:, None])).sum(axis=1) / 4
    np.testing.assert_allclose(loss.item(), ref.mean(), rtol=1e-6)
    np.testing.assert_array_equal(F.one_hot(_raw(t, dev), 4).numpy(), np.eye(4, dtype=int)[t])
    table = rng.standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(F.embedding(_raw(t, dev), _on(table, dev)).numpy(), table[t])


# ----------------------------------------------------------------------------- host -> device
def test_host_arrays_written_into_device_tensors(dev):
    a = ad.zeros(2, 3, device=dev)
    src = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    a.copy_(src)                                     # a host array into a device tensor
    np.testing.assert_array_equal(a.numpy(), src)
    a.copy_(_on(2 * src, dev))
    np.testing.assert_array_equal(a.numpy(), 2 * src)
    host = ad.zeros(2, 3)
    host.copy_(_on(3 * src, dev))                    # a device tensor into a host one
    np.testing.assert_array_equal(host.numpy(), 3 * src)
    a[0] = np.array([7.0, 8.0, 9.0])                 # no-graph setitem of a host array
    a[1, [0, 2]] = [5.0, 6.0]
    np.testing.assert_array_equal(a.numpy(), [[7, 8, 9], [5, 8, 6]])


def _sgd_and_adam(params):
    return [optim.SGD(params[:1], lr=0.1, momentum=0.9), optim.Adam(params[1:], lr=0.01)]


def test_optimizer_state_moves_between_devices(standin):
    """A GPU optimizer's state loads into a CPU optimizer (and back) and the steps continue
    exactly as the original's."""
    rng = np.random.default_rng(1)
    w0 = [rng.standard_normal(3).astype(np.float32) for _ in range(2)]
    grads = [[rng.standard_normal(3).astype(np.float32) for _ in range(2)] for _ in range(4)]

    def run(devs):
        """Two steps on devs[0], the state handed to a fresh optimizer on devs[1], two more."""
        params = [_on(w, devs[0], grad=True) for w in w0]
        opts = _sgd_and_adam(params)
        for k, g in enumerate(grads):
            if k == 2:
                state = [o.state_dict() for o in opts]
                params = [_on(p.detach().numpy(), devs[1], grad=True) for p in params]
                opts = _sgd_and_adam(params)
                for o, s in zip(opts, state):
                    o.load_state_dict(s)
            for p, gi in zip(params, g):
                p.grad = _on(gi, devs[1] if k >= 2 else devs[0])
            for o in opts:
                o.step()
        return [p.detach().numpy() for p in params]

    ref = run(("cpu", "cpu"))
    for devs in (("cuda", "cpu"), ("cpu", "cuda")):
        for a, b in zip(run(devs), ref):
            np.testing.assert_allclose(a, b, rtol=1e-6)


# ----------------------------------------------------------------------------- out of range
def test_index_ops_reject_out_of_range_indices(dev):
    x = _on(np.arange(12.0).reshape(3, 4), dev)
    for idx in ([0, 3], np.array([3]), _raw(np.array([-4]), dev), _on(np.array([5]), dev)):
        with pytest.raises(IndexError, match=r"getitem.*\(3, 4\)"):
            x[idx]
    with pytest.raises(IndexError, match="getitem"):
        x[:, _raw(np.array([1, 4]), dev)]
    with pytest.raises(IndexError):
        ad.gather(x, 1, _raw(np.array([[0], [4], [1]]), dev))
    with pytest.raises(IndexError):
        ad.take(x, _raw(np.array([12]), dev))
    with pytest.raises(IndexError):
        ad.index_select(x, 1, _raw(np.array([0, 4]), dev))
    with pytest.raises(IndexError, match="setitem"):
        x[_raw(np.array([3]), dev)] = 1.0
    if dev == "cuda":     # a device index into a host tensor: a clear error, as in PyTorch
        with pytest.raises(TypeError, match="getitem: the index array lives on cuda but the "
                                            "tensor on cpu"):
            ad.zeros(3, device="cpu")[_raw(np.array([0]), dev)]
    with pytest.raises(IndexError, match="setitem"):
        x[[0, 3]] = _on(np.ones((2, 4)), dev, grad=True)         # recorded (index_put)
    # in range, negative ones counting from the end: the values NumPy gives
    idx = np.array([-1, 0, 2])
    np.testing.assert_array_equal(x[_raw(idx, dev)].numpy(), np.arange(12.0).reshape(3, 4)[idx])
    np.testing.assert_array_equal(ad.index_select(x, 1, _raw(idx, dev)).numpy(),
                                  np.arange(12.0).reshape(3, 4)[:, idx])


def test_bad_labels_and_indices_poison_on_the_gpu_and_raise_in_anomaly_mode(standin):
    """On the GPU a range check would cost a synchronisation per step: out of anomaly mode a
    bad label or index gives NaN where it is used; in anomaly mode the CPU's error."""
    rng = np.random.default_rng(2)
    x = _on(rng.standard_normal((3, 4)).astype(np.float32), "cuda")
    t = _raw(np.array([1, 4, 0]), "cuda")
    table = _on(rng.standard_normal((5, 2)).astype(np.float32), "cuda")
    cases = [(lambda: F.cross_entropy(x, t), ValueError, "label 4 is out of range for 4"),
             (lambda: F.nll_loss(x, t, reduction="none"), ValueError, "label 4"),
             (lambda: F.multi_margin_loss(x, t), ValueError, "label 4"),
             (lambda: F.hinge_loss(x[:, 0], _raw(np.array([1.0, 0.0, -1.0]), "cuda")),
              ValueError, "-1 or \\+1, got 0"),
             (lambda: F.embedding(_raw(np.array([[1, 5]]), "cuda"), table), IndexError,
              "embedding: index 5 is out of range for 5 rows"),
             (lambda: index_projection(_raw(np.array([2, -6]), "cuda"), table.T), IndexError,
              "index_projection: index -6 is out of range for 5 rows")]
    for fn, err, msg in cases:
        out = fn().numpy()
        assert np.isnan(out).any(), msg
        with ad.detect_anomaly(), pytest.raises(err, match=msg):
            fn()
    nll = F.nll_loss(x, t, reduction="none").numpy()      # only the bad row is NaN
    np.testing.assert_array_equal(np.isnan(nll), [False, True, False])
    emb = F.embedding(_raw(np.array([[1, 5]]), "cuda"), table).numpy()
    np.testing.assert_array_equal(emb[0, 0], table.numpy()[1])
    assert np.isnan(emb[0, 1]).all()


def test_bad_labels_and_indices_raise_on_numpy():
    x = ad.randn(3, 4)
    with pytest.raises(ValueError, match="label 4 is out of range"):
        F.cross_entropy(x, [1, 4, 0])
    with pytest.raises(IndexError, match="embedding: index 5 is out of range for 5 rows"):
        F.embedding([[1, 5]], ad.randn(5, 2))
    with pytest.raises(IndexError, match="index_projection: index -6 is out of range for 5 rows"):
        index_projection(np.array([2, -6]), ad.randn(2, 5))


# ----------------------------------------------------------------------------- synchronisations
def _lm_step(vocab: int):
    """One training step of a small LM: embedding + LSTM (one-hot ids path too), batch norm,
    dropout, cross-entropy with labels and a weighted NLL, SGD with momentum and Adam."""
    emb = nn.Embedding(vocab, 6, device="cuda")
    rnn = nn.LSTM(6, 8)
    onehot_rnn = nn.GRU(vocab, 8)
    bn = nn.BatchNorm1d(8)
    head = nn.Linear(8, vocab)
    for m in (rnn, onehot_rnn, bn, head):
        m.to("cuda")
    drop = nn.Dropout(0.2)
    params = [*emb.parameters(), *rnn.parameters(), *onehot_rnn.parameters(),
              *bn.parameters(), *head.parameters()]
    opts = [optim.SGD(params[:3], lr=0.1, momentum=0.9), optim.Adam(params[3:], lr=1e-3)]
    rng = np.random.default_rng(3)
    ids = _raw(rng.integers(0, vocab, (5, 2)), "cuda")
    target = _raw(rng.integers(0, vocab, 10), "cuda")
    weight = _raw(rng.uniform(0.5, 2, vocab).astype(np.float32), "cuda")

    def step():
        h, _ = rnn(emb(ids))
        h2, _ = onehot_rnn.forward_ids(ids)
        z = drop(bn(ad.reshape(h + h2, (10, 8))))
        logits = head(z)
        loss = F.cross_entropy(logits, target) + \
            F.nll_loss(F.log_softmax(logits, 1), target, weight=weight)
        for o in opts:
            o.zero_grad()
        loss.backward()
        for o in opts:
            o.step()
        return loss
    return step


def test_training_step_makes_no_host_synchronisation(standin):
    step = _lm_step(vocab=7)
    step()                                          # first step: optimizer state made
    with cupy_standin.counting_syncs() as syncs:
        loss = step()
    assert syncs == []
    assert np.isfinite(loss.item())


def test_cumulative_batch_norm_reads_no_count_on_the_host(standin):
    """momentum=None (the running statistics are the average over the batches seen) without
    reading num_batches_tracked back: the running mean is the mean of the batch means."""
    rng = np.random.default_rng(8)
    xs = [rng.standard_normal((6, 3)).astype(np.float32) for _ in range(3)]
    bn = nn.BatchNorm1d(3, momentum=None).to("cuda")
    with cupy_standin.counting_syncs() as syncs:
        for x in xs:
            bn(_on(x, "cuda"))
    assert syncs == []
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([x.mean(0) for x in xs], 0),
                               rtol=1e-5, atol=1e-6)
    assert bn.running_mean.dtype == np.float32 and int(bn.num_batches_tracked.item()) == 3


# ----------------------------------------------------------------------------- dtypes
def test_float32_work_makes_no_float64_temporaries(standin):
    rng = np.random.default_rng(4)
    x = _on(rng.standard_normal((4, 3, 5)).astype(np.float32), "cuda", grad=True)
    bn = nn.BatchNorm1d(3).to("cuda")
    t = _raw(rng.integers(0, 3, (4, 5)), "cuda")
    with cupy_standin.recording_arrays() as made:
        out = [F.dropout(x, 0.3), bn(x), F.layer_norm(x, (5,)), ad.mean(x, 1), ad.var(x, 2),
               ad.std(x), ad.norm(x), ad.logsumexp(x, 1), ad.softmax(x, 2),
               F.cross_entropy(x, t), F.mse_loss(x, ad.zeros_like(x)), F.gelu(x),
               F.binary_cross_entropy_with_logits(x, ad.ones_like(x))]
        bn.eval()
        out.append(bn(x))
        sum(ad.sum(o) for o in out).backward()
    assert made and {d.name for _, d in made} <= {"float32", "int64", "bool"}, \
        sorted({d.name for _, d in made})
    assert x.grad.dtype == np.float32


# ----------------------------------------------------------------------------- half precision
@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid"])
def test_half_precision_activation_backward(standin, name):
    """The fused CUDA activation backwards take float32/float64 only: float16 takes the
    Tensor-op rule (the emulated kernels refuse float16 as the CUDA ones do)."""
    a = np.linspace(-2, 2, 9)
    x = _on(a, "cuda", grad=True, dtype=ad.float16)
    getattr(ad, name)(x).sum().backward()
    ref = {"relu": (a > 0) * 1.0, "tanh": 1 - np.tanh(a) ** 2,
           "sigmoid": np.exp(-a) / (1 + np.exp(-a)) ** 2}[name]
    assert x.grad.dtype == np.float16
    np.testing.assert_allclose(x.grad.numpy().astype(np.float64), ref, rtol=2e-3, atol=2e-3)


# ----------------------------------------------------------------------------- RNN input
def test_index_projection_builds_no_vocabulary_square(dev):
    """``one_hot(ids) W^T + b`` as a row gather; the weight gradient a scatter-add of the
    output gradient's rows (no V x V identity), checked against the one-hot formula."""
    V, G = 300, 4
    rng = np.random.default_rng(5)
    w = rng.standard_normal((G, V)).astype(np.float32)
    b = rng.standard_normal(G).astype(np.float32)
    ids = np.array([[3, 299, 3], [0, -1, 7]])
    g = rng.standard_normal((2, 3, G)).astype(np.float32)
    W, B = _on(w, dev, grad=True), _on(b, dev, grad=True)
    with cupy_standin.recording_arrays() as made:
        out = index_projection(_raw(ids, dev), W, B)
        out.backward(_on(g, dev))
    assert not [s for s, _ in made if s.count(V) > 1], "a V x V array was made"
    onehot = np.eye(V)[ids % V]
    np.testing.assert_allclose(out.numpy(), onehot @ w.T + b, rtol=1e-6)
    np.testing.assert_allclose(W.grad.numpy(), np.einsum("tbg,tbv->gv", g, onehot), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(B.grad.numpy(), g.sum(axis=(0, 1)), rtol=1e-5)


def test_index_projection_second_order():
    ids = np.array([1, 4, 1, 0])
    w = ad.tensor(np.random.default_rng(6).standard_normal((3, 5)), requires_grad=True)
    b = ad.tensor(np.random.default_rng(7).standard_normal(3), requires_grad=True)
    f = lambda w, b: ad.tanh(index_projection(ids, w, b))    # noqa: E731
    assert ad.gradcheck(f, (w, b))
    assert ad.gradgradcheck(f, (w, b))


# ----------------------------------------------------------------------------- TF32
def test_float32_matmul_precision_is_highest_by_default_and_tf32_on_request(monkeypatch):
    """PyTorch's switch: 'high' sets CuPy's float32 compute type to TF32 (and CUPY_TF32, which
    CuPy reads at its first product and ``sum_to_trailing`` consults), 'highest' back."""
    import types
    calls = []
    linalg = types.SimpleNamespace(COMPUTE_TYPE_TF32="tf32", COMPUTE_TYPE_DEFAULT="default",
                                   set_compute_type=lambda dt, kind: calls.append((dt, kind)))
    monkeypatch.delenv("CUPY_TF32", raising=False)
    assert ad.get_float32_matmul_precision() == "highest"
    monkeypatch.setitem(sys.modules, "cupy", types.ModuleType("cupy"))
    monkeypatch.setitem(sys.modules, "cupy._core", types.SimpleNamespace(_routines_linalg=linalg))
    ad.set_float32_matmul_precision("high")
    assert ad.get_float32_matmul_precision() == "high" and os.environ["CUPY_TF32"] == "1"
    ad.set_float32_matmul_precision("highest")
    assert ad.get_float32_matmul_precision() == "highest" and os.environ["CUPY_TF32"] == "0"
    assert calls == [(np.float32, "tf32"), (np.float32, "default")]
    with pytest.raises(ValueError, match="highest, high, medium.*'fast'"):
        ad.set_float32_matmul_precision("fast")
    with pytest.raises(NotImplementedError, match="'medium'"):
        ad.set_float32_matmul_precision("medium")


def test_prod_backward_on_the_gpu_reads_nothing_back(dev):
    """The gradient of prod with no zero, one zero and two zeros in the reduced slice (rows),
    against the closed form prod_{j != i} x_j; on the GPU without a host synchronisation."""
    a = np.array([[2.0, 3.0, 0.5, -1.0], [2.0, 0.0, 4.0, 3.0], [0.0, 5.0, 0.0, 1.0]],
                 np.float32)
    x = _on(a, dev, grad=True)
    with cupy_standin.counting_syncs() as syncs:
        ad.prod(x, 1).sum().backward()
    if dev == "cuda":
        assert syncs == []
    ref = np.array([[np.prod(np.delete(r, i)) for i in range(4)] for r in a])
    np.testing.assert_allclose(x.grad.numpy(), ref, rtol=1e-6)


# ----------------------------------------------------------------------------- devices
def test_cupy_generator_per_device(monkeypatch):
    """One generator per GPU (a generator's state lives on the device that made it), all
    seeded with the one seed; manual_seed starts them all again."""
    import types

    import autodiff.random as adrandom
    current = [0]
    made = []

    def default_rng(seed):
        made.append((current[0], seed))
        return object()
    cupy = types.ModuleType("cupy")
    cupy.cuda = types.SimpleNamespace(Device=lambda: types.SimpleNamespace(id=current[0]))
    cupy.random = types.SimpleNamespace(default_rng=default_rng)
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(adrandom._state, "cupy", None)
    ad.manual_seed(7)
    g0 = adrandom.generator(cupy)
    current[0] = 1
    g1 = adrandom.generator(cupy)
    assert g0 is not g1 and adrandom.generator(cupy) is g1
    current[0] = 0
    assert adrandom.generator(cupy) is g0
    assert made == [(0, 7), (1, 7)]
    ad.manual_seed(8)                     # re-seeds: new generators, made again on demand
    assert adrandom.generator(cupy) is not g0 and made[-1] == (0, 8)
