"""The samplers (multinomial, normal, bernoulli, poisson, the in-place fillers) against their
distributions' closed forms with fixed seeds: each statistic within 5 standard errors (so a
correct sampler fails about once in 3.5 million runs, and a wrong mean, scale or law fails
every time), plus seeding, ``Generator`` streams, argument errors and PyTorch's zero gradient
through samples."""
from __future__ import annotations

import math

import numpy as np
import pytest

import autodiff as ad

N = 40_000


def within(sample_stat: float, expected: float, std_err: float) -> None:
    assert abs(sample_stat - expected) <= 5 * std_err, (sample_stat, expected, std_err)


def frequencies_match(counts: np.ndarray, p: np.ndarray) -> None:
    """Each category's count within 5 binomial standard deviations of n p."""
    n = counts.sum()
    for c, q in zip(counts, p):
        within(c, n * q, math.sqrt(n * q * (1 - q)) + 1e-12)


# ----------------------------------------------------------------------------- multinomial
def test_multinomial_with_replacement_frequencies():
    ad.manual_seed(0)
    w = np.array([1.0, 2.0, 0.0, 3.0, 4.0])
    draws = ad.multinomial(ad.tensor(w), N, replacement=True).numpy()
    assert draws.shape == (N,) and draws.dtype == np.int64
    counts = np.bincount(draws, minlength=5)
    assert counts[2] == 0                         # zero weight: never drawn
    frequencies_match(counts, w / w.sum())


def test_multinomial_rows_are_separate_distributions():
    ad.manual_seed(1)
    w = np.array([[0.0, 0.0, 5.0], [1.0, 1.0, 2.0]], dtype=np.float32)
    draws = ad.multinomial(ad.tensor(w), N // 4, True).numpy()
    assert draws.shape == (2, N // 4)
    assert (draws[0] == 2).all()
    frequencies_match(np.bincount(draws[1], minlength=3), w[1] / w[1].sum())


def test_multinomial_without_replacement_is_sequential_draws():
    """First draw ~ p; second draw j has P = sum_{i != j} p_i p_j / (1 - p_i) (draws without
    replacement, one after the other); each row holds distinct categories."""
    ad.manual_seed(2)
    p = np.array([0.1, 0.2, 0.3, 0.4])
    rows = 20_000
    draws = ad.multinomial(ad.tensor(np.tile(p, (rows, 1))), 2).numpy()
    assert draws.shape == (rows, 2) and (draws[:, 0] != draws[:, 1]).all()
    frequencies_match(np.bincount(draws[:, 0], minlength=4), p)
    second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(4) if i != j)
                       for j in range(4)])
    frequencies_match(np.bincount(draws[:, 1], minlength=4), second)


def test_multinomial_all_categories_is_a_permutation_and_skips_zero_weights():
    ad.manual_seed(3)
    perm = ad.multinomial(ad.ones(6), 6).numpy()
    assert sorted(perm.tolist()) == list(range(6))
    draws = ad.multinomial(ad.tensor([[0.0, 1.0, 0.0, 1.0]] * 50), 2).numpy()
    assert (np.sort(draws, 1) == [1, 3]).all()


@pytest.mark.parametrize("weights, k, replacement, error, match", [
    ([1.0, -1.0], 1, True, RuntimeError, "element < 0"),
    ([1.0, float("nan")], 1, True, RuntimeError, "inf, nan"),
    ([[1.0, 1.0], [0.0, 0.0]], 1, True, RuntimeError, "sums to 0"),
    ([1.0, 1.0], 3, False, ValueError, "without replacement"),
    ([1.0, 0.0, 0.0], 2, False, RuntimeError, "non-zero weight"),
    ([1.0, 1.0], 0, True, ValueError, "num_samples"),
    ([[[1.0]]], 1, True, ValueError, "1-d or 2-d"),
])
def test_multinomial_errors(weights, k, replacement, error, match):
    with pytest.raises(error, match=match):
        ad.multinomial(ad.tensor(weights), k, replacement)


