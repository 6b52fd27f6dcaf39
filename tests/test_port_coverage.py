"""The audit of issue "Port PyTorch code unchanged": every name the issue lists (its "Why"
paragraph and its "Missing API to add" section), spelled as a user writes it, must

1. exist (attribute access on ``autodiff``, ``autodiff.Tensor``, ``autodiff.nn.functional``,
   ``autodiff.nn``, ...),
2. accept PyTorch's documented parameter names (against torch's Python signature where it has
   one, else against the list written in ``ITEMS`` from PyTorch's documentation),
3. have a case in the public-API op table (``tests/api_cases_*.py``) when it is a function or
   method, or a named test elsewhere (``TESTED_ELSEWHERE``) when it is a namespace, module,
   dtype or utility the op table cannot express.

Parameters no autodiff function takes on purpose are in ``NOT_ACCEPTED`` (with the reason).
"""
from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

import autodiff as ad
import autodiff.nn as nn
import autodiff.nn.functional as F

_HERE = Path(__file__).resolve().parent

# Parameters PyTorch documents that autodiff does not take anywhere, deliberately:
NOT_ACCEPTED = {
    "out": "results are new tensors; no out= buffers (use copy_ or the in-place method)",
    "layout": "strided only; there are no sparse layouts",
    "pin_memory": "no pinned host memory (tensor factories)",
    "memory_format": "arrays are always contiguous (the casts .float()/.half()/...)",
    "pin_memory_device": "DataLoader: no pinned host memory",
    "foreach": "clip_grad_*: one implementation, no per-tensor fused variant to choose",
}

