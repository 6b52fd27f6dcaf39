"""nn.Module, Parameter and the containers: registration, traversal, modes, state dicts
(PyTorch's keys and layouts), dtype conversion, repr."""
from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)
        self.register_buffer("scale", ad.ones(3))
        self.register_buffer("tmp", ad.zeros(1), persistent=False)
        self.alpha = nn.Parameter(ad.tensor(0.5))

    def forward(self, x):
        return self.bn(self.fc(x)).relu() * self.scale * self.alpha


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))

    def forward(self, x):
        return self.head(self.block(x))


def test_parameter_is_tensor_with_grad():
    p = nn.Parameter(ad.zeros(2, 3))
    assert isinstance(p, nn.Parameter) and isinstance(p, ad.Tensor)
    assert p.requires_grad and p.is_leaf and p.shape == (2, 3)
    assert repr(p).startswith("Parameter containing:\ntensor(")
    q = nn.Parameter(ad.zeros(2), requires_grad=False)
    assert not q.requires_grad
    # shares data with the wrapped tensor; results of ops are plain tensors
    t = ad.ones(2)
    p2 = nn.Parameter(t)
    assert p2.array is t.array
    assert type(p2 * 2) is ad.Tensor


def test_registration_and_traversal():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["block.alpha", "block.fc.weight", "block.fc.bias", "block.bn.weight",
                     "block.bn.bias", "head.0.weight", "head.0.bias", "head.2.weight",
                     "head.2.bias"]
    assert len(list(net.parameters())) == 9
    assert [n for n, _ in net.named_buffers()] == [
        "block.scale", "block.tmp", "block.bn.running_mean", "block.bn.running_var",
        "block.bn.num_batches_tracked"]
    assert [n for n, _ in net.named_children()] == ["block", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.fc", "block.bn",
                                                  "head", "head.0", "head.1", "head.2"]
    assert len(list(net.modules())) == 8
    assert net.get_submodule("head.2") is net.head[2]
    assert list(net.parameters(recurse=False)) == []
    # reassigning a registered parameter name to a tensor is refused, None is allowed
    with pytest.raises(TypeError):
        net.block.fc.weight = ad.zeros(3, 4)
    net.block.fc.bias = None
    assert "block.fc.bias" not in dict(net.named_parameters())
    with pytest.raises(AttributeError, match="no attribute"):
        net.nothing  # noqa: B018


def test_shared_parameters_counted_once():
    lin = nn.Linear(3, 3)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_train_eval_and_zero_grad():
    net = Net()
    assert net.training and net.head[1].training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    out = net(ad.randn(4, 4)).sum()
    out.backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_apply_and_hooks():
    net = Net()
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 3
    calls = []
    h = net.head.register_forward_hook(lambda m, i, o: calls.append(o.shape))
    net(ad.randn(4, 4))
    h.remove()
    net(ad.randn(4, 4))
    assert calls == [(4, 2)]


def _keys_model(lib):
    """The same Sequential in autodiff.nn or torch.nn."""
    return lib.Sequential(lib.Linear(6, 5), lib.BatchNorm1d(5), lib.ReLU(), lib.Linear(5, 3),
                          lib.BatchNorm2d(3), lib.Embedding(7, 2), lib.LayerNorm(4))


# PyTorch's state-dict keys (in order) and shapes for _keys_model: parameters before buffers
# within each module, modules in registration order, BatchNorm's five entries.
KEYS_MODEL_STATE = [
    ("0.weight", (5, 6)), ("0.bias", (5,)),
    ("1.weight", (5,)), ("1.bias", (5,)), ("1.running_mean", (5,)), ("1.running_var", (5,)),
    ("1.num_batches_tracked", ()),
    ("3.weight", (3, 5)), ("3.bias", (3,)),
    ("4.weight", (3,)), ("4.bias", (3,)), ("4.running_mean", (3,)), ("4.running_var", (3,)),
    ("4.num_batches_tracked", ()),
    ("5.weight", (7, 2)),
    ("6.weight", (4,)), ("6.bias", (4,)),
]


