"""Fast CPU graphs of a network's forward pass: int8 (static post-training quantization) and compiled.

Both turn ``network.extract(x, layers, dense=...)`` into a graph built once per process
and shared, like the networks themselves (:func:`skvgg._pipeline.runtime.shared_network`), by every
estimator that asks for the same network, layers and form:

* :func:`int8_extractor` quantizes the network up to the deepest requested layer with
  PT2E (``torch.export``, torchao's ``X86InductorQuantizer``, ``prepare_pt2e``,
  calibration, ``convert_pt2e``) and compiles the result with inductor *freezing*, which
  prepacks the int8 weights for oneDNN (without it the int8 graph is slower than float32).
* :func:`compiled_extractor` compiles the float32/bfloat16 forward pass (with freezing).

Calibration set
---------------
Static quantization fixes each activation's int8 scale from the ranges seen on a
calibration set. skvgg uses a built-in one, not the user's images: scikit-learn's two
sample photos (``sklearn.datasets.load_sample_images``: a temple in China, a flower),
each whole and as three square crops (left, centre, right), cut into views by the
*same* preprocessing as the featurizer (its single centre view or its dense scales, its
mirror images). So the quantized network depends only on the weights, the layers, the
preprocessing and the views; it does not depend on the images transformed, their order
or their number; two processes, a clone and an unpickled featurizer re-create the
identical network, and results are deterministic. The price: ranges come from natural
photos; for very different images (medical scans, drawings) compare with float32 first.

Image sizes
-----------
Graphs are exported with a dynamic batch dimension and, for dense evaluation, dynamic
height and width (smaller side 256 and up: below 256 pixels the dense maps become 1x1,
which would need a graph of their own). So dense multi-scale evaluation of photos of
every size runs on one graph: the numbers do not depend on the size buckets.

Batch sizes
-----------
A dynamic batch dimension is not one graph for every batch size: dynamo specializes a
batch of 1, and the convolutions' shape functions guard on the batch size (torch picks
another convolution backend from 16 images on), so a graph compiled on a batch of 2
serves 2-15 views and compiled again, inside the call, for the first batch of 1 or of 16
and more. The build therefore compiles one graph per regime, on batches of
:data:`WARM_BATCHES` views, before the first batch is computed: later calls never compile,
whatever their batch sizes (``tests/test_cpu_speed.py`` counts the graphs). Padding every
batch to ``batch_size`` would also give one graph, but would compute up to 16 times the
views for small calls and dense evaluation's batches of one or two views. Dense graphs are
compiled on an oblong example: on a square one, dynamo's duck sizing ties the height to the
width, and the first oblong image compiled again. The same backend rule also tells apart a
single dense view whose fc maps have a few positions (a near-square image at scale 256) from
a larger one, so a single dense view is compiled for both.
"""

from __future__ import annotations

import threading
import time
import warnings

import torch

from .._pipeline.runtime import autocast, resolve_precision, shared_network
from ..exceptions import MissingExtraError, PerformanceWarning

__all__ = [
    "INT8_EXTRA",
    "INT8_MIN_DENSE_SIZE",
    "COMPILE_MIN_IMAGES",
    "WARM_BATCHES",
    "check_int8_available",
    "calibration_images",
    "int8_extractor",
    "compiled_extractor",
    "compile_extract",
    "fast_extractors",
]

#: The pip extra that installs what ``precision="int8"`` needs.
INT8_EXTRA = "skvgg[int8]"
#: Smallest dense scale for int8: the dense fc maps must be at least 2x2 (see above).
INT8_MIN_DENSE_SIZE = 256
#: ``compile="auto"`` compiles from this many images to compute: compiling VGG16 with
#: freezing for every batch-size regime took 40-180 s on a loaded 2-core CPU
#: (docs/user-guide/performance.md), which a handful of images never repays.
COMPILE_MIN_IMAGES = 1000
#: Batch sizes, in views, that a graph is compiled for when it is built: one per regime
#: torch's dynamic shapes distinguish (1; 2-15; 16 and more), see "Batch sizes" above.
WARM_BATCHES = (1, 2, 16)
_MAX_SIDE = 16384
_COMPILE_LOCK = threading.Lock()


