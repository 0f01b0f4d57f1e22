"""Metrics: mean class recall and the VOC devkit's average precisions, checked by hand."""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, balanced_accuracy_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.multiclass import OneVsRestClassifier

from skvgg.metrics import (
    make_voc_map_scorer,
    mean_class_recall,
    mean_class_recall_scorer,
    voc07_map_scorer,
    voc12_map_scorer,
    voc_average_precision,
    voc_mean_average_precision,
)

# -- Mean class recall -------------------------------------------------------------------------------


def test_mean_class_recall_by_hand():
    y_true = ["a", "a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "a", "b", "b", "c", "c"]
    # recall(a) = 3/4, recall(b) = 1/2, recall(c) = 1/1 -> (0.75 + 0.5 + 1) / 3 = 0.75
    assert mean_class_recall(y_true, y_pred) == pytest.approx(0.75)
    # accuracy would be 5/7: mean class recall weights every class equally
    assert mean_class_recall(y_true, y_pred) != pytest.approx(5 / 7)


def test_mean_class_recall_equals_balanced_accuracy():
    rng = np.random.RandomState(0)
    y_true, y_pred = rng.randint(0, 5, 200), rng.randint(0, 6, 200)  # class 5 never true
    w = rng.rand(200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about the predicted class 5
        assert mean_class_recall(y_true, y_pred) == pytest.approx(balanced_accuracy_score(y_true, y_pred))
        assert mean_class_recall(y_true, y_pred, sample_weight=w) == pytest.approx(
            balanced_accuracy_score(y_true, y_pred, sample_weight=w)
        )


@pytest.mark.parametrize(
    "y_true, y_pred, message",
    [
        ([0, 1], [0], "inconsistent numbers of samples"),
        ([], [], "empty"),
        (np.eye(3, dtype=int), np.eye(3, dtype=int), "not a multi-label indicator matrix"),
        ([0.5, 1.5], [0.5, 1.5], "y_true is continuous"),
        ([0, 1], ["a", "b"], "Mix of label input types"),
    ],
)
def test_mean_class_recall_validation(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        mean_class_recall(y_true, y_pred)


def test_mean_class_recall_is_balanced_accuracy_to_1e16_without_its_warning():
    rng = np.random.RandomState(1)
    for _ in range(20):
        y_true, y_pred = rng.randint(0, 7, 300), rng.randint(0, 9, 300)  # classes 7 and 8 are never true
        w = rng.rand(300)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the documented behaviour: no warning about classes 7 and 8
            ours = mean_class_recall(y_true, y_pred), mean_class_recall(y_true, y_pred, sample_weight=w)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = balanced_accuracy_score(y_true, y_pred), balanced_accuracy_score(y_true, y_pred, sample_weight=w)
        assert abs(ours[0] - theirs[0]) <= 1e-16 and abs(ours[1] - theirs[1]) <= 1e-16


def test_mean_class_recall_refuses_a_class_without_weight():
    # balanced_accuracy_score would leave class "b" out of the mean; here it is an error naming it.
    with pytest.raises(ValueError, match="class 'b' of y_true has a total sample weight of 0.0; expected > 0"):
        mean_class_recall(["a", "a", "b"], ["a", "b", "b"], sample_weight=[1, 1, 0])


def test_metric_arguments_are_checked_by_validate_params():
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="'sample_weight' parameter of mean_class_recall must be an array-like or"):
        mean_class_recall([0, 1], [0, 1], sample_weight="uniform")
    with pytest.raises(InvalidParameterError, match="'encoding' parameter of voc_mean_average_precision must be a str among"):
        voc_mean_average_precision([1, -1], [0.2, 0.1], encoding="devkit")
    with pytest.raises(InvalidParameterError, match="'y_true' parameter of voc_average_precision must be an array-like"):
        voc_average_precision(None, [0.2, 0.1])


def test_mean_class_recall_scorer():
    X = np.zeros((12, 1))
    y = np.array([0] * 9 + [1] * 3)
    # always "0": recall(0) = 1, recall(1) = 0 -> 0.5, where accuracy is 0.75
    model = DummyClassifier(strategy="most_frequent").fit(X, y)
    assert mean_class_recall_scorer(model, X, y) == pytest.approx(0.5)
    scores = cross_val_score(DummyClassifier(), X, y, cv=3, scoring=mean_class_recall_scorer)
    np.testing.assert_allclose(scores, 0.5)


# -- VOC average precision, by hand --------------------------------------------------------------------
#
# Example A: 3 positives among 6 samples, scores decreasing, devkit encoding:
#   rank  label  TP FP  precision  recall
#    1     +     1  0   1          1/3
#    2     -     1  1   1/2        1/3
#    3     +     2  1   2/3        2/3
#    4     -     2  2   1/2        2/3
#    5     -     2  3   2/5        2/3
#    6     +     3  3   1/2        1
# 11-point: t = 0, .1, .2, .3 -> max precision at recall >= t is 1 (rank 1);
#           t = .4, .5, .6    -> ranks 3-6, max 2/3;
#           t = .7, .8, .9, 1 -> rank 6, 1/2.
#           AP = (4 * 1 + 3 * 2/3 + 4 * 1/2) / 11 = (4 + 2 + 2) / 11 = 8/11.
# area: interpolated precision (max at any higher recall) at each recall step:
#           recall 0 -> 1/3: 1;  1/3 -> 2/3: 2/3;  2/3 -> 1: 1/2
#           AP = 1/3 * 1 + 1/3 * 2/3 + 1/3 * 1/2 = 6/18 + 4/18 + 3/18 = 13/18.
Y_A = [1, -1, 1, -1, -1, 1]
S_A = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]


def test_ap_example_a_by_hand():
    assert voc_average_precision(Y_A, S_A, method="11point") == pytest.approx(8 / 11)
    assert voc_average_precision(Y_A, S_A, method="area") == pytest.approx(13 / 18)
    # the same as a 0/1 indicator (no difficult entry)
    y01 = [1, 0, 1, 0, 0, 1]
    assert voc_average_precision(y01, S_A, method="11point") == pytest.approx(8 / 11)
    assert voc_average_precision(y01, S_A, method="area") == pytest.approx(13 / 18)
    # the order of the samples does not matter, only their scores
    perm = [3, 0, 5, 1, 4, 2]
    assert voc_average_precision(np.take(Y_A, perm), np.take(S_A, perm), method="area") == pytest.approx(13 / 18)


def test_ap_11point_thresholds_are_exact():
    # 10 positives: P P P, then 6 negatives, then 7 positives.
    #   rank 3: TP 3, FP 0, recall exactly 3/10, precision 1
    #   ranks 10..16: TP 4..10, FP 6, precision 4/10 .. 10/16, the highest at rank 16: 10/16 = 0.625
    # t = 0, .1, .2, .3 -> 1 (rank 3 reaches recall 0.3); t = .4 .. 1 (7 thresholds) -> 0.625
    # AP = (4 * 1 + 7 * 0.625) / 11 = 8.375 / 11.
    # (A floating point threshold 3 * 0.1 = 0.30000000000000004 would miss rank 3 and give 8 / 11.)
    y = [1] * 3 + [0] * 6 + [1] * 7
    s = np.arange(16, 0, -1)
    assert voc_average_precision(y, s, method="11point") == pytest.approx(8.375 / 11)


def test_ap_difficult_is_removed_from_the_ranking():
    # y = [+, difficult, -, +], scores [0.2, 0.9, 0.8, 0.7]. Without the difficult sample:
    #   0.8 (-): TP 0 FP 1, P 0,   R 0
    #   0.7 (+): TP 1 FP 1, P 1/2, R 1/2
    #   0.2 (+): TP 2 FP 1, P 2/3, R 1
    # interpolated precision is 2/3 at every recall: 11-point = 2/3, area = 1/2 * 2/3 + 1/2 * 2/3 = 2/3.
    y, s = [1, 0, -1, 1], [0.2, 0.9, 0.8, 0.7]
    assert voc_average_precision(y, s, method="11point") == pytest.approx(2 / 3)
    assert voc_average_precision(y, s, method="area") == pytest.approx(2 / 3)
    # Had it counted as a negative (0/1 indicator, 0 = negative), ranked first:
    #   P = 0, 0, 1/3, 1/2 at R = 0, 0, 1/2, 1 -> area = 1/2 * 1/2 + 1/2 * 1/2 = 1/2.
    y01 = [1, 0, 0, 1]
    assert voc_average_precision(y01, s, method="area") == pytest.approx(1 / 2)
    # the same entry marked with difficult= instead
    assert voc_average_precision(y01, s, method="area", difficult=[0, 1, 0, 0]) == pytest.approx(2 / 3)
    # a difficult entry never counts as a positive either: its score does not matter
    for score in (-5.0, 0.75, 5.0):
        s2 = [0.2, score, 0.8, 0.7]
        assert voc_average_precision(y, s2, method="area") == pytest.approx(2 / 3)


def test_ap_ties():
    # y = [+, -, +, -], scores [0.5, 0.5, 0.9, 0.1]: samples 0 and 1 are tied.
    # ties="group": the tie is one operating point
    #   after 0.9: TP 1 FP 0, P 1,   R 1/2
    #   after 0.5: TP 2 FP 1, P 2/3, R 1     (both tied samples at once)
    #   after 0.1: TP 2 FP 2, P 1/2, R 1
    #   area = 1/2 * 1 + 1/2 * 2/3 = 5/6; 11-point = (6 * 1 + 5 * 2/3) / 11 = 28/33
    # ties="stable": input order, the devkit's: + (0.9), + (sample 0), - (sample 1), -
    #   P = 1, 1, 2/3, 1/2 at R = 1/2, 1, 1, 1 -> area = 1, 11-point = 1;
    #   with samples 0 and 1 swapped: +, -, +, - -> P = 1, 1/2, 2/3 at R = 1/2, 1/2, 1 -> area 5/6.
    y, s = np.array([1, -1, 1, -1]), np.array([0.5, 0.5, 0.9, 0.1])
    swapped = [1, 0, 2, 3]
    for yy, ss in ((y, s), (y[swapped], s[swapped])):
        assert voc_average_precision(yy, ss, method="area") == pytest.approx(5 / 6)
        assert voc_average_precision(yy, ss, method="11point") == pytest.approx(28 / 33)
    assert voc_average_precision(y, s, method="area", ties="stable") == pytest.approx(1.0)
    assert voc_average_precision(y, s, method="11point", ties="stable") == pytest.approx(1.0)
    assert voc_average_precision(y[swapped], s[swapped], method="area", ties="stable") == pytest.approx(5 / 6)
    # constant scores: one operating point, precision = prevalence
    assert voc_average_precision([1, -1, -1, -1], np.zeros(4), method="area") == pytest.approx(1 / 4)


def test_ap_properties_on_random_data():
    rng = np.random.RandomState(0)
    for _ in range(20):
        y = rng.randint(0, 2, 30)
        y[0] = 1
        s = rng.randn(30)
        area = voc_average_precision(y, s, method="area")
        stable = voc_average_precision(y, s, method="area", ties="stable")
        assert area == pytest.approx(stable)  # distinct scores: no tie
        # interpolation only raises precision: at least sklearn's non-interpolated AP
        assert area >= average_precision_score(y, s) - 1e-12
        assert 0 < voc_average_precision(y, s, method="11point") <= 1
    # a perfect ranking
    assert voc_average_precision([0, 1, 1, 0], [0.1, 0.8, 0.9, 0.2], method="11point") == 1.0


def test_ap_matrix_and_mean():
    # columns: example A, the difficult example padded with two negatives
    y = np.array([Y_A, [1, 0, -1, 1, -1, -1]]).T
    s = np.array([S_A, [0.2, 0.9, 0.8, 0.7, 0.0, 0.1]]).T
    ap = voc_average_precision(y, s, method="area")
    np.testing.assert_allclose(ap, [13 / 18, 2 / 3])
    assert voc_mean_average_precision(y, s, method="area") == pytest.approx((13 / 18 + 2 / 3) / 2)


def test_ap_undefined_class_is_nan_and_left_out_of_the_mean():
    # column 1 has no positive: -1 and a difficult-only entry
    y = np.array([[1, -1], [-1, 0], [1, -1]])
    s = np.array([[0.9, 0.1], [0.3, 0.8], [0.4, 0.3]])  # column 0 ranks +, +, -: AP 1
    with pytest.warns(UndefinedMetricWarning, match=r"class column\(s\) \[1\] of y_true has no positive"):
        ap = voc_average_precision(y, s, method="area")
    assert ap[0] == pytest.approx(1.0) and np.isnan(ap[1])
    with pytest.warns(UndefinedMetricWarning):
        assert voc_mean_average_precision(y, s, method="area") == pytest.approx(1.0)
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(voc_mean_average_precision([-1, 0, -1], [1.0, 2.0, 3.0]))


def test_ap_encoding_option():
    # a column of 0/1 with no -1 anywhere: "auto" reads 0 as a negative; "voc" as difficult
    y, s = [1, 0, 1], [0.2, 0.9, 0.5]
    # as 0/1: -, +, + at precision 0, 1/2, 2/3 and recall 0, 1/2, 1: interpolated 2/3 at both steps
    assert voc_average_precision(y, s, method="area") == pytest.approx(0.5 * 2 / 3 + 0.5 * 2 / 3)
    assert voc_average_precision(y, s, method="area", encoding="voc") == pytest.approx(1.0)
    with pytest.raises(ValueError, match="encoding='indicator' but y_true contains -1"):
        voc_average_precision([1, -1], [0.1, 0.2], encoding="indicator")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(y_true=[1, -1], y_score=[0.1]), "y_score has shape"),
        (dict(y_true=[1, 2], y_score=[0.1, 0.2]), r"y_true contains \[2\]"),
        (dict(y_true=[1, -1], y_score=[0.1, np.nan]), "NaN"),
        (dict(y_true=[1, -1], y_score=[0.1, 0.2], method="12point"), "'method' parameter of .* must be a str among"),
        (dict(y_true=[1, -1], y_score=[0.1, 0.2], ties="random"), "'ties' parameter of .* must be a str among"),
        (dict(y_true=[1, -1], y_score=[0.1, 0.2], difficult=[True]), "difficult has shape"),
        (dict(y_true=[], y_score=[]), "empty"),
        (dict(y_true=["a", "b"], y_score=[0.1, 0.2]), "y_true must be numeric"),
    ],
)
def test_ap_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        voc_average_precision(**kwargs)