# ----------------------------------------------------------------------------- normal
def test_normal_tensor_mean_and_std_broadcast():
    ad.manual_seed(4)
    reps = 8_000
    mean = ad.tensor([[-1.0], [2.0]]).expand(reps, 2, 1)
    std = ad.tensor([0.5, 3.0, 1.0])
    out = ad.normal(mean, std).numpy()
    assert out.shape == (reps, 2, 3)
    for i, m in enumerate((-1.0, 2.0)):
        for j, s in enumerate((0.5, 3.0, 1.0)):
            x = out[:, i, j]
            within(x.mean(), m, s / math.sqrt(reps))
            within(x.var(ddof=1), s * s, s * s * math.sqrt(2 / (reps - 1)))


def test_normal_float_forms():
    ad.manual_seed(5)
    a = ad.normal(3.0, ad.full((N,), 2.0, dtype=ad.float64))          # float mean, tensor std
    assert a.dtype == np.float64
    within(a.numpy().mean(), 3.0, 2.0 / math.sqrt(N))
    b = ad.normal(ad.full((N,), -2.0), 0.5)                             # tensor mean, float std
    assert b.dtype == np.float32
    within(b.numpy().std(), 0.5, 0.5 / math.sqrt(2 * N))
    c = ad.normal(1.0, 2.0, size=(N, 2))                                # float, float, size
    assert c.shape == (N, 2) and c.dtype == ad.get_default_dtype()
    within(c.numpy().mean(), 1.0, 2.0 / math.sqrt(2 * N))
    assert ad.normal(0.0, 1.0, (3,), dtype=ad.float64, requires_grad=True).requires_grad


def test_normal_errors():
    with pytest.raises(RuntimeError, match="std >= 0"):
        ad.normal(ad.zeros(2), ad.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="size"):
        ad.normal(0.0, 1.0)
    with pytest.raises(TypeError, match="floating"):
        ad.normal(ad.tensor([1, 2]), 1.0)


# ----------------------------------------------------------------------------- bernoulli, poisson
def test_bernoulli_tensor_and_float_p():
    ad.manual_seed(6)
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    draws = ad.bernoulli(ad.tensor(np.tile(p, (4_000, 1)), dtype=ad.float32)).numpy()
    assert set(np.unique(draws)) <= {0.0, 1.0} and draws.dtype == np.float32
    for j, q in enumerate(p):
        within(draws[:, j].mean(), q, math.sqrt(q * (1 - q) / 4_000) + 1e-12)
    x = ad.bernoulli(ad.zeros(N), 0.25).numpy()                         # p overrides input
    within(x.mean(), 0.25, math.sqrt(0.25 * 0.75 / N))
    with pytest.raises(RuntimeError, match=r"\[0, 1\]"):
        ad.bernoulli(ad.tensor([1.5]))


def test_poisson_mean_and_variance():
    ad.manual_seed(7)
    lam = 3.5
    x = ad.poisson(ad.full((N,), lam)).numpy()
    assert x.dtype == np.float32 and (x == np.round(x)).all()
    within(x.mean(), lam, math.sqrt(lam / N))
    within(x.var(), lam, math.sqrt((lam + 2 * lam * lam) / N))        # Poisson's mu4 = lam + 3 lam^2
    with pytest.raises(RuntimeError, match="rates"):
        ad.poisson(ad.tensor([-1.0]))


# ----------------------------------------------------------------------------- in-place fillers
def test_uniform_and_normal_fill():
    ad.manual_seed(8)
    u = ad.empty(N, dtype=ad.float64).uniform_(-2.0, 4.0).numpy()
    assert u.min() >= -2.0 and u.max() < 4.0
    within(u.mean(), 1.0, 6 / math.sqrt(12 * N))
    z = ad.empty(N).normal_(1.0, 3.0).numpy()
    within(z.mean(), 1.0, 3 / math.sqrt(N))
    within(z.std(), 3.0, 3 / math.sqrt(2 * N))


