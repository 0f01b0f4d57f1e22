"""Where and how networks run: device and precision choice, a shared model registry, OOM recovery."""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict

import torch

from .._warnings import warn
from ..exceptions import OutOfMemoryWarning, PerformanceWarning

__all__ = [
    "resolve_device",
    "resolve_precision",
    "precision_name",
    "precision_dtype",
    "cuda_native_bfloat16",
    "cpu_native_bfloat16",
    "cpu_native_float16",
    "autocast",
    "loss_scaler",
    "shared_network",
    "clear_network_cache",
    "network_builds",
    "is_out_of_memory",
    "run_with_backoff",
    "halve_after_oom",
]

_PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device="auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else Apple MPS, else CPU; other values are checked.

    Raises
    ------
    ValueError
        For a device name torch does not know, or one that is not available here.
    """
    if isinstance(device, torch.device):
        resolved = device
    elif device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    else:
        try:
            resolved = torch.device(device)
        except (RuntimeError, TypeError) as error:
            raise ValueError(f"device={device!r} is not a torch device ('auto', 'cpu', 'cuda', 'cuda:1', 'mps')") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available on this machine; use 'auto' or 'cpu'")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ValueError(f"device={device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if resolved.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device={device!r} was requested but Apple MPS is not available; use 'auto' or 'cpu'")
    return resolved


def resolve_precision(precision, device: torch.device) -> torch.dtype:
    """The autocast dtype for ``precision`` on ``device`` (a ``torch.dtype`` is returned as is).

    ``"auto"``: on CUDA, bfloat16 where the card computes it natively (compute
    capability 8.0 and later: A100, H100, RTX 30xx...), float16 on older cards (T4, V100),
    whose tensor cores have no bfloat16 and where float16 is the fast path; on a CPU,
    bfloat16 where it has bfloat16 instructions (AVX512-BF16 or AMX,
    :func:`cpu_native_bfloat16`), float32 elsewhere (emulated bfloat16 is no faster);
    float32 on every other device.

    ``"int8"`` (CPU only) computes in int8 through a quantized graph
    (:mod:`skvgg.models._quantize`); the dtype returned for it is float32, the dtype of the
    layers it leaves unquantized.

    Warns
    -----
    skvgg.exceptions.PerformanceWarning
        ``"float16"`` on a CPU without float16 instructions (AMX-FP16): it runs several
        times slower than float32 there.
    """
    if isinstance(precision, torch.dtype):  # already resolved (an estimator's precision_)
        return precision
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if cuda_native_bfloat16(device) else torch.float16
        if device.type == "cpu" and cpu_native_bfloat16():
            return torch.bfloat16
        return torch.float32
    if precision == "int8":
        return torch.float32
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be 'auto', 'int8' or one of {list(_PRECISIONS)}, got {precision!r}")
    if precision == "float16" and device.type == "cpu" and not cpu_native_float16():
        warn(
            "precision='float16' on this CPU, which has no float16 instructions (AMX-FP16): it runs several times "
            "slower than float32 here (3.6x-12x measured). Use precision='auto' (bfloat16 where the CPU has it, else float32).",
            PerformanceWarning,
        )
    return _PRECISIONS[precision]


def precision_name(precision, device: torch.device) -> str:
    """``precision`` resolved for ``device`` as a name: ``"float32"``, ``"bfloat16"``, ``"float16"`` or ``"int8"``.

    What the estimators keep in their fitted ``precision_`` attribute; :func:`precision_dtype`
    turns it back into the autocast dtype without resolving ``"auto"`` again.
    """
    dtype = resolve_precision(precision, device)
    return "int8" if precision == "int8" else str(dtype).removeprefix("torch.")


def precision_dtype(name: str) -> torch.dtype:
    """The autocast dtype of a resolved precision name (:func:`precision_name`); int8 graphs keep float32 outside."""
    return torch.float32 if name == "int8" else _PRECISIONS[name]


def cpu_native_bfloat16() -> bool:
    """Whether this CPU has bfloat16 instructions (AVX512-BF16 or AMX tiles).

    ``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` is not the test: it also answers
    True on plain AVX-512 CPUs, where oneDNN emulates bfloat16 no faster than float32.
    """
    probe = getattr(torch, "cpu", None)
    try:
        return bool(probe._is_avx512_bf16_supported() or probe._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # an older or unusual torch build: assume not
        return False


def cpu_native_float16() -> bool:
    """Whether this CPU has float16 matrix instructions (AMX-FP16, Granite Rapids and later)."""
    try:
        return bool(torch.cpu._is_amx_fp16_supported())
    except (AttributeError, RuntimeError):
        return False


def cuda_native_bfloat16(device: torch.device) -> bool:
    """Whether the CUDA ``device`` runs bfloat16 natively (compute capability >= 8.0, or ROCm).

    ``torch.cuda.is_bf16_supported()`` is not the test: by default it also answers True
    where bfloat16 is merely emulated (pre-Ampere cards, ``including_emulation=True``),
    and it asks about the current device rather than ``device``.
    """
    if torch.version.hip:
        return True
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8


def autocast(device: torch.device, dtype: torch.dtype):
    """Mixed-precision context for ``dtype``; a no-op for float32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def loss_scaler(device: torch.device, dtype: torch.dtype):
    """A gradient scaler for training under ``dtype`` autocast: active for float16 on CUDA only.

    float16 gradients underflow without loss scaling (bfloat16 has float32's range);
    ``precision="auto"`` picks float16 on pre-Ampere cards, so training there needs it.
    A disabled scaler passes ``scale``, ``step`` and ``update`` straight through.
    """
    enabled = dtype == torch.float16 and device.type == "cuda"
    return torch.amp.GradScaler(device.type, enabled=enabled)


# --- the shared network registry --------------------------------------------------------------
# Clones of a featurizer (GridSearchCV makes one per candidate and fold) must not each load
# 500 MB of weights. Networks used read-only are kept here, keyed by everything that
# determines their values and placement, in a small LRU.

_NETWORKS: OrderedDict = OrderedDict()
_NETWORKS_LOCK = threading.Lock()
NETWORK_CACHE_SIZE = 4  # two networks, and a fast graph (int8 or compiled) of each
_BUILDS = 0  # networks built by shared_network in this process (a cluster's workers report theirs)


def shared_network(key: tuple, build):
    """Return the network registered under ``key``, building it with ``build()`` if needed.

    The network must be used read-only (eval mode, no gradient): every holder of the
    same key gets the same object.
    """
    with _NETWORKS_LOCK:
        if key in _NETWORKS:
            _NETWORKS.move_to_end(key)
            return _NETWORKS[key]
    network = build()
    with _NETWORKS_LOCK:
        global _BUILDS
        _BUILDS += 1
        network = _NETWORKS.setdefault(key, network)
        _NETWORKS.move_to_end(key)
        while len(_NETWORKS) > NETWORK_CACHE_SIZE:
            _NETWORKS.popitem(last=False)
    return network


def network_builds() -> int:
    """How many networks :func:`shared_network` has built (weights loaded) in this process."""
    return _BUILDS


def clear_network_cache() -> None:
    """Forget every shared network (frees their memory once no estimator holds them)."""
    with _NETWORKS_LOCK:
        _NETWORKS.clear()


# --- out-of-memory recovery -------------------------------------------------------------------


def is_out_of_memory(error: BaseException) -> bool:
    """True for allocation failures on any device (CUDA, MPS and the CPU allocator)."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    message = str(error)
    return isinstance(error, RuntimeError) and (
        "out of memory" in message or "can't allocate memory" in message or "MPS backend out of memory" in message
    )


def run_with_backoff(fn, batch: torch.Tensor, state: dict, what: str = "batch"):
    """Apply ``fn`` to ``batch``, splitting it in halves while the device runs out of memory.

    ``state["batch_size"]`` is lowered to the size that worked, so later batches start
    there; a warning says so once per halving. A single item that does not fit re-raises.
    Returns the list of ``fn`` results, one per chunk, in order.
    """
    size = min(len(batch), state["batch_size"])
    results, start = [], 0
    while start < len(batch):
        chunk = batch[start : start + size]
        try:
            results.append(fn(chunk))
        except Exception as error:
            size = halve_after_oom(error, size, state, f"{what} of {len(chunk)}")
            continue
        start += len(chunk)
    return results


def halve_after_oom(error: BaseException, size: int, state: dict, what: str) -> int:
    """Re-raise ``error`` unless it is an out-of-memory with room to halve; else the halved size.

    Frees the CUDA cache, records the new size in ``state["batch_size"]`` for later
    batches and warns once per halving.
    """
    if not is_out_of_memory(error) or size == 1:
        raise error
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    size = max(1, size // 2)
    state["batch_size"] = size
    warn(f"Out of memory on a {what}; retrying with batch_size={size}.", OutOfMemoryWarning)
    return size
