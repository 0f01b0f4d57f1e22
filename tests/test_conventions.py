"""What scikit-learn and PyTorch users expect: torchvision's weight names, one error tree, a featurizer that
needs no fit, parameters that take effect after fit, device and precision resolved once, warnings at the
user's line, ``verbose`` through logging."""

import logging
import warnings

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils._param_validation import InvalidParameterError

from skvgg import (
    ImageFailureWarning,
    Preprocessing,
    VGGFeaturizer,
    WeightsError,
    WeightsUnavailableError,
    build_vgg,
    resolve_arch,
    runtime,
)
from skvgg.models.weights import resolve_weights

SMALL = Preprocessing(resize_size=40, crop_size=32)


def images(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, size=(40, 44, 3), dtype=np.uint8) for _ in range(n)]


def small(**params):
    defaults = dict(arch="vgg11", weights=None, random_state=0, preprocessing=SMALL, device="cpu", precision="float32")
    return VGGFeaturizer(**{**defaults, **params})


# --- weights= names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, identity",
    [
        ("DEFAULT", "VGG16_Weights.IMAGENET1K_V1"),
        ("default", "VGG16_Weights.IMAGENET1K_V1"),
        ("imagenet", "VGG16_Weights.IMAGENET1K_V1"),
        ("IMAGENET1K_V1", "VGG16_Weights.IMAGENET1K_V1"),
        ("IMAGENET1K_FEATURES", "VGG16_Weights.IMAGENET1K_FEATURES"),
        ("VGG16_Weights.IMAGENET1K_V1", "VGG16_Weights.IMAGENET1K_V1"),
        ("VGG16_Weights.DEFAULT", "VGG16_Weights.IMAGENET1K_V1"),
        ("VGG16_Weights.IMAGENET1K_FEATURES", "VGG16_Weights.IMAGENET1K_FEATURES"),
    ],
)
def test_every_name_torchvision_builders_accept(name, identity):
    import torchvision

    resolved = resolve_weights(resolve_arch("vgg16"), name)
    assert resolved.source == "torchvision" and resolved.identity == identity
    assert resolved.has_classifier == (not identity.endswith("FEATURES"))
    # The same name means the same weights to torchvision's own builder (which is case-sensitive).
    assert torchvision.models.VGG16_Weights.verify({"default": "DEFAULT", "imagenet": "DEFAULT"}.get(name, name)) is resolved.enum


def test_enum_members_are_accepted():
    from torchvision.models import VGG16_Weights, VGG19_BN_Weights

    assert resolve_weights(resolve_arch("vgg16"), VGG16_Weights.DEFAULT).enum is VGG16_Weights.IMAGENET1K_V1
    assert resolve_weights(resolve_arch("vgg19_bn"), VGG19_BN_Weights.IMAGENET1K_V1).identity == "VGG19_BN_Weights.IMAGENET1K_V1"


@pytest.mark.parametrize(
    "arch, name, listed",
    [
        ("vgg11", "IMAGENET1K_FEATURES", "'imagenet', 'DEFAULT', 'IMAGENET1K_V1', 'VGG11_Weights.DEFAULT', 'VGG11_Weights.IMAGE"),
        ("vgg16", "IMAGENET1K_V2", "'IMAGENET1K_V1', 'IMAGENET1K_FEATURES'"),
    ],
)
def test_wrong_names_list_the_valid_ones(arch, name, listed):
    with pytest.raises(WeightsError, match=rf"Unknown weights '{name}' for arch='{arch}'.*{listed}"):
        resolve_weights(resolve_arch(arch), name)


def test_a_file_wins_over_a_name_that_reads_the_same(tmp_path, monkeypatch, tv_vgg11):
    torch.save(tv_vgg11.state_dict(), tmp_path / "IMAGENET1K_V1")
    monkeypatch.chdir(tmp_path)
    assert resolve_weights(resolve_arch("vgg11"), "IMAGENET1K_V1").source == "file"


