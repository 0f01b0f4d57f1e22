"""scikit-learn's estimator checks, with every expected failure listed and explained.

The common checks feed estimators 2-D numeric tables (n_samples, n_features). An image
featurizer takes *images*: a 2-D numeric array is not a batch of images, and skvgg
refuses it with an error instead of guessing (it would otherwise have to invent a
meaning for it, e.g. one grayscale image, and return garbage). Every check that
needs a table to be accepted is therefore expected to fail, for that one reason.
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skvgg import Preprocessing, VGGClassifier, VGGFeaturizer

TABLE_IS_NOT_IMAGES = "feeds a 2-D numeric table, which is not a batch of images and is refused"

FEATURIZER_EXPECTED_FAILURES = {
    name: TABLE_IS_NOT_IMAGES
    for name in [
        "check_fit_score_takes_y",
        "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_n_features_in_after_fitting",
        "check_estimators_dtypes",
        "check_dtype_object",
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
        "check_transformer_data_not_an_array",
    ]
}
FEATURIZER_EXPECTED_FAILURES.update(
    {
        "check_positive_only_tag_during_fit": TABLE_IS_NOT_IMAGES + " (negative values are beside the point)",
        "check_estimators_empty_data_messages": "expects the tabular '0 feature(s)' wording; skvgg says the table is not images",
        "check_fit2d_1sample": "expects the tabular 'n_samples=1' wording; skvgg says the table is not images",
        "check_fit2d_1feature": "expects the tabular 'n_features=1' wording; skvgg says the table is not images",
        "check_estimators_nan_inf": (
            "fit does not decode images (it only loads the network), so NaN pixels are reported by transform, "
            "with the image's index; the check expects fit to reject them"
        ),
    }
)


CLASSIFIER_EXPECTED_FAILURES = {
    **FEATURIZER_EXPECTED_FAILURES,
    **{
        name: TABLE_IS_NOT_IMAGES
        for name in [
            "check_classifier_data_not_an_array",
            "check_classifiers_classes",
            "check_classifiers_train",
            "check_supervised_y_2d",
            "check_class_weight_classifiers",
            "check_decision_proba_consistency",
        ]
    },
    # check_classifiers_one_label and check_classifiers_regression_target pass: y is checked
    # before X, so the single class and the continuous target are reported before the table.
}


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


@parametrize_with_checks([small_featurizer()], expected_failed_checks=lambda est: FEATURIZER_EXPECTED_FAILURES)
def test_sklearn_compatible_featurizer(estimator, check):
    check(estimator)


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


@parametrize_with_checks([small_classifier()], expected_failed_checks=lambda est: CLASSIFIER_EXPECTED_FAILURES)
def test_sklearn_compatible_classifier(estimator, check):
    check(estimator)


def test_expected_failures_fail_for_the_stated_reason():
    """A table is refused with a message that says why (not an accidental crash)."""
    import numpy as np

    featurizer = small_featurizer().fit()
    with pytest.raises(ValueError, match="2-D numpy array.*ambiguous.*wrap a single image in a list"):
        featurizer.transform(np.zeros((10, 3)))
