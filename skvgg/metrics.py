"""Metrics of the paper's experiments, with scorers for model selection.

- ImageNet (Tables 3-7): **top-k error** (:func:`top_k_error`), the fraction of
  images whose true class is not among the ``k`` classes of highest score;
  ``1 -`` :func:`sklearn.metrics.top_k_accuracy_score`, which computes it. The
  scorers :data:`neg_top1_error_scorer`, :data:`neg_top5_error_scorer` and
  :func:`make_top_k_error_scorer` return the *negated* error (greater is better,
  as scikit-learn's ``neg_log_loss``) and score every class of the estimator's
  ``classes_``, so a fold missing some classes is scored correctly.
- Caltech-101 and Caltech-256: **mean class recall** (:func:`mean_class_recall`,
  :data:`mean_class_recall_scorer`), the mean over the classes of ``y_true``
  of the fraction of each class's images that are classified correctly:
  scikit-learn's :func:`~sklearn.metrics.balanced_accuracy_score`, under the
  paper's name.
- PASCAL VOC: **mean average precision** with the devkit's rules
  (:func:`voc_average_precision`, :func:`voc_mean_average_precision`): the
  VOC-2007 11-point interpolated AP (:data:`voc07_map_scorer`) and the
  VOC-2010+ area under the interpolated precision/recall curve
  (:data:`voc12_map_scorer`). Images marked "difficult" for a class are left
  out of that class's ranking: neither true nor false positives. These are
  computed here, not by :func:`~sklearn.metrics.average_precision_score`,
  on purpose: that function is the area under the *non-interpolated* curve
  and has neither the 11-point rule nor the "difficult" marks, so it gives
  other numbers than the devkit and the paper's Table 11.

Label encodings of ``y_true`` for the VOC metrics
--------------------------------------------------
``encoding="auto"`` (the default) reads ``y_true`` as

- the devkit's encoding of :func:`skvgg.datasets.load_voc`'s ``target`` when
  it contains a ``-1``: ``1`` positive, ``-1`` negative, ``0`` difficult
  (ignored);
- a 0/1 indicator otherwise (``1`` positive, ``0`` negative), e.g. the
  ``Y`` that a multi-label classifier was trained on.

The decision is made once for the whole ``y_true`` (all classes together).
Pass ``encoding="voc"`` or ``"indicator"`` to fix it, and ``difficult=`` (a
boolean mask of the same shape) to ignore entries of a 0/1 indicator; in a
grid search the mask reaches the scorer through metadata routing, see
:func:`make_voc_map_scorer`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from numbers import Integral

import numpy as np
from numpy.typing import ArrayLike
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import balanced_accuracy_score, make_scorer, top_k_accuracy_score
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_consistent_length, column_or_1d

__all__ = [
    "top_k_error",
    "make_top_k_error_scorer",
    "neg_top1_error_scorer",
    "neg_top5_error_scorer",
    "mean_class_recall",
    "mean_class_recall_scorer",
    "voc_average_precision",
    "voc_mean_average_precision",
    "make_voc_map_scorer",
    "voc07_map_scorer",
    "voc12_map_scorer",
]

_METHOD = [StrOptions({"11point", "area"})]
_TIES = [StrOptions({"group", "stable"})]
_ENCODING = [StrOptions({"auto", "voc", "indicator"})]


# -- Mean class recall ---------------------------------------------------------------------


@validate_params(
    {"y_true": ["array-like"], "y_pred": ["array-like"], "sample_weight": ["array-like", None]},
    prefer_skip_nested_validation=True,
)
def mean_class_recall(y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None) -> float:
    """Mean over the classes of ``y_true`` of the recall of each class.

    The metric of the paper's Caltech-101 and Caltech-256 experiments: for
    each class present in ``y_true``, the fraction of its images predicted as
    that class; then the unweighted mean over these classes. This is
    :func:`sklearn.metrics.balanced_accuracy_score` (``adjusted=False``),
    which computes it; this function only gives it the paper's name, checks
    the labels with messages in the paper's terms, and does not warn about
    predicted classes absent from ``y_true``: they only count as errors of
    the true classes.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True class labels (binary or multiclass; not multi-label).
    y_pred : array-like of shape (n_samples,)
        Predicted class labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the samples within their class's recall.

    Returns
    -------
    score : float
        Between 0 and 1.

    Raises
    ------
    ValueError
        If the lengths differ, the inputs are empty, multi-label or
        continuous, or a class of ``y_true`` has a total weight of 0.

    See Also
    --------
    sklearn.metrics.balanced_accuracy_score : The same number.
    mean_class_recall_scorer : For ``scoring=``.

    Examples
    --------
    >>> from skvgg.metrics import mean_class_recall
    >>> mean_class_recall(["a", "a", "a", "b"], ["a", "a", "b", "b"])
    0.8333333333333333
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.ndim == 2 and y.shape[1] != 1:
            raise ValueError(
                f"{name} has shape {y.shape}: mean class recall needs one label per sample, "
                "not a multi-label indicator matrix (for VOC, use voc_mean_average_precision)"
            )
    y_true = column_or_1d(y_true)
    y_pred = column_or_1d(y_pred)
    check_consistent_length(y_true, y_pred, sample_weight)
    if y_true.shape[0] == 0:
        raise ValueError("y_true and y_pred are empty: expected at least one sample")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        kind = type_of_target(y, input_name=name)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"{name} is {kind}; expected class labels (binary or multiclass)")
    unique_labels(y_true, y_pred)  # raises on a mix of strings and numbers
    weight = _check_sample_weight(sample_weight, y_true)
    classes, inverse = np.unique(y_true, return_inverse=True)
    totals = np.bincount(inverse, weights=weight, minlength=len(classes))
    if (totals <= 0).any():
        k = int(np.flatnonzero(totals <= 0)[0])
        # balanced_accuracy_score would drop such a class from the mean, silently changing what is averaged.
        raise ValueError(f"class {classes.tolist()[k]!r} of y_true has a total sample weight of {totals[k]}; expected > 0")
    with warnings.catch_warnings():
        # Predicted classes that are not true classes: errors of the true classes, as documented above.
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true", UserWarning)
        return float(balanced_accuracy_score(y_true, y_pred, sample_weight=sample_weight))


