"""The paper's experiments: ImageNet test protocols (Tables 3-5) and transfer (Appendix B).

**ImageNet** (:func:`run_imagenet`, ``skvgg evaluate imagenet``): the weights' own 1000-way
classifier (:class:`~skvgg.VGGImageNetClassifier`) on the ILSVRC-2012 validation set under
each test protocol of :data:`IMAGENET_PROTOCOLS`, its top-1/top-5 errors beside the paper's
(:data:`TABLES_3_5`) and torchvision's published ones.

**Transfer** (the rest of this module):

Fixed VGG descriptors (fc7 after ReLU, dense evaluation over several scales, averaged
with the mirror image), L2-normalised, then a linear SVM; the ConvNet is not fine-tuned.

========== ================================ ============ ===============================
dataset    scales Q, pooling across scales  metric       split
========== ================================ ============ ===============================
caltech101 (256, 384, 512), stacked         mean recall  30 train / <= 50 test per class, 3 splits
caltech256 (256, 384, 512), stacked         mean recall  60 train / rest per class, 3 splits
voc2007    (256, 384, 512, 640, 768), mean  11-point mAP trainval -> test
voc2012    (256, 384, 512, 640, 768), mean  area mAP     train -> val (test is server-only)
========== ================================ ============ ===============================

In every split the SVM's ``C`` is chosen on 20% of the training images held out, as the
paper validates its hyper-parameters.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV, ShuffleSplit
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer
from sklearn.svm import LinearSVC
from sklearn.utils._param_validation import HasMethods, Interval, validate_params

from ._typing import StrPath, WeightsSpec
from .datasets import load_caltech101, load_caltech256, load_voc
from .featurizer import VGGFeaturizer
from .metrics import mean_class_recall, mean_class_recall_scorer, voc07_map_scorer, voc12_map_scorer, voc_mean_average_precision
from .model_selection import CALTECH101_PROTOCOL, CALTECH256_PROTOCOL, PerClassHoldOut, PerClassSplit, check_class_sizes

__all__ = [
    "DATASETS",
    "IMAGENET_PROTOCOLS",
    "TABLE_11",
    "TABLES_3_5",
    "DatasetProtocol",
    "ImageNetProtocol",
    "paper_featurizer",
    "paper_imagenet_errors",
    "paper_pipeline",
    "paper_search",
    "run_imagenet",
    "run_transfer",
    "torchvision_imagenet_errors",
]

#: SVM regularisation values searched on the held-out 20% (C of LinearSVC).
C_GRID = (0.01, 0.1, 1.0, 10.0)


@dataclass(frozen=True)
class DatasetProtocol:
    """The paper's evaluation of one dataset: its test scales, their pooling, metric and splits."""

    name: str
    title: str
    scales: tuple
    scale_pooling: str
    metric: str
    multilabel: bool
    split: dict = field(default_factory=dict)


DATASETS = {
    "caltech101": DatasetProtocol(
        "caltech101", "Caltech-101", (256, 384, 512), "stack", "mean class recall", False, CALTECH101_PROTOCOL
    ),
    "caltech256": DatasetProtocol(
        "caltech256", "Caltech-256", (256, 384, 512), "stack", "mean class recall", False, CALTECH256_PROTOCOL
    ),
    "voc2007": DatasetProtocol("voc2007", "PASCAL VOC-2007", (256, 384, 512, 640, 768), "mean", "mAP (11-point)", True),
    "voc2012": DatasetProtocol("voc2012", "PASCAL VOC-2012", (256, 384, 512, 640, 768), "mean", "mAP (area)", True),
}

#: The paper's Table 11, in %: (mean, std or None), by dataset and network.
TABLE_11 = {
    ("voc2007", "vgg16"): (89.3, None),
    ("voc2007", "vgg19"): (89.3, None),
    ("voc2007", "vgg16+vgg19"): (89.7, None),
    ("voc2012", "vgg16"): (89.0, None),
    ("voc2012", "vgg19"): (89.0, None),
    ("voc2012", "vgg16+vgg19"): (89.3, None),
    ("caltech101", "vgg16"): (91.8, 1.0),
    ("caltech101", "vgg19"): (92.3, 0.5),
    ("caltech101", "vgg16+vgg19"): (92.7, 0.5),
    ("caltech256", "vgg16"): (85.0, 0.2),
    ("caltech256", "vgg19"): (85.1, 0.3),
    ("caltech256", "vgg16+vgg19"): (86.2, 0.3),
}


def _protocol(dataset: str) -> DatasetProtocol:
    key = dataset.lower().replace("-", "").replace("_", "")
    if key not in DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}; expected one of {list(DATASETS)}")
    return DATASETS[key]


# The estimators built here validate their own parameters when fitted: nested validation stays on.
_ESTIMATOR_PARAMETER = "no_validation"