def test_state_dict_keys_and_shapes_are_pytorchs():
    sd = _keys_model(nn).state_dict()
    assert [(k, tuple(v.shape)) for k, v in sd.items()] == KEYS_MODEL_STATE
    assert sd["1.num_batches_tracked"].dtype == np.int64
    assert list(nn.BatchNorm2d(3, affine=False).state_dict()) == [
        "running_mean", "running_var", "num_batches_tracked"]
    assert list(nn.BatchNorm2d(3, bias=False).state_dict()) == [
        "weight", "running_mean", "running_var", "num_batches_tracked"]
    assert list(nn.LayerNorm(4, bias=False).state_dict()) == ["weight"]


def test_state_dict_keys_match_torch(torch):
    a, b = _keys_model(nn).state_dict(), _keys_model(torch.nn).state_dict()
    assert [(k, tuple(v.shape)) for k, v in b.items()] == KEYS_MODEL_STATE
    assert list(a) == list(b)
    for k in a:
        assert tuple(a[k].shape) == tuple(b[k].shape), k


def _np_mlp_bn(sd, x, training):
    """Linear -> BatchNorm1d -> Tanh -> Linear in NumPy from state-dict arrays (batch
    statistics with the biased variance in training, running statistics in eval)."""
    h = x @ sd["0.weight"].T + sd["0.bias"]
    mean, var = (h.mean(0), h.var(0)) if training else (sd["1.running_mean"],
                                                        sd["1.running_var"])
    h = (h - mean) / np.sqrt(var + 1e-5) * sd["1.weight"] + sd["1.bias"]
    return np.tanh(h) @ sd["3.weight"].T + sd["3.bias"]


def test_load_state_dict_of_numpy_arrays_then_forward():
    """What the PyTorch interop test below relies on, without PyTorch: plain float64 arrays
    (as torch's state_dict().numpy() gives) load into the model, the state dict gives them back
    unchanged, and the forward in train and eval mode is the NumPy composition."""
    rng = np.random.default_rng(0)
    ours = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3))
    ours.double()
    sd = {k: rng.standard_normal(tuple(v.shape)) for k, v in ours.state_dict().items()}
    sd["1.running_var"] = rng.random(6) + 0.5
    sd["1.num_batches_tracked"] = np.array(7)
    ours.load_state_dict(sd)
    for k, v in ours.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), sd[k], err_msg=k)
    x = rng.standard_normal((8, 4))
    ours.eval()
    np.testing.assert_allclose(ours(ad.tensor(x)).numpy(), _np_mlp_bn(sd, x, False),
                               rtol=1e-12, atol=1e-14)
    ours.train()
    np.testing.assert_allclose(ours(ad.tensor(x)).numpy(), _np_mlp_bn(sd, x, True),
                               rtol=1e-10, atol=1e-12)


def test_weights_move_between_torch_and_autodiff(torch):
    """Interop only: the values it relies on (loading arrays, Linear, BatchNorm1d in train and
    eval, Tanh) are checked without PyTorch in the test above and in test_nn_layers."""
    tnn = torch.nn
    theirs = tnn.Sequential(tnn.Linear(4, 6), tnn.BatchNorm1d(6), tnn.Tanh(), tnn.Linear(6, 3))
    theirs.double()
    ours = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3))
    ours.double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.randn(8, 4)
    for mode in ("train", "eval"):
        getattr(ours, mode)()
        getattr(theirs, mode)()
        y = ours(ad.tensor(x))
        yt = theirs(torch.tensor(x))
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    # and back: torch loads ours
    theirs2 = tnn.Sequential(tnn.Linear(4, 6), tnn.BatchNorm1d(6), tnn.Tanh(),
                             tnn.Linear(6, 3)).double().eval()
    theirs2.load_state_dict({k: torch.from_numpy(np.array(v.numpy()))
                             for k, v in ours.state_dict().items()})
    np.testing.assert_allclose(theirs2(torch.tensor(x)).detach().numpy(),
                               ours(ad.tensor(x)).numpy(), rtol=1e-10)


def test_load_state_dict_errors():
    net = Net()
    sd = net.state_dict()
    assert "block.tmp" not in sd  # non-persistent buffer
    bad = dict(sd)
    del bad["head.0.bias"]
    bad["extra.weight"] = np.zeros(2)
    with pytest.raises(RuntimeError) as e:
        Net().load_state_dict(bad)
    msg = str(e.value)
    assert 'Missing key(s) in state_dict: "head.0.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight"' in msg
    res = Net().load_state_dict(bad, strict=False)
    assert res.missing_keys == ["head.0.bias"] and res.unexpected_keys == ["extra.weight"]
    wrong = dict(sd)
    wrong["head.2.weight"] = np.zeros((5, 2))
    with pytest.raises(RuntimeError, match=r"size mismatch for head\.2\.weight.*\(5, 2\).*"
                                           r"\(2, 5\)"):
        Net().load_state_dict(wrong)
    with pytest.raises(RuntimeError, match="size mismatch"):
        Net().load_state_dict(wrong, strict=False)