#: Scorer for ``scoring=``: :func:`mean_class_recall` of ``estimator.predict(X)``.
mean_class_recall_scorer = make_scorer(mean_class_recall)


# -- VOC average precision ----------------------------------------------------------------------


def _score_matrix(y_score):
    """y_score as a 2-D float array; a list of (n, 2) probability arrays gives their column 1."""
    if isinstance(y_score, list) and y_score and all(np.ndim(s) == 2 for s in y_score):
        # predict_proba of some multi-output classifiers: one (n_samples, 2) array per class.
        columns = []
        for k, proba in enumerate(y_score):
            proba = np.asarray(proba)
            if proba.shape[1] != 2:
                raise ValueError(f"y_score[{k}] has shape {proba.shape}; expected (n_samples, 2) probabilities")
            columns.append(proba[:, 1])
        return np.column_stack(columns)
    return np.asarray(y_score)


def _check_voc_inputs(y_true, y_score, difficult, encoding):
    """Return (positive, ignored, score) as 2-D arrays and whether the input was 1-D."""
    y_true = np.asarray(y_true)
    y_score = _score_matrix(y_score)
    if y_true.ndim not in (1, 2):
        raise ValueError(f"y_true must be 1-D (one class) or 2-D (n_samples, n_classes), got shape {y_true.shape}")
    if y_true.size == 0:
        raise ValueError("y_true is empty: expected at least one sample")
    one_class = y_true.ndim == 1
    if y_score.ndim == 2 and one_class and y_score.shape[1] == 1:
        y_score = y_score[:, 0]
    if y_score.shape != y_true.shape:
        raise ValueError(
            f"y_score has shape {y_score.shape} but y_true has shape {y_true.shape}; expected one score per "
            "label (use the classifier's decision_function, or predict_proba of the positive class)"
        )
    if y_true.dtype.kind not in "biuf":
        raise ValueError(f"y_true must be numeric (1/0/-1 or 0/1), got dtype {y_true.dtype}")
    if y_score.dtype.kind not in "biuf":
        raise ValueError(f"y_score must be numeric, got dtype {y_score.dtype}")
    y_score = y_score.astype(np.float64)
    if not np.isfinite(y_score).all():
        raise ValueError("y_score contains NaN or infinite values")
    values = np.unique(y_true)
    if not np.isin(values, (-1, 0, 1)).all():
        raise ValueError(
            f"y_true contains {values[~np.isin(values, (-1, 0, 1))][:5].tolist()}; expected the devkit's "
            "1 (present) / 0 (difficult) / -1 (absent), or a 0/1 indicator"
        )
    if encoding == "auto":
        encoding = "voc" if (-1 in values) else "indicator"
    if encoding == "indicator" and -1 in values:
        raise ValueError("encoding='indicator' but y_true contains -1; expected 0/1 values")
    positive = y_true == 1
    ignored = (y_true == 0) if encoding == "voc" else np.zeros(y_true.shape, dtype=bool)
    if difficult is not None:
        difficult = np.asarray(difficult)
        if difficult.shape != y_true.shape:
            raise ValueError(f"difficult has shape {difficult.shape}; expected the shape of y_true, {y_true.shape}")
        if difficult.dtype != bool:
            if not np.isin(difficult, (0, 1)).all():
                raise ValueError("difficult must be a boolean mask (or 0/1 values)")
            difficult = difficult.astype(bool)
        ignored = ignored | difficult
    if one_class:
        positive, ignored, y_score = positive[:, None], ignored[:, None], y_score[:, None]
    return positive, ignored, y_score, one_class


