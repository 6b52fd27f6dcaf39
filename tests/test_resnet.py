"""CIFAR ResNets: parameter counts of the paper, shapes, option A/B shortcuts, training steps,
and (with PyTorch) the same network built in torch: keys, shapes, outputs and gradients."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff import optim
from autodiff.nn import functional as F
from autodiff.nn.models import resnet_cifar
from autodiff.nn.models.resnet import BasicBlock


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


@pytest.mark.parametrize("depth,expected,paper", [(20, 269722, 0.27), (56, 853018, 0.85)])
def test_parameter_counts_match_the_paper(depth, expected, paper):
    model = resnet_cifar(depth, "A")
    assert count_by_formula(depth) == expected
    assert model.num_parameters() == expected
    assert round(expected / 1e6, 2) == paper


@pytest.mark.parametrize("depth", [32, 44, 110])
def test_parameter_counts_other_depths(depth):
    assert resnet_cifar(depth).num_parameters() == count_by_formula(depth)
    assert round(count_by_formula(110) / 1e6, 1) == 1.7


def test_option_b_adds_projections():
    a, b = resnet_cifar(20, "A"), resnet_cifar(20, "B")
    assert b.num_parameters() - a.num_parameters() == (16 * 32 + 64) + (32 * 64 + 128)
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


# ----------------------------------------------------------------------------- PyTorch oracle
def _torch_resnet(torch, n: int, shortcut: str):
    """The same network written in PyTorch (shared with the benchmark suite)."""
    from benchmarks.torch_models import resnet_cifar as torch_resnet_cifar
    return torch_resnet_cifar(torch, 6 * n + 2, shortcut)


@pytest.mark.parametrize("depth", [20, 56])
def test_parameter_count_against_torch(torch, depth):
    for sc in ("A", "B"):
        tnet = _torch_resnet(torch, (depth - 2) // 6, sc)
        assert sum(p.numel() for p in tnet.parameters()) == resnet_cifar(depth, sc)\
            .num_parameters()


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_same_network_as_torch(torch, shortcut):
    """Same state-dict keys and shapes; with torch's weights loaded, the same logits (train and
    eval mode) and the same gradients."""
    tnet = _torch_resnet(torch, 1, shortcut).double()
    model = resnet_cifar(8, shortcut).double()
    tsd = {k: v.detach().numpy() for k, v in tnet.state_dict().items()}
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
