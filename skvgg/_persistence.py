"""A fine-tuned classifier's pickle: its trained weights, and its frozen pretrained part re-read from the source."""

from __future__ import annotations

import hashlib

from ._estimator import place
from .network import VGG
from .runtime import resolve_device
from .zoo import build_vgg

__all__ = ["PicklesTrainedWeights", "saved_state", "restore_network", "frozen_digest"]


def frozen_digest(network: VGG, boundary: str | None) -> str:
    """A checksum of the frozen part's tensors (what fine-tuning from ``boundary`` left as loaded)."""
    digest = hashlib.blake2b(digest_size=16)
    frozen = network.frozen_state_keys(boundary)
    for name, tensor in network.state_dict().items():
        if name in frozen:
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def saved_state(network: VGG, estimator) -> dict:
    """The pickle entries that rebuild ``network`` as ``estimator`` fitted it.

    ``_state_source`` is what rebuilds it (parameters may change after the fit);
    ``_state`` the weights on the CPU. Pretrained layers that stayed frozen are left out
    when they come from a named source (torchvision or a file) and re-read on load; the
    digest ``_frozen_checksum`` then guards against a different file under that name.
    """
    boundary = estimator._boundary_
    source = {
        "arch": estimator.arch, "weights": estimator.weights, "preprocessing": estimator.preprocessing,
        "dropout": estimator.dropout, "boundary": boundary,
    }  # fmt: skip
    full = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
    frozen = network.frozen_state_keys(boundary)
    if estimator._source_identity is not None and frozen:
        weights = {k: v for k, v in full.items() if k not in frozen}
        return {"_state_source": source, "_state": weights, "_frozen_checksum": frozen_digest(network, boundary)}
    return {"_state_source": source, "_state": full, "_frozen_checksum": None}


def restore_network(estimator, num_classes: int) -> VGG:
    """The network of a pickled classifier, on the CPU, from :func:`saved_state`'s entries.

    Raises
    ------
    ValueError
        When the pretrained source now holds other weights than those fine-tuned from.
    """
    source, saved = estimator._state_source, estimator._state
    if estimator._frozen_checksum is None:
        network = build_vgg(source["arch"], None, num_classes, dropout=source["dropout"], progress=False)
        network.load_state_dict(saved)
        return network
    network = build_vgg(
        source["arch"], source["weights"], num_classes, dropout=source["dropout"], preprocessing=source["preprocessing"]
    )
    network.load_state_dict(saved, strict=False)
    if frozen_digest(network, source["boundary"]) != estimator._frozen_checksum:
        raise ValueError(
            f"The pretrained weights {estimator._source_identity} differ from those this model was fine-tuned "
            "from; load it where the same weights file is available."
        )
    return network


class PicklesTrainedWeights:
    """The classifier's network, live or as pickled: :func:`saved_state` on pickling,
    :func:`restore_network` on first use after unpickling (on the ``device`` of now)."""

    def _can_warm_start(self) -> bool:
        fitted = getattr(self, "_network", None) is not None or getattr(self, "_state", None) is not None
        return self.warm_start and hasattr(self, "classes_") and fitted

    def _get_network(self) -> VGG:
        network = getattr(self, "_network", None)
        if network is None:
            network = self._network = self._restore_network()
        return network

    def __getstate__(self):
        network = getattr(self, "_network", None)
        state = super().__getstate__()  # without the live network and momentum buffers
        if network is not None:
            state.update(saved_state(network, self))
        return state

    def _restore_network(self) -> VGG:
        if getattr(self, "_state", None) is None:
            raise RuntimeError(f"This {type(self).__name__} holds no network; fit it first")
        # Frozen as fitted: a later set_params(train_layers=...) takes effect at the next fit.
        self._boundary_ = self._state_source["boundary"]
        return place(restore_network(self, len(self.classes_)), resolve_device(self.device)).eval()