def check_int8_available(device: torch.device) -> None:
    """Raise unless int8 can run here: on a CPU, with torchao installed; warn without VNNI/AMX."""
    if device.type != "cpu":
        raise ValueError(
            f"precision='int8' runs on the CPU only (x86 int8 kernels); the device is {device}. "
            "Use precision='auto' on a GPU (bfloat16 or float16)."
        )
    try:
        import torchao.quantization.pt2e  # noqa: F401
    except ImportError as error:
        raise MissingExtraError(
            f"precision='int8' needs torchao (PT2E quantization for x86): pip install '{INT8_EXTRA}' "
            f"(or pip install torchao). Import failed: {error}",
            extra=INT8_EXTRA,
            name="torchao",
        ) from error
    if not _cpu_has_int8_dot_product():
        warnings.warn(
            "precision='int8' on a CPU without VNNI or AMX int8 instructions: the int8 graph runs on AVX2 "
            "kernels. Measured on such a CPU (AVX2 AMD EPYC, VGG16 fc7, issue 19): int8 8.1 images/s, "
            "float32 3.8, i.e. 2.1x float32. Gains vary by CPU: compare with precision='float32' on yours "
            "(benchmarks/cpu_speed.py).",
            PerformanceWarning,
            stacklevel=3,
        )