def test_bernoulli_fill_with_float_and_tensor_p():
    ad.manual_seed(9)
    x = ad.empty(N).bernoulli_(0.3).numpy()
    within(x.mean(), 0.3, math.sqrt(0.21 / N))
    y = ad.empty(N // 2, 2).bernoulli_(ad.tensor([0.1, 0.8])).numpy()
    within(y[:, 0].mean(), 0.1, math.sqrt(0.09 / (N // 2)))
    within(y[:, 1].mean(), 0.8, math.sqrt(0.16 / (N // 2)))
    assert ad.bernoulli(ad.tensor([0.0, 1.0])).tolist() == [0.0, 1.0]


def test_exponential_fill_has_the_exponential_law():
    """Mean 1/lambda and the tail P(X > t) = exp(-lambda t)."""
    ad.manual_seed(10)
    lam = 2.5
    x = ad.empty(N, dtype=ad.float64).exponential_(lam).numpy()
    assert x.min() >= 0
    within(x.mean(), 1 / lam, 1 / lam / math.sqrt(N))
    for t in (0.2, 0.5, 1.0):
        q = math.exp(-lam * t)
        within((x > t).mean(), q, math.sqrt(q * (1 - q) / N))
    with pytest.raises(RuntimeError, match="lambd"):
        ad.empty(2).exponential_(0.0)


def test_geometric_log_normal_and_cauchy_fills():
    ad.manual_seed(11)
    g = ad.empty(N).geometric_(0.25).numpy()
    assert g.min() >= 1
    within(g.mean(), 4.0, math.sqrt(0.75 / 0.25 ** 2 / N))
    ln = ad.empty(N, dtype=ad.float64).log_normal_(0.5, 0.4).numpy()
    within(np.log(ln).mean(), 0.5, 0.4 / math.sqrt(N))
    c = ad.empty(N, dtype=ad.float64).cauchy_(1.0, 2.0).numpy()
    # the quartiles of Cauchy(m, s) are m -+ s; the fraction below each is 1/4 and 3/4
    within((c < -1.0).mean(), 0.25, math.sqrt(0.1875 / N))
    within((c < 3.0).mean(), 0.75, math.sqrt(0.1875 / N))


def test_random_fill_ranges():
    ad.manual_seed(12)
    a = ad.empty(N).random_(3, 7).numpy()
    assert set(np.unique(a)) == {3.0, 4.0, 5.0, 6.0}
    frequencies_match(np.bincount(a.astype(int) - 3), np.full(4, 0.25))
    b = ad.zeros(1000, dtype=ad.int64).random_(5).numpy()
    assert b.min() == 0 and b.max() == 4
    c = ad.empty(1000).random_().numpy()               # float32: integers in [0, 2^24]
    assert (c == np.round(c)).all() and c.min() >= 0 and c.max() <= 2 ** 24 and c.max() > 2 ** 20
    d = ad.zeros(1000, dtype=np.int8).random_().numpy()
    assert d.min() >= 0 and d.max() <= 127 and d.max() > 100
    with pytest.raises(RuntimeError, match="from < to"):
        ad.empty(2).random_(5, 5)


def test_fill_refuses_a_leaf_that_requires_grad_and_bumps_the_version():
    w = ad.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        w.uniform_()
    with ad.no_grad():
        v = w._version.v
        w.normal_()
        assert w._version.v == v + 1 and w.numpy().std() > 0


# ----------------------------------------------------------------------------- seeding
SAMPLERS = [
    lambda g: ad.multinomial(ad.tensor([1.0, 2.0, 3.0]), 8, True, generator=g),
    lambda g: ad.multinomial(ad.ones(2, 5), 3, generator=g),
    lambda g: ad.normal(ad.zeros(4), 1.0, generator=g),
    lambda g: ad.normal(0.0, 1.0, (4,), generator=g),
    lambda g: ad.bernoulli(ad.full((6,), 0.5), generator=g),
    lambda g: ad.poisson(ad.full((4,), 2.0), generator=g),
    lambda g: ad.zeros(4).uniform_(generator=g),
    lambda g: ad.zeros(4).normal_(generator=g),
    lambda g: ad.zeros(4).exponential_(generator=g),
    lambda g: ad.zeros(6).bernoulli_(0.5, generator=g),
    lambda g: ad.zeros(4).random_(100, generator=g),
]


@pytest.mark.parametrize("draw", SAMPLERS)
def test_manual_seed_reproduces(draw):
    ad.manual_seed(123)
    a = draw(None).numpy()
    ad.manual_seed(123)
    np.testing.assert_array_equal(draw(None).numpy(), a)


@pytest.mark.parametrize("draw", SAMPLERS)
def test_generator_is_its_own_stream(draw):
    g = ad.Generator().manual_seed(7)
    a = draw(g).numpy()
    ad.manual_seed(0)
    ad.randn(10)                                   # the global stream moves; g does not care
    np.testing.assert_array_equal(draw(ad.Generator().manual_seed(7)).numpy(), a)
    assert g.initial_seed() == 7


def test_generator_state_round_trip_and_device_check():
    g = ad.Generator().manual_seed(1)
    ad.normal(0.0, 1.0, (3,), generator=g)
    state = g.get_state()
    a = ad.normal(0.0, 1.0, (5,), generator=g).numpy()
    g.set_state(state)
    np.testing.assert_array_equal(ad.normal(0.0, 1.0, (5,), generator=g).numpy(), a)
    with pytest.raises(RuntimeError, match="cuda"):
        ad.normal(ad.zeros(2), 1.0, generator=ad.Generator("cuda"))


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("sampler", [
    lambda p: ad.normal(p, 1.0), lambda p: ad.normal(0.5, p), lambda p: ad.normal(p, p),
    lambda p: ad.bernoulli(p), lambda p: ad.poisson(p)])
def test_samples_pass_a_zero_gradient_to_their_parameters(sampler):
    """PyTorch: a sample of parameters that require grad requires grad, with d(sample)/d(p) = 0
    (not reparameterised); the value is the sample itself."""
    p = ad.tensor([0.25, 0.5, 0.75], dtype=ad.float64, requires_grad=True)
    ad.manual_seed(0)
    y = sampler(p)
    ad.manual_seed(0)
    np.testing.assert_array_equal(y.numpy(), sampler(p.detach()).numpy())
    assert y.requires_grad
    (g,) = ad.grad((y * y).sum(), p)
    np.testing.assert_array_equal(g.numpy(), np.zeros(3))
    with ad.no_grad():
        assert not sampler(p).requires_grad


def test_zero_gradients_match_pytorch(torch):
    m = ad.tensor([0.5, -1.0], dtype=ad.float64, requires_grad=True)
    s = ad.tensor([1.0, 2.0], dtype=ad.float64, requires_grad=True)
    tm = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    ts = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    ours = ad.grad(ad.normal(m, s).sum(), [m, s])
    theirs = torch.autograd.grad(torch.normal(tm, ts).sum(), [tm, ts])
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    p = ad.tensor([0.3, 0.7], dtype=ad.float64, requires_grad=True)
    tp = torch.tensor([0.3, 0.7], dtype=torch.float64, requires_grad=True)
    np.testing.assert_array_equal(ad.grad(ad.bernoulli(p).sum(), p)[0].numpy(),
                                  torch.autograd.grad(torch.bernoulli(tp).sum(), tp)[0].numpy())


# ----------------------------------------------------------------------------- the GPU path
def test_samplers_run_on_device_arrays_of_the_cupy_standin():
    """Every sampler on 'cuda' (the CPU stand-in of CuPy: arrays that refuse host
    conversion): results stay on the device with the right shape and dtype, and the point
    masses come out exactly; a Generator made for the CPU refuses device tensors."""
    import cupy_standin
    with cupy_standin.activated():
        ad.manual_seed(0)
        w = ad.tensor([[0.0, 3.0, 0.0], [1.0, 0.0, 0.0]], device="cuda")
        for out in (ad.multinomial(w, 4, True), ad.multinomial(w, 1)):
            assert out.device == "cuda" and out.dtype == np.int64
            assert (ad.tensor(out.numpy()) == ad.tensor([[1], [0]])).all().item()
        p = ad.tensor([0.0, 1.0], device="cuda", dtype=ad.float64)
        assert ad.bernoulli(p).numpy().tolist() == [0.0, 1.0]
        assert ad.normal(p, 0.0).numpy().tolist() == [0.0, 1.0]
        assert ad.normal(1.0, 0.0, (2,), device="cuda").device == "cuda"
        assert ad.poisson(ad.zeros(2, device="cuda")).numpy().tolist() == [0.0, 0.0]
        x = ad.empty(3, device="cuda")
        for fill in (lambda t: t.uniform_(2.0, 2.0), lambda t: t.normal_(2.0, 0.0),
                     lambda t: t.random_(2, 3), lambda t: t.bernoulli_(1.0),
                     lambda t: t.exponential_(), lambda t: t.geometric_(0.5),
                     lambda t: t.log_normal_(), lambda t: t.cauchy_()):
            assert fill(x) is x and x.device == "cuda" and np.isfinite(x.numpy()).all()
        with pytest.raises(RuntimeError, match="device"):
            ad.normal(p, 1.0, generator=ad.Generator())