def test_features_weights_have_no_fc_layers_for_the_featurizer():
    with pytest.raises(ValueError, match=r"VGG16_Weights.IMAGENET1K_FEATURES have no trained classifier"):
        VGGFeaturizer("vgg16", weights="IMAGENET1K_FEATURES", layer="fc7", device="cpu").fit()


def test_errors_form_one_tree(torch_home, offline):
    assert issubclass(WeightsUnavailableError, WeightsError) and issubclass(WeightsUnavailableError, OSError)
    with pytest.raises(WeightsError, match=r"Could not obtain the VGG11_Weights.IMAGENET1K_V1 weights") as raised:
        build_vgg("vgg11", weights="DEFAULT", progress=False)  # the download fails: nothing is fetched in tests
    assert isinstance(raised.value, WeightsUnavailableError)


# --- a featurizer needs no fit ----------------------------------------------------------------


def test_transform_without_fit_equals_fit_then_transform():
    X = images(3)
    unfitted = small()
    assert unfitted.__sklearn_tags__().requires_fit is False
    np.testing.assert_array_equal(unfitted.transform(X), small().fit(X).transform(X))
    assert small().get_feature_names_out()[0] == "fc7_0000"
    with pytest.raises(InvalidParameterError, match="'layer' parameter"):  # still validated
        small(layer=3).transform(X)


# --- parameters changed after fit take effect --------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [{"layer": "fc6"}, {"layer": ["pool5", "fc7"]}, {"flip": True}, {"pooling": "max", "layer": "conv5_2"}, {"random_state": 1}],
)
def test_changed_parameters_take_effect_after_fit(change):
    X = images(2)
    featurizer = small().fit(X)
    before = featurizer.transform(X)
    featurizer.set_params(**change)
    after = featurizer.transform(X)
    expected = small(**change).transform(X)
    np.testing.assert_array_equal(after, expected)
    assert after.shape[1] == featurizer.n_features_out_ == len(featurizer.get_feature_names_out())
    assert after.shape != before.shape or not np.array_equal(after, before)


@pytest.mark.slow
def test_random_network_keeps_its_seed_unless_its_parameters_change():
    X = images(2)
    featurizer = VGGFeaturizer("vgg11", weights=None, preprocessing=SMALL, device="cpu", precision="float32").fit()
    fc7 = featurizer.transform(X)  # random_state=None: the seed was drawn at fit
    seeds = list(featurizer._seeds_)
    featurizer.set_params(layer="fc6").transform(X)
    assert featurizer._seeds_ == seeds  # the same random network, another layer
    np.testing.assert_array_equal(featurizer.set_params(layer="fc7").transform(X), fc7)
    featurizer.set_params(random_state=3).transform(X)
    assert featurizer._seeds_ != seeds


def test_transform_time_parameters_need_no_new_fit(monkeypatch):
    X = images(2)
    featurizer = small().fit()
    expected = featurizer.transform(X)
    refits = []
    monkeypatch.setattr(featurizer, "_fit", lambda **kw: refits.append(kw))
    featurizer.set_params(batch_size=1, num_workers=0, max_pixels=10**6, verbose=0, on_error="nan")
    np.testing.assert_allclose(featurizer.transform(X), expected, rtol=1e-4, atol=1e-5)  # other batches, same values
    assert refits == []


def test_invalid_value_set_after_fit_is_refused_at_transform():
    featurizer = small().fit()
    featurizer.layer = "fc9"  # even bypassing set_params
    with pytest.raises(ValueError, match="fc9"):
        featurizer.transform(images(1))


# --- device and precision: resolved once per fit ----------------------------------------------


