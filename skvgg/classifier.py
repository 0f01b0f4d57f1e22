"""``VGGClassifier``: fine-tune a VGG with a replaced head, as a scikit-learn classifier.

The training loop is :mod:`skvgg._training`, its schedule :mod:`skvgg._schedule`; what is
about the network (the trained part's boundary, freezing, the new head) is
:class:`~skvgg.models.network.VGG`'s; this module holds the scikit-learn surface.
"""

from __future__ import annotations

import numbers
import time

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.base import ClassifierMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import check_is_fitted

from ._estimator import SHARED_CONSTRAINTS, NetworkEstimator, build_network, check_labels, image_transformer_tags, place
from ._evaluation import check_scale_jitter, class_posteriors, evaluation_plan
from ._persistence import PicklesTrainedWeights, save_state_dict
from ._schedule import PlateauSchedule
from ._training import (
    MIN_STEPS_PER_EPOCH,
    Progress,
    TrainingInterrupted,
    TrainingRun,
    fit_epochs,
    frozen_activations,
    sgd,
    split_holdout,
)
from ._typing import ImageCollection, StrPath
from ._warnings import log
from .dask._collections import dispatch
from .images import DEFAULT_MAX_PIXELS, check_images
from .models.architectures import resolve_arch
from .models.network import DENSE_MIN_SIZE, VGG, check_scales
from .models.weights import Preprocessing, resolve_weights

__all__ = ["VGGClassifier", "TrainingInterrupted", "HEAD_INIT_STD", "MIN_STEPS_PER_EPOCH"]

#: The paper (Sec. 3.1) draws new weights from a zero-mean normal of variance 1e-2.
HEAD_INIT_STD = 0.1


