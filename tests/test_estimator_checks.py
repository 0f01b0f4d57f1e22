"""scikit-learn's estimator checks: every check runs, and every expected failure fails for its stated reason.

The common checks feed estimators 2-D numeric tables (n_samples, n_features). An image
featurizer takes *images*: a 2-D numeric array is not a batch of images, and skvgg
refuses it with an error instead of guessing (it would otherwise have to invent a
meaning for it, e.g. one grayscale image, and return garbage). Every check that
needs a table to be accepted is therefore expected to fail, for that one reason; a
few checks wrap the refusal in their own complaint (their expected wording is not
in the message), and two feed a table in another container.

An expected failure is not a skipped test: each is run, and must raise the error its
reason predicts (skvgg's refusal, directly or as the cause of the check's complaint).
A check that starts to pass, or fails differently, fails here. What the refused
checks would have verified (order and subset invariance, idempotent refit, ``fit``
leaving the parameters alone...) is verified on images in the second half of this file.
"""

import re
from dataclasses import dataclass

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skvgg import Preprocessing, VGGClassifier, VGGFeaturizer

# -- What each expected failure raises -------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """An expected failure: why, what the check raises, and skvgg's error at its root.

    ``complaint`` is the check's own assertion message when it catches skvgg's error
    and raises an AssertionError from it; None when skvgg's error propagates as is.
    """

    reason: str
    error: type
    message: str
    complaint: str | None = None

    def wrapped(self, reason, complaint):
        return Refusal(f"{self.reason} ({reason})", self.error, self.message, complaint)

    def verify(self, raised):
        """Assert that ``raised`` (what the check raised) is this refusal."""
        if self.complaint is None:
            root = raised
        else:
            assert isinstance(raised, AssertionError), f"expected the check's complaint, got {raised!r}"
            assert re.search(self.complaint, str(raised)), f"check's complaint {str(raised)!r} !~ {self.complaint!r}"
            root = raised.__cause__
        assert isinstance(root, self.error), f"expected {self.error.__name__} from skvgg, got {root!r}"
        assert re.search(self.message, str(root)), f"skvgg's message {str(root)!r} !~ {self.message!r}"


TABLE_IS_NOT_IMAGES = Refusal(
    "feeds a 2-D numeric table, which is not a batch of images and is refused",
    ValueError,
    r"X is a 2-D numpy array of shape \(\d+, \d+\), which is ambiguous: wrap a single image in a list",
)
OBJECT_TABLE_IS_NOT_IMAGES = Refusal(
    "feeds a 2-D table of Python objects, which is not a column of images or paths",
    ValueError,
    r"X is a numpy array of dtype object and shape \(\d+, \d+\); expected a 1-D array \(or a single column\) of images",
)
WRAPPED_TABLE_IS_NOT_IMAGES = Refusal(
    "feeds a table in an array-like wrapper that is not a sequence of images",
    TypeError,
    r"X of type \S*_NotAnArray is not a sequence; expected a sequence of images",
)

FEATURIZER_EXPECTED_FAILURES = {
    **{
        name: TABLE_IS_NOT_IMAGES
        for name in [
            "check_fit_score_takes_y",
            "check_estimators_overwrite_params",
            "check_dont_overwrite_parameters",
            "check_estimators_fit_returns_self",
            "check_readonly_memmap_input",
            "check_n_features_in_after_fitting",
            "check_estimators_dtypes",
            "check_pipeline_consistency",
            "check_estimators_pickle",
            "check_f_contiguous_array_estimator",
            "check_transformer_general",
            "check_transformer_preserve_dtypes",
            "check_methods_sample_order_invariance",
            "check_methods_subset_invariance",
            "check_dict_unchanged",
            "check_fit_idempotent",
            "check_fit_check_is_fitted",
            "check_n_features_in",
            "check_fit2d_predict1d",
            # Run because the featurizer needs no fit (requires_fit=False): transform on a table.
            "check_transformers_unfitted_stateless",
        ]
    },
    "check_dtype_object": OBJECT_TABLE_IS_NOT_IMAGES,
    "check_transformer_data_not_an_array": WRAPPED_TABLE_IS_NOT_IMAGES,
    "check_positive_only_tag_during_fit": TABLE_IS_NOT_IMAGES.wrapped(
        "for its negative values, which are beside the point", r"raised ValueError unexpectedly"
    ),
    "check_estimators_empty_data_messages": TABLE_IS_NOT_IMAGES.wrapped(
        "the check expects the tabular '0 feature(s)' wording", r"error message should contain one of the following patterns"
    ),
    "check_fit2d_1sample": TABLE_IS_NOT_IMAGES.wrapped(
        "the check expects the tabular 'n_samples=1' wording", r"error message should contain one of the following patterns"
    ),
    "check_fit2d_1feature": TABLE_IS_NOT_IMAGES.wrapped(
        "the check expects the tabular 'n_features=1' wording", r"error message should contain one of the following patterns"
    ),
    # NaN pixels in images are refused with the image's index (test_nan_and_inf_pixels_are_refused_by_index below);
    # here the table is refused before its values are looked at, so the message names no NaN.
    "check_estimators_nan_inf": TABLE_IS_NOT_IMAGES.wrapped(
        "before its NaN and inf values are looked at", r"doesn't check for NaN and inf in fit"
    ),
}

CLASSIFIER_EXPECTED_FAILURES = {
    **{
        name: refusal
        for name, refusal in FEATURIZER_EXPECTED_FAILURES.items()
        if name not in ("check_fit2d_1sample", "check_transformers_unfitted_stateless")
    },
    **{
        name: TABLE_IS_NOT_IMAGES
        for name in [
            "check_classifiers_classes",
            "check_classifiers_train",
            "check_supervised_y_2d",
            "check_class_weight_classifiers",
            "check_decision_proba_consistency",
        ]
    },
    "check_classifier_data_not_an_array": WRAPPED_TABLE_IS_NOT_IMAGES,
    # check_classifiers_one_label, check_classifiers_regression_target and check_fit2d_1sample pass: y is checked
    # before X, so the single class ("one class") and the continuous target are reported before the table.
}


def check_name(check):
    return getattr(check, "func", check).__name__


def run_check(estimator, check, expected_failures):
    refusal = expected_failures.get(check_name(check))
    if refusal is None:
        check(estimator)
        return
    with pytest.raises(Exception) as raised:  # noqa: B017 - verified below against the stated reason
        check(estimator)
    refusal.verify(raised.value)


def small_featurizer():
    # Random seeded VGG11 on 32x32 views: the checks exercise the API, not the numbers.
    return VGGFeaturizer(
        arch="vgg11",
        weights=None,
        random_state=0,
        layer="pool5",
        preprocessing=Preprocessing(resize_size=40, crop_size=32),
        device="cpu",
    )


def small_classifier():
    return VGGClassifier(
        arch="vgg11",
        weights=None,
        random_state=0,
        preprocessing=Preprocessing(resize_size=40, crop_size=32),
        device="cpu",
        max_epochs=1,
        batch_size=8,
    )


@parametrize_with_checks([small_featurizer()])
def test_sklearn_compatible_featurizer(estimator, check):
    run_check(estimator, check, FEATURIZER_EXPECTED_FAILURES)


@parametrize_with_checks([small_classifier()])
def test_sklearn_compatible_classifier(estimator, check):
    run_check(estimator, check, CLASSIFIER_EXPECTED_FAILURES)


@pytest.mark.parametrize(
    "estimator, expected_failures",
    [(small_featurizer(), FEATURIZER_EXPECTED_FAILURES), (small_classifier(), CLASSIFIER_EXPECTED_FAILURES)],
    ids=["featurizer", "classifier"],
)
def test_every_expected_failure_names_a_check_that_runs(estimator, expected_failures):
    # A renamed or removed check would otherwise leave a stale excuse behind.
    marks = parametrize_with_checks([estimator]).args[1]  # the (estimator, check) pairs the tests above run
    names = {check_name(check) for _, check in marks}
    assert set(expected_failures) <= names, sorted(set(expected_failures) - names)


def test_refusal_verification_rejects_other_errors():
    """The verification itself can fail: another error, or the right error with another message."""
    with pytest.raises(AssertionError, match="expected ValueError from skvgg"):
        TABLE_IS_NOT_IMAGES.verify(TypeError("X is a 2-D numpy array of shape (2, 3), which is ambiguous"))
    with pytest.raises(AssertionError, match="skvgg's message"):
        TABLE_IS_NOT_IMAGES.verify(ValueError("could not convert string to float"))
    wrapped = FEATURIZER_EXPECTED_FAILURES["check_fit2d_1sample"]
    with pytest.raises(AssertionError, match="expected the check's complaint"):
        wrapped.verify(ValueError("X is a 2-D numpy array of shape (1, 10), which is ambiguous: wrap a single image in a list"))


def test_a_table_is_refused_with_a_message_that_says_why(vgg11_file):
    featurizer = small_featurizer().set_params(weights=vgg11_file).fit()
    for X in (np.zeros((10, 3)), np.zeros((10, 3), dtype=np.float32)):
        with pytest.raises(ValueError) as raised:
            featurizer.transform(X)
        TABLE_IS_NOT_IMAGES.verify(raised.value)


# -- The refused checks' properties, on images -----------------------------------------------
#
# Tiny generated images, VGG11 with random weights in torchvision's format (conftest), 32x32
# views: each property below is what one of the refused checks verifies on tables.

SMALL = Preprocessing(resize_size=40, crop_size=32)


def images(n, seed=0, size=(40, 48)):
    """n images in three colour classes (the dominant channel), which a random VGG separates."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for i in range(n):
        pixels = rng.integers(0, 60, size=(*size, 3), dtype=np.uint8)
        pixels[..., i % 3] += 180
        X.append(pixels)
        y.append(["red", "green", "blue"][i % 3])
    return X, np.array(y)