def test_ap_accepts_list_of_probability_arrays():
    y = np.array([[1, 0], [0, 1], [1, 1]])
    probas = [np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), np.array([[0.6, 0.4], [0.2, 0.8], [0.5, 0.5]])]
    np.testing.assert_allclose(
        voc_average_precision(y, probas, method="area"),
        voc_average_precision(y, np.column_stack([p[:, 1] for p in probas]), method="area"),
    )


# -- Scorers in a grid search -----------------------------------------------------------------------------


@pytest.fixture
def multilabel():
    rng = np.random.RandomState(0)
    X = rng.randn(90, 6)
    Y = (X @ rng.randn(6, 4) + 0.7 * rng.randn(90, 4) > 0).astype(int)
    return X, Y


def _manual_cv(X, Y, C, method, difficult=None):
    scores = []
    for train, test in KFold(3).split(X):
        model = OneVsRestClassifier(LogisticRegression(C=C, solver="liblinear")).fit(X[train], Y[train])
        d = None if difficult is None else difficult[test]
        scores.append(voc_mean_average_precision(Y[test], model.decision_function(X[test]), method=method, difficult=d))
    return np.mean(scores)


def test_voc_scorers_in_grid_search(multilabel):
    X, Y = multilabel
    grid = {"estimator__C": [0.01, 1.0]}
    search = GridSearchCV(
        OneVsRestClassifier(LogisticRegression(solver="liblinear")),
        grid,
        cv=KFold(3),
        scoring={"voc07": voc07_map_scorer, "voc12": voc12_map_scorer},
        refit="voc07",
    ).fit(X, Y)
    for k, C in enumerate(grid["estimator__C"]):
        assert search.cv_results_["mean_test_voc07"][k] == pytest.approx(_manual_cv(X, Y, C, "11point"))
        assert search.cv_results_["mean_test_voc12"][k] == pytest.approx(_manual_cv(X, Y, C, "area"))
    assert 0.5 < search.best_score_ <= 1


