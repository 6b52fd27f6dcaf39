"""PyTorch's namespaces on ``import autodiff``: ``nn``, ``optim``, ``autograd`` (with
``functional``, ``graph``, ``Variable``), ``utils.data``, ``cuda``, ``device``,
``inference_mode``, ``nn.utils``, ``Size``, ``is_tensor``/``numel``/``equal``: each is what it
says, and computes what PyTorch's does (hand-worked values; PyTorch where installed)."""
from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

import autodiff as ad


def x64(values, requires_grad=True) -> ad.Tensor:
    return ad.tensor(values, dtype=ad.float64, requires_grad=requires_grad)


# ----------------------------------------------------------------------------- the namespaces
def test_first_hour_names_resolve_on_a_fresh_import():
    """In a new interpreter, as a new user types them (nn, optim and utils load lazily)."""
    code = ("import autodiff as ad\n"
            "assert ad.nn.Linear(2, 3).weight.shape == (3, 2)\n"
            "assert ad.optim.SGD is __import__('autodiff.optim').optim.SGD\n"
            "from autodiff.utils.data import DataLoader, TensorDataset, Dataset\n"
            "import autodiff.utils.data, autodiff.data\n"
            "assert autodiff.utils.data is autodiff.data and ad.utils.data.DataLoader is DataLoader\n"
            "from autodiff.utils.data.sampler import RandomSampler\n"
            "from autodiff.autograd import Variable, Function\n"
            "from autodiff.autograd.functional import jacobian, hessian, vjp, jvp, hvp, vhp\n"
            "assert ad.nn.utils.clip_grad_norm_ is ad.optim.clip_grad_norm_\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_unknown_attribute_still_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ad.nope  # noqa: B018


def test_autograd_names_are_the_engine_s():
    assert ad.autograd.grad is ad.grad
    assert ad.autograd.Function is ad.Function
    assert ad.autograd.gradcheck is ad.gradcheck and ad.autograd.gradgradcheck is ad.gradgradcheck
    assert ad.autograd.function.once_differentiable is ad.once_differentiable
    for name in ("jacobian", "hessian", "vjp", "jvp", "hvp", "vhp"):
        assert getattr(ad.autograd.functional, name) is getattr(ad.functional, name)


def test_autograd_functional_jacobian_and_hessian_values():
    x = x64([1.0, 2.0], requires_grad=False)
    # f(x) = (x0^2 x1, sin x1): J = [[2 x0 x1, x0^2], [0, cos x1]]
    jac = ad.autograd.functional.jacobian(lambda v: ad.stack([v[0] ** 2 * v[1], ad.sin(v[1])]), x)
    np.testing.assert_allclose(jac.numpy(), [[4.0, 1.0], [0.0, np.cos(2.0)]], rtol=1e-12)
    # g(x) = x0^3 + x0 x1: H = [[6 x0, 1], [1, 0]]
    hes = ad.autograd.functional.hessian(lambda v: v[0] ** 3 + v[0] * v[1], x)
    np.testing.assert_allclose(hes.numpy(), [[6.0, 1.0], [1.0, 0.0]], rtol=1e-12)


def test_autograd_backward_sums_over_several_roots():
    x = x64([1.0, 2.0])
    # d/dx [ones . (2x) + sum x^2] = 2 + 2x
    ad.autograd.backward([x * 2, (x * x).sum()], [ad.ones(2, dtype=ad.float64), None])
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 6.0])
    x.grad = None
    ad.autograd.backward((x ** 3).sum())             # 3x^2
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 12.0])
    x.grad = None
    ad.autograd.backward(x * 5, grad_tensors=ad.tensor([1.0, 2.0], dtype=ad.float64))
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 10.0])
    with pytest.raises(ValueError, match="2 gradients for 1 tensors"):
        ad.autograd.backward([x * 2], [None, None])


def test_autograd_graph():
    x = x64([1.0])
    y = x * 2
    assert isinstance(y.grad_fn, ad.autograd.graph.Node)
    v = x._version.v
    ad.autograd.graph.increment_version(x)
    assert x._version.v == v + 1


