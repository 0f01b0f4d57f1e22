"""The Caltech protocol splitters."""

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import GridSearchCV, PredefinedSplit, cross_val_score
from sklearn.svm import LinearSVC

from skvgg.metrics import mean_class_recall_scorer
from skvgg.model_selection import (
    CALTECH101_PROTOCOL,
    CALTECH256_PROTOCOL,
    PerClassHoldOut,
    PerClassSplit,
    check_class_sizes,
    validation_split,
)

# 3 classes of 10, 7 and 5 images, shuffled, with string labels
Y = np.random.RandomState(0).permutation(np.array(["a"] * 10 + ["b"] * 7 + ["c"] * 5))
X = np.zeros((len(Y), 2))


def _counts(y):
    labels, counts = np.unique(y, return_counts=True)
    return dict(zip(labels.tolist(), counts.tolist()))


def test_protocol_constants():
    assert CALTECH101_PROTOCOL == dict(n_train=30, n_test=50, n_splits=3)
    assert CALTECH256_PROTOCOL == dict(n_train=60, n_test=None, n_splits=3)
    cv = PerClassSplit(**CALTECH256_PROTOCOL, random_state=0)
    assert (cv.n_train, cv.n_test, cv.get_n_splits()) == (60, None, 3)
    assert repr(cv) == "PerClassSplit(n_splits=3, n_test=None, n_train=60, random_state=0)"


def test_per_class_counts_and_disjointness():
    cv = PerClassSplit(n_train=3, n_test=4, n_splits=3, random_state=0)
    splits = list(cv.split(X, Y))
    assert len(splits) == cv.get_n_splits() == 3
    for train, test in splits:
        assert _counts(Y[train]) == {"a": 3, "b": 3, "c": 3}
        assert _counts(Y[test]) == {"a": 4, "b": 4, "c": 2}  # "up to" n_test: c only has 2 left
        assert np.intersect1d(train, test).size == 0
        assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)  # sorted, no repeats
        assert train.dtype.kind == "i" and test.max() < len(Y)


def test_n_test_none_takes_the_rest():
    for train, test in PerClassSplit(n_train=4, n_test=None, random_state=1).split(X, Y):
        assert _counts(Y[train]) == {"a": 4, "b": 4, "c": 4}
        assert _counts(Y[test]) == {"a": 6, "b": 3, "c": 1}
        np.testing.assert_array_equal(np.sort(np.r_[train, test]), np.arange(len(Y)))


def test_seeded_determinism_and_variety():
    def draw(random_state):
        return [(tr.tolist(), te.tolist()) for tr, te in PerClassSplit(3, 4, 3, random_state).split(X, Y)]

    assert draw(0) == draw(0)  # same seed, same splits, call after call
    assert draw(0) != draw(1)
    first = draw(0)
    assert first[0] != first[1] != first[2] != first[0]  # the splits of one call differ
    cv = PerClassSplit(3, 4, 3, random_state=np.random.RandomState(0))
    assert [tr.tolist() for tr, _ in cv.split(X, Y)] == [tr for tr, _ in first]  # same stream as seed 0


def test_too_small_class_is_named():
    with pytest.raises(
        ValueError, match=r"needs at least 6 images per class \(5 for training, at least 1 for testing\), but 'c' has 5$"
    ):
        list(PerClassSplit(n_train=5).split(X, Y))
    with pytest.raises(ValueError, match=r"but 'b' has 7, 'c' has 5"):
        list(PerClassSplit(n_train=8).split(X, Y))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_train=0), "n_train must be an integer >= 1"),
        (dict(n_test=0), "n_test must be an integer >= 1 or None"),
        (dict(n_splits=2.0), "n_splits must be an integer >= 1"),
        (dict(n_train=True), "n_train must be"),
    ],
)
def test_parameter_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PerClassSplit(**kwargs)


def test_y_validation():
    cv = PerClassSplit(n_train=1)
    with pytest.raises(ValueError, match="needs y"):
        list(cv.split(X))
    with pytest.raises(ValueError, match="one class label per sample"):
        list(cv.split(X, np.zeros((len(Y), 3))))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        list(cv.split(X, Y[:-1]))


def test_usable_as_cv():
    cv = PerClassSplit(n_train=3, n_test=2, n_splits=3, random_state=0)
    scores = cross_val_score(DummyClassifier(strategy="most_frequent"), X, Y, cv=cv, scoring=mean_class_recall_scorer)
    # balanced training sets: "most frequent" is the first class, 'a': recall 1, 0, 0
    np.testing.assert_allclose(scores, 1 / 3)
    rng = np.random.RandomState(0)
    Xs = rng.randn(len(Y), 2) + (Y[:, None] == "a") * 3.0
    search = GridSearchCV(LinearSVC(), {"C": [0.1, 1.0]}, cv=cv).fit(Xs, Y)
    assert search.n_splits_ == 3


