"""``VGGClassifier``: fine-tune a VGG with a replaced head, as a scikit-learn classifier."""

from __future__ import annotations

import hashlib
import math
import numbers
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, _fit_context
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from .architectures import resolve_arch
from .cuda import DeviceRunner
from .images import DEFAULT_MAX_PIXELS, check_images
from .network import DENSE_MIN_SIZE, VGG, check_scales
from .pipeline import Batch, ViewGroup, batched_groups, describe, evaluation_groups
from .runtime import autocast, halve_after_oom, loss_scaler, resolve_device, resolve_precision, run_with_backoff
from .views import grid_views, random_view
from .weights import Preprocessing, resolve_weights
from .zoo import build_vgg

__all__ = ["VGGClassifier", "HEAD_INIT_STD", "MIN_STEPS_PER_EPOCH"]

#: The paper (Sec. 3.1) draws new weights from a zero-mean normal of variance 1e-2.
HEAD_INIT_STD = 0.1

#: An epoch makes at least this many SGD steps: a small training set is reshuffled and
#: passed over again within the epoch. The paper's epochs were thousands of steps; one
#: step per epoch (30 images, batch 32) leaves 30 steps in all, too few to learn even the
#: new head, and too few per epoch for the plateau schedule to see a trend.
MIN_STEPS_PER_EPOCH = 10

#: A monitored loss must fall by this fraction of its best value to count as improving.
LOSS_REL_TOL = 1e-3

# train_layers="head"/"classifier" and the fc names, as the activation that feeds them.
_BOUNDARY = {"head": "fc7", "fc8": "fc7", "logits": "fc7", "fc7": "fc6", "classifier": "pool5", "fc6": "pool5"}


def _sgd(params, **options) -> torch.optim.SGD:
    """SGD with momentum; the fused kernel where this torch has it for the device.

    Fused is 1.5x faster on a CPU for fc6's 103M weights (measured here), where one
    update of the classifier costs more than its forward and backward passes.
    """
    try:
        return torch.optim.SGD(params, fused=True, **options)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.SGD(params, **options)


def min_class_size_for_holdout(fraction: float) -> int:
    """Images every class needs before a stratified ``fraction`` of the data is held out.

    From this size on, a stratified split gives each class at least one held-out image
    and leaves it at least one training image: 10 for ``fraction=0.1``, 2 for 0.5.
    """
    # The epsilon keeps 1 / 0.1 at 10 whatever the rounding of the division.
    return max(math.ceil(1 / fraction - 1e-9), math.ceil(1 / (1 - fraction) - 1e-9))


def split_holdout(encoded: np.ndarray, n_classes: int, fraction: float | None, seed: int):
    """Sorted (train, valid) indices: a stratified hold-out of ``fraction``, or, when some class
    is smaller than :func:`min_class_size_for_holdout`, every image for training and none held out."""
    indices = np.arange(len(encoded))
    if not fraction or np.bincount(encoded, minlength=n_classes).min() < min_class_size_for_holdout(fraction):
        return indices, np.array([], dtype=int)
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    train, valid = next(splitter.split(indices, encoded))
    return np.sort(train), np.sort(valid)


def passes_per_epoch(n_train: int, batch_size: int) -> int:
    """Passes over the training images that give an epoch :data:`MIN_STEPS_PER_EPOCH` steps."""
    return max(1, math.ceil(MIN_STEPS_PER_EPOCH / max(1, math.ceil(n_train / batch_size))))


