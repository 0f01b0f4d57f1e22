"""Cross-validation splitters of the paper's Caltech protocols.

Simonyan & Zisserman (2015, Appendix B) evaluate on Caltech-101 with 3
random splits of 30 training and up to 50 test images per class, and on
Caltech-256 with 3 splits of 60 training images per class and the rest for
testing; in every split 20% of the training images are held out to choose
hyper-parameters. :class:`PerClassSplit` draws the outer splits and
:class:`PerClassHoldOut` the inner validation split::

    from sklearn.model_selection import GridSearchCV, cross_val_score
    from skvgg.metrics import mean_class_recall_scorer
    from skvgg.model_selection import CALTECH101_PROTOCOL, PerClassHoldOut, PerClassSplit

    inner = GridSearchCV(model, {"linearsvc__C": [0.1, 1, 10]},
                         cv=PerClassHoldOut(0.2, random_state=0),
                         scoring=mean_class_recall_scorer)
    scores = cross_val_score(inner, X, y, scoring=mean_class_recall_scorer,
                             cv=PerClassSplit(**CALTECH101_PROTOCOL, random_state=0))
    scores.mean(), scores.std()

The test sets of :class:`PerClassSplit` do not cover all the samples, so it
fits ``cross_val_score``, ``cross_validate`` and searches, not
``cross_val_predict``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.model_selection import BaseCrossValidator, PredefinedSplit
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import _num_samples, indexable

__all__ = [
    "CALTECH101_PROTOCOL",
    "CALTECH256_PROTOCOL",
    "PerClassSplit",
    "PerClassHoldOut",
    "check_class_sizes",
    "validation_split",
]

#: Caltech-101: 3 random splits, 30 training and up to 50 test images per class.
CALTECH101_PROTOCOL = dict(n_train=30, n_test=50, n_splits=3)

#: Caltech-256: 3 random splits, 60 training images per class, the rest for testing.
CALTECH256_PROTOCOL = dict(n_train=60, n_test=None, n_splits=3)


def _check_int(value, name, minimum, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        expected = f"an integer >= {minimum}" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def _class_indices(y, n_samples, splitter):
    """Classes of y and the sample indices of each, validating y."""
    if y is None:
        raise ValueError(f"{splitter} needs y: it draws images per class (pass y to split, or to fit)")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{splitter} needs one class label per sample; got y of shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(f"y has {y.shape[0]} labels but X has {n_samples} samples")
    try:
        classes, inverse = np.unique(y, return_inverse=True)
    except TypeError as exc:
        raise ValueError(f"the labels in y cannot be sorted (mixed types or missing values?): {exc}") from exc
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(classes)))[:-1]
    return classes, np.split(order, bounds)


def _describe_small(classes, counts, requirement):
    """'<requirement>, but 'c' has 5, ...' naming up to 10 classes."""
    pairs = list(zip(np.asarray(classes).tolist(), np.asarray(counts).tolist()))
    shown = ", ".join(f"{c!r} has {n}" for c, n in pairs[:10])
    more = f" (and {len(pairs) - 10} more classes)" if len(pairs) > 10 else ""
    return f"{requirement}, but {shown}{more}"


class _FixedSplitsCV(BaseCrossValidator):
    """A splitter whose number of splits is its ``n_splits`` parameter."""

    def get_n_splits(self, X: object = None, y: object = None, groups: object = None) -> int:
        """Number of splits, ``n_splits``.

        Parameters
        ----------
        X, y, groups : object
            Ignored, present for API compatibility.

        Returns
        -------
        n_splits : int
        """
        return self.n_splits


class PerClassSplit(_FixedSplitsCV):
    """Random splits with a fixed number of training images per class.

    In each split, for each class, ``n_train`` randomly chosen images are
    training images and up to ``n_test`` others test images (all the others
    with ``n_test=None``). Images beyond ``n_train + n_test`` are in neither
    set. These are the paper's Caltech protocols: see
    :data:`CALTECH101_PROTOCOL` and :data:`CALTECH256_PROTOCOL`.

    Parameters
    ----------
    n_train : int, default=30
        Training images per class.
    n_test : int or None, default=50
        Maximum number of test images per class; None takes all the
        remaining images (Caltech-256 protocol). Classes with fewer than
        ``n_train + n_test`` images get fewer test images.
    n_splits : int, default=3
        Number of random splits.
    random_state : int, RandomState instance or None, default=None
        Seed of the draws. An int gives the same splits at every call of
        ``split``; the splits within one call differ from each other.

    Notes
    -----
    The indices of each training and test set are returned sorted. The
    draws of each split are made class by class, in the order of
    ``np.unique(y)``, with one random permutation per class.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.repeat(["cat", "dog"], 5)
    >>> cv = PerClassSplit(n_train=2, n_test=1, n_splits=2, random_state=0)
    >>> for train, test in cv.split(np.zeros((10, 1)), y):
    ...     print(len(train), len(test))
    4 2
    4 2
    """

    def __init__(
        self,
        n_train: int = 30,
        n_test: int | None = 50,
        n_splits: int = 3,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_train = _check_int(n_train, "n_train", 1)
        self.n_test = _check_int(n_test, "n_test", 1, allow_none=True)
        self.n_splits = _check_int(n_splits, "n_splits", 1)
        self.random_state = random_state

    def split(self, X: ArrayLike, y: ArrayLike | None = None, groups: object = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Generate the indices of the training and test images of each split.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            The samples (only their number is used).
        y : array-like of shape (n_samples,)
            Class labels (required).
        groups : object
            Ignored.

        Yields
        ------
        train : ndarray of int
            Training indices, sorted.
        test : ndarray of int
            Test indices, sorted.

        Raises
        ------
        ValueError
            If a class has fewer than ``n_train + 1`` images (the message
            names the classes and their counts), or y is missing or multi-label.
        """
        X, y = indexable(X, y)
        classes, members = _class_indices(y, _num_samples(X), type(self).__name__)
        counts = np.array([len(m) for m in members])
        _check_split_counts(classes, counts, self.n_train, f"{type(self).__name__}(n_train={self.n_train}) needs")
        rng = check_random_state(self.random_state)
        for _ in range(self.n_splits):
            train, test = [], []
            for indices in members:
                drawn = rng.permutation(indices)
                train.append(drawn[: self.n_train])
                stop = None if self.n_test is None else self.n_train + self.n_test
                test.append(drawn[self.n_train : stop])
            yield np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _check_split_counts(classes, counts, n_train, who):
    """``who`` ('PerClassSplit(n_train=30) needs') is the start of the message."""
    small = counts < n_train + 1
    if small.any():
        raise ValueError(
            _describe_small(
                classes[small],
                counts[small],
                f"{who} at least {n_train + 1} images per class ({n_train} for training, at least 1 for testing)",
            )
        )