# ----------------------------------------------------------------------------- Variable
def test_variable_is_a_new_leaf_sharing_storage():
    t = ad.tensor([1.0, 2.0])
    v = ad.autograd.Variable(t)
    assert type(v) is ad.Tensor and v is not t and not v.requires_grad
    v.array[0] = 7.0                                 # shares the storage
    assert t.array[0] == 7.0
    w = ad.autograd.Variable(t, requires_grad=True)
    assert w.requires_grad and w.is_leaf and not t.requires_grad
    (w * 3).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 3.0])
    y = x64([1.0]) * 2                               # a non-leaf: Variable cuts it off
    vy = ad.autograd.Variable(y)
    assert vy.grad_fn is None and not vy.requires_grad
    assert isinstance(t, ad.autograd.Variable) and not isinstance([1.0], ad.autograd.Variable)
    assert ad.autograd.Variable().shape == (0,)


def test_variable_errors_and_volatile():
    with pytest.raises(TypeError, match="has to be a tensor, but got list"):
        ad.autograd.Variable([1.0])
    with pytest.raises(RuntimeError, match="floating"):
        ad.autograd.Variable(ad.tensor([1, 2]), requires_grad=True)
    with pytest.warns(UserWarning, match="volatile was removed"):
        ad.autograd.Variable(ad.tensor([1.0]), volatile=True)


def test_variable_against_pytorch(torch):
    from torch.autograd import Variable
    t = torch.ones(2)
    for mod, var, src in ((torch, Variable, t), (ad, ad.autograd.Variable, ad.ones(2))):
        v = var(src, requires_grad=True)
        assert v is not src and v.requires_grad and not src.requires_grad


# ----------------------------------------------------------------------------- device
def test_device_parsing_and_repr():
    d = ad.device("cuda:1")
    assert (d.type, d.index, str(d)) == ("cuda", 1, "cuda:1")
    assert repr(d) == "device(type='cuda', index=1)"
    assert repr(ad.device("cpu")) == "device(type='cpu')" and ad.device("cpu").index is None
    assert ad.device("cuda", 0) == ad.device("cuda:0") == ad.device(0) == "cuda:0"
    assert ad.device(type="cuda", index=2).index == 2
    assert ad.device(d) is d and ad.device("cuda") != ad.device("cuda:0")
    assert pickle.loads(pickle.dumps(d)) == d and type(pickle.loads(pickle.dumps(d))) is ad.device
    assert hash(ad.device("cpu")) == hash("cpu")


@pytest.mark.parametrize("bad, err, msg", [
    ("gpu", RuntimeError, "expected one of cpu, cuda"), ("cuda:x", RuntimeError, "invalid"),
    ("cuda:-1", RuntimeError, "invalid"), (-1, RuntimeError, "non-negative"),
    (1.5, TypeError, "string or an int")])
def test_device_errors(bad, err, msg):
    with pytest.raises(err, match=msg):
        ad.device(bad)
    with pytest.raises(RuntimeError, match="must not include an index"):
        ad.device("cuda:0", 1)


def test_device_accepted_where_strings_are():
    cpu = ad.device("cpu")
    x = ad.tensor([1.0, 2.0], device=cpu)
    assert x.device == cpu and x.device == "cpu" and x.device.type == "cpu"
    assert isinstance(x.device, ad.device) and not x.is_cuda
    assert x.to(cpu) is x and x.to(cpu, ad.float64).dtype == ad.float64
    assert ad.zeros(2, device=cpu).device == "cpu"
    assert ad.linspace(0, 1, 3, device=cpu).device.type == "cpu"
    m = ad.nn.Linear(2, 2).to(cpu)
    assert m.weight.device == cpu


def test_device_against_pytorch(torch):
    for spec in ("cpu", "cuda", "cuda:3"):
        mine, theirs = ad.device(spec), torch.device(spec)
        assert (mine.type, mine.index, str(mine), repr(mine)) == \
            (theirs.type, theirs.index, str(theirs), repr(theirs))


# ----------------------------------------------------------------------------- cuda
def test_cuda_answers_without_a_gpu():
    if ad.cuda.is_available():
        pytest.skip("a GPU is present")
    assert ad.cuda.device_count() == 0
    ad.cuda.manual_seed(1)
    ad.cuda.manual_seed_all(1)
    for fn in (ad.cuda.synchronize, ad.cuda.current_device, ad.cuda.get_device_name):
        with pytest.raises(RuntimeError, match=f"autodiff.cuda.{fn.__name__}: no CUDA GPU"):
            fn()