class PlateauSchedule:
    """The paper's schedule on a monitored loss: divide the rate by 10 on a plateau, stop after the last cut.

    Each rate is judged against the loss it started from: the loss improves when it falls
    below ``(1 - rel_tol)`` times the lowest value since the last cut (or the start).
    After ``patience`` epochs without improvement the rate is cut, and the count starts
    again from the loss of that epoch; so a noisy low before a cut cannot make the next
    rate look stalled. Once ``max_cuts`` cuts are spent, the next plateau says stop.
    Separately, ``best`` is the lowest loss of all, whose weights early stopping keeps.

    Parameters
    ----------
    patience : int
    max_cuts : int
    rel_tol : float, default=LOSS_REL_TOL
    best : float, default=inf
        Lowest loss so far (a warm start continues from it).
    cuts : int, default=0
        Cuts already made.
    """

    def __init__(self, patience: int, max_cuts: int, rel_tol: float = LOSS_REL_TOL, best: float = math.inf, cuts: int = 0):
        self.patience, self.max_cuts, self.rel_tol = patience, max_cuts, rel_tol
        self.best, self.cuts = best, cuts
        self.reference, self.stalled = best, 0

    def update(self, loss: float) -> tuple[bool, str]:
        """Record one epoch's loss; return ``(lowest_so_far, action)``, action ``"keep"``, ``"cut"`` or ``"stop"``."""
        lowest = loss < self.best
        if lowest:
            self.best = loss
        if loss < self.reference * (1 - self.rel_tol):
            self.reference, self.stalled = loss, 0
            return lowest, "keep"
        self.stalled += 1
        if self.stalled < self.patience:
            return lowest, "keep"
        self.stalled = 0
        if self.cuts >= self.max_cuts:
            return lowest, "stop"
        self.cuts += 1
        self.reference = loss
        return lowest, "cut"


class TrainingInterrupted(UserWarning):
    """``fit`` was interrupted (Ctrl-C); the model keeps the best weights so far."""