_BINARY = ("remainder", "fmod", "floor_divide", "copysign", "logaddexp", "atan2")
_UNARY = ("trunc", "floor", "ceil", "frac", "rsqrt", "exp2", "log2", "log10", "asin", "acos",
          "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "isinf", "isposinf", "isneginf")

# (path as a user writes it, PyTorch's documented parameters where torch has no Python
# signature: a space-separated string; None where torch's inspect.signature is the reference,
# or where the item is not called: a namespace, a dtype, an operator, an attribute).
# For Tensor methods the parameters are those after self.
ITEMS: list[tuple[str, str | None]] = [
    # --- namespaces and the first-hour names of the "Why" paragraph
    ("nn", None), ("optim", None), ("autograd", None), ("autograd.grad", None),
    ("autograd.Function", None), ("autograd.functional", None), ("autograd.gradcheck", None),
    ("autograd.Variable", None), ("utils.data", None), ("utils.data.DataLoader", None),
    ("cuda.is_available", None), ("cuda.device_count", None), ("cuda.synchronize", None),
    ("cuda.manual_seed", None), ("device", "type index"), ("inference_mode", None),
    ("nn.utils.clip_grad_norm_", None), ("nn.utils.clip_grad_value_", None),
    ("nn.utils.parameters_to_vector", None), ("nn.Linear", None),
    ("Tensor.data", None), ("max", "input dim keepdim other"), ("Tensor.max", "dim keepdim other"),
    ("Tensor.__eq__", None),
    # --- silent difference 1: bitwise and logical
    ("bitwise_and", "input other"), ("bitwise_or", "input other"), ("bitwise_xor", "input other"),
    ("bitwise_not", "input"), ("Tensor.__and__", None), ("Tensor.__or__", None),
    ("Tensor.__xor__", None), ("Tensor.__invert__", None), ("Tensor.__lshift__", None),
    ("Tensor.__rshift__", None), ("logical_and", "input other"), ("logical_or", "input other"),
    ("logical_xor", "input other"), ("logical_not", "input"),
    # --- everyday Tensor methods
    ("Tensor.t", ""), ("Tensor.mm", "mat2"), ("Tensor.bmm", "mat2"), ("Tensor.mv", "vec"),
    ("Tensor.addmm", "mat1 mat2 beta alpha"), ("Tensor.baddbmm", "batch1 batch2 beta alpha"),
    ("mm", "input mat2"), ("bmm", "input mat2"), ("mv", "input vec"),
    ("addmm", "input mat1 mat2 beta alpha"), ("baddbmm", "input batch1 batch2 beta alpha"),
    ("Tensor.contiguous", ""), ("Tensor.is_contiguous", ""), ("Tensor.view_as", "other"),
    ("Tensor.reshape_as", "other"),
    ("Tensor.new_zeros", "size dtype device requires_grad"),
    ("Tensor.new_ones", "size dtype device requires_grad"),
    ("Tensor.new_full", "size fill_value dtype device requires_grad"),
    ("Tensor.new_empty", "size dtype device requires_grad"),
    ("Tensor.new_tensor", "data dtype device requires_grad"),
    ("numel", "input"), ("Tensor.numel", ""), ("Tensor.ndimension", ""),
    ("Tensor.nelement", ""), ("Tensor.element_size", ""),
    ("Tensor.narrow", "dim start length"), ("Tensor.select", "dim index"),
    ("Tensor.register_hook", None), ("Tensor.masked_fill_", "mask value"),
    ("Tensor.index_fill_", "dim index value"), ("Tensor.scatter_", "dim index src value reduce"),
    ("Tensor.unsqueeze_", "dim"), ("Tensor.squeeze_", "dim"),
    ("Tensor.bernoulli_", "p generator"), ("Tensor.exponential_", "lambd generator"),
    ("multinomial", "input num_samples replacement generator"),
    ("normal", "mean std size generator"), ("bernoulli", "input p generator"),
    ("unique", "input sorted return_inverse return_counts dim"),
    ("diff", "input n dim prepend append"),
    ("searchsorted", "sorted_sequence out_int32 right side sorter"),
    ("bucketize", "input boundaries out_int32 right"), ("cdist", None), ("kron", "input other"),
    ("histc", "input bins min max"), ("equal", "input other"), ("is_tensor", None),
    ("Size", None),
    # --- arithmetic (functions and their Tensor methods)
    ("div", "input other rounding_mode"), ("Tensor.div", "other rounding_mode"),
    ("Tensor.__mod__", None), ("Tensor.__floordiv__", None),
    *[(n, "input other") for n in _BINARY], *[(f"Tensor.{n}", "other") for n in _BINARY],
    ("lerp", "input end weight"), ("Tensor.lerp", "end weight"),
    ("round", "input decimals"), ("Tensor.round", "decimals"),
    *[(n, "input") for n in _UNARY], *[(f"Tensor.{n}", "") for n in _UNARY],
    ("isclose", "input other rtol atol equal_nan"), ("allclose", "input other rtol atol equal_nan"),
    ("Tensor.isclose", "other rtol atol equal_nan"),
    ("Tensor.allclose", "other rtol atol equal_nan"),
    ("nan_to_num", "input nan posinf neginf"), ("Tensor.nan_to_num", "nan posinf neginf"),
    # --- dtypes and casts
    ("int", None), ("bool", None), ("half", None), ("int8", None), ("uint8", None),
    ("int16", None), ("Tensor.type", "dtype non_blocking"), ("Tensor.int", ""),
    ("Tensor.long", ""), ("Tensor.float", ""), ("Tensor.double", ""), ("Tensor.half", ""),
    ("Tensor.bool", ""), ("Tensor.view", "dtype"),
    # --- scans and selection
    ("cumprod", "input dim dtype"), ("Tensor.cumprod", "dim dtype"),
    *[(n, "input dim") for n in ("cummax", "cummin", "logcumsumexp")],
    *[(f"Tensor.{n}", "dim") for n in ("cummax", "cummin", "logcumsumexp")],
    ("topk", "input k dim largest sorted"), ("Tensor.topk", "k dim largest sorted"),
    ("kthvalue", "input k dim keepdim"), ("Tensor.kthvalue", "k dim keepdim"),
    ("median", "input dim keepdim"), ("Tensor.median", "dim keepdim"),
    ("sort", "input dim descending stable"), ("Tensor.sort", "dim descending stable"),
    ("argsort", "input dim descending stable"), ("Tensor.argsort", "dim descending stable"),
    ("nonzero", "input as_tuple"), ("Tensor.nonzero", "as_tuple"),
    ("masked_fill", "input mask value"), ("Tensor.masked_fill", "mask value"),
    ("masked_select", "input mask"), ("Tensor.masked_select", "mask"),
    ("scatter", "input dim index src value reduce"),
    ("Tensor.scatter", "dim index src value reduce"),
    ("scatter_add", "input dim index src"), ("Tensor.scatter_add", "dim index src"),
    ("scatter_reduce", "input dim index src reduce include_self"),
    ("Tensor.scatter_reduce", "dim index src reduce include_self"),
    ("std_mean", "input dim unbiased keepdim correction"),
    ("var_mean", "input dim unbiased keepdim correction"),
    # --- shape
    ("roll", "input shifts dims"), ("Tensor.roll", "shifts dims"),
    ("tril", "input diagonal"), ("Tensor.tril", "diagonal"),
    ("triu", "input diagonal"), ("Tensor.triu", "diagonal"),
    ("diagonal", "input offset dim1 dim2"), ("Tensor.diagonal", "offset dim1 dim2"),
    ("diag", "input diagonal"), ("Tensor.diag", "diagonal"),
    ("diag_embed", "input offset dim1 dim2"), ("Tensor.diag_embed", "offset dim1 dim2"),
    ("meshgrid", "indexing"), ("Tensor.unfold", "dimension size step"),
    ("unflatten", "input dim sizes"), ("Tensor.unflatten", None), ("einsum", "equation"),
    ("F.pad", None),
    # --- nn.functional and nn
    *[(f"F.{n}", None) for n in ("celu", "selu", "silu", "mish", "hardtanh", "relu6",
                                 "hardswish", "hardsigmoid", "softsign", "softmin", "glu",
                                 "normalize", "interpolate", "max_unpool2d")],
    ("F.logsigmoid", "input"),
    ("F.conv1d", "input weight bias stride padding dilation groups"),
    ("F.conv3d", "input weight bias stride padding dilation groups"),
    ("F.conv_transpose1d", "input weight bias stride padding output_padding groups dilation"),
    ("F.conv_transpose2d", "input weight bias stride padding output_padding groups dilation"),
    ("F.avg_pool1d", "input kernel_size stride padding ceil_mode count_include_pad"),
    ("F.avg_pool3d",
     "input kernel_size stride padding ceil_mode count_include_pad divisor_override"),
    ("F.scaled_dot_product_attention",
     "query key value attn_mask dropout_p is_causal scale enable_gqa"),
    *[(f"nn.{n}", None) for n in ("CELU", "SELU", "SiLU", "Mish", "Hardtanh", "ReLU6",
                                  "Hardswish", "Hardsigmoid", "LogSigmoid", "Softsign",
                                  "Softmin", "GLU", "Upsample", "Conv1d", "Conv3d",
                                  "ConvTranspose1d", "ConvTranspose2d", "AvgPool1d",
                                  "AvgPool3d", "MaxUnpool2d", "MultiheadAttention",
                                  "GroupNorm", "Dropout2d")],
    ("optim.lr_scheduler.ReduceLROnPlateau", None),
]

# Items the op table cannot express (namespaces, dtypes, modules of state, attributes,
# utilities that return no tensor, hooks): the test file that checks each. The file must
# mention the item's last name.
TESTED_ELSEWHERE = {
    "nn": "test_namespaces.py", "optim": "test_namespaces.py",
    "autograd": "test_namespaces.py", "autograd.grad": "test_namespaces.py",
    "autograd.Function": "test_function.py", "autograd.functional": "test_namespaces.py",
    "autograd.gradcheck": "test_namespaces.py", "autograd.Variable": "test_namespaces.py",
    "utils.data": "test_namespaces.py", "utils.data.DataLoader": "test_data.py",
    "cuda.is_available": "test_namespaces.py", "cuda.device_count": "test_namespaces.py",
    "cuda.synchronize": "test_namespaces.py", "cuda.manual_seed": "test_namespaces.py",
    "device": "test_namespaces.py", "inference_mode": "test_namespaces.py",
    "nn.utils.clip_grad_norm_": "test_namespaces.py",
    "nn.utils.clip_grad_value_": "test_namespaces.py",
    "nn.utils.parameters_to_vector": "test_namespaces.py",
    "nn.Linear": "test_nn_layers.py", "Tensor.data": "test_data_attribute.py",
    "Tensor.register_hook": "test_grad_hooks.py", "Size": "test_namespaces.py",
    "cdist": "test_shape_port.py",
    "int": "test_differences_dtypes.py", "bool": "test_differences_dtypes.py",
    "half": "test_differences_dtypes.py", "int8": "test_differences_dtypes.py",
    "uint8": "test_differences_dtypes.py", "int16": "test_differences_dtypes.py",
    "optim.lr_scheduler.ReduceLROnPlateau": "test_reduce_lr_on_plateau.py",
}

_ROOTS = {"Tensor": lambda m: m.Tensor, "F": lambda m: m.nn.functional, "nn": lambda m: m.nn}


def resolve(module, path: str):
    """``path`` as a user writes it, on ``module`` (autodiff or torch)."""
    head, *rest = path.split(".")
    if head in _ROOTS:
        obj = _ROOTS[head](module)
    else:
        obj, rest = module, path.split(".")
    for part in rest:
        obj = getattr(obj, part)
    return obj


def _is_called(path: str) -> bool:
    leaf = path.split(".")[-1]
    return not (leaf.startswith("__") or path in TESTED_ELSEWHERE and path not in _CALLED_ELSEWHERE
                or path in ("Tensor.data",))


# Items tested elsewhere that are still called with arguments (their signature is checked).
_CALLED_ELSEWHERE = {
    "autograd.grad", "autograd.gradcheck", "utils.data.DataLoader", "cuda.synchronize",
    "cuda.manual_seed", "device", "inference_mode", "nn.utils.clip_grad_norm_",
    "nn.utils.clip_grad_value_", "nn.utils.parameters_to_vector", "nn.Linear",
    "Tensor.register_hook", "cdist", "optim.lr_scheduler.ReduceLROnPlateau",
}


def _param_names(obj, drop_first: bool) -> tuple[set[str], bool]:
    """Named parameters of ``obj`` (a class: its ``__init__``), and whether it takes
    ``**kwargs``."""
    params = list(inspect.signature(obj).parameters.values())
    if drop_first:
        params = params[1:]
    named = {p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return named, any(p.kind == p.VAR_KEYWORD for p in params)


def _torch_params(torch, path: str, documented: str | None) -> set[str] | None:
    if documented is not None:
        return set(documented.split())
    obj = resolve(torch, path)
    try:
        names, _ = _param_names(obj, drop_first=path.startswith("Tensor."))
    except (ValueError, TypeError):
        return None
    return names


def _normalise(name: str) -> str:
    for prefix, to in (("torch.", ""), ("autodiff.", ""), ("ad.", ""),
                       ("nn.functional.", "F.")):
        if name.startswith(prefix):
            name = to + name[len(prefix):]
    return name


def _op_table_names() -> set[str]:
    names = set()
    for path in sorted(_HERE.glob("api_cases_*.py")):
        names |= {_normalise(c.name) for c in importlib.import_module(path.stem).CASES}
    return names


PATHS = [p for p, _ in ITEMS]
DOCUMENTED = dict(ITEMS)
CALLED = [p for p in PATHS if _is_called(p)]


def test_the_table_has_each_name_once():
    assert len(PATHS) == len(set(PATHS)), sorted({p for p in PATHS if PATHS.count(p) > 1})
    assert set(TESTED_ELSEWHERE) <= set(PATHS), sorted(set(TESTED_ELSEWHERE) - set(PATHS))


def test_every_listed_name_exists():
    missing = []
    for path in PATHS:
        try:
            resolve(ad, path)
        except AttributeError:
            missing.append(path)
    assert not missing, f"missing from autodiff: {missing}"


def test_namespaces_are_the_packages():
    assert ad.nn is nn and ad.nn.functional is F
    assert ad.utils.data is ad.data
    assert ad.optim.lr_scheduler.ReduceLROnPlateau is not None


def _missing_parameters(path: str, wanted: set[str]) -> list[str]:
    obj = resolve(ad, path)
    try:
        have, var_kw = _param_names(obj, drop_first=path.startswith("Tensor."))
    except (ValueError, TypeError):
        return [f"{path}: no inspectable signature"]
    missing = sorted(wanted - have - set(NOT_ACCEPTED))
    if missing and var_kw and not have:
        return [f"{path}: takes only *args/**kwargs (PyTorch's names: {sorted(wanted)})"]
    return [f"{path}: {missing}"] if missing else []


def test_documented_parameters_are_accepted():
    """Without torch: the names written in ITEMS from PyTorch's documentation."""
    problems = []
    for path in CALLED:
        if DOCUMENTED[path] is not None:
            problems += _missing_parameters(path, set(DOCUMENTED[path].split()))
    assert not problems, "parameters PyTorch documents that autodiff lacks:\n" + "\n".join(problems)


def test_parameters_against_torch_signatures(torch):
    """With torch: torch's own inspect.signature where it has one (else the written list,
    whose every name must then appear in torch's docstring of that function or be its
    native argument name)."""
    problems, no_reference = [], []
    for path in CALLED:
        wanted = _torch_params(torch, path, DOCUMENTED[path])
        if wanted is None:
            no_reference.append(path)
            continue
        problems += _missing_parameters(path, wanted)
    assert not no_reference, f"no Python signature in torch; write PyTorch's list: {no_reference}"
    assert not problems, "parameters torch takes that autodiff lacks:\n" + "\n".join(problems)


def _torch_accepts_keyword(torch, path: str, name: str) -> bool:
    """Whether torch's argument parser knows ``name`` (its error lists the signatures)."""
    obj = resolve(torch, path)
    target = getattr(torch.ones(2, 2), path.split(".", 1)[1]) if path.startswith("Tensor.") \
        else obj
    try:
        target(__no_such_argument__=1)
    except TypeError as e:
        return re.search(rf"\b{re.escape(name)}\b", str(e)) is not None \
            or re.search(rf"\b{re.escape(name)}\b", obj.__doc__ or "") is not None
    except Exception:  # noqa: BLE001 - any other complaint: fall back to the docstring
        pass
    return re.search(rf"\b{re.escape(name)}\b", obj.__doc__ or "") is not None


def test_written_lists_are_torch_s(torch):
    """The lists written in ITEMS name only parameters torch knows (no invented names)."""
    wrong = []
    for path, documented in ITEMS:
        if documented and path != "device":
            wrong += [f"{path}: {n}" for n in documented.split()
                      if not _torch_accepts_keyword(torch, path, n)]
    assert not wrong, f"not torch's parameter names: {wrong}"


def test_every_function_has_an_op_table_case_or_a_named_test():
    cases = _op_table_names()
    missing = [p for p in PATHS if p not in TESTED_ELSEWHERE and p not in cases]
    assert not missing, f"no case in tests/api_cases_*.py for: {missing}"


@pytest.mark.parametrize("path", sorted(TESTED_ELSEWHERE))
def test_named_test_file_mentions_the_item(path):
    text = (_HERE / TESTED_ELSEWHERE[path]).read_text()
    leaf = path.split(".")[-1]
    assert re.search(rf"\b{re.escape(leaf)}\b", text), \
        f"{TESTED_ELSEWHERE[path]} does not mention {leaf} ({path})"