def test_cuda_on_the_cupy_stand_in():
    cupy_standin = pytest.importorskip("cupy_standin")
    if ad.cuda.is_available():
        pytest.skip("a real GPU is present")
    with cupy_standin.activated():
        assert ad.cuda.is_available() and ad.cuda.device_count() == 1
        assert ad.cuda.current_device() == 0
        ad.cuda.synchronize()
        ad.cuda.synchronize("cuda:0")
        with pytest.raises(ValueError, match="expected a CUDA device"):
            ad.cuda.synchronize("cpu")
        x = ad.ones(2).cuda()
        assert x.is_cuda and x.device == "cuda" and x.device.type == "cuda"
        assert x.cpu().device == "cpu" and ad.ones(1).to("cuda:0").is_cuda
        # the GPU stream is seeded on its own: the CPU stream does not move
        ad.manual_seed(0)
        cpu_a = ad.rand(3).numpy()
        ad.cuda.manual_seed(5)
        gpu_a = ad.rand(3, device="cuda").numpy()
        cpu_b = ad.rand(3).numpy()
        ad.manual_seed(0)
        np.testing.assert_array_equal(ad.rand(3).numpy(), cpu_a)
        np.testing.assert_array_equal(ad.rand(3).numpy(), cpu_b)
        ad.cuda.manual_seed_all(5)
        np.testing.assert_array_equal(ad.rand(3, device="cuda").numpy(), gpu_a)
        ad.cuda.manual_seed(6)
        assert not np.array_equal(ad.rand(3, device="cuda").numpy(), gpu_a)
    ad.manual_seed(0)


# ----------------------------------------------------------------------------- grad modes
def test_inference_mode_context_and_decorators():
    x = x64([1.0])
    with ad.inference_mode():
        assert not ad.is_grad_enabled()
        assert not (x * 2).requires_grad
    assert ad.is_grad_enabled()

    @ad.inference_mode
    def bare():
        return ad.is_grad_enabled()

    @ad.inference_mode()
    def called():
        return ad.is_grad_enabled()

    assert bare() is False and called() is False and ad.is_grad_enabled()
    with ad.no_grad():
        with ad.inference_mode(False):               # PyTorch: recording back on
            assert ad.is_grad_enabled()
            assert (x * 2).requires_grad
        assert not ad.is_grad_enabled()


def test_inference_mode_against_pytorch(torch):
    for lib in (torch, ad):
        with lib.no_grad():
            with lib.inference_mode(False):
                on = lib.is_grad_enabled()
        with lib.inference_mode():
            off = lib.is_grad_enabled()
        assert (on, off) == (True, False), lib.__name__


# ----------------------------------------------------------------------------- nn.utils
def test_nn_utils_clip_grad_is_optim_s_and_clips():
    p = x64([3.0, 4.0])
    p.grad = ad.tensor([3.0, 4.0], dtype=ad.float64)
    total = ad.nn.utils.clip_grad_norm_([p], max_norm=1.0)
    assert total.item() == 5.0
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-6)
    ad.nn.utils.clip_grad_value_([p], 0.7)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.7], rtol=1e-6)