def test_load_state_dict_copies_in_place():
    a, b = Net(), Net()
    params_before = list(b.parameters())
    b.load_state_dict(a.state_dict())
    assert list(b.parameters())[0] is params_before[0]
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
        assert x.array is not y.array
    # state_dict shares memory (as PyTorch): a snapshot needs a copy
    sd = a.state_dict()
    assert sd["head.0.weight"].array is a.head[0].weight.array


def test_to_dtype_and_default_dtype():
    net = Net()
    w = net.head[0].weight
    net.double()
    assert net.head[0].weight is w and w.dtype == np.float64
    assert net.block.bn.running_mean.dtype == np.float64
    assert net.block.bn.num_batches_tracked.dtype == np.int64
    y = net(ad.randn(3, 4, dtype=ad.float64))
    assert y.dtype == np.float64
    net.to(ad.float32)
    assert w.dtype == np.float32
    net.float()
    prev = ad.get_default_dtype()
    try:
        ad.set_default_dtype(ad.float64)
        lin, bn, emb = nn.Linear(2, 2), nn.BatchNorm2d(2), nn.Embedding(3, 2)
        assert lin.weight.dtype == lin.bias.dtype == np.float64
        assert bn.weight.dtype == bn.running_var.dtype == np.float64
        assert emb.weight.dtype == np.float64
    finally:
        ad.set_default_dtype(prev)
    assert nn.Linear(2, 2).weight.dtype == np.float32


# PyTorch's repr text (torch 2.13, the pinned oracle) for single modules.
REPRS = [
    ("Linear", (3, 2), {"bias": False}, "Linear(in_features=3, out_features=2, bias=False)"),
    ("ReLU", (), {}, "ReLU()"),
    ("ReLU", (), {"inplace": True}, "ReLU(inplace=True)"),
    ("LeakyReLU", (0.2,), {}, "LeakyReLU(negative_slope=0.2)"),
    ("LeakyReLU", (0.1, True), {}, "LeakyReLU(negative_slope=0.1, inplace=True)"),
    ("ELU", (1.5,), {}, "ELU(alpha=1.5)"),
    ("GELU", (), {"approximate": "tanh"}, "GELU(approximate='tanh')"),
    ("Softplus", (2.0, 5.0), {}, "Softplus(beta=2.0, threshold=5.0)"),
    ("Softmax", (), {"dim": -1}, "Softmax(dim=-1)"),
    ("Sigmoid", (), {}, "Sigmoid()"),
    ("Identity", (), {}, "Identity()"),
    ("Flatten", (), {}, "Flatten(start_dim=1, end_dim=-1)"),
    ("Dropout", (), {}, "Dropout(p=0.5, inplace=False)"),
    ("Embedding", (5, 2), {"padding_idx": 0}, "Embedding(5, 2, padding_idx=0)"),
    ("BatchNorm1d", (5,), {},
     "BatchNorm1d(5, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"),
    ("BatchNorm2d", (3,), {"momentum": None, "affine": False},
     "BatchNorm2d(3, eps=1e-05, momentum=None, affine=False, bias=False, "
     "track_running_stats=True)"),
    ("LayerNorm", ((4, 5),), {},
     "LayerNorm((4, 5), eps=1e-05, elementwise_affine=True, bias=True)"),
    ("Conv2d", (3, 16, 3), {"padding": 1, "bias": False},
     "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)"),
    ("Conv2d", (4, 6, (2, 3)), {"stride": (2, 1), "groups": 2},
     "Conv2d(4, 6, kernel_size=(2, 3), stride=(2, 1), groups=2)"),
    ("Conv2d", (4, 4, 3), {"dilation": 2, "padding": "same"},
     "Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding=same, dilation=(2, 2))"),
    ("Conv1d", (4, 6, 3), {"stride": 2, "padding": 1},
     "Conv1d(4, 6, kernel_size=(3,), stride=(2,), padding=(1,))"),
    ("MaxPool2d", (3, 2, 1), {"dilation": 2, "ceil_mode": True},
     "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)"),
    ("AvgPool2d", (2,), {}, "AvgPool2d(kernel_size=2, stride=2, padding=0)"),
    ("AdaptiveAvgPool2d", ((4, 3),), {}, "AdaptiveAvgPool2d(output_size=(4, 3))"),
    ("MaxPool1d", (3, 2, 1), {},
     "MaxPool1d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)"),
    ("AvgPool1d", (3,), {}, "AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))"),
    ("ZeroPad2d", (1,), {}, "ZeroPad2d((1, 1, 1, 1))"),
    ("ConstantPad2d", ((1, 2, 3, 0), 0.5), {}, "ConstantPad2d(padding=(1, 2, 3, 0), value=0.5)"),
    ("ReflectionPad2d", (1,), {}, "ReflectionPad2d((1, 1, 1, 1))"),
]


