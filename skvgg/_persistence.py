"""A fine-tuned classifier's saved state: its trained weights as numpy arrays, its frozen pretrained part re-read.

The state holds no torch object, so pickle, joblib and skops (which refuses unknown types
and cannot rebuild torch tensors) all save it: trained tensors become numpy arrays, the
live network and optimizer are rebuilt on first use after loading. See
``docs/user-guide/persistence.md``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

import numpy as np
import torch

from ._estimator import place
from ._pipeline.runtime import shared_network
from ._typing import StrPath
from .exceptions import MissingExtraError
from .models.network import VGG
from .models.zoo import build_vgg

__all__ = ["PicklesTrainedWeights", "saved_state", "restore_network", "frozen_digest", "save_state_dict", "WEIGHTS_SUFFIXES"]

#: File suffixes :func:`save_state_dict` writes and ``weights=PATH`` reads.
WEIGHTS_SUFFIXES = (".safetensors", ".pth", ".pt")


def frozen_digest(network: VGG, boundary: str | None) -> str:
    """A checksum of the frozen part's tensors (what fine-tuning from ``boundary`` left as loaded)."""
    digest = hashlib.blake2b(digest_size=16)
    frozen = network.frozen_state_keys(boundary)
    for name, tensor in network.state_dict().items():
        if name in frozen:
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def saved_state(network: VGG, source: dict, pretrained: str | None, checksum: str | None = None) -> dict:
    """The saved entries that rebuild ``network`` as fitted.

    ``source`` (``arch``, ``weights``, ``preprocessing``, ``dropout``, ``boundary``) is what
    rebuilds it (parameters may change after the fit); ``pretrained`` names the pretrained
    weights it started from when they come from a named source (torchvision or a file),
    else None. Entries: ``_state_source``, ``_state`` (the weights as numpy arrays on the
    CPU) and ``_frozen_checksum``. Pretrained layers that stayed frozen are left out when
    they come from a named source and re-read on load; the checksum then guards against a
    different file under that name; ``checksum``, when known, is that of ``network``'s frozen part.
    """
    boundary = source["boundary"]
    frozen = network.frozen_state_keys(boundary) if pretrained is not None else set()
    # Copies: the arrays must not follow the live network if it trains on (warm start).
    arrays = {k: v.detach().cpu().numpy().copy() for k, v in network.state_dict().items() if k not in frozen}
    checksum = (checksum or frozen_digest(network, boundary)) if frozen else None
    return {"_state_source": source, "_state": arrays, "_frozen_checksum": checksum}


def _as_tensor(value) -> torch.Tensor:
    # Older pickles hold tensors; arrays loaded read-only (skops) are copied: torch needs writable memory.
    if isinstance(value, torch.Tensor):
        return value
    array = np.asarray(value)
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def restore_network(source: dict, arrays: Mapping, checksum: str | None, num_classes: int, pretrained: str | None) -> VGG:
    """The network of a loaded classifier, on the CPU, from :func:`saved_state`'s entries.

    Raises
    ------
    ValueError
        When the pretrained source now holds other weights than those fine-tuned from.
    """
    state = {name: _as_tensor(value) for name, value in arrays.items()}
    if checksum is None:
        network = build_vgg(source["arch"], None, num_classes, dropout=source["dropout"], progress=False)
        network.load_state_dict(state)
        return network
    network = build_vgg(
        source["arch"], source["weights"], num_classes, dropout=source["dropout"], preprocessing=source["preprocessing"]
    )
    network.load_state_dict(state, strict=False)
    if frozen_digest(network, source["boundary"]) != checksum:
        raise ValueError(
            f"The pretrained weights {pretrained} differ from those this model was fine-tuned "
            "from; load it where the same weights file is available."
        )
    return network


def save_state_dict(network: torch.nn.Module, path: StrPath) -> None:
    """Write ``network.state_dict()`` to ``path``: safetensors for ``.safetensors``, ``torch.save`` for ``.pth``/``.pt``.

    The file is written next to its destination and renamed into place, so an
    interrupted save never leaves a truncated checkpoint under the final name.

    Raises
    ------
    ValueError
        For another suffix.
    skvgg.exceptions.MissingExtraError
        For ``.safetensors`` without the safetensors package (an ``ImportError``).
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in WEIGHTS_SUFFIXES:
        raise ValueError(f"Cannot tell the format of {path!r}: the name must end in one of {list(WEIGHTS_SUFFIXES)}")
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        if suffix == ".safetensors":
            try:
                from safetensors.torch import save_file
            except ImportError as error:
                raise MissingExtraError(
                    "Saving .safetensors files needs the safetensors package: pip install 'skvgg[skops]' "
                    f"(or pip install safetensors), or save to a .pth file. Import failed: {error}",
                    extra="skvgg[skops]",
                    name="safetensors",
                ) from error
            save_file({k: v.clone() for k, v in state.items()}, tmp)  # no shared storage (safetensors refuses it)
        else:
            torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class PicklesTrainedWeights:
    """The classifier's network, live or as saved: :func:`saved_state` when pickled (or saved
    with skops), :func:`restore_network` on first use after loading (on the ``device_`` of now)."""

    def _can_warm_start(self) -> bool:
        fitted = getattr(self, "_network", None) is not None or getattr(self, "_state", None) is not None
        return self.warm_start and hasattr(self, "classes_") and fitted

    def _get_network(self) -> VGG:
        """The trained network on the device resolved for this estimator (restored after loading)."""
        device, _ = self._runtime()
        network = getattr(self, "_network", None)
        if network is None:
            network = self._network = self._restore_network(device)
        elif next(network.parameters()).device != device:  # device changed with set_params since
            network = self._network = place(network, device)
        return network

    def load_network(self, *, share_key=None):
        """Load the fitted network now (after unpickling it is otherwise restored at first use).

        Parameters
        ----------
        share_key : hashable, optional
            Estimators of this process loaded with the same key share one network, restored
            once (e.g. several unpickled copies of one model serving threads). The shared network is
            for prediction only: do not warm-start a fit of an estimator loaded this way.

        Returns
        -------
        self : estimator
            With its network loaded on ``device_``.
        """
        if share_key is not None and getattr(self, "_network", None) is None:
            self._network = shared_network(("skvgg.loaded", type(self).__name__, share_key), self._get_network)
        self._get_network()
        return self

    def __getstate__(self):
        network = getattr(self, "_network", None)
        state = super().__getstate__()  # without the live network and momentum buffers
        if network is not None:
            source = {
                "arch": self.arch, "weights": self.weights, "preprocessing": self.preprocessing,
                "dropout": self.dropout, "boundary": self._boundary_,
            }  # fmt: skip
            state.update(saved_state(network, source, self._source_identity, getattr(self, "_frozen_checksum", None)))
            # The frozen part never changes after the fit: hash it once per fit, not once per save.
            self._frozen_checksum = state["_frozen_checksum"]
        return state

    def _restore_network(self, device: torch.device) -> VGG:
        if getattr(self, "_state", None) is None:
            raise RuntimeError(f"This {type(self).__name__} holds no network; fit it first")
        # Frozen as fitted: a later set_params(train_layers=...) takes effect at the next fit.
        self._boundary_ = self._state_source["boundary"]
        network = restore_network(
            self._state_source, self._state, self._frozen_checksum, len(self.classes_), self._source_identity
        )
        return place(network, device).eval()
