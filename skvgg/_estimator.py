"""What both estimators share: parameter constraints, network loading for a device, pickling without weights, tags."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets

from ._pipeline.runtime import precision_dtype, precision_name, resolve_device, shared_network
from ._warnings import log
from .models.network import VGG
from .models.weights import Preprocessing
from .models.zoo import build_vgg

__all__ = [
    "SharedNetworksMixin",
    "SHARED_CONSTRAINTS",
    "aligned_arch_weights",
    "NetworkEstimator",
    "build_network",
    "check_labels",
    "image_transformer_tags",
    "load_shared_network",
    "place",
]

#: Constraints of the parameters both estimators have, with the same meaning.
SHARED_CONSTRAINTS: dict = {
    "weights": "no_validation",  # build_vgg checks it (names, enums, paths, state_dicts)
    "preprocessing": [None, Preprocessing],
    "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    "device": [str, torch.device],
    "precision": [StrOptions({"auto", "float32", "bfloat16", "float16"})],
    "num_workers": [None, Interval(numbers.Integral, 0, None, closed="left")],
    "max_pixels": [None, Interval(numbers.Integral, 1, None, closed="left")],
    "verbose": ["verbose"],
    "random_state": ["random_state"],
}


def check_labels(y, owner: str, classes: np.ndarray | None = None) -> np.ndarray:
    """``y`` as a 1-D array of classification labels (a one-column 2-D ``y`` is raveled).

    Raises a ``ValueError`` for a missing ``y``, another shape, and NaN, infinite or
    None labels (naming their indices), and for continuous targets; then for a single
    class, or, given the ``classes`` of a warm start, for labels outside them.
    """
    if y is None:
        raise ValueError(f"{owner} requires y to be passed, but the target y is None (one label per image)")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per image); got shape {y.shape}")
    if len(y) == 0:
        raise ValueError(f"{owner} needs labelled images; got 0 labels (y is empty)")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        bad = np.flatnonzero(~np.isfinite(y))[:10].tolist()
        raise ValueError(f"y contains NaN or infinite labels at indices {bad}")
    if y.dtype.kind == "O":
        missing = [i for i, v in enumerate(y) if v is None or (isinstance(v, float) and np.isnan(v))]
        if missing:
            raise ValueError(f"y contains missing labels (None or NaN) at indices {missing[:10]}")
    check_classification_targets(y)
    if classes is not None:
        unseen = np.setdiff1d(np.unique(y), classes)
        if unseen.size:
            raise ValueError(f"warm_start=True cannot add classes: {unseen.tolist()} were not in classes_")
    elif len(np.unique(y)) < 2:
        raise ValueError(f"y has a single class ({y[0]!r}): one class, where a classifier needs at least two")
    return y


def place(network: VGG, device: torch.device) -> VGG:
    """``network`` on ``device`` in channels-last layout.

    oneDNN and cuDNN both run VGG's 3x3 convolutions faster in NHWC (measured 1.2x on a
    2-core CPU, benchmarks/featurizer_speed.py).
    """
    return network.to(device, memory_format=torch.channels_last)


def build_network(arch, weights, seed: int | None, *, head_std: float | None = None, **options) -> VGG:
    """:func:`~skvgg.build_vgg` with torch's generator seeded by ``seed`` (random weights and
    fresh layers are reproducible), leaving the global generator as it was; None: unseeded.

    ``head_std``: then draw fc8 afresh from N(0, ``head_std``) (:meth:`VGG.reset_head`).
    """
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        network = build_vgg(arch, weights, **options)
        if head_std is not None:
            network.reset_head(std=head_std)
    return network


def load_shared_network(arch, weights, *, seed: int | None, identity: str, preprocessing, device: torch.device) -> VGG:
    """A read-only network (eval mode, no gradient) on ``device`` from the shared registry.

    Clones of an estimator (a grid search makes one per candidate and fold) get the same
    object for the same ``(arch, identity, device)``: the weights are loaded once. With
    ``seed``, the network is random (``weights`` is ignored) and seeded by it.
    """

    def build():
        if seed is not None:
            network = build_network(arch, None, seed)
        else:
            network = build_network(arch, weights, None, preprocessing=preprocessing)
        network.requires_grad_(False)
        return place(network, device).eval()

    return shared_network((arch, identity, str(device)), build)


class SharedNetworksMixin:
    """For estimators that run the shared, read-only networks of ``arch``/``weights`` (the
    featurizer, the ImageNet evaluator): seeds of random weights, identities, lazy loading.

    Needs ``arch``, ``weights``, ``preprocessing``, ``random_state`` and the fitted ``archs_``,
    and :meth:`NetworkEstimator._runtime`.
    """

    def _identify_networks(self, resolved: list, keep_seeds: bool = False) -> None:
        """Set ``_seeds_`` (random weights: one seed each, drawn from ``random_state`` or kept from
        the previous fit with ``keep_seeds``), ``_identities_`` and ``weights_identity_``."""
        previous = getattr(self, "_seeds_", None) if keep_seeds else None
        random_state = check_random_state(self.random_state)
        seeds, identities = [], []
        for index, info in enumerate(resolved):
            if info.source == "random":
                kept = previous[index] if previous and index < len(previous) else None
                seeds.append(kept if kept is not None else int(random_state.randint(np.iinfo(np.int32).max)))
                identities.append(f"random:seed={seeds[-1]}")
            else:
                seeds.append(None)
                identities.append(info.identity)
        self._seeds_, self._identities_ = seeds, identities
        self.weights_identity_ = " + ".join(identities)
        self._networks = None

    def _get_networks(self) -> list:
        """The shared, read-only networks on the resolved device (loaded lazily, e.g. after unpickling)."""
        device, _ = self._runtime()
        networks = getattr(self, "_networks", None)
        if networks is not None and next(networks[0].parameters()).device == device:
            return networks
        _, weights = aligned_arch_weights(self.arch, self.weights)
        self._networks = [
            load_shared_network(arch, w, seed=seed, identity=identity, preprocessing=self.preprocessing, device=device)
            for arch, w, seed, identity in zip(self.archs_, weights, self._seeds_, self._identities_)
        ]
        log(getattr(self, "verbose", 0), "%s: networks %s ready on %s", type(self).__name__, self._identities_, device)
        return self._networks


#: Where the documentation is published; each estimator's HTML repr links to its API page there.
DOCS_URL = "https://skvgg.github.io/skvgg/"


def _doc_link_params(estimator) -> dict:
    # The API pages are named by the public import path (skvgg.VGGClassifier), not by the
    # defining module (skvgg.classifier) that scikit-learn's default template would use.
    return {"estimator_name": type(estimator).__name__}


class NetworkEstimator(BaseEstimator):
    """Base of the estimators that hold a network: pickled without live torch objects.

    ``_runtime_attributes`` names the attributes holding networks and optimizer state;
    they are pickled as None and rebuilt on first use, so a pickle stays small (the
    classifier adds its trained weights itself) and loads on a machine with another
    device.

    The ``_doc_link_*`` attributes are scikit-learn's hooks for the "?" link of the
    estimator's HTML repr (in notebooks): it points at the estimator's page in skvgg's API
    reference, as scikit-learn-contrib projects do.
    """

    _runtime_attributes: tuple[str, ...] = ()
    _doc_link_module = "skvgg"
    _doc_link_template = DOCS_URL + "api/generated/skvgg.{estimator_name}.html"
    _doc_link_url_param_generator = _doc_link_params

    def __getstate__(self):
        # object.__getstate__ returns the instance's own __dict__: copy before editing.
        state = dict(super().__getstate__())
        for name in self._runtime_attributes:
            if name in state:
                state[name] = None
        # A loaded estimator resolves device and precision again, on the machine that loads it.
        state.pop("_runtime_of", None)
        return state

    def _resolve_runtime(self) -> None:
        """Resolve ``device`` and ``precision`` into the fitted ``device_`` and ``precision_``.

        Called once per fit; again only when ``set_params`` changed either since, or on first
        use after loading (a saved model may move to a machine with other devices).
        """
        device = resolve_device(self.device)
        self.device_ = str(device)
        self.precision_ = precision_name(self.precision, device)
        self._runtime_of = (self.device, self.precision)
        log(getattr(self, "verbose", 0), "%s: device %s, precision %s", type(self).__name__, self.device_, self.precision_)

    def _runtime(self) -> tuple[torch.device, torch.dtype]:
        """The device and autocast dtype to run on, as resolved by :meth:`_resolve_runtime`."""
        if getattr(self, "_runtime_of", None) != (self.device, self.precision):
            self._resolve_runtime()
        return torch.device(self.device_), precision_dtype(self.precision_)


def image_transformer_tags(tags, requires_fit: bool = True):
    """The tags of an estimator that transforms images into float32 descriptors.

    Called last by each estimator's ``__sklearn_tags__``: scikit-learn's mixins (listed
    before the base class) replace ``transformer_tags`` after a base class could set it.
    ``requires_fit=False`` for a transformer that learns nothing (it fits itself on use).
    """
    tags.requires_fit = requires_fit
    tags.input_tags.string = True  # file paths
    # The output is float32 whatever the input; so float32 images give float32 rows, and
    # float32 is what any other input becomes (the first entry is the default).
    tags.transformer_tags.preserves_dtype = ["float32"]
    return tags


def aligned_arch_weights(arch, weights) -> tuple[list, list]:
    """``arch`` and ``weights`` as aligned lists: a featurizer may stack several networks."""
    if isinstance(arch, str):
        return [arch], [weights]
    archs = list(arch)
    if not archs:
        raise ValueError("arch is an empty list; expected a name such as 'vgg16' or a list of names")
    if isinstance(weights, list | tuple):
        if len(weights) != len(archs):
            raise ValueError(f"arch has {len(archs)} networks but weights has {len(weights)} entries")
        return archs, list(weights)
    if weights is not None and not (isinstance(weights, str) and weights.lower() in ("imagenet", "default")):
        raise ValueError(
            f"With several networks (arch={arch!r}), weights must be None, 'imagenet' ('DEFAULT') or a list with "
            f"one entry per network; got {weights!r}"
        )
    return archs, [weights] * len(archs)
