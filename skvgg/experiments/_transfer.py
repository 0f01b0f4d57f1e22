"""The paper's transfer experiments (Appendix B, Table 11): Caltech-101/256 and PASCAL VOC-2007/2012.

Fixed VGG descriptors (fc7 after ReLU, dense evaluation over several scales, averaged
with the mirror image), L2-normalised, then a linear SVM; the ConvNet is not fine-tuned.
The protocol of each dataset is in :data:`DATASETS`, the paper's results in :data:`TABLE_11`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV, ShuffleSplit
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer
from sklearn.svm import LinearSVC
from sklearn.utils._param_validation import HasMethods, Interval, validate_params

from .._typing import StrPath, WeightsSpec
from ..datasets import load_caltech101, load_caltech256, load_voc
from ..featurizer import VGGFeaturizer
from ..metrics import mean_class_recall, mean_class_recall_scorer, voc07_map_scorer, voc12_map_scorer, voc_mean_average_precision
from ..model_selection import CALTECH101_PROTOCOL, CALTECH256_PROTOCOL, PerClassHoldOut, PerClassSplit, check_class_sizes
from ._networks import ESTIMATOR_PARAMETER, network_key

__all__ = [
    "C_GRID",
    "DATASETS",
    "TABLE_11",
    "DatasetProtocol",
    "paper_featurizer",
    "paper_pipeline",
    "paper_search",
    "run_transfer",
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


@validate_params(
    {"dataset": [str], "arch": ESTIMATOR_PARAMETER, "weights": ESTIMATOR_PARAMETER},
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
        "arch": ESTIMATOR_PARAMETER,
        "weights": ESTIMATOR_PARAMETER,
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


@validate_params(
    {
        "dataset": [str],
        "root": [str, os.PathLike],
        "arch": ESTIMATOR_PARAMETER,
        "weights": ESTIMATOR_PARAMETER,
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
    network = network_key(arch)
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