def _ap_one(positive, score, method, ties):
    """Devkit AP of one class, difficult entries already removed; NaN without positives."""
    n_pos = int(positive.sum())
    if n_pos == 0:
        return np.nan
    # Descending scores; a stable sort keeps tied samples in input order, as
    # MATLAB's sort(-confidence) in the devkit does.
    order = np.argsort(-score, kind="stable")
    is_tp = positive[order]
    tp = np.cumsum(is_tp)
    fp = np.cumsum(~is_tp)
    if ties == "group":
        # One operating point per distinct score: the last position of each run of ties.
        sorted_score = score[order]
        last = np.r_[np.flatnonzero(sorted_score[1:] != sorted_score[:-1]), len(sorted_score) - 1]
        tp, fp = tp[last], fp[last]
    recall = tp / n_pos
    precision = tp / (tp + fp)
    if method == "11point":
        ap = 0.0
        for k in range(11):
            # recall >= k / 10, compared exactly in integers: 10 * tp >= k * n_pos.
            reached = 10 * tp >= k * n_pos
            ap += precision[reached].max() if reached.any() else 0.0
        return ap / 11
    # VOCap: precision made monotonically decreasing, summed over the recall steps.
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[steps] - mrec[steps - 1]) * mpre[steps]))


_VOC_PARAMETERS = {
    "y_true": ["array-like"],
    "y_score": ["array-like"],
    "method": _METHOD,
    "difficult": ["array-like", None],
    "ties": _TIES,
    "encoding": _ENCODING,
}


