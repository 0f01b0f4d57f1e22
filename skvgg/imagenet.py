"""``VGGImageNetClassifier``: the weights' own 1000-way ImageNet classifier, under the paper's test protocols.

Nothing is trained: ``fit`` checks the parameters and loads the networks; prediction runs
the test-time views of :class:`~skvgg.VGGClassifier` (the paper's Sec. 3.2: centre view,
dense evaluation at scales Q, 5x5 multi-crop grids, their combination, with mirrors) and
averages soft-max posteriors over views and, for several networks, over the networks
(the paper's fusion, Tables 6-7).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._estimator import SHARED_CONSTRAINTS, NetworkEstimator, SharedNetworksMixin, aligned_arch_weights
from ._evaluation import class_posteriors, evaluation_plan
from ._typing import ImageCollection
from .datasets import IMAGENET_N_CLASSES, imagenet_categories
from .images import DEFAULT_MAX_PIXELS, check_images
from .models.architectures import resolve_arch
from .models.network import DENSE_MIN_SIZE, check_scales
from .models.weights import Preprocessing, resolve_weights

__all__ = ["VGGImageNetClassifier", "check_imagenet_labels", "check_test_protocol", "protocol_posteriors"]


def check_imagenet_labels(y: ArrayLike, what: str = "y") -> np.ndarray:
    """``y`` as int64 class indices in 0-999, else a ValueError naming the first bad entry."""
    values = np.asarray(y)
    if values.ndim != 1:
        raise ValueError(f"{what} must be 1-D (one class index per image); got shape {values.shape}")
    if values.size == 0:
        return values.astype(np.int64)
    entries = values.tolist()
    bad = next((i for i, v in enumerate(entries) if not isinstance(v, numbers.Integral) or isinstance(v, bool)), None)
    if values.dtype.kind not in "iu" and bad is None:  # Python ints in an object array
        values = values.astype(np.int64)
    elif values.dtype.kind not in "iu":
        raise ValueError(
            f"{what} must hold ImageNet class indices 0-{IMAGENET_N_CLASSES - 1} (torchvision's order, as "
            f"load_imagenet_val returns them); entry {bad} is {entries[bad]!r}"
        )
    outside = np.flatnonzero((values < 0) | (values >= IMAGENET_N_CLASSES))
    if outside.size:
        raise ValueError(
            f"{what}[{outside[0]}] = {values[outside[0]]} is not an ImageNet class index (0-{IMAGENET_N_CLASSES - 1})"
        )
    return values.astype(np.int64)


def check_test_protocol(eval_scales, multi_crop) -> tuple[int, ...] | None:
    """The checked test scales; ``multi_crop`` needs them (as :class:`~skvgg.VGGClassifier` checks)."""
    scales = check_scales(eval_scales, "eval_scales")
    if multi_crop and scales is None:
        raise ValueError("multi_crop needs eval_scales (the test scales Q whose 5x5 grids of crops are evaluated)")
    return scales


def protocol_posteriors(
    network, pre: Preprocessing, items, indices, *, scales, flip: bool, multi_crop, precision, batch_size, num_workers,
    max_pixels, X=None,
) -> np.ndarray:  # fmt: skip
    """Soft-max posteriors of ``network`` averaged over one test protocol's views.

    The one place where this module reaches the classifier's test-time views
    (:mod:`skvgg._evaluation`): the same views and averaging as
    :meth:`VGGClassifier.predict_proba <skvgg.VGGClassifier.predict_proba>`.
    """
    plan = evaluation_plan(pre, scales, flip, multi_crop)
    return class_posteriors(
        network, items, indices, plan, pre=pre, precision=precision, batch_size=batch_size, num_workers=num_workers,
        max_pixels=max_pixels, X=X,
    )  # fmt: skip


class VGGImageNetClassifier(ClassifierMixin, SharedNetworksMixin, NetworkEstimator):
    """Classify images into the 1000 ImageNet classes with the weights' own fc8, as the paper evaluates.

    No fine-tuning: the network's trained 1000-way head is the classifier. ``fit``
    validates the parameters (and ``y``, when given) and loads the weights; prediction
    averages soft-max posteriors over the test-time views of the paper (Sec. 3.2, the
    protocols of Tables 3-5), through the same code as :class:`VGGClassifier`'s
    prediction, and over several networks when ``arch`` lists them (the fusion of
    Tables 6-7). Score it with :data:`skvgg.metrics.neg_top1_error_scorer` and
    :data:`~skvgg.metrics.neg_top5_error_scorer`; :meth:`score` is the top-1 accuracy.

    Parameters
    ----------
    arch : str or list of str, default="vgg16"
        Network(s), see :func:`skvgg.list_archs`. Several names fuse the networks by
        averaging their posteriors (e.g. ``["vgg16", "vgg19"]``, the paper's D & E).
    weights : None, str, weights enum, path, dict or list, default="imagenet"
        As in :func:`skvgg.build_vgg`, with a trained 1000-way classifier (so not
        ``VGG16_Weights.IMAGENET1K_FEATURES``); with several networks, ``"imagenet"``,
        None or one entry per network. None: random weights seeded by ``random_state``
        (chance-level predictions, for tests).
    eval_scales : None, int or sequence of int, default=None
        None: the single centre view (torchvision's protocol: shorter side resized to
        ``resize_size``, centre crop ``crop_size``); Q or several Qs: the paper's dense
        evaluation of the whole image rescaled to each Q (Tables 3-4).
    eval_flip : bool, default=False
        Also evaluate the mirror images and average (the paper always does).
    multi_crop : {False, True, "combine"}, default=False
        With ``eval_scales``: True, the 5x5 grid of ``crop_size`` crops and their mirrors
        per scale instead of dense evaluation; ``"combine"``, the average of dense and
        multi-crop posteriors (Table 5).
    preprocessing : Preprocessing or None, default=None
        Overrides the weights' input normalisation and view sizes.
    batch_size : int, default=32
        Views per forward pass.
    device : str or torch.device, default="auto"
        ``"auto"``: CUDA, else Apple MPS, else CPU.
    precision : {"auto", "float32", "bfloat16", "float16"}, default="auto"
        Autocast dtype, as in :class:`VGGClassifier`.
    num_workers : int or None, default=None
        Decoding threads; None: ``min(8, os.cpu_count())``.
    max_pixels : int or None, default=89_478_485
        Pixel budget of one image (and of a dense view), as in :class:`VGGFeaturizer`.
    random_state : int, RandomState or None, default=None
        Seeds random weights (``weights=None``); unused otherwise.

    Attributes
    ----------
    classes_ : ndarray of int64, shape (1000,)
        The class indices 0-999 in torchvision's order (the fc8 outputs), the labels of
        :func:`skvgg.datasets.load_imagenet_val`; ``class_names_`` names them.
    class_names_ : list of str
        The 1000 class names, by index.
    archs_ : list of str
        The networks fused (canonical names).
    weights_identity_ : str
        What the posteriors are computed with (enum names, files, or random seeds).
    preprocessings_ : list of Preprocessing
        Each network's input normalisation and view sizes.
    device_ : str
        The device the networks run on, resolved from ``device`` at fit (again when
        ``set_params`` changes it).
    precision_ : {"float32", "bfloat16", "float16"}
        The autocast dtype resolved from ``precision`` for ``device_``.

    See Also
    --------
    VGGClassifier : Fine-tune a new head on your own classes, with the same test-time views.
    skvgg.datasets.load_imagenet_val : The ILSVRC-2012 validation set, labelled as ``classes_``.
    skvgg.experiments.run_imagenet : The paper's Tables 3-5 protocols, as a table.

    Examples
    --------
    Random weights on generated images (chance-level predictions); leave out ``weights``
    and ``preprocessing`` for torchvision's ImageNet weights.

    >>> import tempfile
    >>> from skvgg import Preprocessing, VGGImageNetClassifier
    >>> from skvgg.datasets import load_imagenet_val
    >>> from skvgg.metrics import top_k_error
    >>> from skvgg.testing import make_imagenet_val
    >>> paths, y = load_imagenet_val(make_imagenet_val(tempfile.mkdtemp(), classes=(0, 7), per_class=1), return_X_y=True)
    >>> clf = VGGImageNetClassifier("vgg11", weights=None, random_state=0,
    ...                             preprocessing=Preprocessing(resize_size=40, crop_size=32)).fit()
    >>> proba = clf.predict_proba(paths)
    >>> proba.shape, proba.dtype
    ((2, 1000), dtype('float64'))
    >>> 0.0 <= top_k_error(y, proba, k=5, labels=clf.classes_) <= 1.0
    True
    """

    _parameter_constraints: dict = {
        **{name: SHARED_CONSTRAINTS[name] for name in ("weights", "preprocessing", "batch_size", "device", "precision")},
        **{name: SHARED_CONSTRAINTS[name] for name in ("num_workers", "max_pixels", "random_state")},
        "arch": [str, list, tuple],
        "eval_scales": [None, Interval(numbers.Integral, DENSE_MIN_SIZE, None, closed="left"), list, tuple],
        "eval_flip": ["boolean"],
        "multi_crop": ["boolean", StrOptions({"combine"})],
    }
    _runtime_attributes = ("_networks",)

    def __init__(
        self,
        arch="vgg16",
        *,
        weights="imagenet",
        eval_scales=None,
        eval_flip=False,
        multi_crop=False,
        preprocessing=None,
        batch_size=32,
        device="auto",
        precision="auto",
        num_workers=None,
        max_pixels=DEFAULT_MAX_PIXELS,
        random_state=None,
    ):
        self.arch = arch
        self.weights = weights
        self.eval_scales = eval_scales
        self.eval_flip = eval_flip
        self.multi_crop = multi_crop
        self.preprocessing = preprocessing
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.num_workers = num_workers
        self.max_pixels = max_pixels
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ImageCollection | None = None, y: ArrayLike | None = None) -> VGGImageNetClassifier:
        """Validate the parameters (and ``y``'s class indices) and load the networks; nothing is learned.

        Parameters
        ----------
        X : sequence of images or None, default=None
            Checked as :meth:`predict` would (container, not contents) when given.
        y : array-like of int or None, default=None
            When given, checked to be ImageNet class indices (0-999), one per image of ``X``.

        Returns
        -------
        self : VGGImageNetClassifier
            The fitted classifier.
        """
        archs, weights = aligned_arch_weights(self.arch, self.weights)
        specs = [resolve_arch(arch) for arch in archs]
        resolved = [resolve_weights(spec, w, self.preprocessing) for spec, w in zip(specs, weights)]
        for spec, info in zip(specs, resolved):
            if not info.has_classifier:
                raise ValueError(
                    f"weights {info.identity} have no trained classifier (fc6, fc7, fc8) for {spec.name}: "
                    "they cannot classify ImageNet; use weights with a trained 1000-way head, e.g. 'imagenet'"
                )
        check_test_protocol(self.eval_scales, self.multi_crop)
        self._resolve_runtime()  # device_ and precision_, once per fit
        if X is not None:
            items = check_images(X)
            if y is not None and len(check_imagenet_labels(y)) != len(items):
                raise ValueError(f"X has {len(items)} images but y has {len(np.asarray(y))} labels")
        elif y is not None:
            check_imagenet_labels(y)
        self._identify_networks(resolved)
        self.archs_ = [spec.name for spec in specs]
        self.preprocessings_ = [info.preprocessing for info in resolved]
        self.classes_ = np.arange(IMAGENET_N_CLASSES, dtype=np.int64)
        self.class_names_ = imagenet_categories()
        for arch, network in zip(self.archs_, self._get_networks()):
            outputs = network.classifier[6].out_features
            if outputs != IMAGENET_N_CLASSES:
                raise ValueError(f"{arch} has {outputs} outputs; an ImageNet classifier has {IMAGENET_N_CLASSES}")
        return self

    def predict_proba(self, X: ImageCollection) -> np.ndarray:
        """ImageNet class posteriors, averaged over the test views and the fused networks.

        Parameters
        ----------
        X : sequence of images
            Paths, PIL images or arrays.

        Returns
        -------
        proba : ndarray of float64, shape (n_images, 1000)
            Columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        items = check_images(X)
        indices = np.arange(len(items))
        scales = check_test_protocol(self.eval_scales, self.multi_crop)  # read now: set_params changes the protocol
        total = np.zeros((len(items), IMAGENET_N_CLASSES), dtype=np.float64)
        with torch.inference_mode():
            for network, pre in zip(self._get_networks(), self.preprocessings_):
                total += protocol_posteriors(
                    network, pre, items, indices, scales=scales, flip=self.eval_flip, multi_crop=self.multi_crop,
                    precision=self._runtime()[1], batch_size=self.batch_size, num_workers=self.num_workers,
                    max_pixels=self.max_pixels, X=X,
                )  # fmt: skip
        return total / len(self.archs_)

    def decision_function(self, X: ImageCollection) -> np.ndarray:
        """Log of :meth:`predict_proba` (the log-posteriors; their order is the posteriors').

        Parameters
        ----------
        X : sequence of images
            Paths, PIL images or arrays.

        Returns
        -------
        scores : ndarray of float64, shape (n_images, 1000)
        """
        return np.log(np.clip(self.predict_proba(X), 1e-300, None))

    def predict(self, X: ImageCollection) -> np.ndarray:
        """The class index (0-999) of highest averaged posterior for each image.

        Parameters
        ----------
        X : sequence of images
            Paths, PIL images or arrays.

        Returns
        -------
        labels : ndarray of int64, shape (n_images,)
        """
        return self.classes_[self.predict_proba(X).argmax(1)]

    def score(self, X: ImageCollection, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Top-1 accuracy (1 - top-1 error); ``y`` must hold class indices 0-999.

        Parameters
        ----------
        X : sequence of images
            Paths, PIL images or arrays.
        y : array-like of int, shape (n_images,)
            True class indices.
        sample_weight : array-like of shape (n_images,), default=None
            Weights of the images in the mean.

        Returns
        -------
        score : float
        """
        return super().score(X, check_imagenet_labels(y), sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.input_tags.string = True  # file paths
        tags.non_deterministic = False
        return tags
