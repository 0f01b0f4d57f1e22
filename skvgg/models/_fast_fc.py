"""The fc layers at inference on a CPU, without the per-call weight work of torch's eager kernels.

fc6 holds 103 M of VGG16's 138 M weights (411 MB in float32), so what an eager call does
to that matrix *besides* reading it once decides its cost. Measured on a 2-core AMD EPYC
(``benchmarks/fc_layers.py``; results in ``benchmarks/results/fc_layers-2026-12-03-amd-epyc.json``):

* float32, standard form: ``F.linear`` goes to MKL's ``sgemm``, which packs the
  4096 x 25088 matrix on every call at small batch sizes; oneDNN's inner product reads
  it as it is stored and took 0.02-0.04 s where ``sgemm`` took 0.05-0.10 s (2-16 views).
* dense form: fc6 as a 7x7 convolution over the pool5 map (the paper's form) makes
  oneDNN reorder the 411 MB kernel into its blocked layout on every call: 0.5-0.9 s per
  call, more than the convolutions of the whole image. The same numbers come from
  cutting the map into its 7x7 windows (``F.unfold``) and applying the inner product to
  them as rows: 0.04-0.36 s.
* bfloat16 (autocast): autocast casts the float32 weights to bfloat16 on every call
  (411 MB read, 206 MB written for fc6): 0.29 s for a batch of 8. The cast is done once
  here and kept (:func:`bfloat16_weights`), as long as the weights do not change.

These paths run only in eager inference on a CPU (gradients off, no compiler or exporter
tracing): inductor with freezing prepacks the weights of compiled and int8 graphs itself
(:mod:`skvgg.models._quantize`), and training needs autograd through ``nn.Linear``. The
arithmetic is the same: the outputs match the ``nn.Linear``/``F.conv2d`` forms to
float rounding (``tests/test_fast_fc.py``).
"""

from __future__ import annotations

import threading
import weakref

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["eager_cpu_inference", "linear_inference", "windows_inference", "bfloat16_weights", "WINDOW_ROWS"]

#: Most fc6 windows cut from a pool5 map at once: each is a row of 25,088 values (100 KB in
#: float32), so the rows of a very large dense map are bounded to ~100 MB at a time.
WINDOW_ROWS = 1024

_ONEDNN_LINEAR = getattr(torch.ops.mkldnn, "_linear_pointwise", None) if torch.backends.mkldnn.is_available() else None
_BF16_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_BF16_LOCK = threading.Lock()


def _tracing() -> bool:
    return bool(
        torch.compiler.is_compiling()
        or getattr(torch.compiler, "is_exporting", lambda: False)()
        or torch.jit.is_tracing()
        or torch.jit.is_scripting()
    )


def _cpu_autocast_dtype() -> torch.dtype | None:
    return torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None


def eager_cpu_inference(x: torch.Tensor) -> bool:
    """Whether ``x`` goes through the fc layers in eager inference on a CPU (the paths of this module)."""
    if x.device.type != "cpu" or torch.is_grad_enabled() or _tracing():
        return False
    autocast = _cpu_autocast_dtype()
    return autocast == torch.bfloat16 if autocast is not None else x.dtype == torch.float32


def bfloat16_weights(linear: nn.Linear) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``linear``'s weight and bias cast to bfloat16, cast once and kept while they are unchanged.

    Kept beside the module (a weak reference: freed with it), keyed on the tensors' storage and
    version counters, so an optimizer step or ``load_state_dict`` (in-place writes) is seen.
    """
    weight, bias = linear.weight, linear.bias
    key = (weight.data_ptr(), weight._version, None if bias is None else (bias.data_ptr(), bias._version))
    with _BF16_LOCK:  # one cast at a time: two threads must not both make fc6's 206 MB copy
        cast = _BF16_CACHE.get(linear)
        if cast is None or cast[0] != key:
            cast = (key, weight.detach().to(torch.bfloat16), None if bias is None else bias.detach().to(torch.bfloat16))
            _BF16_CACHE[linear] = cast
    return cast[1], cast[2]


def linear_inference(x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """``linear(x)`` for 2-D ``x`` in eager CPU inference (see :func:`eager_cpu_inference`)."""
    if _cpu_autocast_dtype() == torch.bfloat16:
        weight, bias = bfloat16_weights(linear)
        return F.linear(x.to(torch.bfloat16), weight, bias)
    if _ONEDNN_LINEAR is None or linear.weight.dtype != torch.float32:
        return linear(x)
    return _ONEDNN_LINEAR(x.contiguous(), linear.weight, linear.bias, "none", [], "")


def windows_inference(x: torch.Tensor, linear: nn.Linear, kernel: int) -> torch.Tensor:
    """``linear`` applied to every ``kernel`` x ``kernel`` window of the map ``x`` ``(N, C, H, W)``.

    The dense form's fc layer as rows: equals ``F.conv2d(x, weight.view(out, C, k, k), bias)``,
    shape ``(N, out, H - k + 1, W - k + 1)`` (a channels-last view). ``F.unfold`` orders each
    window's values channel first, then row, then column: the order of torchvision's flatten,
    so the Linear's weight applies unchanged.
    """
    n, channels, height, width = x.shape
    out_h, out_w = height - kernel + 1, width - kernel + 1
    # Output rows per piece, so that no piece cuts more than WINDOW_ROWS windows per image.
    step = max(1, WINDOW_ROWS // max(1, n * out_w))
    pieces = []
    for top in range(0, out_h, step):
        band = x[:, :, top : min(out_h, top + step) + kernel - 1]
        rows = F.unfold(band, kernel) if kernel > 1 else band.reshape(n, channels, -1)
        outputs = linear_inference(rows.transpose(1, 2).reshape(-1, channels * kernel * kernel), linear)
        pieces.append(outputs.view(n, -1, out_w, linear.out_features))
    return torch.cat(pieces, dim=1).permute(0, 3, 1, 2)