def params_fingerprint(estimator):
    """joblib hash of every parameter, nested ones included (as check_estimators_overwrite_params)."""
    return {name: joblib.hash(value) for name, value in estimator.get_params(deep=True).items()}


def public_attributes(estimator):
    return {name for name in vars(estimator) if not name.startswith("_")}


@pytest.fixture(scope="module")
def featurizer_params(vgg11_file):
    # pool5: the convolutions only, quick (the classifier's tests run the whole network).
    return dict(arch="vgg11", weights=vgg11_file, preprocessing=SMALL, layer="pool5", batch_size=3, device="cpu")


@pytest.fixture(scope="module")
def classifier_params(vgg11_file):
    # Only fc8 trains (the default train_layers), without augmentation: quick. The seed
    # still matters (fc8's initialisation, the batches' order); batch_size=16 predicts
    # the few test images in one batch.
    return dict(
        arch="vgg11", weights=vgg11_file, preprocessing=SMALL, lr=0.1, batch_size=16, max_epochs=3,
        validation_fraction=None, random_state=0, device="cpu",
    )  # fmt: skip


@pytest.fixture(scope="module")
def fitted_classifier(classifier_params):
    """A fitted classifier, with its parameters and public attributes as they were before fit."""
    X, y = images(12)
    clf = VGGClassifier(**classifier_params)
    before = params_fingerprint(clf), public_attributes(clf)
    assert clf.fit(X, y) is clf  # check_estimators_fit_returns_self
    return clf, before