@validate_params(_VOC_PARAMETERS, prefer_skip_nested_validation=True)
def voc_average_precision(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    method: str = "11point",
    difficult: ArrayLike | None = None,
    ties: str = "group",
    encoding: str = "auto",
) -> float | np.ndarray:
    """Average precision of each class, with the PASCAL VOC devkit's rules.

    For each class, the samples are ranked by decreasing ``y_score``; samples
    marked difficult for that class are removed from its ranking (neither
    true nor false positives, exactly as the devkit, which counts them in
    neither); precision and recall are computed at every rank, then

    - ``method="11point"`` (VOC-2007, the paper's VOC-2007 results): the mean,
      over the 11 recall thresholds t = 0, 0.1, ..., 1, of the maximum
      precision at recall >= t (0 where no rank reaches t);
    - ``method="area"`` (VOC-2010 and later, the VOC-2012 server): precision
      made monotonically decreasing (each value replaced by the maximum
      precision at any higher recall), then summed over the recall steps,
      ``sum((r[i] - r[i-1]) * p_interp[i])``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_classes)
        Labels, in the devkit's encoding (``1`` present, ``0`` difficult,
        ignored, ``-1`` absent; the ``target`` of
        :func:`skvgg.datasets.load_voc`) or as a 0/1 indicator; see
        ``encoding``.
    y_score : array-like of the same shape
        Confidence of each label, e.g. ``decision_function`` of a
        ``OneVsRestClassifier``. A list of ``(n_samples, 2)`` probability
        arrays (``predict_proba`` of multi-output classifiers) is accepted.
    method : {"11point", "area"}, default="11point"
        "11point" for VOC-2007 (the paper's Table 11), "area" for VOC-2010 and later.
    difficult : array-like of bool of the same shape, default=None
        Entries to ignore, in addition to the 0 entries of the devkit's encoding.
    ties : {"group", "stable"}, default="group"
        Samples with equal scores.
        "group": they form one operating point (all of them are retrieved
        together, as in :func:`sklearn.metrics.precision_recall_curve`), so
        the result does not depend on the order of the samples.
        "stable": they are ranked in input order, which is what the devkit's
        stable ``sort`` does. Both are the same when the scores are distinct,
        the usual case for SVM scores.
    encoding : {"auto", "voc", "indicator"}, default="auto"
        How to read ``y_true``: "voc" is the devkit's 1/0/-1; "indicator" is
        0/1 with 0 a negative; "auto" is "voc" if ``y_true`` contains a -1
        anywhere, else "indicator".

    Returns
    -------
    ap : float or ndarray of shape (n_classes,)
        A float for 1-D input. A class without any positive sample (after
        removing its difficult samples) has an undefined AP: NaN, with an
        :class:`~sklearn.exceptions.UndefinedMetricWarning`.

    Notes
    -----
    The 11-point thresholds are compared exactly (``10 * TP >= k * n_pos``):
    with floating point thresholds, as the devkit's ``0:0.1:1`` and
    ``np.arange(0, 1.1, 0.1)``, a recall of exactly 3/10 does not reach the
    threshold computed as ``3 * 0.1``.

    This is not :func:`sklearn.metrics.average_precision_score`, by design:
    that is the area under the *non-interpolated* precision/recall curve,
    with neither the 11-point rule nor "difficult" entries, and it differs
    from the devkit's numbers (it is never higher than ``method="area"``,
    whose interpolation only raises precision). The devkit's AP is what the
    paper reports and what the VOC evaluation server computes.

    See Also
    --------
    voc_mean_average_precision : The mean over the classes (the VOC mAP).
    make_voc_map_scorer : A scorer of the mAP for ``scoring=``.
    sklearn.metrics.average_precision_score : The non-interpolated AP.

    Examples
    --------
    >>> from skvgg.metrics import voc_average_precision
    >>> voc_average_precision([1, -1, 1, 0], [0.9, 0.8, 0.7, 0.95], method="area")
    0.8333333333333333
    """
    positive, ignored, score, one_class = _check_voc_inputs(y_true, y_score, difficult, encoding)
    n_classes = positive.shape[1]
    ap = np.empty(n_classes)
    for k in range(n_classes):
        keep = ~ignored[:, k]
        ap[k] = _ap_one(positive[keep, k], score[keep, k], method, ties)
    undefined = np.flatnonzero(np.isnan(ap))
    if undefined.size:
        which = "the class" if one_class else f"class column(s) {undefined.tolist()}"
        warnings.warn(
            f"{which} of y_true {'has' if undefined.size == 1 else 'have'} no positive (non-difficult) "
            "sample: average precision is undefined and returned as NaN",
            UndefinedMetricWarning,
            stacklevel=3,  # the caller's line, past validate_params' wrapper
        )
    return float(ap[0]) if one_class else ap