@validate_params(
    {"dataset": [str], "arch": _ESTIMATOR_PARAMETER, "weights": _ESTIMATOR_PARAMETER},
    prefer_skip_nested_validation=False,
)
def paper_featurizer(
    dataset: str, arch: str | Sequence[str] = "vgg16", weights: WeightsSpec | Sequence[WeightsSpec] = "imagenet", **params: Any
) -> VGGFeaturizer:
    """The featurizer of the paper's protocol for ``dataset`` (fc7, its scales, flips, scale pooling).

    Parameters
    ----------
    dataset : {"caltech101", "caltech256", "voc2007", "voc2012"}
        Case, dashes and underscores are ignored (``"VOC-2007"`` works).
    arch : str or sequence of str, default="vgg16"
        As in :class:`~skvgg.VGGFeaturizer`; ``("vgg16", "vgg19")`` stacks Net-D
        and Net-E, decoding each image once.
    weights : str, path or sequence, default="imagenet"
        As in :class:`~skvgg.VGGFeaturizer`.
    **params
        Other featurizer parameters (``batch_size``, ``device``, ``cache``...);
        ``scales`` may be overridden, e.g. for a quicker run.

    Returns
    -------
    featurizer : VGGFeaturizer
        Unfitted, with ``layer="fc7"``, ``flip=True`` and the protocol's scales and scale pooling.

    See Also
    --------
    paper_pipeline : This featurizer, L2 normalisation and a linear SVM.
    """
    protocol = _protocol(dataset)
    settings = dict(layer="fc7", scales=protocol.scales, flip=True, scale_pooling=protocol.scale_pooling)
    settings.update(params)
    return VGGFeaturizer(arch=list(arch) if not isinstance(arch, str) else arch, weights=weights, **settings)


def _svm(protocol: DatasetProtocol, C: float):
    svm = LinearSVC(C=C)
    return OneVsRestClassifier(svm) if protocol.multilabel else svm


@validate_params(
    {
        "dataset": [str],
        "arch": _ESTIMATOR_PARAMETER,
        "weights": _ESTIMATOR_PARAMETER,
        "C": [Interval(Real, 0, None, closed="neither")],
    },
    prefer_skip_nested_validation=False,
)
def paper_pipeline(
    dataset: str,
    arch: str | Sequence[str] = "vgg16",
    weights: WeightsSpec | Sequence[WeightsSpec] = "imagenet",
    C: float = 1.0,
    **featurizer_params: Any,
) -> Pipeline:
    """``VGGFeaturizer -> L2 normalisation -> linear SVM`` (one-vs-rest for VOC), as in the paper.

    Parameters
    ----------
    dataset : {"caltech101", "caltech256", "voc2007", "voc2012"}
        See :func:`paper_featurizer`.
    arch, weights
        See :func:`paper_featurizer`.
    C : float, default=1.0
        The SVM's regularisation (``LinearSVC(C=C)``); :func:`paper_search` chooses it.
    **featurizer_params
        Passed to :func:`paper_featurizer`.

    Returns
    -------
    pipeline : Pipeline
        Steps ``"vgg"``, ``"l2"`` and ``"svm"``, unfitted.

    See Also
    --------
    paper_search : Chooses ``C`` on 20% of the training images.
    run_transfer : The whole protocol on a local dataset.

    Examples
    --------
    >>> from skvgg.experiments import paper_pipeline
    >>> model = paper_pipeline("caltech101", cache=True)
    >>> [name for name, _ in model.steps]
    ['vgg', 'l2', 'svm']
    >>> model.named_steps["vgg"].scales, model.named_steps["vgg"].scale_pooling
    ((256, 384, 512), 'stack')

    ``model.fit(train_paths, train_labels)`` then loads VGG16's ImageNet weights (or
    pass ``weights=``) and describes the images; :func:`run_transfer` runs the whole
    protocol on a local copy of the dataset.
    """
    protocol = _protocol(dataset)
    return Pipeline(
        [
            ("vgg", paper_featurizer(dataset, arch, weights, **featurizer_params)),
            ("l2", Normalizer()),
            ("svm", _svm(protocol, C)),
        ]
    )


def _head(protocol: DatasetProtocol) -> Pipeline:
    return Pipeline([("l2", Normalizer()), ("svm", _svm(protocol, 1.0))])