def _cpu_has_int8_dot_product() -> bool:
    try:
        return bool(torch.cpu._is_vnni_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def calibration_images() -> list:
    """The built-in calibration photos: each sample photo whole and as left, centre and right squares."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    images = []
    for array in load_sample_images().images:
        photo = Image.fromarray(array)
        width, height = photo.size
        side = min(width, height)
        images.append(photo)
        for left in (0, (width - side) // 2, width - side):
            images.append(photo.crop((left, (height - side) // 2, left + side, (height - side) // 2 + side)))
    return images


class _Extract(torch.nn.Module):
    """``network.extract`` as a module returning a tuple (what export and compile need)."""

    def __init__(self, network, layers, dense: bool, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.network = network
        self.layers = tuple(layers)
        self.dense = dense
        self.dtype = dtype

    def forward(self, x):
        with autocast(x.device, self.dtype):
            out = self.network.extract(x, self.layers, dense=self.dense)
        return tuple(out[name] for name in self.layers)


class FastExtractor:
    """A compiled graph standing in for ``network.extract(x, layers, dense=dense)``.

    ``build_seconds`` is what building (quantizing, compiling, the first run) cost.
    """

    def __init__(self, graph, layers, build_seconds: float):
        self.graph = graph
        self.layers = tuple(layers)
        self.build_seconds = build_seconds

    def __call__(self, x: torch.Tensor) -> dict:
        with torch.inference_mode(), _freezing():
            outputs = self.graph(x)
        return dict(zip(self.layers, outputs))


def _compile(module):
    return torch.compile(module, dynamic=True)


def _freezing():
    # Freezing turns the weights into constants that inductor prepacks for oneDNN. It is
    # set around each call rather than through ``torch.compile(options=...)``, which
    # does not reach the int8 prepacking pass (torch 2.14).
    from torch._inductor import config

    return config.patch(freezing=True)


def _warm(extractor: FastExtractor, example: torch.Tensor, dense: bool) -> None:
    """Compile ``extractor`` now for every batch-size regime (:data:`WARM_BATCHES`), from ``example``'s views.

    Dense graphs also meet the convolutions' size rule on a single view: the dense fc layers'
    input is small (a few map positions, near-square images at the smallest scale) or not.
    A single view is therefore also run at the example's smallest oblong shape and at twice
    its width.
    """
    shapes = [example]
    if dense:
        height, width = example.shape[-2:]
        side = min(height, width)
        if height != width:
            shapes.append(example[..., :side, : side + 1] if width > height else example[..., : side + 1, :side])
        shapes.append(torch.cat([example, example], dim=-1))
    with _COMPILE_LOCK:
        for size in WARM_BATCHES:
            for shape in shapes if size == 1 else shapes[:1]:
                rows = shape[torch.arange(size, device=example.device) % len(shape)]
                extractor(rows.contiguous(memory_format=torch.channels_last))


def _calibration_batches(make_groups, normalize):
    for index, image in enumerate(calibration_images()):
        for group in make_groups(image, index):
            yield normalize(torch.stack(group.views)).contiguous(memory_format=torch.channels_last)


def _export(module, example, dense: bool):
    dims = {0: torch.export.Dim("batch", min=1, max=4096)}
    if dense:
        dims[2] = torch.export.Dim("height", min=INT8_MIN_DENSE_SIZE, max=_MAX_SIDE)
        dims[3] = torch.export.Dim("width", min=INT8_MIN_DENSE_SIZE, max=_MAX_SIDE)
    return torch.export.export(module, (example,), dynamic_shapes=(dims,)).module()


def int8_extractor(network, key: tuple, layers, dense: bool, make_groups, normalize, views: tuple) -> FastExtractor:
    """The shared int8 graph of ``network.extract(., layers, dense)``, built on first use.

    ``key`` names the network (its registry key); ``make_groups(image, index)`` cuts an
    image into the estimator's view groups and ``normalize`` turns uint8 views into the
    network's input: the calibration photos go through both, as the images will.
    ``views`` names what ``make_groups`` and ``normalize`` do (part of the sharing key).
    """

    def build():
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

        start = time.perf_counter()
        batches = list(_calibration_batches(make_groups, normalize))
        # An example batch of 2: export specializes a batch of 1 to a constant.
        example = batches[0] if len(batches[0]) > 1 else torch.cat([batches[0], batches[0]])
        with torch.no_grad():
            exported = _export(_Extract(network, layers, dense).eval(), example, dense)
            quantizer = xiq.X86InductorQuantizer()
            quantizer.set_global(xiq.get_default_x86_inductor_quantization_config())
            prepared = prepare_pt2e(exported, quantizer)
            for batch in batches:
                prepared(batch)
            graph = _compile(convert_pt2e(prepared))
            extractor = FastExtractor(graph, layers, 0.0)
            _warm(extractor, example, dense)  # compiles now, so the cost is paid (and reported) here
        extractor.build_seconds = time.perf_counter() - start
        return extractor

    return shared_network(("int8", *key, tuple(layers), dense, views), build)


def compile_extract(network, layers, dense: bool, dtype: torch.dtype, example: torch.Tensor) -> FastExtractor:
    """A compiled graph (inductor, freezing) of ``network.extract(., layers, dense)`` under ``dtype``,
    compiled now on ``example``; not shared (see :func:`compiled_extractor`).

    Freezing makes the weights constants of the graph: ``network`` must not change afterwards
    (up to the deepest of ``layers``).
    """
    start = time.perf_counter()
    extractor = FastExtractor(_compile(_Extract(network, layers, dense, dtype).eval()), layers, 0.0)
    _warm(extractor, example, dense)
    extractor.build_seconds = time.perf_counter() - start
    return extractor


def compiled_extractor(network, key: tuple, layers, dense: bool, dtype: torch.dtype, example: torch.Tensor) -> FastExtractor:
    """The shared compiled graph of ``network.extract(., layers, dense)`` under ``dtype``, for a read-only
    shared ``network`` registered under ``key``."""
    return shared_network(
        ("compiled", *key, tuple(layers), dense, str(dtype)), lambda: compile_extract(network, layers, dense, dtype, example)
    )


def fast_extractors(networks, preprocessings, keys, layers, scales, precision, make_groups, views: tuple) -> list:
    """One shared graph per network of a featurizer: int8 (calibrated on the featurizer's own
    views, ``make_groups``) or compiled in ``precision``. ``keys`` are ``(arch, weights identity)``."""
    device = next(networks[0].parameters()).device
    dense = scales is not None
    dtype = resolve_precision(precision, device)
    fast = []
    for network, pre, (arch, identity) in zip(networks, preprocessings, keys):
        key = (arch, identity, str(device))
        if precision == "int8":
            fast.append(int8_extractor(network, key, layers, dense, make_groups, pre.normalize, views))
        else:
            side = scales[0] if dense else preprocessings[0].crop_size
            # Dense views are rarely square: a square example would make dynamo's duck sizing tie
            # the height to the width and compile again for the first other image.
            width = side + 1 if dense else side
            example = pre.normalize(torch.zeros(2, 3, side, width, dtype=torch.uint8, device=device))
            example = example.contiguous(memory_format=torch.channels_last)
            fast.append(compiled_extractor(network, key, layers, dense, dtype, example))
    return fast