@validate_params(_VOC_PARAMETERS, prefer_skip_nested_validation=True)
def voc_mean_average_precision(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    method: str = "11point",
    difficult: ArrayLike | None = None,
    ties: str = "group",
    encoding: str = "auto",
) -> float:
    """Mean over the classes of :func:`voc_average_precision` (the VOC mAP).

    Parameters
    ----------
    y_true, y_score, method, difficult, ties, encoding
        As in :func:`voc_average_precision`.

    Returns
    -------
    score : float
        The mean of the defined APs. Classes without positive samples have
        an undefined AP and are left out of the mean, with an
        :class:`~sklearn.exceptions.UndefinedMetricWarning`; NaN if no class
        has a positive sample.

    See Also
    --------
    voc_average_precision : The AP of each class, and the devkit's rules.
    voc07_map_scorer, voc12_map_scorer : Scorers of this mAP for ``scoring=``.

    Examples
    --------
    >>> from skvgg.metrics import voc_mean_average_precision
    >>> voc_mean_average_precision([[1, -1], [-1, 1], [1, 1]], [[0.9, 0.2], [0.1, 0.8], [0.5, 0.3]])
    1.0
    """
    ap = np.atleast_1d(voc_average_precision(y_true, y_score, method=method, difficult=difficult, ties=ties, encoding=encoding))
    defined = ap[~np.isnan(ap)]
    if defined.size == 0:
        return float("nan")
    return float(defined.mean())


@validate_params({"method": _METHOD, "ties": _TIES, "encoding": _ENCODING}, prefer_skip_nested_validation=True)
def make_voc_map_scorer(method: str = "11point", *, ties: str = "group", encoding: str = "auto") -> Callable[..., float]:
    """A new scorer of :func:`voc_mean_average_precision` for ``scoring=``.

    The scorer ranks with the estimator's ``decision_function`` (or
    ``predict_proba`` when it has none), e.g. a
    ``OneVsRestClassifier(LinearSVC())`` fitted on a 0/1 indicator ``Y``.

    Parameters
    ----------
    method : {"11point", "area"}, default="11point"
        The devkit's AP rule: "11point" for VOC-2007, "area" for VOC-2010 and later.
    ties : {"group", "stable"}, default="group"
        How samples with equal scores are ranked; see :func:`voc_average_precision`.
    encoding : {"auto", "voc", "indicator"}, default="auto"
        How ``y_true`` is read; see :func:`voc_average_precision`.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y_true)``.

    See Also
    --------
    voc07_map_scorer : ``make_voc_map_scorer("11point")``.
    voc12_map_scorer : ``make_voc_map_scorer("area")``.

    Notes
    -----
    A grid search scores with the ``y`` the estimator was fitted on, so with
    the 0/1 ``Y`` of :func:`skvgg.datasets.load_voc` the difficult entries
    count as positives. To ignore them as the devkit does, route the mask
    ``target_difficult`` to the scorer (scikit-learn's metadata routing)::

        import sklearn
        sklearn.set_config(enable_metadata_routing=True)
        scorer = make_voc_map_scorer("11point").set_score_request(difficult=True)
        search = GridSearchCV(OneVsRestClassifier(LinearSVC()), grid, scoring=scorer)
        search.fit(X, data.Y, difficult=data.target_difficult)
    """
    return make_scorer(
        voc_mean_average_precision,
        response_method=("decision_function", "predict_proba"),
        method=method,
        ties=ties,
        encoding=encoding,
    )


#: Scorer of the VOC-2007 mAP (11-point interpolated AP), for ``scoring=``.
voc07_map_scorer = make_voc_map_scorer("11point")

#: Scorer of the VOC-2010+ mAP (area under the interpolated curve), for ``scoring=``.
voc12_map_scorer = make_voc_map_scorer("area")