@validate_params(
    {
        "dataset": [str],
        "estimator": [HasMethods(["fit"]), None],
        "Cs": ["array-like"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    },
    prefer_skip_nested_validation=False,
)
def paper_search(
    dataset: str,
    estimator: BaseEstimator | None = None,
    Cs: Sequence[float] = C_GRID,
    random_state: int | np.random.RandomState | None = None,
    n_jobs: int | None = None,
) -> GridSearchCV:
    """Grid search of the SVM's ``C`` on 20% of the training images, as the paper validates.

    Parameters
    ----------
    dataset : {"caltech101", "caltech256", "voc2007", "voc2012"}
        Sets the hold-out (per class for Caltech, random for VOC) and the scorer.
    estimator : Pipeline, default=None
        Defaults to :func:`paper_pipeline` for ``dataset`` (give it ``cache=True``
        in practice, so each image is described once); any Pipeline whose last step
        is named ``svm`` works, e.g. ``Normalizer -> LinearSVC`` on precomputed descriptors.
    Cs : array-like of float, default=C_GRID
        The values of ``C`` tried.
    random_state : int, RandomState instance or None, default=None
        Seeds the hold-out.
    n_jobs : int, default=None
        As in :class:`~sklearn.model_selection.GridSearchCV`.

    Returns
    -------
    search : GridSearchCV
        Unfitted, scored by the dataset's metric.

    See Also
    --------
    skvgg.model_selection.PerClassHoldOut : The Caltech hold-out.
    skvgg.metrics.mean_class_recall_scorer : The Caltech scorer.
    """
    protocol = _protocol(dataset)
    estimator = paper_pipeline(dataset) if estimator is None else estimator
    key = "svm__estimator__C" if protocol.multilabel else "svm__C"
    if protocol.multilabel:
        cv, scoring = (
            ShuffleSplit(n_splits=1, test_size=0.2, random_state=random_state),
            (voc07_map_scorer if protocol.name == "voc2007" else voc12_map_scorer),
        )
    else:
        cv, scoring = PerClassHoldOut(fraction=0.2, random_state=random_state), mean_class_recall_scorer
    return GridSearchCV(estimator, {key: list(Cs)}, cv=cv, scoring=scoring, n_jobs=n_jobs)


def _load(protocol: DatasetProtocol, root, download: bool):
    if protocol.name == "caltech101":
        return {"all": load_caltech101(root, download=download)}
    if protocol.name == "caltech256":
        return {"all": load_caltech256(root, download=download)}
    if protocol.name == "voc2007":
        return {
            "train": load_voc(root, "2007", "trainval", download=download),
            "test": load_voc(root, "2007", "test", download=download),
        }
    return {
        "train": load_voc(root, "2012", "train", download=download),
        "test": load_voc(root, "2012", "val", download=download),
    }


def _check_feasible(protocol: DatasetProtocol, data: dict, split_params: dict) -> None:
    """Raise a ValueError if a split of the protocol cannot be drawn from ``data``'s labels."""
    if protocol.multilabel:
        train, test = data["train"], data["test"]
        if test.target is None:
            raise ValueError(f"{protocol.title} {test.image_set} has no public annotations to score against")
        # The validation of C holds out 20% (at least one image) and trains on the rest.
        if len(train.paths) < 2:
            raise ValueError(
                f"{protocol.title} {train.image_set} has {len(train.paths)} image(s); at least 2 are needed "
                "(one to train on, one to validate C on)"
            )
        return
    try:
        check_class_sizes(data["all"].target, split_params["n_train"], validation_fraction=0.2)
    except ValueError as error:
        raise ValueError(
            f"{protocol.title} ({data['all'].root}) cannot be split as the protocol asks: {error}; "
            f"lower n_train={split_params['n_train']} or add images"
        ) from None


def _network_key(arch) -> str:
    archs = [arch] if isinstance(arch, str) else list(arch)
    from .models.architectures import resolve_arch

    return "+".join(resolve_arch(a).name for a in archs)


@validate_params(
    {
        "dataset": [str],
        "root": [str, os.PathLike],
        "arch": _ESTIMATOR_PARAMETER,
        "weights": _ESTIMATOR_PARAMETER,
        # The splitter checks the split sizes, in its own words, before anything is loaded.
        "n_splits": "no_validation",
        "n_train": "no_validation",
        "n_test": "no_validation",
        "scales": ["array-like", None],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "download": ["boolean"],
        "report": [callable],
    },
    prefer_skip_nested_validation=False,
)
def run_transfer(
    dataset: str,
    root: StrPath,
    *,
    arch: str | Sequence[str] = "vgg16",
    weights: WeightsSpec | Sequence[WeightsSpec] = "imagenet",
    n_splits: int | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    scales: Sequence[int] | None = None,
    random_state: int = 0,
    download: bool = False,
    report: Callable[[str], None] = print,
    **featurizer_params: Any,
) -> dict[str, Any]:
    """Run the paper's transfer protocol on a local copy of ``dataset`` and report each step.

    Each image is described once (all of them, before any split); the SVM part then
    runs per split with ``C`` validated on 20% of the training images.

    Parameters
    ----------
    dataset : {"caltech101", "caltech256", "voc2007", "voc2012"}
    root : path
        Where the dataset is extracted (see :mod:`skvgg.datasets`).
    arch, weights
        As in :class:`~skvgg.VGGFeaturizer`; ``("vgg16", "vgg19")`` is the fusion.
    n_splits, n_train, n_test : int, optional
        Override the Caltech protocol (3 splits; 30/50 or 60/rest per class).
    scales : sequence of int, optional
        Override the test scales (e.g. ``(256,)`` for a quick run).
    random_state : int, default=0
        Seeds the splits and validation hold-outs.
    download : bool, default=False
        Download the dataset if it is not under ``root`` (see :mod:`skvgg.datasets`).
    report : callable, default=print
        Receives each line of the report.
    **featurizer_params
        ``batch_size``, ``device``, ``num_workers``, ``cache``, ``verbose``...

    Returns
    -------
    results : dict
        ``scores`` (per split, in %), ``mean``, ``std``, ``paper`` (Table 11 entry or
        None), ``metric``, ``Cs`` (chosen per split), ``featurize_seconds``, ``class_names``
        and the test labels: ``y_true`` with ``y_score`` (VOC: the decision values on the
        test set, and ``ap_method``) or ``y_pred`` (Caltech: one array per split).

    Raises
    ------
    ValueError
        Before any image is described, when a split cannot be drawn: fewer than 2
        classes, a class with fewer than ``n_train + 1`` images (named, with its
        count), ``n_train < 2`` (nothing to validate ``C`` on), a VOC set without
        annotations to score against.

    See Also
    --------
    paper_pipeline, paper_search : The pieces, for a protocol of one's own.
    """
    protocol = _protocol(dataset)
    if scales is not None:
        featurizer_params["scales"] = tuple(scales)
    featurizer = paper_featurizer(protocol.name, arch, weights, **featurizer_params)
    split_params = dict(protocol.split)
    split_params.update({k: v for k, v in dict(n_splits=n_splits, n_train=n_train, n_test=n_test).items() if v is not None})
    splitter = None if protocol.multilabel else PerClassSplit(**split_params, random_state=random_state)  # checks values
    data = _load(protocol, root, download)
    # Labels only, before hours of describing: a split that cannot be drawn is reported now.
    _check_feasible(protocol, data, split_params)
    network = _network_key(arch)
    paper = TABLE_11.get((protocol.name, network))
    pooling = "concatenated" if protocol.scale_pooling == "stack" else "averaged"
    scales = ", ".join(map(str, featurizer.scales))
    report(
        f"{protocol.title}: {network}, weights {'none (random)' if weights is None else weights}, fc7 at scales "
        f"{scales} px ({pooling}), averaged with the "
        f"mirror image; metric: {protocol.metric}"
    )
    featurizer.fit()
    started = time.perf_counter()
    descriptors = {part: featurizer.transform(bunch.paths) for part, bunch in data.items()}
    seconds = time.perf_counter() - started
    n_images = sum(len(bunch.paths) for bunch in data.values())
    report(f"  described {n_images} images in {seconds:.0f} s ({n_images / max(seconds, 1e-9):.2f} images/s)")

    scores, chosen = [], []
    # What the figures of skvgg.plotting.plot_transfer need: the test labels and predictions.
    outputs = {}
    if protocol.multilabel:
        train, test = data["train"], data["test"]
        search = paper_search(protocol.name, _head(protocol), random_state=random_state)
        search.fit(descriptors["train"], train.Y)
        decision = search.decision_function(descriptors["test"])
        method = "11point" if protocol.name == "voc2007" else "area"
        scores.append(100 * voc_mean_average_precision(test.target, decision, method=method))
        chosen.append(search.best_params_["svm__estimator__C"])
        outputs = {"class_names": list(test.target_names), "y_true": np.asarray(test.target), "y_score": decision}
        outputs["ap_method"] = method
        report(f"  {train.image_set} -> {test.image_set}: {protocol.metric} {scores[-1]:.2f} %  (C={chosen[-1]:g})")
    else:
        bunch = data["all"]
        y = np.asarray(bunch.target)
        X = descriptors["all"]
        outputs = {"class_names": list(bunch.target_names), "y_true": [], "y_pred": []}
        for number, (train, test) in enumerate(splitter.split(X, y), start=1):
            search = paper_search(protocol.name, _head(protocol), random_state=random_state + number)
            search.fit(X[train], y[train])
            predicted = search.predict(X[test])
            outputs["y_true"].append(y[test])
            outputs["y_pred"].append(predicted)
            scores.append(100 * mean_class_recall(y[test], predicted))
            chosen.append(search.best_params_["svm__C"])
            report(f"  split {number}: {protocol.metric} {scores[-1]:.2f} %  (C={chosen[-1]:g})")
    mean, std = float(np.mean(scores)), float(np.std(scores))
    paper_text = "not in Table 11"
    if paper is not None:
        paper_text = f"{paper[0]:.1f}" + (f" +- {paper[1]:.1f}" if paper[1] is not None else "") + " %"
    where = " (the paper's VOC-2012 figure is on the test server; this run scores val)" if protocol.name == "voc2012" else ""
    report(f"  mean +- std: {mean:.2f} +- {std:.2f} %   paper (Table 11, {network}): {paper_text}{where}")
    return {
        "scores": scores,
        "mean": mean,
        "std": std,
        "paper": paper,
        "metric": protocol.metric,
        "Cs": chosen,
        "featurize_seconds": seconds,
        **outputs,
    }


# -- ImageNet: the paper's test protocols (Tables 3-5) ---------------------------------------


@dataclass(frozen=True)
class ImageNetProtocol:
    """One test-time protocol of the paper's ImageNet tables, as :class:`~skvgg.VGGImageNetClassifier` parameters.

    ``table`` and ``paper_training`` say which column of the paper the published errors
    (:data:`TABLES_3_5`) come from: the paper trained its nets at fixed S or with scale
    jittering, and each column is a training scale.
    """

    name: str
    table: str
    title: str
    eval_scales: tuple | None
    eval_flip: bool
    multi_crop: bool | str
    paper_training: str

    def params(self) -> dict:
        """The classifier's test-time parameters."""
        return {"eval_scales": self.eval_scales, "eval_flip": self.eval_flip, "multi_crop": self.multi_crop}

    def views_per_image(self) -> int:
        """Network inputs per image and network (a dense view is the whole rescaled image)."""
        mirrors = 2 if self.eval_flip else 1
        if self.eval_scales is None:
            return mirrors
        dense = len(self.eval_scales) * mirrors if self.multi_crop in (False, "combine") else 0
        crops = 25 * len(self.eval_scales) * mirrors if self.multi_crop in (True, "combine") else 0
        return dense + crops


_JITTERED = "S in [256;512]"
_MULTI_SCALES = (256, 384, 512)

#: The test protocols (paper Sec. 3.2 and 4), by name. Dense and multi-crop evaluation
#: average the mirror image, as the paper does ("center-crop" is torchvision's protocol, the
#: one its published accuracy is measured with; it is in none of the paper's tables).
IMAGENET_PROTOCOLS = {
    p.name: p
    for p in (
        ImageNetProtocol("center-crop", "torchvision", "224 centre crop of the image resized to 256", None, False, False, ""),
        ImageNetProtocol("dense-256", "Table 3", "dense, Q=256", (256,), True, False, "S=256"),
        ImageNetProtocol("dense-384", "Table 3", "dense, Q=384", (384,), True, False, _JITTERED),
        ImageNetProtocol("multi-scale-256", "Table 4", "dense, Q={224,256,288}", (224, 256, 288), True, False, "S=256"),
        ImageNetProtocol("multi-scale-384", "Table 4", "dense, Q={352,384,416}", (352, 384, 416), True, False, "S=384"),
        ImageNetProtocol("multi-scale", "Table 4", "dense, Q={256,384,512}", _MULTI_SCALES, True, False, _JITTERED),
        ImageNetProtocol("multi-crop", "Table 5", "multi-crop, 150 crops, Q={256,384,512}", _MULTI_SCALES, True, True, _JITTERED),
        ImageNetProtocol(
            "multi-crop+dense", "Table 5", "multi-crop & dense, Q={256,384,512}", _MULTI_SCALES, True, "combine", _JITTERED
        ),
    )
}

#: The paper's ILSVRC-2012 validation errors (top-1, top-5, in %), by protocol and network
#: (skvgg's names of configurations A vgg11, A-LRN vgg11_lrn, B vgg13, C vgg16_1x1, D vgg16,
#: E vgg19; "vgg16+vgg19" is the D & E fusion of Table 6). Tables 3 and 4 give one column per
#: training scale; the one kept is the protocol's ``paper_training``: S=256 for Q=256 and
#: Q={224,256,288}, S=384 for Q={352,384,416}, scale jittering S in [256;512] for Q=384 and
#: Q={256,384,512} (the released D and E nets were trained with jittering).
TABLES_3_5 = {
    ("dense-256", "vgg11"): (29.6, 10.4),
    ("dense-256", "vgg11_lrn"): (29.7, 10.5),
    ("dense-256", "vgg13"): (28.7, 9.9),
    ("dense-256", "vgg16_1x1"): (28.1, 9.4),
    ("dense-256", "vgg16"): (27.0, 8.8),
    ("dense-256", "vgg19"): (27.3, 9.0),
    ("dense-384", "vgg16_1x1"): (27.3, 8.8),
    ("dense-384", "vgg16"): (25.6, 8.1),
    ("dense-384", "vgg19"): (25.5, 8.0),
    ("multi-scale-256", "vgg13"): (28.2, 9.6),
    ("multi-scale-256", "vgg16_1x1"): (27.7, 9.2),
    ("multi-scale-256", "vgg16"): (26.6, 8.6),
    ("multi-scale-256", "vgg19"): (26.9, 8.7),
    ("multi-scale-384", "vgg16_1x1"): (27.8, 9.2),
    ("multi-scale-384", "vgg16"): (26.5, 8.6),
    ("multi-scale-384", "vgg19"): (26.7, 8.6),
    ("multi-scale", "vgg16_1x1"): (26.3, 8.2),
    ("multi-scale", "vgg16"): (24.8, 7.5),
    ("multi-scale", "vgg19"): (24.8, 7.5),
    ("multi-scale", "vgg16+vgg19"): (24.0, 7.1),
    ("multi-crop", "vgg16"): (24.6, 7.5),
    ("multi-crop", "vgg19"): (24.6, 7.4),
    ("multi-crop", "vgg16+vgg19"): (23.9, 7.2),
    ("multi-crop+dense", "vgg16"): (24.4, 7.2),
    ("multi-crop+dense", "vgg19"): (24.4, 7.1),
    ("multi-crop+dense", "vgg16+vgg19"): (23.7, 6.8),
}


def _imagenet_protocol(name: str) -> ImageNetProtocol:
    if name not in IMAGENET_PROTOCOLS:
        raise ValueError(f"Unknown ImageNet protocol {name!r}; expected one of {', '.join(IMAGENET_PROTOCOLS)}")
    return IMAGENET_PROTOCOLS[name]


def paper_imagenet_errors(protocol: str, network: str) -> tuple[float, float, str] | None:
    """The paper's (top-1, top-5, source) validation errors in % for ``network`` under ``protocol``.

    ``network`` is an architecture name or a fusion ``"vgg16+vgg19"`` (paper letters
    accepted: ``"D+E"``). None where the paper has no such entry (e.g. BatchNorm nets).
    The source names the table and its training-scale column, e.g. ``"Table 3, S=256"``.

    Examples
    --------
    >>> from skvgg.experiments import paper_imagenet_errors
    >>> paper_imagenet_errors("multi-crop+dense", "D+E")
    (23.7, 6.8, 'Table 6, D & E fusion, S in [256;512]')
    >>> paper_imagenet_errors("dense-384", "vgg19")
    (25.5, 8.0, 'Table 3, S in [256;512]')
    """
    protocol_info = _imagenet_protocol(protocol)
    key = _network_key(network.split("+"))
    errors = TABLES_3_5.get((protocol, key))
    if errors is None:
        return None
    table = "Table 6, D & E fusion" if "+" in key else protocol_info.table
    return errors[0], errors[1], f"{table}, {protocol_info.paper_training}"


def torchvision_imagenet_errors(arch: str, weights: WeightsSpec = "imagenet") -> tuple[float, float] | None:
    """torchvision's published (top-1, top-5) errors in % of ``weights`` (its centre-crop protocol).

    Read from the weights enum's metadata (``meta["_metrics"]["ImageNet-1K"]``), offline;
    None for weights torchvision did not publish (files, random weights, the features-only
    weights).

    Examples
    --------
    >>> from skvgg.experiments import torchvision_imagenet_errors
    >>> torchvision_imagenet_errors("vgg16")
    (28.408, 9.618)
    """
    from .models.weights import resolve_weights

    info = resolve_weights(_resolve_arch(arch), weights)
    metrics = getattr(info.enum, "meta", {}).get("_metrics", {}).get("ImageNet-1K") if info.enum is not None else None
    if not metrics or not np.isfinite(metrics.get("acc@1", np.nan)):
        return None
    return round(100.0 - metrics["acc@1"], 3), round(100.0 - metrics["acc@5"], 3)


def _precision_name(precision: str, device) -> str:
    """The dtype a precision runs in on ``device``; ``"auto"`` says so: ``"bfloat16 (auto)"``."""
    from ._pipeline.runtime import resolve_precision

    name = str(resolve_precision(precision, device)).removeprefix("torch.")
    return f"{name} (auto)" if precision == "auto" else name


def _resolve_arch(arch: str):
    from .models.architectures import resolve_arch

    return resolve_arch(arch)


def _network_entries(arch) -> list[list[str]]:
    """``arch`` as a list of networks to report, each a list of fused architectures (canonical names)."""
    entries = [arch] if isinstance(arch, str) else list(arch)
    if not entries:
        raise ValueError("arch is empty; expected a name such as 'vgg16', or several, or a fusion 'vgg16+vgg19'")
    networks = []
    for entry in entries:
        members = entry.split("+") if isinstance(entry, str) else list(entry)
        names = [_resolve_arch(member.strip()).name for member in members]
        if len(set(names)) != len(names):
            raise ValueError(f"arch entry {entry!r} fuses the same network twice")
        networks.append(names)
    return networks


#: Images per cached block of posteriors: an interrupted run restarts at the last block written.
IMAGENET_BLOCK = 500


def _block_key(identity: dict, paths: Sequence[str]) -> str:
    import hashlib
    import json

    text = json.dumps(identity, sort_keys=True, default=str) + "\n" + "\n".join(paths)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _posteriors(classifier, paths: list[str], cache_dir, identity: dict) -> tuple[np.ndarray, float, int]:
    """Posteriors of ``classifier`` on ``paths``, block by block, read from or written to ``cache_dir``.

    Returns the posteriors, the seconds spent computing them (as recorded when each block
    was computed) and the number of blocks read from the cache.
    """
    from pathlib import Path

    from .dask._store import atomic_write

    blocks, seconds, cached = [], 0.0, 0
    for start in range(0, len(paths), IMAGENET_BLOCK):
        part = paths[start : start + IMAGENET_BLOCK]
        file = Path(cache_dir) / f"imagenet-{_block_key(identity, part)}.npz" if cache_dir is not None else None
        if file is not None and file.is_file():
            with np.load(file) as stored:
                blocks.append(stored["proba"])
                seconds += float(stored["seconds"])
            cached += 1
            continue
        started = time.perf_counter()
        proba = classifier.predict_proba(part).astype(np.float32)
        took = time.perf_counter() - started
        seconds += took
        blocks.append(proba)
        if file is not None:

            def write(temporary, proba=proba, took=took):
                with open(temporary, "wb") as handle:
                    np.savez(handle, proba=proba, seconds=np.float64(took))

            atomic_write(file, write)
    return np.concatenate(blocks), seconds, cached


@validate_params(
    {
        "root": [str, os.PathLike],
        "arch": _ESTIMATOR_PARAMETER,
        "weights": _ESTIMATOR_PARAMETER,
        "protocols": [list, tuple, str, None],
        "precision": [list, tuple, str],
        "per_class": [Interval(Integral, 1, None, closed="left"), None],
        "layout": [str],
        "cache": [str, os.PathLike, None],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "report": [callable],
    },
    prefer_skip_nested_validation=False,
)
def run_imagenet(
    root: StrPath,
    *,
    arch: str | Sequence[str] = "vgg16",
    weights: WeightsSpec | Sequence[WeightsSpec] = "imagenet",
    protocols: str | Sequence[str] | None = None,
    precision: str | Sequence[str] = "auto",
    per_class: int | None = None,
    layout: str = "auto",
    cache: StrPath | None = None,
    random_state: int = 0,
    report: Callable[[str], None] = print,
    **classifier_params: Any,
) -> pd.DataFrame:
    """Run the paper's ImageNet test protocols (Tables 3-5) and tabulate the errors beside the published ones.

    Each network is evaluated with its own 1000-way head
    (:class:`~skvgg.VGGImageNetClassifier`) under each protocol and precision; fusions
    average the posteriors of their members, computed once, and "multi-crop+dense" is the
    mean of the dense and multi-crop posteriors at its scales (as the classifier's
    ``multi_crop="combine"`` weighs them), so with "multi-scale" and "multi-crop" it costs
    nothing more. Posteriors are cached block
    by block (:data:`IMAGENET_BLOCK` images) in ``cache``, so an interrupted run resumes
    where it stopped and a repeated one (or a new fusion of networks already run) reads
    them instead of recomputing.

    Parameters
    ----------
    root : path
        The validation set, see :func:`skvgg.datasets.load_imagenet_val`.
    arch : str or sequence of str, default="vgg16"
        The networks; ``"vgg16+vgg19"`` (or a tuple) is a fusion (Tables 6-7).
    weights : None, str, path or sequence, default="imagenet"
        The weights of every network (None: random, seeded by ``random_state``), or one
        entry per entry of ``arch`` (a fusion's members share theirs), e.g. to compare a
        checkpoint file with torchvision's weights: ``arch=["vgg16", "vgg16"],
        weights=["imagenet", "vgg16-caffe.pth"]``.
    protocols : str or sequence of str, default=None
        Names from :data:`IMAGENET_PROTOCOLS`; None runs all of them, in their order.
    precision : str or sequence of str, default="auto"
        One or more of "auto", "float32", "bfloat16", "float16": each precision is a row.
    per_class : int, default=None
        Only the first ``per_class`` images of each class (a quick run).
    layout : {"auto", "devkit", "torchvision", "csv"}, default="auto"
        See :func:`~skvgg.datasets.load_imagenet_val`.
    cache : path, default=None
        Directory of the cached posteriors (created); None computes everything.
    random_state : int, default=0
        Seeds random weights.
    report : callable, default=print
        Receives one line per row as it is measured.
    **classifier_params
        ``batch_size``, ``device``, ``num_workers``, ``max_pixels``, ``preprocessing``.

    Returns
    -------
    table : pandas.DataFrame
        One row per network, precision and protocol, in that nesting: ``network``,
        ``weights``, ``precision`` (the dtype it ran in, ``"bfloat16 (auto)"`` for
        ``"auto"``), ``protocol``, ``table``, ``views_per_image``,
        ``images``, the measured ``top1_error`` and ``top5_error`` (%), the paper's
        ``paper_top1_error``, ``paper_top5_error`` and ``paper_source`` (NaN and "" where
        the paper has no entry), torchvision's published ``torchvision_top1_error`` and
        ``torchvision_top5_error`` for the weights (its centre-crop protocol; NaN for other
        weights), ``seconds`` of network time, ``images_per_second`` and ``cached`` (the
        fraction of blocks read from ``cache``).

    Raises
    ------
    ValueError
        For an unknown protocol or architecture, or a precision not offered, before any
        image is read.
    DatasetNotFoundError
        Without the data, naming the files to obtain and where to put them.

    See Also
    --------
    skvgg.plotting.plot_imagenet_protocols : The table as a figure, error against images/s.
    """
    from ._pipeline.runtime import resolve_device, resolve_precision
    from .datasets import load_imagenet_val
    from .imagenet import VGGImageNetClassifier
    from .metrics import top_k_error

    names = list(IMAGENET_PROTOCOLS) if protocols is None else [protocols] if isinstance(protocols, str) else list(protocols)
    chosen = [_imagenet_protocol(name) for name in names]
    precisions = [precision] if isinstance(precision, str) else list(precision)
    offered = VGGImageNetClassifier._parameter_constraints["precision"][0].options
    for value in precisions:
        if value not in offered:
            raise ValueError(f"precision {value!r} is not offered; expected one of {sorted(offered)}")
    networks = _network_entries(arch)
    if isinstance(weights, list | tuple):
        if len(weights) != len(networks):
            raise ValueError(f"weights has {len(weights)} entries but arch has {len(networks)}; give one per arch entry")
        weights_of = list(weights)
    else:
        weights_of = [weights] * len(networks)
    data = load_imagenet_val(root, layout=layout, per_class=per_class)
    paths, y = data.paths, data.target
    if cache is not None:
        os.makedirs(cache, exist_ok=True)
    device = resolve_device(classifier_params.get("device", "auto"))
    report(f"ImageNet validation ({data.layout}, {len(paths)} images of {len(np.unique(y))} classes): {data.root}")

    units = {}  # (member, precision, scales, flip, multi_crop) -> (posteriors, seconds, cached fraction)
    n_blocks = -(-len(paths) // IMAGENET_BLOCK)

    def unit(member: str, member_weights, precision_name: str, params: dict) -> tuple:
        # Weights by value when they are a name or a path (the same file twice is run once), else by object.
        named = member_weights if member_weights is None or isinstance(member_weights, str | os.PathLike) else id(member_weights)
        key = (member, str(named), precision_name, params["eval_scales"], params["eval_flip"], params["multi_crop"])
        if key in units:
            return units[key]
        if params["multi_crop"] == "combine":
            # Dense and multi-crop weigh equally in "combine" (one view group per scale and method,
            # skvgg._evaluation.evaluation_plan): the mean of the two runs, each computed once.
            dense, crops = (unit(member, member_weights, precision_name, {**params, "multi_crop": m}) for m in (False, True))
            units[key] = ((dense[0] + crops[0]) / 2, dense[1] + crops[1], (dense[2] + crops[2]) / 2)
            return units[key]
        classifier = VGGImageNetClassifier(
            member, weights=member_weights, precision=precision_name, random_state=random_state, **params, **classifier_params
        ).fit()
        identity = {
            "weights": classifier.weights_identity_, "arch": member, **params,
            "precision": str(resolve_precision(precision_name, device)), "device": device.type,
            "preprocessing": repr(classifier.preprocessings_[0]), "format": 1,
        }  # fmt: skip
        proba, took, hits = _posteriors(classifier, paths, cache, identity)
        units[key] = (proba, took, hits / max(1, n_blocks))
        return units[key]

    rows = []
    for network, network_weights in zip(networks, weights_of):
        key = "+".join(network)
        published = torchvision_imagenet_errors(network[0], network_weights) if len(network) == 1 else None
        weights_text = "random" if network_weights is None else str(network_weights)
        for precision_name in precisions:
            for protocol in chosen:
                probas, seconds, cached = [], 0.0, 0.0
                for member in network:
                    proba, took, fraction = unit(member, network_weights, precision_name, protocol.params())
                    probas.append(proba)
                    seconds += took
                    cached += fraction / len(network)
                proba = np.mean(probas, axis=0)
                top1 = 100 * top_k_error(y, proba, k=1)
                top5 = 100 * top_k_error(y, proba, k=5)
                paper = paper_imagenet_errors(protocol.name, key)
                rows.append(
                    {
                        "network": key,
                        "weights": weights_text,
                        "precision": _precision_name(precision_name, device),
                        "protocol": protocol.name,
                        "table": protocol.table,
                        "views_per_image": protocol.views_per_image() * len(network),
                        "images": len(paths),
                        "top1_error": top1,
                        "top5_error": top5,
                        "paper_top1_error": paper[0] if paper else np.nan,
                        "paper_top5_error": paper[1] if paper else np.nan,
                        "paper_source": paper[2] if paper else "",
                        "torchvision_top1_error": published[0] if published else np.nan,
                        "torchvision_top5_error": published[1] if published else np.nan,
                        "seconds": seconds,
                        "images_per_second": len(paths) / seconds if seconds > 0 else np.nan,
                        "cached": cached,
                    }
                )
                paper_text = f"paper {paper[0]:.1f} / {paper[1]:.1f} ({paper[2]})" if paper else "not in the paper's tables"
                report(
                    f"  {key} {rows[-1]['precision']} {protocol.name} ({protocol.title}): "
                    f"top-1 {top1:.1f} %, top-5 {top5:.1f} %; {paper_text}; {rows[-1]['images_per_second']:.2f} images/s"
                )
    return pd.DataFrame(rows)