def test_parameters_to_vector_and_back():
    lin = ad.nn.Linear(3, 2)
    vec = ad.nn.utils.parameters_to_vector(lin.parameters())
    w, b = lin.weight.numpy().copy(), lin.bias.numpy().copy()
    np.testing.assert_array_equal(vec.numpy(), np.concatenate([w.ravel(), b]))
    assert vec.requires_grad
    (vec * ad.arange(8, dtype=ad.float32)).sum().backward()  # d/dp = position in the vector
    np.testing.assert_array_equal(lin.weight.grad.numpy(), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(lin.bias.grad.numpy(), [6.0, 7.0])
    new = ad.arange(8, dtype=ad.float32) * 0.5
    ad.nn.utils.vector_to_parameters(new, lin.parameters())
    np.testing.assert_array_equal(lin.weight.numpy(), np.arange(6).reshape(2, 3) * 0.5)
    np.testing.assert_array_equal(lin.bias.numpy(), [3.0, 3.5])
    new.array[7] = -1.0                                      # shares storage, as in PyTorch
    assert lin.bias.numpy()[1] == -1.0
    with pytest.raises(TypeError, match="expected vec to be a Tensor"):
        ad.nn.utils.vector_to_parameters([1.0] * 8, lin.parameters())
    with pytest.raises(ValueError, match="8 elements"):
        ad.nn.utils.vector_to_parameters(ad.zeros(7), lin.parameters())


# ----------------------------------------------------------------------------- small top-level
def test_size():
    s = ad.zeros(2, 3).shape
    assert isinstance(s, ad.Size) and isinstance(s, tuple) and s == (2, 3)
    assert ad.zeros(2, 3).size() == ad.Size([2, 3]) and ad.zeros(2, 3).size(1) == 3
    assert s.numel() == 6 and ad.Size([]).numel() == 1
    assert isinstance(s[1:], ad.Size) and s[1:] == (3,) and s[0] == 2
    assert isinstance(s + (4,), ad.Size) and s + (4,) == (2, 3, 4)
    assert repr(s) == str(s) == "(2, 3)" and f"{[s]}" == "[(2, 3)]"
    assert pickle.loads(pickle.dumps(s)) == s
    with pytest.raises(TypeError, match="integers"):
        ad.Size([2.5])


def test_is_tensor_numel_equal():
    assert ad.is_tensor(ad.ones(1)) and not ad.is_tensor(np.ones(1)) and not ad.is_tensor([1])
    assert ad.numel(ad.zeros(2, 3, 4)) == 24 and ad.numel(ad.tensor(1.0)) == 1
    a = ad.tensor([1.0, 2.0])
    assert ad.equal(a, ad.tensor([1.0, 2.0])) is True
    assert ad.equal(a, ad.tensor([1, 2])) is True              # compared after promotion
    assert ad.equal(a, ad.tensor([1.0, 2.5])) is False
    assert ad.equal(a, ad.tensor([[1.0, 2.0]])) is False       # shapes differ
    assert ad.equal(ad.tensor([np.nan]), ad.tensor([np.nan])) is False
    with pytest.raises(TypeError, match="expected two Tensors"):
        ad.equal(a, [1.0, 2.0])


def test_is_tensor_numel_equal_against_pytorch(torch):
    pairs = [([1.0, 2.0], [1, 2]), ([1.0, 2.0], [[1.0, 2.0]]), ([float("nan")], [float("nan")]),
             ([1.0], [1.0])]
    for a, b in pairs:
        assert ad.equal(ad.tensor(a), ad.tensor(b)) == torch.equal(torch.tensor(a),
                                                                   torch.tensor(b)), (a, b)


def test_format_of_a_0d_tensor_is_its_number():
    assert f"{ad.tensor(2.5):.2f}" == "2.50" and f"{ad.tensor(3)}" == "3"
    assert f"{ad.tensor([1.0, 2.0])}" == repr(ad.tensor([1.0, 2.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TypeError):
            f"{ad.tensor([1.0, 2.0]):.2f}"  # noqa: B018


@pytest.fixture
def print_options():
    from autodiff import printing
    saved = dict(printing.OPTIONS)
    yield
    printing.OPTIONS.clear()
    printing.OPTIONS.update(saved)


@pytest.mark.parametrize("options, values, text", [
    ({"precision": 2}, [1.23456, 2.0], "tensor([1.23, 2.00])"),
    ({"profile": "default"}, [0.5, 0.25], "tensor([0.5000, 0.2500])"),
    ({"profile": "default"}, [1.0, 2.0], "tensor([1., 2.])"),
    ({"sci_mode": True, "precision": 3}, [1.23456, 2.0], "tensor([1.235e+00, 2.000e+00])"),
    ({"threshold": 5, "edgeitems": 2}, list(range(10)), "tensor([0, 1, ..., 8, 9])")])
def test_set_printoptions(print_options, options, values, text):
    ad.set_printoptions(**options)
    assert repr(ad.tensor(values)) == text


def test_set_printoptions_against_pytorch(print_options, torch):
    before = torch._tensor_str.PRINT_OPTS.__dict__.copy()
    try:
        for options in ({"precision": 2}, {"profile": "short"}, {"sci_mode": True}):
            ad.set_printoptions(**options)
            torch.set_printoptions(**options)
            for values in ([1.23456, 2.0], [0.5, 0.25], [1e-5, 1000.0]):
                assert repr(ad.tensor(values)) == repr(torch.tensor(values)), options
    finally:
        torch._tensor_str.PRINT_OPTS.__dict__.update(before)


def test_set_printoptions_rejects_an_unknown_profile(print_options):
    with pytest.raises(ValueError, match="profile must be one of default, short, full"):
        ad.set_printoptions(profile="long")