# -- Top-k error (ImageNet) -----------------------------------------------------------------------


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "k": [Interval(Integral, 1, None, closed="left")],
        "labels": ["array-like", None],
        "sample_weight": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def top_k_error(
    y_true: ArrayLike, y_score: ArrayLike, *, k: int = 5, labels: ArrayLike | None = None, sample_weight: ArrayLike | None = None
) -> float:
    """Fraction of images whose true class is not among the ``k`` classes of highest score.

    The ImageNet metric of the paper's Tables 3-7 (top-1 and top-5 error, there in %):
    ``1 - sklearn.metrics.top_k_accuracy_score(y_true, y_score, k=k, labels=labels)``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_score : array-like of shape (n_samples, n_classes)
        Scores or posteriors, one column per class.
    k : int, default=5
        How many of the highest-scored classes count as a hit.
    labels : array-like of shape (n_classes,), default=None
        The class of each column of ``y_score``. None: with integer ``y_true`` and more
        than two columns, the columns are the classes ``0 .. n_classes - 1`` (ImageNet's
        indices, as :func:`skvgg.datasets.load_imagenet_val` labels images and
        :class:`skvgg.VGGImageNetClassifier` orders its posteriors), so a few images
        need not show every class; otherwise the sorted labels of ``y_true``, as
        scikit-learn reads them.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the images.

    Returns
    -------
    error : float
        Between 0 and 1.

    See Also
    --------
    sklearn.metrics.top_k_accuracy_score : The accuracy this is one minus.
    make_top_k_error_scorer : A scorer for ``GridSearchCV`` and ``cross_validate``.

    Examples
    --------
    >>> import numpy as np
    >>> from skvgg.metrics import top_k_error
    >>> y_score = np.array([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]])
    >>> top_k_error([0, 0, 2], y_score, k=1), top_k_error([0, 0, 2], y_score, k=2)
    (0.666..., 0.333...)
    """
    y_true_arr = np.asarray(y_true)
    y_score_arr = np.asarray(y_score)
    if labels is None and y_true_arr.dtype.kind in "iu" and y_score_arr.ndim == 2 and y_score_arr.shape[1] > 2:
        labels = np.arange(y_score_arr.shape[1])
        outside = np.flatnonzero((y_true_arr < 0) | (y_true_arr >= y_score_arr.shape[1]))
        if outside.size:
            raise ValueError(
                f"y_true[{outside[0]}] = {y_true_arr[outside[0]]} is not a column of y_score "
                f"(classes 0-{y_score_arr.shape[1] - 1}); pass labels= to name the columns"
            )
    accuracy = top_k_accuracy_score(y_true_arr, y_score_arr, k=k, labels=labels, sample_weight=sample_weight)
    return float(1.0 - accuracy)


class TopKErrorScorer:
    """``scorer(estimator, X, y_true)``: minus the top-k error of ``estimator``'s posteriors on ``X``.

    Posteriors come from ``predict_proba`` (else ``decision_function``); the columns are
    the estimator's ``classes_``. Made by :func:`make_top_k_error_scorer`.
    """

    def __init__(self, k: int):
        self.k = k

    def __call__(self, estimator, X, y_true, sample_weight=None) -> float:
        method = getattr(estimator, "predict_proba", None) or estimator.decision_function
        labels = getattr(estimator, "classes_", None)
        return -top_k_error(y_true, method(X), k=self.k, labels=labels, sample_weight=sample_weight)

    def __repr__(self) -> str:
        return f"make_top_k_error_scorer(k={self.k})"


@validate_params({"k": [Interval(Integral, 1, None, closed="left")]}, prefer_skip_nested_validation=True)
def make_top_k_error_scorer(k: int = 5) -> TopKErrorScorer:
    """A scorer of minus :func:`top_k_error` for ``scoring=`` (greater is better).

    Parameters
    ----------
    k : int, default=5
        1 for the top-1 error, 5 for the top-5 error.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y_true, sample_weight=None)``, scoring the columns of
        ``predict_proba`` as the estimator's ``classes_``.

    See Also
    --------
    neg_top1_error_scorer, neg_top5_error_scorer : ``k=1`` and ``k=5``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_validate
    >>> from skvgg.metrics import make_top_k_error_scorer
    >>> X, y = load_digits(return_X_y=True)
    >>> scores = cross_validate(LogisticRegression(max_iter=200), X[:300], y[:300], cv=2,
    ...                         scoring={"top1": make_top_k_error_scorer(1), "top5": make_top_k_error_scorer(5)})
    >>> bool((scores["test_top5"] >= scores["test_top1"]).all())  # minus errors: top-5 errs less
    True
    """
    return TopKErrorScorer(k)


#: Scorer of minus the top-1 error, for ``scoring=``.
neg_top1_error_scorer = make_top_k_error_scorer(1)

#: Scorer of minus the top-5 error, for ``scoring=``.
neg_top5_error_scorer = make_top_k_error_scorer(5)