def test_voc_scorer_with_predict_proba_only(multilabel):
    X, Y = multilabel

    class ProbaOnly(OneVsRestClassifier):
        @property
        def decision_function(self):
            raise AttributeError("no decision_function")

    model = ProbaOnly(LogisticRegression(solver="liblinear")).fit(X, Y)
    expected = voc_mean_average_precision(Y, model.predict_proba(X), method="area")
    assert voc12_map_scorer(model, X, Y) == pytest.approx(expected)


def test_voc_scorer_ignores_routed_difficult_entries(multilabel):
    X, Y = multilabel
    difficult = np.random.RandomState(1).rand(*Y.shape) < 0.2
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = make_voc_map_scorer("area").set_score_request(difficult=True)
        search = GridSearchCV(
            OneVsRestClassifier(LogisticRegression(solver="liblinear")),
            {"estimator__C": [0.01, 1.0]},
            cv=KFold(3),
            scoring=scorer,
        ).fit(X, Y, difficult=difficult)
    for k, C in enumerate([0.01, 1.0]):
        expected = _manual_cv(X, Y, C, "area", difficult)
        assert search.cv_results_["mean_test_score"][k] == pytest.approx(expected)
        assert expected != pytest.approx(_manual_cv(X, Y, C, "area"))


def test_make_voc_map_scorer_validates():
    with pytest.raises(ValueError, match="'method' parameter of make_voc_map_scorer must be a str among .*'11point'"):
        make_voc_map_scorer("voc07")