class VGGClassifier(ClassifierMixin, TransformerMixin, BaseEstimator):
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
    arch, weights, preprocessing
        As in :func:`skvgg.build_vgg`. ``weights=None`` is seeded by ``random_state``.
    train_layers : str, default="head"
        What learns: ``"head"`` (the new fc8), ``"classifier"`` (fc6-fc8), ``"all"``, or a
        layer name (``"conv5_1"``, ``"fc7"``, ``"pool4"``...) from which everything trains
        (the named convolution or fc layer included; after a pool). Frozen layers keep
        their exact values (BatchNorm statistics included).
    lr : float, default=1e-3
        Initial learning rate (the paper's rate when starting from a trained network).
    momentum : float, default=0.9
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
        The paper cut the rate three times.
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
    class_weight : None, "balanced" or dict, default=None
    device : str, default="auto"
        ``"auto"``: CUDA, else Apple MPS, else CPU.
    precision : {"auto", "float32", "bfloat16", "float16"}, default="auto"
        Autocast dtype; ``"auto"`` is bfloat16 on CUDA cards that compute it natively
        (compute capability 8.0 and later), float16 on older ones (T4, V100), float32
        elsewhere. Training in float16 on CUDA uses dynamic loss scaling (a gradient
        scaler); elsewhere it has none: prefer bfloat16 there.
    num_workers : int, optional
        Decoding and augmentation threads (overlapping the network).
    max_pixels : int or None, default=89_478_485
        Pixel budget (width x height) of one image, checked from a file's header
        before decoding; larger images are refused with an error naming them, as are
        dense test views (``eval_scales``) larger than this. Pillow's warning
        threshold by default; None: no limit. See :class:`VGGFeaturizer`.
    verbose : bool or int, default=False
        A progress bar per epoch showing loss, validation score and learning rate.
    random_state : int, RandomState or None, default=None
        Seeds the split, the head's initialisation, shuffling, dropout and augmentation:
        two fits with the same seed on a CPU give the same model.
    warm_start : bool, default=False
        Continue training the fitted network (same classes) instead of starting over.

    Attributes
    ----------
    classes_ : ndarray
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
    best_loss_ : float
        The lowest monitored loss (its epoch's weights are kept with ``early_stopping``).
    best_score_ : float or None
        The hold-out accuracy at that epoch (None without a hold-out).
    device_ : str

    Examples
    --------
    >>> from skvgg import VGGClassifier
    >>> clf = VGGClassifier(train_layers="classifier", max_epochs=10)  # doctest: +SKIP
    >>> clf.fit(train_paths, train_labels).score(test_paths, test_labels)  # doctest: +SKIP
    """

    _parameter_constraints: dict = {
        "arch": [str],
        "weights": "no_validation",
        "train_layers": [str],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "momentum": [Interval(numbers.Real, 0, 1, closed="left")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
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
        "preprocessing": [None, Preprocessing],
        "device": [str, torch.device],
        "precision": [StrOptions({"auto", "float32", "bfloat16", "float16"})],
        "num_workers": [None, Interval(numbers.Integral, 0, None, closed="left")],
        "max_pixels": [None, Interval(numbers.Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        arch="vgg16",
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
        self.num_workers = num_workers
        self.max_pixels = max_pixels
        self.verbose = verbose
        self.random_state = random_state
        self.warm_start = warm_start

    # --- parameter checks ------------------------------------------------------------------

    def _boundary(self, network: VGG) -> str | None:
        """The activation that feeds the first trained layer (None: everything trains)."""
        name = self.train_layers
        if name == "all":
            return None
        if name in _BOUNDARY:
            return _BOUNDARY[name]
        names = list(network._feature_index)
        if name.startswith("pool") and name in names:
            return name
        if name.startswith("conv") and name in names:
            position = names.index(name)
            return names[position - 1] if position > 0 else None
        raise ValueError(
            f"train_layers={name!r}: expected 'head', 'classifier', 'all', or a layer of {network.spec.name}: "
            f"{names + ['fc6', 'fc7', 'fc8']}"
        )

    def _check_params(self):
        crop = (self.preprocessing or Preprocessing()).crop_size
        jitter = self.scale_jitter
        if jitter is not None and not isinstance(jitter, numbers.Integral):
            jitter = check_scales(jitter, "scale_jitter", crop)
            if len(jitter) != 2 or jitter[0] > jitter[1]:
                raise ValueError(f"scale_jitter={self.scale_jitter!r}: expected S or a range (Smin, Smax) with Smin <= Smax")
        elif jitter is not None and jitter < crop:
            raise ValueError(f"scale_jitter={jitter} is smaller than the {crop} px training crop")
        self._jitter_ = jitter
        self.eval_scales_ = check_scales(self.eval_scales, "eval_scales")
        if self.multi_crop and self.eval_scales_ is None:
            raise ValueError("multi_crop needs eval_scales (the test scales Q whose 5x5 grids of crops are evaluated)")

    def _check_y(self, y, n_samples):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D (one label per image); got shape {y.shape}")
        if len(y) != n_samples:
            raise ValueError(f"X has {n_samples} images but y has {len(y)} labels")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            bad = np.flatnonzero(~np.isfinite(y))[:10].tolist()
            raise ValueError(f"y contains NaN or infinite labels at indices {bad}")
        if y.dtype.kind == "O":
            missing = [i for i, v in enumerate(y) if v is None or (isinstance(v, float) and np.isnan(v))]
            if missing:
                raise ValueError(f"y contains missing labels (None or NaN) at indices {missing[:10]}")
        check_classification_targets(y)
        return y

    # --- the network ---------------------------------------------------------------------

    def _build_network(self, n_classes: int, seed: int) -> VGG:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if self.weights is None:
                network = build_vgg(self.arch, None, n_classes, dropout=self.dropout, preprocessing=self.preprocessing)
            else:
                network = build_vgg(self.arch, self.weights, n_classes, dropout=self.dropout, preprocessing=self.preprocessing)
            head = network.classifier[6]
            torch.nn.init.normal_(head.weight, 0.0, HEAD_INIT_STD)
            torch.nn.init.zeros_(head.bias)
        return network

    def _frozen_modules(self, network: VGG, boundary="fitted") -> list:
        """Modules before the trained part (ending at ``boundary``), in forward order."""
        boundary = self._boundary_ if boundary == "fitted" else boundary
        if boundary is None:
            return []
        if boundary in network._feature_index:
            return list(network.features[: network._feature_index[boundary] + 1])
        end = {"pool5": 0, "fc6": 2, "fc7": 5}[boundary]
        return list(network.features) + [network.avgpool] + list(network.classifier[:end])

    def _set_trainable(self, network: VGG):
        frozen = self._frozen_modules(network)
        frozen_ids = {id(m) for m in frozen}
        network.requires_grad_(True)
        for module in frozen:
            module.requires_grad_(False)
        self._frozen_ids = frozen_ids
        return [p for p in network.parameters() if p.requires_grad]

    def _train_mode(self, network: VGG):
        network.train()
        for module in network.modules():
            if id(module) in self._frozen_ids:
                module.eval()  # frozen BatchNorm keeps its statistics; frozen dropout is off

    def _get_network(self) -> VGG:
        network = getattr(self, "_network", None)
        if network is None:
            network = self._restore_network()
            self._network = network
        return network

    # --- fitting -------------------------------------------------------------------------

    @property
    def _augmenting(self) -> bool:
        return self._jitter_ is not None or self.random_flip or self.color_shift > 0

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fine-tune on images ``X`` (paths, PIL images, arrays...) with labels ``y``.

        Returns
        -------
        self : VGGClassifier
        """
        if y is None:
            raise ValueError("VGGClassifier requires y to be passed, but the target y is None (one label per image)")
        items = check_images(X)
        y = self._check_y(y, len(items))
        self._check_params()
        spec = resolve_arch(self.arch)
        resolved = resolve_weights(spec, self.weights, self.preprocessing)
        with torch.device("meta"):  # checks train_layers before any weights are loaded
            self._boundary_ = self._boundary(VGG(spec))
        warm = (
            self.warm_start
            and hasattr(self, "classes_")
            and (getattr(self, "_network", None) is not None or getattr(self, "_state", None) is not None)
        )
        if warm:
            unseen = np.setdiff1d(np.unique(y), self.classes_)
            if unseen.size:
                raise ValueError(f"warm_start=True cannot add classes: {unseen.tolist()} were not in classes_")
        else:
            classes = np.unique(y)
            if len(classes) < 2:
                raise ValueError(f"y has a single class ({classes[0]!r}); a classifier needs at least two")
            self.classes_ = classes
        encoded = np.searchsorted(self.classes_, y)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        train_idx, valid_idx = split_holdout(encoded, len(self.classes_), self.validation_fraction, seed)

        self.preprocessing_ = resolved.preprocessing
        self._source_identity = resolved.identity if resolved.source in ("torchvision", "file") else None
        device = resolve_device(self.device)
        self.device_ = str(device)
        if warm:
            network = self._get_network().to(device)
        else:
            network = self._build_network(len(self.classes_), seed).to(device, memory_format=torch.channels_last)
            self.history_ = []
            self._lr_now = float(self.lr)
            self._optimizer_state = None
            self.best_score_ = None
            self.best_loss_ = None
        self._network = network
        self._state = None
        params = self._set_trainable(network)
        optimizer = _sgd(params, lr=self._lr_now, momentum=self.momentum, weight_decay=self.weight_decay)
        if warm and self._optimizer_state is not None:
            try:  # momentum carries over unless train_layers changed what trains
                optimizer.load_state_dict(self._optimizer_state)
            except ValueError:
                pass
            for group in optimizer.param_groups:
                group["lr"] = self._lr_now
        weight = None
        if self.class_weight is not None:
            weight = compute_class_weight(self.class_weight, classes=self.classes_, y=self.classes_[encoded])
            weight = torch.as_tensor(weight, dtype=torch.float32, device=device)

        self._train(network, optimizer, items, encoded, train_idx, valid_idx, weight, seed)
        self._optimizer_state = optimizer.state_dict()
        network.eval()
        self.n_epochs_ = len(self.history_)
        return self

    def _train(self, network, optimizer, items, encoded, train_idx, valid_idx, weight, seed):
        device = next(network.parameters()).device
        dtype = resolve_precision(self.precision, device)
        cached = None
        precompute_started = time.perf_counter()
        if self._boundary_ is not None and not self._augmenting:
            # The frozen part sees the same view every epoch: run it once.
            cached = self._boundary_activations(network, items, dtype)
        # "scaler": float16 autocast (pre-Ampere GPUs) needs loss scaling; a no-op otherwise.
        state = {"batch_size": self.batch_size, "scaler": loss_scaler(device, dtype)}
        labels = torch.as_tensor(encoded, dtype=torch.long)
        best_state = None
        monitor = "valid_loss" if len(valid_idx) else "train_eval_loss"
        # A warm start continues the schedule when it watches the same kind of loss.
        previous = [h for h in self.history_ if "monitor" in h]
        same = previous and previous[-1]["monitor"] == monitor and getattr(self, "best_loss_", None) is not None
        schedule = PlateauSchedule(
            self.lr_patience,
            self.max_lr_cuts,
            best=self.best_loss_ if same else math.inf,
            cuts=sum(1 for h in self.history_ if h.get("lr_cut")),
        )
        passes = passes_per_epoch(len(train_idx), self.batch_size)
        start_epoch = len(self.history_)
        last_epoch = start_epoch + self.max_epochs
        bar = None
        try:
            for epoch in range(start_epoch + 1, start_epoch + self.max_epochs + 1):
                # Epoch 1 is charged for the one pass through the frozen layers.
                started = precompute_started if epoch == start_epoch + 1 else time.perf_counter()
                bar = tqdm(
                    total=passes * len(train_idx), disable=not self.verbose, desc=f"epoch {epoch}/{last_epoch}", unit="img"
                )
                epoch_rng = np.random.default_rng([seed, epoch])
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    torch.manual_seed(int(epoch_rng.integers(2**31)))
                    loss = self._train_epoch(
                        network, optimizer, items, labels, train_idx, cached, weight, state, epoch_rng, device, dtype, epoch, bar,
                        passes,
                    )  # fmt: skip
                record = {"epoch": epoch, "train_loss": loss, "train_eval_loss": None, "valid_loss": None, "valid_score": None}
                score = None
                if len(valid_idx):
                    record["valid_loss"], score = self._eval_metrics(network, items, labels, valid_idx, cached, weight)
                    record["valid_score"] = score
                else:
                    # The running loss carries dropout's noise and the weights' drift over
                    # the epoch; the schedule needs the loss of the weights as they are.
                    record["train_eval_loss"], _ = self._eval_metrics(network, items, labels, train_idx, cached, weight)
                record.update(monitor=monitor, lr=self._lr_now, lr_cut=False)
                improved, action = schedule.update(record[monitor])
                if improved:
                    self.best_loss_, self.best_score_ = schedule.best, score
                    if self.early_stopping:
                        best_state = self._trained_state_dict(network)
                stop = action == "stop" and self.early_stopping
                if action == "cut":
                    self._lr_now /= 10
                    for group in optimizer.param_groups:
                        group["lr"] = self._lr_now
                    record["lr_cut"] = True
                record["time"] = time.perf_counter() - started
                self.history_.append(record)
                postfix = {"loss": f"{loss:.4f}", "lr": f"{record['lr']:.1e}"}
                if score is not None:
                    postfix["valid"] = f"{score:.3f}"
                postfix[monitor] = f"{record[monitor]:.4f}"
                bar.set_postfix(postfix)
                bar.close()
                if stop:
                    break
        except KeyboardInterrupt:
            self.history_.append({"epoch": len(self.history_) + 1, "interrupted": True, "lr": self._lr_now})
            warnings.warn(
                f"Training interrupted during epoch {len(self.history_)}; keeping the "
                f"{'best weights so far' if best_state is not None else 'current weights'}. "
                "Continue with warm_start=True.",
                TrainingInterrupted,
                stacklevel=3,
            )
        except FloatingPointError:
            if best_state is not None:
                network.load_state_dict(best_state, strict=False)
            raise
        finally:
            if bar is not None:
                bar.close()
        if best_state is not None:
            network.load_state_dict(best_state, strict=False)

    def _trained_state_dict(self, network) -> dict:
        """A copy of what training changes (the frozen part never does)."""
        frozen = self._frozen_keys(network)
        return {k: v.detach().clone() for k, v in network.state_dict().items() if k not in frozen}

    def _boundary_activations(self, network, items, dtype) -> torch.Tensor:
        """The frozen part's output for the centre view of every image, one row per image."""
        pre = self.preprocessing_
        network.eval()
        out = torch.empty(len(items), *network.activation_shape(self._boundary_, pre.crop_size))
        for index, value in describe(
            network,
            items,
            range(len(items)),
            lambda image, i: evaluation_groups(image, pre, None, mirror=False),
            layers=[self._boundary_],
            preprocessing=pre,
            pooling="flatten",
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            dtype=dtype,
            max_pixels=self.max_pixels,
        ):
            out[index] = torch.from_numpy(value).view(out.shape[1:])
        return out

    def _train_epoch(
        self, network, optimizer, items, labels, train_idx, cached, weight, state, rng, device, dtype, epoch, bar, passes=1
    ):
        """``passes`` shuffled passes over the training images; returns the mean training loss."""
        self._train_mode(network)
        total, count = 0.0, 0
        for _ in range(passes):
            for chosen, x, boundary in self._training_batches(items, rng.permutation(train_idx), cached, rng, device):
                loss = self._step(network, optimizer, x, labels[chosen], weight, state, device, dtype, epoch, boundary=boundary)
                total, count = total + loss * len(chosen), count + len(chosen)
                bar.update(len(chosen))
                bar.set_postfix(loss=f"{total / count:.4f}")
        return total / max(count, 1)

    def _training_batches(self, items, order, cached, rng, device):
        """``(indices, inputs, from_boundary)`` per SGD step of one pass in ``order``: stored
        frozen activations, or freshly decoded (and augmented) views."""
        if cached is not None:
            for start in range(0, len(order), self.batch_size):
                chosen = order[start : start + self.batch_size]
                yield chosen, cached[chosen], True
            return
        pre = self.preprocessing_
        seeds = {int(i): int(s) for i, s in zip(order, rng.integers(2**31, size=len(order)))}

        def make_groups(image, index):
            view_rng = np.random.default_rng(seeds[index])
            view = random_view(
                image,
                view_rng,
                scale=self._jitter_,
                resize=pre.resize_size,
                crop=pre.crop_size,
                flip=self.random_flip,
                color_std=self.color_shift,
            )
            return [ViewGroup([view])]

        uploader = DeviceRunner(device)  # reused pinned buffers, copies on a side stream
        batches = batched_groups(
            items, order, make_groups, self.batch_size, self.num_workers, max_pixels=self.max_pixels,
            pixels_out=uploader.input_buffer,
        )  # fmt: skip
        for event in batches:
            assert isinstance(event, Batch)  # on_error="raise": failures were raised
            yield [index for index, _, _ in event.units], pre.normalize(uploader.upload(event.pixels)), False

    def _step(self, network, optimizer, x, y, weight, state, device, dtype, epoch, boundary):
        """One SGD step on a batch, accumulated over halves if the device runs out of memory."""
        optimizer.zero_grad(set_to_none=True)
        total_weight = float(weight[y.to(device)].sum()) if weight is not None else float(len(y))
        size = min(len(y), state["batch_size"])
        start, loss_sum = 0, 0.0
        while start < len(y):
            xc, yc = x[start : start + size].to(device), y[start : start + size].to(device)
            try:
                with autocast(device, dtype):
                    if boundary:
                        logits = network.forward_from(xc, self._boundary_)
                    else:
                        xc = xc.contiguous(memory_format=torch.channels_last)
                        if self._boundary_ is None:
                            logits = network(xc)
                        else:
                            with torch.no_grad():
                                frozen = network.extract(xc, self._boundary_)[self._boundary_]
                            logits = network.forward_from(frozen, self._boundary_)
                    loss = F.cross_entropy(logits.float(), yc, weight=weight, reduction="sum")
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"The training loss became {loss.item()} in epoch {epoch}: training diverged. "
                        f"Try a lower learning rate, e.g. lr={self._lr_now / 10:g}."
                    )
                state["scaler"].scale(loss / total_weight).backward()
            except FloatingPointError:
                raise
            except Exception as error:
                # The failed attempt's graph (activations saved for backward) must be freed
                # before the retry, or the halved batch runs out of memory too.
                logits = loss = frozen = None
                size = halve_after_oom(error, size, state, f"training batch of {len(yc)}", stacklevel=5)
                # A failed backward may have left partial gradients: restart the batch.
                optimizer.zero_grad(set_to_none=True)
                start, loss_sum = 0, 0.0
                continue
            loss_sum += float(loss.detach())
            start += len(yc)
        state["scaler"].step(optimizer)
        state["scaler"].update()
        return loss_sum / total_weight

    def _eval_metrics(self, network, items, labels, indices, cached, weight) -> tuple[float, float]:
        """Loss (cross-entropy, class-weighted as in training) and accuracy of the network as
        it predicts (eval mode, single centre view) on the images ``indices``."""
        network.eval()
        if cached is not None:
            device = next(network.parameters()).device

            def forward(chunk):
                with torch.inference_mode():
                    return network.forward_from(chunk.to(device), self._boundary_).float().cpu()

            state = {"batch_size": self.batch_size}
            logits = torch.cat(run_with_backoff(forward, cached[indices], state, what="evaluation batch"))
        else:
            logits = torch.from_numpy(self._posteriors(items, indices, single_view=True, post=None))
        truth = labels[indices]
        loss = F.cross_entropy(logits, truth, weight=None if weight is None else weight.cpu())
        return float(loss), float((logits.argmax(1) == truth).float().mean())

    # --- prediction ----------------------------------------------------------------------

    def _eval_groups(self, single_view: bool, multi_crop):
        pre = self.preprocessing_

        def make_groups(image, index):
            if single_view or self.eval_scales_ is None:
                return evaluation_groups(image, pre, None, self.eval_flip and not single_view)
            # One group per scale and method: with "combine", dense and multi-crop have
            # as many groups each, so their posteriors weigh equally (paper, Table 5).
            groups = []
            if multi_crop in (False, "combine"):
                groups += evaluation_groups(image, pre, self.eval_scales_, self.eval_flip)
            if multi_crop in (True, "combine"):
                groups += [ViewGroup(grid_views(image, q, pre.crop_size, mirror=self.eval_flip)) for q in self.eval_scales_]
            return groups

        return make_groups

    def _posteriors(self, items, indices, single_view=False, layers=("logits",), post="softmax", multi_crop=None):
        network = self._get_network()
        network.eval()
        device = next(network.parameters()).device
        out = None
        for index, value in describe(
            network,
            items,
            indices,
            self._eval_groups(single_view, self.multi_crop if multi_crop is None else multi_crop),
            layers=list(layers),
            preprocessing=self.preprocessing_,
            pooling="avg",
            post=(lambda logits: torch.softmax(logits, dim=1)) if post == "softmax" else None,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            dtype=resolve_precision(self.precision, device),
            max_pixels=self.max_pixels,
        ):
            if out is None:
                out = np.empty((len(indices), len(value)), dtype=np.float32)
            out[np.searchsorted(indices, index)] = value
        return out

    def predict_proba(self, X):
        """Class posteriors, averaged over the test views (``eval_scales``, ``eval_flip``, ``multi_crop``).

        Returns
        -------
        proba : ndarray of shape (n_images, n_classes)
        """
        check_is_fitted(self)
        items = check_images(X)
        return self._posteriors(items, np.arange(len(items)))

    def decision_function(self, X):
        """Log of :meth:`predict_proba`; for two classes, the log-odds of ``classes_[1]``."""
        log_proba = np.log(np.clip(self.predict_proba(X), 1e-30, None))
        if len(self.classes_) == 2:
            return log_proba[:, 1] - log_proba[:, 0]
        return log_proba

    def predict(self, X):
        """The class of highest averaged posterior for each image."""
        proba = self.predict_proba(X)  # checks fitted first
        return self.classes_[proba.argmax(1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy; labels never seen in ``fit`` are an error, not a silent miss."""
        check_is_fitted(self)
        y_arr = np.asarray(y)
        unseen = np.setdiff1d(np.unique(y_arr), self.classes_)
        if unseen.size:
            raise ValueError(f"y contains labels not seen during fit: {unseen.tolist()[:10]}; known: {self.classes_.tolist()}")
        return super().score(X, y, sample_weight=sample_weight)

    def transform(self, X):
        """Fine-tuned fc7 descriptors (after ReLU), averaged over the test views.

        Returns
        -------
        descriptors : ndarray of shape (n_images, 4096), float32
        """
        check_is_fitted(self)
        items = check_images(X)
        # Descriptors come from the single or dense views; multi-crop is for posteriors.
        return self._posteriors(items, np.arange(len(items)), layers=("fc7",), post=None, multi_crop=False)

    def get_feature_names_out(self, input_features=None):
        """``fc7_0000`` ... ``fc7_4095``, the columns of :meth:`transform`."""
        check_is_fitted(self)
        return np.asarray([f"fc7_{i:04d}" for i in range(4096)], dtype=object)

    # --- persistence ---------------------------------------------------------------------

    def _frozen_digest(self, network) -> str:
        digest = hashlib.blake2b(digest_size=16)
        frozen = self._frozen_keys(network)
        for name, tensor in network.state_dict().items():
            if name in frozen:
                digest.update(name.encode())
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    def _frozen_keys(self, network) -> set:
        keys = set()
        for prefix, module in network.named_modules():
            if id(module) in self._frozen_ids and not list(module.children()):
                keys.update(f"{prefix}.{k}" for k in module.state_dict())
        return keys

    def __getstate__(self):
        # object.__getstate__ returns the instance's own __dict__: copy before editing.
        state = dict(super().__getstate__())
        network = state.pop("_network", None)
        state.pop("_optimizer_state", None)  # momentum buffers: large, and only for warm starts
        state.pop("_frozen_ids", None)
        if network is not None:
            # What rebuilds the network, as it was fitted (parameters may change later).
            state["_state_source"] = {
                "arch": self.arch, "weights": self.weights, "preprocessing": self.preprocessing,
                "dropout": self.dropout, "boundary": self._boundary_,
            }  # fmt: skip
            full = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
            frozen = self._frozen_keys(network)
            if self._source_identity is not None and frozen:
                # Pretrained layers that did not change are re-read from their source on
                # load; a digest guards against a different file under the same name.
                state["_state"] = {k: v for k, v in full.items() if k not in frozen}
                state["_frozen_checksum"] = self._frozen_digest(network)
            else:
                state["_state"] = full
                state["_frozen_checksum"] = None
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._network = None
        self._optimizer_state = None

    def _restore_network(self) -> VGG:
        saved = getattr(self, "_state", None)
        if saved is None:
            raise RuntimeError("This VGGClassifier holds no network; fit it first")
        device = resolve_device(self.device)
        source = self._state_source
        if self._frozen_checksum is None:
            network = build_vgg(source["arch"], None, len(self.classes_), dropout=source["dropout"], progress=False)
            network.load_state_dict(saved)
        else:
            network = build_vgg(
                source["arch"], source["weights"], len(self.classes_),
                dropout=source["dropout"], preprocessing=source["preprocessing"],
            )  # fmt: skip
            network.load_state_dict(saved, strict=False)
        # Frozen as fitted: a later set_params(train_layers=...) takes effect at the next fit.
        self._frozen_ids = {id(m) for m in self._frozen_modules(network, source["boundary"])}
        if self._frozen_checksum is not None and self._frozen_digest(network) != self._frozen_checksum:
            raise ValueError(
                f"The pretrained weights {self._source_identity} differ from those this model was fine-tuned "
                "from; load it where the same weights file is available."
            )
        return network.to(device, memory_format=torch.channels_last).eval()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        return tags