def test_featurizer_fit_leaves_the_parameters_unchanged(featurizer_params):
    # check_estimators_overwrite_params, check_dont_overwrite_parameters, check_estimators_fit_returns_self
    X, _ = images(4)
    featurizer = VGGFeaturizer(**featurizer_params)
    before, attributes = params_fingerprint(featurizer), public_attributes(featurizer)
    assert featurizer.fit(X) is featurizer
    assert params_fingerprint(featurizer) == before
    assert featurizer.get_params(deep=True)["preprocessing"] is SMALL  # the very object, not a copy
    added = public_attributes(featurizer) - attributes
    assert added and all(name.endswith("_") for name in added), sorted(added)


def test_classifier_fit_leaves_the_parameters_unchanged(fitted_classifier):
    clf, (before, attributes) = fitted_classifier
    assert params_fingerprint(clf) == before
    assert clf.get_params(deep=True)["preprocessing"] is SMALL
    added = public_attributes(clf) - attributes
    assert {"classes_", "history_", "n_epochs_"} <= added and all(name.endswith("_") for name in added), sorted(added)


def test_unfitted_classifier_refuses_to_predict_and_featurizer_needs_no_fit(featurizer_params, classifier_params):
    # check_fit_check_is_fitted. The featurizer learns nothing (requires_fit=False): it fits itself.
    X, _ = images(2)
    np.testing.assert_array_equal(
        VGGFeaturizer(**featurizer_params).transform(X), VGGFeaturizer(**featurizer_params).fit(X).transform(X)
    )
    for method in ("predict", "predict_proba", "decision_function", "transform"):
        with pytest.raises(NotFittedError):
            getattr(VGGClassifier(**classifier_params), method)(X)


