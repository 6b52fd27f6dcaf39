"""float32 matrix-product precision on the GPU: full float32 by default, TF32 on request, with
PyTorch's names (``torch.set_float32_matmul_precision``).

``'highest'`` (the default) keeps full float32 products; ``'high'`` lets cuBLAS use TF32 tensor
cores (products of 10-bit-mantissa operands, float32 accumulation: several times faster on
Ampere and later GPUs). It governs every cuBLAS GEMM CuPy makes, so autodiff's matmuls and its
convolutions (im2col + GEMM) alike. CuPy reads ``CUPY_TF32`` at its first float32 product, and
its compute type is set directly once that has happened; starting Python with ``CUPY_TF32=1``
is the same as ``'high'``. On NumPy there is nothing to choose (CPU BLAS has no TF32).
"""
from __future__ import annotations

import os
import sys

import numpy

__all__ = ["get_float32_matmul_precision", "set_float32_matmul_precision"]

_PRECISIONS = ("highest", "high", "medium")


def get_float32_matmul_precision() -> str:
    """'highest' (full float32 products) or 'high' (TF32 allowed on the GPU)."""
    return "high" if os.environ.get("CUPY_TF32", "0").strip() not in ("", "0") else "highest"


def set_float32_matmul_precision(precision: str) -> None:
    """'highest': full float32 matrix products (the default); 'high': TF32 on the GPU.
    'medium' (PyTorch's bfloat16 products) is not supported."""
    if precision not in _PRECISIONS:
        raise ValueError(f"set_float32_matmul_precision: precision must be one of "
                         f"{', '.join(_PRECISIONS)}, got {precision!r}")
    if precision == "medium":
        raise NotImplementedError("set_float32_matmul_precision('medium') (bfloat16 products) is "
                                  "not supported; use 'high' (TF32) or 'highest'")
    tf32 = precision == "high"
    os.environ["CUPY_TF32"] = "1" if tf32 else "0"
    if "cupy" in sys.modules:          # CuPy may have fixed its compute type already
        try:
            from cupy._core import _routines_linalg as linalg
            kind = linalg.COMPUTE_TYPE_TF32 if tf32 else linalg.COMPUTE_TYPE_DEFAULT
            linalg.set_compute_type(numpy.float32, kind)
        except (ImportError, AttributeError) as e:
            raise RuntimeError(f"set_float32_matmul_precision: this CuPy offers no "
                               f"cupy._core._routines_linalg.set_compute_type ({e}); start "
                               f"Python with CUPY_TF32={int(tf32)} instead") from None