def test_device_and_precision_are_resolved_once_per_fit(monkeypatch):
    import skvgg._estimator
    import skvgg._evaluation
    import skvgg.models._quantize

    calls = {"device": 0, "precision": 0}
    resolve_device, resolve_precision = runtime.resolve_device, runtime.resolve_precision

    def counting_device(device="auto"):
        calls["device"] += 1
        return resolve_device(device)

    def counting_precision(precision, device):
        calls["precision"] += not isinstance(precision, torch.dtype)  # a resolved dtype passes through
        return resolve_precision(precision, device)

    monkeypatch.setattr(skvgg._estimator, "resolve_device", counting_device)
    for module in (runtime, skvgg._evaluation, skvgg.models._quantize):
        monkeypatch.setattr(module, "resolve_precision", counting_precision)
    featurizer = small(device="auto", precision="auto", layer=["fc6", "fc7"])
    featurizer.fit()
    featurizer.transform(images(2))
    featurizer.transform(images(1))
    featurizer.get_feature_names_out()
    assert calls == {"device": 1, "precision": 1}
    assert featurizer.device_ == str(resolve_device("auto"))
    assert featurizer.precision_ == str(resolve_precision("auto", resolve_device("auto"))).removeprefix("torch.")
    featurizer.set_params(precision="float32").transform(images(1))  # a changed parameter: resolved again
    assert calls == {"device": 2, "precision": 2} and featurizer.precision_ == "float32"


# --- warnings point at the user's line --------------------------------------------------------


def test_image_failure_warning_names_the_users_line_through_a_pipeline(tmp_path):
    X = [*images(1), str(tmp_path / "missing.jpg")]
    model = make_pipeline(small(on_error="nan", layer="pool5"), FunctionTransformer())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit_transform(X)  # Pipeline -> _fit_context -> fit_transform -> transform
    failures = [w for w in caught if issubclass(w.category, ImageFailureWarning)]
    assert len(failures) == 1 and "missing.jpg" in str(failures[0].message)
    assert failures[0].filename == __file__


@pytest.mark.skipif(runtime.cpu_native_float16(), reason="this CPU computes float16 natively: nothing to warn")
def test_precision_warning_names_the_users_line():
    with pytest.warns(UserWarning, match="precision='float16' on this CPU") as caught:
        small(precision="float16").fit()
    assert {w.filename for w in caught} == {__file__}


# --- verbose levels and logging ---------------------------------------------------------------


def test_verbose_two_logs_steps_on_the_skvgg_logger(caplog, capsys):
    with caplog.at_level(logging.INFO, logger="skvgg"):
        small(verbose=2).transform(images(2))
    messages = [r.getMessage() for r in caplog.records if r.name == "skvgg"]
    assert any("device cpu, precision float32" in m for m in messages), messages
    assert any("2 images, 0 from the cache" in m for m in messages), messages
    assert "VGGFeaturizer" in capsys.readouterr().err  # and the progress bar


@pytest.mark.parametrize("verbose", [0, 1])
def test_lower_verbose_levels_log_only_at_debug(caplog, verbose):
    with caplog.at_level(logging.INFO, logger="skvgg"):
        small(verbose=verbose).transform(images(1))
    assert [r for r in caplog.records if r.name == "skvgg"] == []
    with caplog.at_level(logging.DEBUG, logger="skvgg"):
        small(verbose=verbose).transform(images(1))
    assert any("images" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)


@pytest.mark.slow
def test_classifier_verbose_two_logs_the_run_and_each_epoch(caplog):
    from skvgg import VGGClassifier

    X, y = images(4), np.array(["a", "b"] * 2)
    clf = VGGClassifier("vgg11", weights=None, preprocessing=SMALL, max_epochs=2, batch_size=4, validation_fraction=None)
    with caplog.at_level(logging.INFO, logger="skvgg"):
        clf.set_params(random_state=0, device="cpu", precision="float32", verbose=2).fit(X, y)
    messages = [r.getMessage() for r in caplog.records if r.name == "skvgg"]
    assert any("VGGClassifier: device cpu, precision float32" in m for m in messages), messages
    assert any("4 training and 0 hold-out images" in m for m in messages), messages
    assert [m.split(":")[0] for m in messages if m.startswith("epoch")] == ["epoch 1/2", "epoch 2/2"]