def test_featurizer_rows_follow_the_order_and_do_not_depend_on_the_rest_of_X(featurizer_params):
    # check_methods_sample_order_invariance and check_methods_subset_invariance: with
    # batch_size=3, the same image is described in other batches, beside other images.
    X, _ = images(7)
    featurizer = VGGFeaturizer(**featurizer_params).fit(X)
    reference = featurizer.transform(X)
    assert len(np.unique(reference.round(4), axis=0)) == 7  # every image gives its own row
    order = np.random.default_rng(0).permutation(7)
    np.testing.assert_allclose(featurizer.transform([X[i] for i in order]), reference[order], rtol=1e-5, atol=1e-6)
    for subset in ([4], [6, 1], [0, 2, 5, 3]):
        np.testing.assert_allclose(featurizer.transform([X[i] for i in subset]), reference[subset], rtol=1e-5, atol=1e-6)


def test_classifier_outputs_follow_the_order_and_do_not_depend_on_the_rest_of_X(fitted_classifier):
    # predict and decision_function are computed from predict_proba (see the next test);
    # transform (fc7) runs the network without the head.
    clf, _ = fitted_classifier
    X, _ = images(7, seed=1)
    reference = {method: getattr(clf, method)(X) for method in ("predict_proba", "transform")}
    assert len(np.unique(reference["predict_proba"].round(5), axis=0)) == 7
    order = np.random.default_rng(0).permutation(7)
    for subset in (order, [5], [6, 0, 3]):
        for method, expected in reference.items():
            out = getattr(clf, method)([X[i] for i in subset])
            np.testing.assert_allclose(out, expected[subset], rtol=1e-5, atol=1e-6, err_msg=f"{method} {subset}")


def test_classifier_predict_decision_and_proba_agree(fitted_classifier):
    # check_decision_proba_consistency, check_classifiers_train (predict is the most probable class)
    clf, _ = fitted_classifier
    X, y = images(9, seed=2)
    proba, decision, predicted = clf.predict_proba(X), clf.decision_function(X), clf.predict(X)
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-5)
    np.testing.assert_array_equal(predicted, clf.classes_[proba.argmax(1)])
    np.testing.assert_array_equal(np.argsort(decision, axis=1), np.argsort(proba, axis=1))
    assert clf.score(X, y) == np.mean(predicted == y)