class VGGClassifier(ClassifierMixin, TransformerMixin, PicklesTrainedWeights, NetworkEstimator):
    """Fine-tune a VGG network on your images, with the paper's training and test procedures.

    The 1000-way fc8 is replaced by a layer for your classes (initialised as in the paper:
    N(0, 1e-2) weights, zero biases) and trained, with deeper layers on request, by SGD
    with momentum; the learning rate is divided by 10 whenever the loss stops improving,
    as in Simonyan & Zisserman (2015, Sec. 3.1), who watched validation accuracy.

    Few images per class (down to 2) work with the defaults: a hold-out is taken only
    when every class can spare images for it (see ``validation_fraction``), and the
    schedule follows a loss, which moves smoothly where the accuracy of a handful of
    images does not. An epoch makes at least :data:`MIN_STEPS_PER_EPOCH` (10) SGD steps:
    a small training set is reshuffled and passed over several times per epoch.

    Parameters
    ----------
    arch : str, default="vgg16"
        Network, see :func:`skvgg.list_archs` (paper letters accepted).
    weights : None, str, weights enum, path or dict, default="imagenet"
        Where training starts, as in :func:`skvgg.build_vgg`: ``"imagenet"``
        (``"DEFAULT"``), any torchvision weights name (``"IMAGENET1K_V1"``,
        ``"VGG16_Weights.IMAGENET1K_V1"``) or enum, a checkpoint path (``.pth``,
        ``.safetensors``), a state_dict, or None
        (random, seeded by ``random_state``).
    train_layers : str, default="head"
        What learns: ``"head"`` (the new fc8), ``"classifier"`` (fc6-fc8), ``"all"``, or a
        layer name (``"conv5_1"``, ``"fc7"``, ``"pool4"``...) from which everything trains
        (the named convolution or fc layer included; after a pool). Frozen layers keep
        their exact values (BatchNorm statistics included).
    lr : float, default=1e-3
        Initial learning rate (the paper's rate when starting from a trained network).
    momentum : float, default=0.9
        SGD momentum (the paper's 0.9).
    weight_decay : float, default=5e-4
        L2 penalty on the trained parameters.
    dropout : float, default=0.5
        Dropout on the outputs of fc6 and fc7, where they feed a trained layer.
    batch_size : int, default=32
        Images per SGD step; halved automatically (with gradient accumulation, so the
        step is unchanged) when the device runs out of memory.
    max_epochs : int, default=30
        Epochs, each one pass over the training images, or several passes when one
        pass makes fewer than :data:`MIN_STEPS_PER_EPOCH` SGD steps.
    validation_fraction : float or None, default=0.1
        Stratified hold-out whose loss drives the learning-rate schedule and early
        stopping. It is taken only when every class has at least
        ``max(ceil(1 / validation_fraction), ceil(1 / (1 - validation_fraction)))``
        images (10 at 0.1), so that each class gives at least one image to it and keeps
        at least one for training. Otherwise, and with None, every image trains and the
        schedule follows the training images' loss, computed as the hold-out's would be
        (eval mode, centre view: without dropout's noise) after each epoch.
    early_stopping : bool, default=True
        Stop once the rate has been cut ``max_lr_cuts`` times and the loss stops
        improving again, and keep the weights of the epoch with the lowest loss. False:
        train ``max_epochs`` epochs and keep the last weights.
    lr_patience : int, default=2
        Epochs without improvement before the rate is divided by 10. An epoch improves
        when its loss is below ``1 - 1e-3`` times the lowest since the last cut; a new
        rate is judged against the loss it started from, so each rate has
        ``lr_patience`` epochs to move it.
    max_lr_cuts : int, default=3
        Divisions of the rate by 10 before a plateau stops training (the paper cut it
        three times).
    scale_jitter : None, int or (int, int), default=None
        Training scale: None, the deterministic centre view; S, rescale to smaller side
        S and take random 224 crops; ``(256, 512)``, the paper's scale jittering.
    random_flip : bool, default=False
        Mirror training views with probability 0.5.
    color_shift : float, default=0.0
        Standard deviation of AlexNet's PCA colour shift (0.1 in AlexNet); 0 is off.
    eval_scales : None, int or sequence of int, default=None
        Test time: None, the single centre view; Q or several Qs, the paper's dense
        evaluation at those scales, averaging soft-max posteriors.
    eval_flip : bool, default=False
        Also evaluate the mirror image and average the posteriors.
    multi_crop : {False, True, "combine"}, default=False
        With ``eval_scales``: True replaces dense evaluation by the paper's multi-crop
        (a 5x5 grid of 224 crops and their mirrors per scale); ``"combine"`` averages the
        dense and multi-crop posteriors (the paper's best single-network result).
        The three test-time parameters are read when predicting: ``set_params`` on a
        fitted model changes how it is evaluated, without refitting.
    class_weight : None, "balanced" or dict, default=None
        Weights of the classes in the loss, as in scikit-learn's classifiers.
    preprocessing : Preprocessing or None, default=None
        Overrides the weights' input normalisation and view sizes.
    device : str or torch.device, default="auto"
        ``"auto"``: CUDA, else Apple MPS, else CPU.
    precision : {"auto", "float32", "bfloat16", "float16"}, default="auto"
        Autocast dtype; ``"auto"`` is bfloat16 on CUDA cards that compute it natively
        (compute capability 8.0 and later), float16 on older ones (T4, V100), bfloat16
        on CPUs with bfloat16 instructions (AVX512-BF16 or AMX), float32 elsewhere.
        ``"float16"`` on a CPU without float16 instructions warns (several times
        slower). Training in float16 on CUDA uses dynamic loss scaling (a gradient
        scaler); elsewhere it has none: prefer bfloat16 there.
    compile : {"auto"} or bool, default="auto"
        On a CPU, compute the frozen part's activations (when they are computed once,
        i.e. without augmentation) through a ``torch.compile`` graph (inductor, with
        freezing) instead of the eager network: True always, False never, ``"auto"``
        when the fit has at least 1000 images (compiling costs 10-30 s on a CPU, which a
        handful of images never repays). The graph is built for the fit (the frozen
        weights never change during it). Prediction is not compiled.
    num_workers : int or None, default=None
        Decoding and augmentation threads (overlapping the network); None:
        ``min(8, os.cpu_count())``.
    max_pixels : int or None, default=89_478_485
        Pixel budget (width x height) of one image, checked from a file's header
        before decoding; larger images are refused with an error naming them, as are
        dense test views (``eval_scales``) larger than this. Pillow's warning
        threshold by default; None: no limit. See :class:`VGGFeaturizer`.
    verbose : bool or int, default=False
        0 / False: silent. 1 / True: a progress bar per epoch showing loss, validation
        score and learning rate. 2 and more: the bars, and log lines on the ``skvgg``
        logger at INFO (device and precision chosen, the training set, one summary per
        epoch); below 2 these lines are logged at DEBUG. Configure :mod:`logging` to see them.
    random_state : int, RandomState or None, default=None
        Seeds the split, the head's initialisation, shuffling, dropout and augmentation:
        two fits with the same seed on a CPU give the same model.
    warm_start : bool, default=False
        Continue training the fitted network (same classes) instead of starting over.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted as scikit-learn sorts them.
    history_ : list of dict
        Per epoch: ``epoch``; ``train_loss`` (the running mean during the epoch, with
        dropout and augmentation); ``train_eval_loss`` (the training images' loss after
        the epoch, None when a hold-out exists); ``valid_loss`` and ``valid_score``
        (the hold-out's loss and accuracy, None without one); ``monitor``, the key of
        the loss that drove the schedule (``"valid_loss"`` or ``"train_eval_loss"``);
        ``lr`` (the rate during the epoch); ``lr_cut`` (divided by 10 after it);
        ``time`` (s); and ``interrupted`` for an epoch cut short by Ctrl-C.
    n_epochs_ : int
        Epochs trained so far (the length of ``history_``, warm starts included).
    best_loss_ : float
        The lowest monitored loss (its epoch's weights are kept with ``early_stopping``).
    best_score_ : float or None
        The hold-out accuracy at that epoch (None without a hold-out).
    device_ : str
        The device the network runs on, resolved from ``device`` once per fit (and again
        after ``set_params(device=...)``, or on first use after loading).
    precision_ : {"float32", "bfloat16", "float16"}
        The autocast dtype resolved from ``precision`` for ``device_``, when ``device_`` is.
    module_ : VGG
        The fine-tuned network (a :class:`torch.nn.Module` with torchvision's keys);
        :meth:`save_weights` writes its weights.
    preprocessing_ : Preprocessing
        The input normalisation and view sizes in use (the weights' or ``preprocessing``).

    Notes
    -----
    Parameters changed after ``fit`` (with ``set_params``, or on a loaded model): the
    test-time ones (``eval_scales``, ``eval_flip``, ``multi_crop``) and ``batch_size``,
    ``num_workers``, ``max_pixels``, ``verbose``, ``device`` and ``precision`` (the network
    moves, ``device_`` and ``precision_`` are resolved again) take effect at the next call;
    the training parameters (``arch``, ``weights``, ``train_layers``, ``lr``, ``dropout``,
    ``preprocessing``...) at the next ``fit``, as in scikit-learn's estimators: the fitted
    network is what they trained. Saving (skops, joblib) and exporting the network
    (:attr:`module_`, :meth:`save_weights`): ``docs/user-guide/persistence.md``.

    See Also
    --------
    VGGFeaturizer : Fixed (not fine-tuned) VGG descriptors for a scikit-learn pipeline.
    skvgg.build_vgg : The network itself, for use in PyTorch.
    sklearn.linear_model.LogisticRegression : A linear classifier on VGGFeaturizer's descriptors,
        the paper's transfer protocol (Sec. 4) and often as good as fine-tuning on small data.

    Examples
    --------
    Two epochs on a few generated image files. The example runs offline on random
    weights and small views; leave out ``weights`` and ``preprocessing`` to fine-tune
    VGG16's ImageNet weights.

    >>> import tempfile
    >>> from skvgg import Preprocessing, VGGClassifier
    >>> from skvgg.datasets import load_image_folder
    >>> from skvgg.testing import make_image_folder
    >>> root = make_image_folder(tempfile.mkdtemp(), counts={"cat": 4, "dog": 4})
    >>> paths, labels = load_image_folder(root, return_X_y=True)
    >>> clf = VGGClassifier("vgg11", weights=None, max_epochs=2, random_state=0,
    ...                     preprocessing=Preprocessing(resize_size=40, crop_size=32))
    >>> clf.fit(paths, labels).classes_.tolist()
    ['cat', 'dog']
    >>> clf.predict_proba(paths).shape
    (8, 2)
    >>> [entry["epoch"] for entry in clf.history_]
    [1, 2]
    """

    _parameter_constraints: dict = {
        **SHARED_CONSTRAINTS,
        "arch": [str],
        "compile": ["boolean", StrOptions({"auto"})],
        "train_layers": [str],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "momentum": [Interval(numbers.Real, 0, 1, closed="left")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "validation_fraction": [None, Interval(numbers.Real, 0, 1, closed="neither")],
        "early_stopping": ["boolean"],
        "lr_patience": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_lr_cuts": [Interval(numbers.Integral, 0, None, closed="left")],
        "scale_jitter": [None, Interval(numbers.Integral, 1, None, closed="left"), list, tuple],
        "random_flip": ["boolean"],
        "color_shift": [Interval(numbers.Real, 0, None, closed="left")],
        "eval_scales": [None, Interval(numbers.Integral, DENSE_MIN_SIZE, None, closed="left"), list, tuple],
        "eval_flip": ["boolean"],
        "multi_crop": ["boolean", StrOptions({"combine"})],
        "class_weight": [None, dict, StrOptions({"balanced"})],
        "warm_start": ["boolean"],
    }
    _runtime_attributes = ("_network", "_optimizer_state")

    def __init__(
        self,
        arch="vgg16",
        *,
        weights="imagenet",
        train_layers="head",
        lr=1e-3,
        momentum=0.9,
        weight_decay=5e-4,
        dropout=0.5,
        batch_size=32,
        max_epochs=30,
        validation_fraction=0.1,
        early_stopping=True,
        lr_patience=2,
        max_lr_cuts=3,
        scale_jitter=None,
        random_flip=False,
        color_shift=0.0,
        eval_scales=None,
        eval_flip=False,
        multi_crop=False,
        class_weight=None,
        preprocessing=None,
        device="auto",
        precision="auto",
        compile="auto",
        num_workers=None,
        max_pixels=DEFAULT_MAX_PIXELS,
        verbose=False,
        random_state=None,
        warm_start=False,
    ):
        self.arch = arch
        self.weights = weights
        self.train_layers = train_layers
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.lr_patience = lr_patience
        self.max_lr_cuts = max_lr_cuts
        self.scale_jitter = scale_jitter
        self.random_flip = random_flip
        self.color_shift = color_shift
        self.eval_scales = eval_scales
        self.eval_flip = eval_flip
        self.multi_crop = multi_crop
        self.class_weight = class_weight
        self.preprocessing = preprocessing
        self.device = device
        self.precision = precision
        self.compile = compile
        self.num_workers = num_workers
        self.max_pixels = max_pixels
        self.verbose = verbose
        self.random_state = random_state
        self.warm_start = warm_start

    # --- parameter and target checks -------------------------------------------------------

    def _check_params(self):
        self._jitter_ = check_scale_jitter(self.scale_jitter, (self.preprocessing or Preprocessing()).crop_size)
        self._test_scales()

    def _test_scales(self):
        """The checked ``eval_scales``. The test-time parameters (``eval_scales``, ``eval_flip``,
        ``multi_crop``) are read when predicting, so one fitted model is evaluated in several
        modes with ``set_params``, as the paper's Tables 3-5 do, without refitting."""
        scales = check_scales(self.eval_scales, "eval_scales")
        if self.multi_crop and scales is None:
            raise ValueError("multi_crop needs eval_scales (the test scales Q whose 5x5 grids of crops are evaluated)")
        return scales

    def _check_y(self, y, warm: bool):
        """``y`` as a 1-D array of classification labels: for this fit's classes, or within
        ``classes_`` on a warm start. Checked before ``X``, as scikit-learn's checks expect."""
        return check_labels(y, type(self).__name__, classes=self.classes_ if warm else None)

    # --- the network ---------------------------------------------------------------------

    def _start_network(self, warm: bool, seed: int, device: torch.device) -> VGG:
        """The network training continues (warm) or starts from: the weights with a new head."""
        if warm:
            return self._get_network().to(device)
        network = build_network(
            self.arch, self.weights, seed, num_classes=len(self.classes_), dropout=self.dropout,
            preprocessing=self.preprocessing, head_std=HEAD_INIT_STD,
        )  # fmt: skip
        self.history_ = []
        self._lr_now = float(self.lr)
        self._optimizer_state = None
        self.best_score_ = None
        self.best_loss_ = None
        return place(network, device)

    @property
    def module_(self) -> VGG:
        """The fine-tuned network, a :class:`torch.nn.Module` (:class:`~skvgg.VGG`) in eval mode.

        Its ``state_dict()`` has torchvision's VGG keys (``features.0.weight`` ...
        ``classifier.6.bias``, fc8 with one output per class of ``classes_``), so
        ``torchvision.models.vgg16(num_classes=n).load_state_dict(clf.module_.state_dict())``
        works. After loading a saved classifier it is restored on first access, on
        ``device_``. It is the estimator's own network: training it outside (or changing
        its weights) changes the classifier's predictions.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        """
        check_is_fitted(self)
        return self._get_network()

    def save_weights(self, path: StrPath) -> None:
        """Write the fine-tuned weights (:attr:`module_`'s ``state_dict``) to a file that ``weights=path`` loads.

        ``.safetensors`` (needs the safetensors package, ``pip install 'skvgg[skops]'``)
        or ``.pth``/``.pt`` (``torch.save`` of a plain state_dict, read back with
        ``torch.load(weights_only=True)``). The file holds the whole network, fc8 with
        ``len(classes_)`` outputs: ``build_vgg(arch, weights=path)`` and
        ``VGGFeaturizer(arch, weights=path, layer="logits")`` compute what this classifier
        computes; ``VGGClassifier(arch, weights=path)`` starts a new fine-tuning from it
        (with a new head, as from any pretrained weights). The class labels are not in the
        file: keep ``classes_`` (or the whole estimator, see
        ``docs/user-guide/persistence.md``).

        Parameters
        ----------
        path : str or os.PathLike
            Destination; its suffix chooses the format.

        Raises
        ------
        ValueError
            For a suffix other than ``.safetensors``, ``.pth`` or ``.pt``.
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        """
        save_state_dict(self.module_, path)

    def _optimizer(self, network: VGG, warm: bool) -> torch.optim.SGD:
        resume = self._optimizer_state if warm else None  # momentum carries over on a warm start
        params = network.freeze(self._boundary_)
        return sgd(params, resume=resume, lr=self._lr_now, momentum=self.momentum, weight_decay=self.weight_decay)

    # --- fitting -------------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ImageCollection, y: ArrayLike) -> VGGClassifier:
        """Fine-tune on images ``X`` with labels ``y``.

        Parameters
        ----------
        X : sequence of paths, PIL images or arrays; 4-D array or tensor; Series or
            one-column DataFrame of paths
            The training images.
        y : array-like of shape (n_images,)
            One label per image; at least two classes (on a warm start, labels from
            ``classes_``).

        Returns
        -------
        self : VGGClassifier
            The fitted classifier.
        """
        warm = self._can_warm_start()
        y = self._check_y(y, warm)
        items = check_images(X)
        if len(y) != len(items):
            raise ValueError(f"X has {len(items)} images but y has {len(y)} labels")
        self._check_params()
        spec = resolve_arch(self.arch)
        resolved = resolve_weights(spec, self.weights, self.preprocessing)
        with torch.device("meta"):  # checks train_layers before any weights are loaded
            self._boundary_ = VGG(spec).boundary(self.train_layers)
        if not warm:
            self.classes_ = np.unique(y)
        encoded = np.searchsorted(self.classes_, y)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        train_idx, valid_idx = split_holdout(encoded, len(self.classes_), self.validation_fraction, seed)

        self.preprocessing_ = resolved.preprocessing
        self._source_identity = resolved.identity if resolved.source in ("torchvision", "file") else None
        self._resolve_runtime()
        device, dtype = self._runtime()
        network = self._network = self._start_network(warm, seed, device)
        log(self.verbose, "VGGClassifier: %s from %s, training %s; %d training and %d hold-out images",
            self.arch, resolved.identity, self.train_layers, len(train_idx), len(valid_idx))  # fmt: skip
        self._state = self._frozen_checksum = None  # the saved state of an earlier fit, if any
        optimizer = self._optimizer(network, warm)
        weight = None
        if self.class_weight is not None:
            weight = compute_class_weight(self.class_weight, classes=self.classes_, y=self.classes_[encoded])
            weight = torch.as_tensor(weight, dtype=torch.float32, device=device)
        run = TrainingRun(
            network=network, optimizer=optimizer, boundary=self._boundary_, items=items,
            labels=torch.as_tensor(encoded, dtype=torch.long), weight=weight, train_idx=train_idx, valid_idx=valid_idx,
            preprocessing=self.preprocessing_, lr=self._lr_now, seed=seed, dtype=dtype,
            compile=self.compile, eval_logits=lambda indices: self._posteriors(items, indices, single_view=True, post=None, X=X),
            batch_size=self.batch_size, num_workers=self.num_workers, max_pixels=self.max_pixels, given=X,
            scale_jitter=self._jitter_, random_flip=self.random_flip, color_shift=self.color_shift,
            early_stopping=self.early_stopping, verbose=self.verbose,
        )  # fmt: skip
        started = time.perf_counter()
        if run.boundary is not None and not run.augmenting:
            run.cached = frozen_activations(run)  # the frozen part sees the same view every epoch: run it once
        progress = Progress(self.history_, self.best_loss_, self.best_score_)
        try:
            schedule = PlateauSchedule.resumed(self.history_, self.best_loss_, run.monitor, self.lr_patience, self.max_lr_cuts)
            fit_epochs(run, schedule, progress, self.max_epochs, started)
        finally:
            self._lr_now, self.best_loss_, self.best_score_ = run.lr, progress.best_loss, progress.best_score
        self._optimizer_state = optimizer.state_dict()
        network.eval()
        self.n_epochs_ = len(self.history_)
        return self

    # --- prediction ----------------------------------------------------------------------

    def _posteriors(self, items, indices, single_view=False, layers=("logits",), post="softmax", multi_crop=None, X=None):
        multi_crop = self.multi_crop if multi_crop is None else multi_crop
        plan = evaluation_plan(self.preprocessing_, self._test_scales(), self.eval_flip, multi_crop, single_view)
        network = self._get_network()
        return class_posteriors(
            network, items, indices, plan,
            pre=self.preprocessing_, layers=layers, softmax=post == "softmax", precision=self._runtime()[1],
            batch_size=self.batch_size, num_workers=self.num_workers, max_pixels=self.max_pixels, X=X,
        )  # fmt: skip

    def predict_proba(self, X: ImageCollection) -> np.ndarray:
        """Class posteriors, averaged over the test views (``eval_scales``, ``eval_flip``, ``multi_crop``).

        Parameters
        ----------
        X : sequence of images
            Paths, PIL images or arrays, as in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_images, n_classes), float64
            As scikit-learn's classifiers return (the network computes in ``precision_``).
        """
        if (lazy := dispatch(self, "predict_proba", X)) is not None:  # dask collections: skvgg/dask/_collections.py
            return lazy
        check_is_fitted(self)
        items = check_images(X)
        return self._posteriors(items, np.arange(len(items)), X=X).astype(np.float64)

    def decision_function(self, X: ImageCollection) -> np.ndarray:
        """Log of :meth:`predict_proba`; for two classes, the log-odds of ``classes_[1]``.

        Parameters
        ----------
        X : sequence of images
            Paths, PIL images or arrays, as in :meth:`fit`.

        Returns
        -------
        scores : ndarray of shape (n_images,) or (n_images, n_classes), float64
        """
        log_proba = np.log(np.clip(self.predict_proba(X), 1e-30, None))
        if len(self.classes_) == 2:
            return log_proba[:, 1] - log_proba[:, 0]
        return log_proba

    def predict(self, X: ImageCollection) -> np.ndarray:
        """The class of highest averaged posterior for each image.

        Parameters
        ----------
        X : sequence of images
            Paths, PIL images or arrays, as in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_images,)
        """
        if (lazy := dispatch(self, "predict", X)) is not None:
            return lazy
        proba = self.predict_proba(X)  # checks fitted first
        return self.classes_[proba.argmax(1)]

    def score(self, X: ImageCollection, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Accuracy; labels never seen in ``fit`` are an error, not a silent miss.

        Parameters
        ----------
        X : sequence of images
            Paths, PIL images or arrays, as in :meth:`fit`.
        y : array-like of shape (n_images,)
            True labels.
        sample_weight : array-like of shape (n_images,), default=None
            Weights of the images in the mean.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        y_arr = np.asarray(y)
        unseen = np.setdiff1d(np.unique(y_arr), self.classes_)
        if unseen.size:
            raise ValueError(f"y contains labels not seen during fit: {unseen.tolist()[:10]}; known: {self.classes_.tolist()}")
        return super().score(X, y, sample_weight=sample_weight)

    def transform(self, X: ImageCollection) -> np.ndarray:
        """Fine-tuned fc7 descriptors (after ReLU), averaged over the test views.

        Parameters
        ----------
        X : sequence of images
            Paths, PIL images or arrays, as in :meth:`fit`.

        Returns
        -------
        descriptors : ndarray of shape (n_images, 4096), float32
        """
        if (lazy := dispatch(self, "transform", X)) is not None:
            return lazy
        check_is_fitted(self)
        items = check_images(X)
        # Descriptors come from the single or dense views; multi-crop is for posteriors.
        return self._posteriors(items, np.arange(len(items)), layers=("fc7",), post=None, multi_crop=False, X=X)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """``fc7_0000`` ... ``fc7_4095``, the columns of :meth:`transform`.

        Parameters
        ----------
        input_features : None
            Ignored (the input is images).

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        return np.asarray([f"fc7_{i:04d}" for i in range(4096)], dtype=object)

    def __sklearn_tags__(self):
        return image_transformer_tags(super().__sklearn_tags__())
