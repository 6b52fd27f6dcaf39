"""CIFAR ResNets: parameter counts of the paper, shapes, option A/B shortcuts, training steps,
and (with PyTorch) the same network built in torch: keys, shapes, outputs and gradients."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad

# every test on each backend (the cupy run skips without a GPU)
pytestmark = pytest.mark.usefixtures("backend")
from autodiff import optim
from autodiff.nn import functional as F
from autodiff.nn.models import resnet_cifar
from autodiff.nn.models.resnet import BasicBlock
from ref_conv import conv2d_shifted
from ref_nn import log_softmax


def count_by_formula(depth: int, shortcut: str = "A", classes: int = 10) -> int:
    """3x3 convs without bias, BN (scale + shift) after each, linear 64 -> classes."""
    n = (depth - 2) // 6
    total = 3 * 16 * 9 + 2 * 16                                  # stem conv + BN
    cin = 16
    for c in (16, 32, 64):
        for b in range(n):
            total += cin * c * 9 + 2 * c + c * c * 9 + 2 * c      # two conv-BN
            if cin != c and shortcut == "B":
                total += cin * c + 2 * c                         # 1x1 projection + BN
            cin = c
    return total + 64 * classes + classes


# Exact counts, option A, worked out by hand: stem 3*16*9 + 2*16 = 464; a stage-1 block
# 2 (16*16*9 + 2*16) = 4672; the first stage-2 block 16*32*9 + 32*32*9 + 4*32 = 13952, the others
# 2 (32*32*9 + 2*32) = 18560; the first stage-3 block 32*64*9 + 64*64*9 + 4*64 = 55552, the
# others 2 (64*64*9 + 2*64) = 73984; fc 64*10 + 10 = 650. In all 97216 n - 21926.
# Option B adds the two projections (1x1 conv + BN): 16*32 + 2*32 + 32*64 + 2*64 = 2752.
COUNTS_A = {8: 75290, 20: 269722, 32: 464154, 44: 658586, 56: 853018, 110: 1727962}
PROJECTIONS_B = 2752
PAPER_MILLIONS = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7}   # He et al. Table 6


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_parameter_counts_match_the_paper(depth):
    n = (depth - 2) // 6
    expected = COUNTS_A[depth]
    assert expected == 97216 * n - 21926 == count_by_formula(depth)
    assert round(expected / 1e6, 1 if depth == 110 else 2) == PAPER_MILLIONS[depth]
    assert resnet_cifar(depth, "A").num_parameters() == expected
    assert count_by_formula(depth, "B") == expected + PROJECTIONS_B
    if depth <= 56:
        assert resnet_cifar(depth, "B").num_parameters() == expected + PROJECTIONS_B


def test_option_b_adds_projections():
    a, b = resnet_cifar(20, "A"), resnet_cifar(20, "B")
    assert b.num_parameters() - a.num_parameters() == PROJECTIONS_B
    assert b.num_parameters() == count_by_formula(20, "B")


def test_bad_arguments():
    with pytest.raises(ValueError, match="6n \\+ 2"):
        resnet_cifar(21)
    with pytest.raises(ValueError, match="shortcut"):
        resnet_cifar(20, "C")


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_forward_shapes_and_stages(shortcut):
    model = resnet_cifar(8, shortcut)
    x = ad.randn(2, 3, 32, 32)
    feats = {}
    for name in ("layer1", "layer2", "layer3"):
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: feats.__setitem__(name, o.shape))
    assert model(x).shape == (2, 10)
    assert feats == {"layer1": (2, 16, 32, 32), "layer2": (2, 32, 16, 16),
                     "layer3": (2, 64, 8, 8)}


def test_option_a_shortcut_is_subsample_and_zero_pad():
    block = BasicBlock(16, 32, stride=2, shortcut="A")
    x = ad.randn(2, 16, 8, 8)
    s = block.shortcut(x).numpy()
    assert s.shape == (2, 32, 4, 4)
    np.testing.assert_array_equal(s[:, 8:24], x.numpy()[:, :, ::2, ::2])
    assert not s[:, :8].any() and not s[:, 24:].any()
    assert sum(1 for _ in block.shortcut.parameters()) == 0


def test_he_initialisation():
    model = resnet_cifar(20)
    w = model.layer3[0].conv2.weight.numpy()
    assert abs(w.std() - np.sqrt(2.0 / (64 * 9))) < 0.1 * np.sqrt(2.0 / (64 * 9))


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_training_steps_reduce_loss(shortcut):
    ad.manual_seed(1)
    model = resnet_cifar(8, shortcut)
    rng = np.random.default_rng(0)
    x = ad.tensor(rng.standard_normal((8, 3, 32, 32)).astype(np.float32))
    y = rng.integers(0, 10, 8)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    first = None
    for _ in range(4):
        loss = F.cross_entropy(model(x), y)
        first = first if first is not None else float(loss.item())
        opt.zero_grad()
        loss.backward()
        for p in model.parameters():
            assert p.grad is not None and np.isfinite(p.grad.numpy()).all()
        opt.step()
    assert float(F.cross_entropy(model(x), y).item()) < first


# ----------------------------------------------------------------------------- NumPy ResNet-8
def _bn_keys(prefix: str, c: int) -> list:
    return [(f"{prefix}.{k}", (c,)) for k in ("weight", "bias", "running_mean", "running_var")] \
        + [(f"{prefix}.num_batches_tracked", ())]


def resnet8_state_layout(shortcut: str) -> list:
    """(key, shape) of ResNet-8 (n = 1) in PyTorch's naming, written from the architecture:
    stem conv-BN, one block per stage (conv1-bn1-conv2-bn2, option B's projection after),
    fc."""
    out = [("conv1.weight", (16, 3, 3, 3))] + _bn_keys("bn1", 16)
    cin = 16
    for s, c in enumerate((16, 32, 64), 1):
        b = f"layer{s}.0"
        out += [(f"{b}.conv1.weight", (c, cin, 3, 3))] + _bn_keys(f"{b}.bn1", c)
        out += [(f"{b}.conv2.weight", (c, c, 3, 3))] + _bn_keys(f"{b}.bn2", c)
        if cin != c and shortcut == "B":
            out += [(f"{b}.shortcut.0.weight", (c, cin, 1, 1))] + _bn_keys(f"{b}.shortcut.1", c)
        cin = c
    return out + [("fc.weight", (10, 64)), ("fc.bias", (10,))]


def np_resnet8(sd: dict, x: np.ndarray, shortcut: str, training: bool) -> np.ndarray:
    """ResNet-8's logits in NumPy from state-dict arrays (He et al. 2016, section 4.2):
    batch statistics (biased variance) in training, running statistics in eval."""
    def bn(h, p):
        if training:
            mean, var = h.mean((0, 2, 3)), h.var((0, 2, 3))
        else:
            mean, var = sd[p + ".running_mean"], sd[p + ".running_var"]
        r = (1, -1, 1, 1)
        return ((h - mean.reshape(r)) / np.sqrt(var.reshape(r) + 1e-5) * sd[p + ".weight"]
                .reshape(r) + sd[p + ".bias"].reshape(r))

    def conv(h, key, stride, pad):
        return conv2d_shifted(h, sd[key], None, (stride, stride), ((pad, pad), (pad, pad)))

    h = np.maximum(bn(conv(x, "conv1.weight", 1, 1), "bn1"), 0)
    for s in (1, 2, 3):
        b, stride = f"layer{s}.0", 1 if s == 1 else 2
        out = np.maximum(bn(conv(h, b + ".conv1.weight", stride, 1), b + ".bn1"), 0)
        out = bn(conv(out, b + ".conv2.weight", 1, 1), b + ".bn2")
        if s == 1:
            short = h
        elif shortcut == "A":       # subsample, zero channels split evenly before and after
            extra = out.shape[1] - h.shape[1]
            short = np.pad(h[:, :, ::2, ::2], ((0, 0), (extra // 2, extra - extra // 2),
                                                (0, 0), (0, 0)))
        else:
            short = bn(conv(h, b + ".shortcut.0.weight", 2, 0), b + ".shortcut.1")
        h = np.maximum(out + short, 0)
    return h.mean((2, 3)) @ sd["fc.weight"].T + sd["fc.bias"]


def _random_resnet8(shortcut: str, rng):
    """ResNet-8 in float64 with random BN affine parameters and running statistics."""
    model = resnet_cifar(8, shortcut).double()
    sd = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    for k in sd:
        if k.endswith((".weight", ".bias")) and sd[k].ndim == 1:
            sd[k] = rng.standard_normal(sd[k].shape) * 0.5 + (1.0 if "weight" in k else 0.0)
        elif k.endswith("running_mean"):
            sd[k] = rng.standard_normal(sd[k].shape) * 0.1
        elif k.endswith("running_var"):
            sd[k] = rng.random(sd[k].shape) + 0.5
    model.load_state_dict(sd)
    return model, sd


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_resnet8_state_layout(shortcut):
    layout = resnet8_state_layout(shortcut)
    sd = resnet_cifar(8, shortcut).state_dict()
    assert [(k, tuple(v.shape)) for k, v in sd.items()] == layout
    n_params = sum(int(np.prod(s)) for k, s in layout
                   if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    assert n_params == COUNTS_A[8] + (PROJECTIONS_B if shortcut == "B" else 0)


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_resnet8_forward_matches_numpy(shortcut):
    """Logits in eval and training mode against the NumPy network (ref_conv's convolution,
    batch norm written out) from the same weights."""
    rng = np.random.default_rng(0)
    model, sd = _random_resnet8(shortcut, rng)
    x = rng.standard_normal((2, 3, 16, 16))
    model.eval()
    np.testing.assert_allclose(model(ad.tensor(x)).numpy(), np_resnet8(sd, x, shortcut, False),
                               rtol=1e-9, atol=1e-10)
    model.train()
    np.testing.assert_allclose(model(ad.tensor(x)).numpy(), np_resnet8(sd, x, shortcut, True),
                               rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_resnet8_gradients_match_numpy_differences(shortcut):
    """The cross-entropy gradient of every parameter tensor and of the input, projected on a
    random direction, against central differences of the NumPy network's loss (training
    mode)."""
    rng = np.random.default_rng(1)
    model, sd = _random_resnet8(shortcut, rng)
    x = rng.standard_normal((2, 3, 8, 8))
    y = np.array([3, 7])

    def np_loss(sd_, x_):
        return -log_softmax(np_resnet8(sd_, x_, shortcut, True), 1)[np.arange(2), y].mean()

    xa = ad.tensor(x, requires_grad=True)
    F.cross_entropy(model(xa), ad.tensor(y)).backward()
    grads = {k: p.grad.numpy() for k, p in model.named_parameters()}
    assert set(grads) == {k for k, _ in resnet8_state_layout(shortcut)
                          if not k.endswith(("running_mean", "running_var",
                                             "num_batches_tracked"))}
    h = 1e-6
    for k, g in list(grads.items()) + [("input", xa.grad.numpy())]:
        v = rng.standard_normal(g.shape)
        v /= np.linalg.norm(v)
        if k == "input":
            fd = (np_loss(sd, x + h * v) - np_loss(sd, x - h * v)) / (2 * h)
        else:
            fd = (np_loss({**sd, k: sd[k] + h * v}, x) -
                  np_loss({**sd, k: sd[k] - h * v}, x)) / (2 * h)
        assert (g * v).sum() == pytest.approx(fd, rel=1e-5, abs=1e-8), k


# ----------------------------------------------------------------------------- PyTorch oracle
def _torch_resnet(torch, n: int, shortcut: str):
    """The same network written in PyTorch (shared with the benchmark suite)."""
    from benchmarks.torch_models import resnet_cifar as torch_resnet_cifar
    return torch_resnet_cifar(torch, 6 * n + 2, shortcut)


@pytest.mark.parametrize("depth", [20, 56])
def test_parameter_count_against_torch(torch, depth):
    for sc in ("A", "B"):
        tnet = _torch_resnet(torch, (depth - 2) // 6, sc)
        expected = COUNTS_A[depth] + (PROJECTIONS_B if sc == "B" else 0)
        assert sum(p.numel() for p in tnet.parameters()) == expected
        assert resnet_cifar(depth, sc).num_parameters() == expected


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_same_network_as_torch(torch, shortcut):
    """Same state-dict keys and shapes; with torch's weights loaded, the same logits (train and
    eval mode) and the same gradients."""
    tnet = _torch_resnet(torch, 1, shortcut).double()
    model = resnet_cifar(8, shortcut).double()
    tsd = {k: v.detach().numpy() for k, v in tnet.state_dict().items()}
    assert [(k, v.shape) for k, v in tsd.items()] == resnet8_state_layout(shortcut)
    sd = model.state_dict()
    tkeys = {k for k in tsd if not k.endswith("num_batches_tracked")}
    assert tkeys <= set(sd) and {k for k in sd if not k.endswith("num_batches_tracked")} == tkeys
    for k in tkeys:
        assert tuple(sd[k].shape) == tsd[k].shape, k
    model.load_state_dict({k: tsd[k] for k in tkeys}, strict=False)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 32, 32))
    y = rng.integers(0, 10, 4)
    out = model(ad.tensor(x))
    tout = tnet(torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-7, atol=1e-9)
    loss = F.cross_entropy(out, y)
    tloss = torch.nn.functional.cross_entropy(tout, torch.tensor(y))
    loss.backward()
    tloss.backward()
    tgrads = dict(tnet.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tgrads[name].grad.numpy(), rtol=1e-6,
                                   atol=1e-9, err_msg=name)
    model.eval()
    tnet.eval()
    np.testing.assert_allclose(model(ad.tensor(x)).numpy(), tnet(torch.tensor(x)).detach()
                               .numpy(), rtol=1e-7, atol=1e-9)