def snapshot(value):
    """A comparable record of an attribute's value. Tensors and networks are recorded by
    identity and version counter (torch bumps it on every in-place change), so that the
    hundreds of megabytes of weights need not be hashed or copied."""
    import torch

    if isinstance(value, torch.nn.Module):
        return ("module", id(value), value.training, snapshot(value.state_dict(keep_vars=True)))
    if isinstance(value, torch.Tensor):
        return ("tensor", value.data_ptr(), value._version, tuple(value.shape), value.dtype)
    if isinstance(value, dict):
        return {key: snapshot(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [snapshot(item) for item in value]
    return joblib.hash(value)


def test_prediction_leaves_the_fitted_model_unchanged(fitted_classifier, featurizer_params):
    # check_dict_unchanged: predicting and describing change no attribute.
    clf, _ = fitted_classifier
    X, _ = images(3, seed=3)
    featurizer = VGGFeaturizer(**featurizer_params).fit(X)
    classifier_methods = ("predict", "predict_proba", "decision_function", "transform")
    for estimator, methods in ((clf, classifier_methods), (featurizer, ("transform",))):
        before = {name: snapshot(value) for name, value in vars(estimator).items()}
        for method in methods:
            getattr(estimator, method)(X)
        after = {name: snapshot(value) for name, value in vars(estimator).items()}
        changed = [name for name in before.keys() | after.keys() if before.get(name) != after.get(name)]
        assert changed == [], (type(estimator).__name__, changed)


def test_snapshot_sees_an_in_place_change_of_the_weights():
    import torch

    network = torch.nn.Linear(2, 2)
    before = snapshot({"net": network})
    with torch.no_grad():
        network.weight[0, 0] += 0  # even a no-op in-place write counts as a change
    assert snapshot({"net": network}) != before
    assert snapshot({"net": network.eval()}) != snapshot({"net": network.train()})


def test_featurizer_refit_is_idempotent(featurizer_params):
    # check_fit_idempotent, check_transformer_general (fit_transform == fit then transform):
    # refitting, even after a fit with other parameters, gives the model a fresh fit gives.
    X, _ = images(4)
    featurizer = VGGFeaturizer(**featurizer_params)
    first = featurizer.fit(X).transform(X)
    names = featurizer.get_feature_names_out()
    featurizer.set_params(layer="pool4").fit(X)
    assert featurizer.transform(X).shape == (4, 512) and not np.allclose(featurizer.transform(X), first)
    featurizer.set_params(layer=featurizer_params["layer"])
    np.testing.assert_array_equal(featurizer.fit(X).transform(X), first)
    np.testing.assert_array_equal(featurizer.get_feature_names_out(), names)
    np.testing.assert_array_equal(clone(featurizer).fit_transform(X), first)


@pytest.mark.slow
def test_classifier_refit_is_idempotent(classifier_params, fitted_classifier):
    # check_fit_idempotent: the same seed gives the same model, whatever the estimator
    # learnt before (another seed, other images).
    X, y = images(12)
    X_test, _ = images(6, seed=4)
    clf, _ = fitted_classifier
    expected = clf.predict_proba(X_test)
    refit = VGGClassifier(**{**classifier_params, "random_state": 1}).fit(*images(9, seed=5))
    other_seed = refit.predict_proba(X_test)
    refit.set_params(random_state=0).fit(X, y)
    np.testing.assert_array_equal(refit.predict_proba(X_test), expected)
    assert [h["train_loss"] for h in refit.history_] == [h["train_loss"] for h in clf.history_]
    assert not np.allclose(other_seed, expected)  # the seed and data do change the model


def test_classifier_accepts_read_only_and_fortran_ordered_batches(fitted_classifier):
    # check_readonly_memmap_input, check_f_contiguous_array_estimator, on a 4-D batch of images.
    clf, _ = fitted_classifier
    X, _ = images(4, seed=6)
    expected = clf.predict_proba(X)
    read_only = np.stack(X)
    read_only.flags.writeable = False
    np.testing.assert_allclose(clf.predict_proba(read_only), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(clf.predict_proba(np.asfortranarray(np.stack(X))), expected, rtol=1e-6, atol=1e-7)


def test_nan_and_inf_pixels_are_refused_by_index(featurizer_params, fitted_classifier, classifier_params):
    # check_estimators_nan_inf: non-finite pixels are an error naming the image, in fit and after.
    X, y = images(6, seed=7)
    X = [x / 255.0 for x in X]
    message = r"X\[4\].*(NaN|finite)"
    featurizer = VGGFeaturizer(**featurizer_params).fit(X[:2])
    clf, _ = fitted_classifier
    for bad in (np.nan, np.inf, -np.inf):
        X[4] = X[4].copy()
        X[4][3, 5, 1] = bad
        for estimator, method in ((featurizer, "transform"), (clf, "predict_proba"), (clf, "transform")):
            with pytest.raises(ValueError, match=message):
                getattr(estimator, method)(X)
    with pytest.raises(ValueError, match=message):
        VGGClassifier(**classifier_params).fit(X, y)