@pytest.mark.parametrize("name,args,kwargs,text", REPRS, ids=[r[3] for r in REPRS])
def test_module_repr_is_pytorchs_text(name, args, kwargs, text):
    assert repr(getattr(nn, name)(*args, **kwargs)) == text


def test_repr_like_pytorch():
    net = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Dropout(0.2), nn.Linear(100, 10),
                        nn.LogSoftmax(dim=1))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=784, out_features=100, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Dropout(p=0.2, inplace=False)\n"
        "  (3): Linear(in_features=100, out_features=10, bias=True)\n"
        "  (4): LogSoftmax(dim=1)\n"
        ")")
    r = repr(Net())
    assert "(block): Block(\n    (fc): Linear(in_features=4, out_features=3, bias=True)" in r
    assert ("BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, "
            "track_running_stats=True)") in r


def test_repr_matches_torch(torch):
    tnn = torch.nn
    for name, args, kwargs, text in REPRS:
        assert repr(getattr(tnn, name)(*args, **kwargs)) == text   # the table is PyTorch's
    ours = nn.Sequential(nn.Linear(3, 2, bias=False), nn.LeakyReLU(0.2), nn.Identity(),
                         nn.Flatten(), nn.Softmax(dim=-1), nn.Embedding(5, 2, padding_idx=0))
    theirs = tnn.Sequential(tnn.Linear(3, 2, bias=False), tnn.LeakyReLU(0.2),
                            tnn.Identity(), tnn.Flatten(), tnn.Softmax(dim=-1),
                            tnn.Embedding(5, 2, padding_idx=0))
    assert repr(ours) == repr(theirs)


def test_sequential_modulelist_moduledict():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    seq.append(nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear)
    sub = seq[:2]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2 and sub[0] is seq[0]
    with pytest.raises(IndexError):
        seq[3]
    od = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert list(od.state_dict()) == ["fc.weight", "fc.bias"]
    x = ad.randn(4, 2)
    np.testing.assert_allclose(od(x).numpy(), np.tanh(od.fc(x).numpy()), rtol=1e-6)

    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ml.append(nn.Linear(2, 1))
    assert len(ml) == 4 and len(list(ml.parameters())) == 8
    assert [n for n, _ in ml.named_parameters()][:2] == ["0.weight", "0.bias"]
    assert isinstance(ml[1:], nn.ModuleList) and len(ml[1:]) == 3

    md = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.ReLU()})
    md["c"] = nn.Linear(2, 3)
    assert list(md.keys()) == ["a", "b", "c"] and "c" in md and len(md) == 3
    assert list(md.state_dict()) == ["a.weight", "a.bias", "c.weight", "c.bias"]


def test_deepcopy_is_independent():
    net = Net()
    net(ad.randn(3, 4)).sum().backward()
    clone = copy.deepcopy(net)
    assert isinstance(clone.head[0].weight, nn.Parameter)
    assert clone.head[0].weight.array is not net.head[0].weight.array
    np.testing.assert_array_equal(clone.head[0].weight.numpy(), net.head[0].weight.numpy())
    with ad.no_grad():
        clone.head[0].weight.add_(1.0)
    assert not np.allclose(clone.head[0].weight.numpy(), net.head[0].weight.numpy())


def test_module_without_forward_or_init():
    class NoForward(nn.Module):
        pass

    with pytest.raises(NotImplementedError):
        NoForward()(1)

    class NoInit(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super"):
        NoInit()