def test_holdout_per_class():
    cv = PerClassHoldOut(0.2, random_state=0)
    assert cv.get_n_splits() == 1
    ((train, val),) = cv.split(X, Y)
    # round(0.2 * n): a 10 -> 2, b 7 -> 1.4 -> 1, c 5 -> 1
    assert _counts(Y[val]) == {"a": 2, "b": 1, "c": 1}
    np.testing.assert_array_equal(np.sort(np.r_[train, val]), np.arange(len(Y)))
    assert [v.tolist() for _, v in cv.split(X, Y)] == [val.tolist()]  # seeded
    # the paper's 20% of 30 and of 60 training images
    y = np.repeat([0, 1], [30, 60])
    ((_, val),) = PerClassHoldOut(0.2, random_state=0).split(np.zeros(90), y)
    assert _counts(y[val]) == {0: 6, 1: 12}
    # at least one image held out, at least one kept
    ((_, val),) = PerClassHoldOut(0.01).split(X, Y)
    assert _counts(Y[val]) == {"a": 1, "b": 1, "c": 1}
    ((train, _),) = PerClassHoldOut(0.99).split(X, Y)
    assert _counts(Y[train]) == {"a": 1, "b": 1, "c": 1}


def test_holdout_errors():
    with pytest.raises(ValueError, match="fraction must be a number strictly between 0 and 1"):
        PerClassHoldOut(1.0)
    with pytest.raises(ValueError, match="'z' has 1"):
        list(PerClassHoldOut().split(np.zeros(4), ["a", "a", "a", "z"]))


def test_validation_split_is_a_predefined_split():
    cv = validation_split(Y, fraction=0.2, random_state=0)
    assert isinstance(cv, PredefinedSplit)
    ((train, val),) = cv.split()
    ((train2, val2),) = PerClassHoldOut(0.2, random_state=0).split(X, Y)
    np.testing.assert_array_equal(val, val2)
    np.testing.assert_array_equal(train, train2)
    assert set(np.unique(cv.test_fold)) == {-1, 0}


def test_nested_caltech_protocol():
    """Outer per-class splits, inner 20% per-class hold-out for the hyper-parameter."""
    rng = np.random.RandomState(0)
    y = np.repeat(["a", "b", "c"], 12)
    Xs = rng.randn(len(y), 3) + np.c_[(y == "a") * 2.0, (y == "b") * 2.0, np.zeros(len(y))]
    inner = GridSearchCV(
        LinearSVC(),
        {"C": [0.01, 1.0]},
        cv=PerClassHoldOut(0.2, random_state=0),
        scoring=mean_class_recall_scorer,
    )
    scores = cross_val_score(
        inner, Xs, y, cv=PerClassSplit(n_train=6, n_test=5, n_splits=3, random_state=0), scoring=mean_class_recall_scorer
    )
    assert scores.shape == (3,) and np.all(scores > 0.5)


def test_check_class_sizes_names_small_classes_before_any_split():
    y = ["a"] * 5 + ["b"] * 3 + ["c"] * 4
    assert check_class_sizes(y, n_train=2) == {"a": 5, "b": 3, "c": 4}
    with pytest.raises(ValueError, match=r"need at least 5 images per class .*'b' has 3, 'c' has 4$"):
        check_class_sizes(y, n_train=4)
    with pytest.raises(ValueError, match="at least 2 classes .* found 1: 'a' \\(5 images\\)"):
        check_class_sizes(["a"] * 5, n_train=2)
    with pytest.raises(ValueError, match="leaves none to hold out for validation"):
        check_class_sizes(y, n_train=1, validation_fraction=0.2)
    assert check_class_sizes(y, n_train=1) == {"a": 5, "b": 3, "c": 4}  # no validation: 1 is enough
    with pytest.raises(ValueError, match=r"'n_train' parameter of check_class_sizes must be an int in the range \[1, inf\)"):
        check_class_sizes(y, n_train=0)
    # The same requirement as the splitter's, which still says it in its own words.
    with pytest.raises(ValueError, match=r"PerClassSplit\(n_train=4\) needs at least 5 images per class"):
        next(PerClassSplit(n_train=4).split(np.zeros((12, 1)), y))


def test_helpers_refuse_bad_arguments_through_validate_params():
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=r"'fraction' parameter of validation_split must be a float in the range \(0"):
        validation_split(Y, fraction=1.5)
    with pytest.raises(InvalidParameterError, match="'random_state' parameter of validation_split must be"):
        validation_split(Y, random_state="seed")
    with pytest.raises(InvalidParameterError, match="'validation_fraction' parameter of check_class_sizes must be"):
        check_class_sizes(Y, n_train=2, validation_fraction=0)
