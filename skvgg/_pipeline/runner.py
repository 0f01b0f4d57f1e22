"""The network side of the pipeline: uint8 view batches in, pooled descriptors out.

:class:`NetworkRunner` normalises each batch on the compute device, runs one or several
networks (or their compiled graphs), pools each requested layer's activations to vectors
and concatenates them; batches travel through a :class:`~skvgg._pipeline.cuda.DeviceRunner`, so on
CUDA the next batch is uploaded while the current one computes and results are read back
a few batches later. A device that runs out of memory gets smaller chunks
(:func:`skvgg._pipeline.runtime.run_with_backoff`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .cuda import DeviceRunner
from .runtime import autocast, run_with_backoff

__all__ = ["pool", "NetworkRunner"]


def pool(activation: torch.Tensor, pooling: str) -> torch.Tensor:
    """A layer's activations ``(N, C[, H, W])`` as float vectors: ``"avg"``, ``"max"`` or ``"flatten"``."""
    activation = activation.float()
    if activation.ndim == 2:
        return activation
    if pooling == "avg":
        return activation.mean(dim=(2, 3))
    if pooling == "max":
        return activation.amax(dim=(2, 3))
    return activation.flatten(1)  # "flatten": the map itself (views of one size only)


class NetworkRunner:
    """Descriptors of uint8 view batches ``(N, 3, H, W)`` from one or several networks.

    Parameters
    ----------
    networks : VGG or list of VGG
        Several networks (the paper's Net-D & Net-E fusion) describe each batch in turn;
        their vectors are concatenated in order. All on one device.
    preprocessings : Preprocessing or list of Preprocessing
        Each network's input normalisation (one for all, or one per network).
    layers : list of str
        The layers whose pooled activations form a view's vector, in order.
    pooling : {"avg", "max", "flatten"}, default="avg"
    post : callable, optional
        Applied to each batch's vectors on the device (e.g. a soft-max).
    dtype : torch.dtype, default=torch.float32
        Autocast dtype of the eager networks.
    extractors : list of callable, optional
        One per network, replacing ``network.extract``: ``extractor(x, dense)`` returns
        the same activations from a faster graph (:mod:`skvgg.models._quantize`).
    batch_size : int, default=32
        Views per batch (the sources cut batches of this size); lowered for the
        following chunks after an out-of-memory error.
    """

    def __init__(
        self, networks, preprocessings, layers, *, pooling: str = "avg", post: Callable | None = None,
        dtype: torch.dtype = torch.float32, extractors: list | None = None, batch_size: int = 32,
    ):  # fmt: skip
        self.networks = list(networks) if isinstance(networks, list | tuple) else [networks]
        if isinstance(preprocessings, list | tuple):
            self.preprocessings = list(preprocessings)
        else:
            self.preprocessings = [preprocessings] * len(self.networks)
        self.layers = list(layers)
        self.pooling = pooling
        self.post = post
        self.dtype = dtype
        self.extractors = extractors
        self.batch_size = batch_size
        self.device = next(self.networks[0].parameters()).device
        self.transfers = DeviceRunner(self.device)
        self._memory = {"batch_size": batch_size}  # lowered for later chunks after an out-of-memory

    def input_buffer(self, shape, dtype: torch.dtype = torch.uint8) -> torch.Tensor:
        """A reused host buffer (pinned on CUDA) to assemble the next batch in."""
        return self.transfers.input_buffer(shape, dtype)

    def _forward(self, chunk: torch.Tensor, dense: bool) -> torch.Tensor:
        parts = []
        for k, (network, pre) in enumerate(zip(self.networks, self.preprocessings)):
            x = pre.normalize(chunk).contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                if self.extractors is not None:
                    activations = self.extractors[k](x, dense)
                else:
                    with autocast(self.device, self.dtype):
                        activations = network.extract(x, self.layers, dense=dense)
            parts.extend(pool(activations[name], self.pooling) for name in self.layers)
        out = torch.cat(parts, dim=1)
        return self.post(out) if self.post is not None else out

    def submit(self, batch) -> list:
        """Start on a :class:`~skvgg._pipeline.batches.Batch`; returns the finished ``(batch, float32 array)``, oldest first.

        Each array is a view of a reused host buffer, valid until the next ``submit``.
        """

        def compute(pixels, dense=batch.dense):
            return torch.cat(run_with_backoff(lambda chunk: self._forward(chunk, dense), pixels, self._memory, what="batch"))

        return self.transfers.submit(batch.pixels, compute, batch)

    def flush(self) -> list:
        """Every batch still in flight, oldest first."""
        return self.transfers.flush()