_FRACTION = Interval(Real, 0, 1, closed="neither")


@validate_params(
    {
        "y": ["array-like"],
        "n_train": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [_FRACTION, None],
        "min_classes": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def check_class_sizes(
    y: ArrayLike, n_train: int, *, validation_fraction: float | None = None, min_classes: int = 2
) -> dict[Any, int]:
    """Check, before any image is described, that per-class splits of ``y`` are possible.

    Cheap (labels only): run it before describing a dataset whose splits
    :class:`PerClassSplit` will draw, so that a too-small class is reported
    at once instead of after hours of feature extraction.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels.
    n_train : int
        Training images per class; every class needs ``n_train + 1`` images
        (at least one is left for testing).
    validation_fraction : float or None, default=None
        When the training images of each split are split again by
        :class:`PerClassHoldOut` (the paper's validation of ``C``), the
        fraction it holds out; it needs ``n_train >= 2``.
    min_classes : int, default=2
        Fewest classes a classifier can be trained on.

    Returns
    -------
    counts : dict
        Class label -> number of images.

    Raises
    ------
    ValueError
        Naming the classes that are too small and their counts, or saying
        how many classes there are.

    See Also
    --------
    PerClassSplit : The splitter whose requirement this checks.

    Examples
    --------
    >>> check_class_sizes(["cat"] * 3 + ["dog"] * 3, n_train=2)
    {'cat': 3, 'dog': 3}
    >>> check_class_sizes(["cat"] * 3 + ["dog"] * 2, n_train=2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 2 training images per class need at least 3 images per class (...), but 'dog' has 2
    """
    y = np.asarray(y)
    classes, members = _class_indices(y, len(y), "check_class_sizes")
    counts = np.array([len(m) for m in members])
    if len(classes) < min_classes:
        found = ", ".join(f"{c!r} ({n} images)" for c, n in zip(classes.tolist(), counts.tolist())) or "none"
        raise ValueError(f"at least {min_classes} classes are needed to train a classifier; found {len(classes)}: {found}")
    if validation_fraction is not None:
        if n_train < 2:
            raise ValueError(f"{n_train} training image per class leaves none to hold out for validation; at least 2 are needed")
    _check_split_counts(classes, counts, n_train, f"{n_train} training images per class need")
    return dict(zip(classes.tolist(), counts.tolist()))


def _holdout_counts(counts, fraction):
    """Held-out images per class: round(fraction * n), half up, within [1, n - 1]."""
    return np.array([min(n - 1, max(1, math.floor(fraction * n + 0.5))) for n in counts], dtype=int)


def _check_fraction(fraction):
    if isinstance(fraction, bool) or not isinstance(fraction, Real) or not 0 < fraction < 1:
        raise ValueError(f"fraction must be a number strictly between 0 and 1, got {fraction!r}")
    return float(fraction)


class PerClassHoldOut(_FixedSplitsCV):
    """Hold out a fraction of the images of each class for validation.

    The paper's hyper-parameter validation: in every Caltech split, 20% of
    the training images of each class are held out. Used as ``cv=`` of the
    inner :class:`~sklearn.model_selection.GridSearchCV`, it draws from the
    ``y`` that the search is fitted on, so it also works inside an outer
    :class:`PerClassSplit` (nested cross-validation).

    Parameters
    ----------
    fraction : float, default=0.2
        Fraction of each class held out: ``round(fraction * n)`` images of a
        class of ``n`` (halves rounded up), at least 1 and at most ``n - 1``.
    n_splits : int, default=1
        Number of random hold-out splits (the paper uses one).
    random_state : int, RandomState instance or None, default=None
        Seed of the draws; an int gives the same splits at every call.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.repeat([0, 1], 10)
    >>> train, val = next(PerClassHoldOut(0.2, random_state=0).split(np.zeros((20, 1)), y))
    >>> len(train), len(val)
    (16, 4)
    """

    def __init__(self, fraction: float = 0.2, n_splits: int = 1, random_state: int | np.random.RandomState | None = None) -> None:
        self.fraction = _check_fraction(fraction)
        self.n_splits = _check_int(n_splits, "n_splits", 1)
        self.random_state = random_state

    def split(self, X: ArrayLike, y: ArrayLike | None = None, groups: object = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Generate the training and validation indices.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            The samples (only their number is used).
        y : array-like of shape (n_samples,)
            Class labels (required).
        groups : object
            Ignored.

        Yields
        ------
        train : ndarray of int
            Indices kept for training, sorted.
        validation : ndarray of int
            Held-out indices, sorted.

        Raises
        ------
        ValueError
            If a class has fewer than 2 images.
        """
        X, y = indexable(X, y)
        n_samples = _num_samples(X)
        masks = _holdout_split_masks(y, n_samples, self.fraction, self.n_splits, self.random_state, type(self).__name__)
        indices = np.arange(n_samples)
        for mask in masks:
            yield indices[~mask], indices[mask]


def _holdout_split_masks(y, n_samples, fraction, n_splits, random_state, splitter):
    classes, members = _class_indices(y, n_samples, splitter)
    counts = np.array([len(m) for m in members])
    small = counts < 2
    if small.any():
        raise ValueError(
            _describe_small(
                classes[small],
                counts[small],
                f"{splitter} needs at least 2 images per class (1 for training, 1 for validation)",
            )
        )
    held = _holdout_counts(counts, fraction)
    rng = check_random_state(random_state)
    for _ in range(n_splits):
        mask = np.zeros(n_samples, dtype=bool)
        for indices, n_held in zip(members, held):
            mask[rng.permutation(indices)[:n_held]] = True
        yield mask


@validate_params(
    {"y_train": ["array-like"], "fraction": [_FRACTION], "random_state": ["random_state"]},
    prefer_skip_nested_validation=True,
)
def validation_split(
    y_train: ArrayLike, fraction: float = 0.2, random_state: int | np.random.RandomState | None = None
) -> PredefinedSplit:
    """A fixed per-class validation split of given training labels.

    The same draw as the first split of :class:`PerClassHoldOut`, frozen in
    a :class:`~sklearn.model_selection.PredefinedSplit` whose ``test_fold``
    is 0 for the held-out images and -1 for the others. Use it as ``cv=`` of a
    search fitted on exactly these ``y_train`` samples, in this order; inside
    nested cross-validation use :class:`PerClassHoldOut`, which draws from
    the labels it is given.

    Parameters
    ----------
    y_train : array-like of shape (n_samples,)
        Class labels of the training images of one split.
    fraction : float, default=0.2
        Fraction of each class held out (see :class:`PerClassHoldOut`).
    random_state : int, RandomState instance or None, default=None
        Seed of the draw; the same int gives the same split as
        ``PerClassHoldOut(fraction, random_state=random_state)``.

    Returns
    -------
    cv : PredefinedSplit
        One split: training indices, validation indices.

    See Also
    --------
    PerClassHoldOut : The same draw, made from the labels a search is fitted on.

    Examples
    --------
    >>> cv = validation_split([0] * 10 + [1] * 10, random_state=0)
    >>> int((cv.test_fold == 0).sum())
    4
    """
    y_train = np.asarray(y_train)
    mask = next(_holdout_split_masks(y_train, len(y_train), float(fraction), 1, random_state, "validation_split"))
    return PredefinedSplit(np.where(mask, 0, -1))
