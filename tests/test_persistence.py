"""Saving and loading fitted estimators (skops, joblib, pickle) and exporting the fine-tuned network."""

import pickle

import joblib
import numpy as np
import pytest
import torch
import torchvision
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skvgg import Preprocessing, VGGClassifier, VGGFeaturizer, build_vgg

sio = pytest.importorskip("skops.io")

SMALL = Preprocessing(resize_size=40, crop_size=32)
#: What a saved skvgg estimator asks skops to trust: skvgg's own types, nothing else.
SKVGG_TYPES = {
    "skvgg.classifier.VGGClassifier",
    "skvgg.featurizer.VGGFeaturizer",
    "skvgg.models._preprocessing.Preprocessing",
}


def images(n, seed=0):
    rng = np.random.default_rng(seed)
    X, y = [], []
    for i in range(n):
        pixels = rng.integers(0, 60, size=(40, 44, 3), dtype=np.uint8)
        pixels[..., 0 if i % 2 else 2] += 180
        X.append(pixels)
        y.append("red" if i % 2 else "blue")
    return X, np.array(y)


@pytest.fixture(scope="module")
def fitted(vgg11_file):
    """A classifier fine-tuned from a weights file (its frozen part is re-read on load), and its data."""
    X, y = images(6)
    clf = VGGClassifier(
        "vgg11", weights=str(vgg11_file), preprocessing=SMALL, max_epochs=1, batch_size=6, lr=0.05,
        validation_fraction=None, random_state=0, device="cpu", precision="float32",
    ).fit(X, y)  # fmt: skip
    return clf, X, y


def skops_round_trip(estimator, path):
    sio.dump(estimator, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert set(untrusted) <= SKVGG_TYPES, sorted(set(untrusted) - SKVGG_TYPES)
    return sio.load(path, trusted=untrusted)


@pytest.mark.slow
def test_classifier_skops_round_trip_predicts_identically(fitted, tmp_path):
    clf, X, _ = fitted
    loaded = skops_round_trip(clf, tmp_path / "clf.skops")
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    assert loaded.classes_.tolist() == clf.classes_.tolist() and loaded.history_ == clf.history_


@pytest.mark.slow
def test_saved_state_holds_numpy_arrays_not_tensors(fitted):
    clf, _, _ = fitted
    state = clf.__getstate__()
    assert state["_state"] and all(isinstance(v, np.ndarray) for v in state["_state"].values())
    # Fine-tuned from a file: only what trained (the head) is stored; the frozen part is re-read.
    assert set(state["_state"]) == {"classifier.6.weight", "classifier.6.bias"}
    assert state["_network"] is None and state["_optimizer_state"] is None

    def torch_objects(value):
        if isinstance(value, dict):
            return [t for v in value.values() for t in torch_objects(v)]
        if isinstance(value, list | tuple):
            return [t for v in value for t in torch_objects(v)]
        return [value] if type(value).__module__.startswith("torch") else []

    assert torch_objects(state) == []


@pytest.mark.slow
def test_classifier_pickle_and_joblib_keep_working(fitted, tmp_path):
    clf, X, _ = fitted
    expected = clf.predict_proba(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), expected)
    joblib.dump(clf, tmp_path / "clf.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "clf.joblib").predict_proba(X), expected)


@pytest.mark.slow
def test_old_pickles_with_tensor_state_still_load(fitted):
    clf, X, _ = fitted
    state = clf.__getstate__()
    state["_state"] = {k: torch.from_numpy(v) for k, v in state["_state"].items()}  # as skvgg saved before
    old = VGGClassifier.__new__(VGGClassifier)
    old.__setstate__(state)
    np.testing.assert_array_equal(old.predict_proba(X), clf.predict_proba(X))


@pytest.mark.slow
def test_featurizer_pipeline_skops_round_trip_predicts_identically(tmp_path):
    X, y = images(6)
    featurizer = VGGFeaturizer("vgg11", weights=None, random_state=0, preprocessing=SMALL, device="cpu", layer="pool5")
    pipeline = make_pipeline(featurizer, LogisticRegression(max_iter=200)).fit(X, y)
    loaded = skops_round_trip(pipeline, tmp_path / "pipe.skops")
    np.testing.assert_array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))
    np.testing.assert_array_equal(loaded[0].transform(X), pipeline[0].transform(X))
    assert "sklearn.pipeline.Pipeline" not in sio.get_untrusted_types(file=tmp_path / "pipe.skops")


def test_unfitted_estimators_round_trip_through_skops(tmp_path):
    for estimator in (VGGFeaturizer("vgg11", weights=None), VGGClassifier("vgg11", weights=None, max_epochs=3)):
        loaded = skops_round_trip(estimator, tmp_path / "e.skops")
        assert loaded.get_params() == estimator.get_params()


@pytest.mark.slow
def test_module_is_the_network_with_torchvision_keys(fitted):
    clf, X, _ = fitted
    assert isinstance(clf.module_, torch.nn.Module)
    tv = torchvision.models.vgg11(num_classes=2)
    tv.load_state_dict(clf.module_.state_dict())  # strict: torchvision's keys and shapes
    # torchvision's own network, given the classifier's input, gives its posteriors.
    x = SMALL.normalize(torch.as_tensor(np.stack([np.asarray(X[0])[4:36, 6:38]])).permute(0, 3, 1, 2))
    with torch.inference_mode():
        expected = torch.softmax(tv.eval()(x), 1).numpy()
    np.testing.assert_allclose(expected, clf.predict_proba(X[:1]), rtol=1e-4, atol=1e-6)
    assert clf.module_.num_classes == 2
    with pytest.raises(NotFittedError):
        VGGClassifier().module_  # noqa: B018 - the property raises


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_saved_weights_load_back_through_weights_path(fitted, tmp_path, suffix):
    clf, X, y = fitted
    path = tmp_path / f"finetuned{suffix}"
    clf.save_weights(path)
    # Same number of classes: the network computes what the classifier computes.
    network = build_vgg("vgg11", weights=path)
    for key, value in clf.module_.state_dict().items():
        assert torch.equal(network.state_dict()[key], value.cpu()), key
    featurizer = VGGFeaturizer("vgg11", weights=str(path), layer="logits", preprocessing=SMALL, device="cpu", precision="float32")
    logits = torch.as_tensor(featurizer.transform(X))
    np.testing.assert_allclose(torch.softmax(logits, 1).numpy(), clf.predict_proba(X), rtol=1e-4, atol=1e-6)
    # A new starting point: fine-tuning from the exported weights (a new head, another class count).
    labels = np.array(["a", "b", "c"] * 2)
    again = VGGClassifier("vgg11", weights=str(path), preprocessing=SMALL, max_epochs=1, batch_size=6, device="cpu")
    again.set_params(validation_fraction=None, random_state=0).fit(X, labels)
    assert again.module_.num_classes == 3
    frozen = {k for k in network.state_dict() if not k.startswith("classifier.6.")}
    for key in frozen:
        assert torch.equal(again.module_.state_dict()[key].cpu(), network.state_dict()[key]), key


@pytest.mark.slow
def test_save_weights_refuses_unknown_suffix(fitted, tmp_path):
    clf, _, _ = fitted
    with pytest.raises(ValueError, match=r"finetuned.bin.*must end in one of \['.safetensors', '.pth', '.pt'\]"):
        clf.save_weights(tmp_path / "finetuned.bin")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_damaged_safetensors_file_is_a_weights_error(tmp_path):
    from skvgg import WeightsError

    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match=r"Could not read safetensors checkpoint .*broken.safetensors"):
        build_vgg("vgg11", weights=path)


@pytest.mark.slow
def test_scores_are_float64_and_runtime_parameters_take_effect_after_fit(fitted):
    clf, X, _ = fitted
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float64 and clf.decision_function(X).dtype == np.float64
    assert clf.transform(X).dtype == np.float32  # descriptors stay float32, as the featurizer's
    assert (clf.device_, clf.precision_) == ("cpu", "float32")
    try:
        clf.set_params(precision="bfloat16")
        assert not np.array_equal(clf.predict_proba(X), proba) and clf.precision_ == "bfloat16"
    finally:
        clf.set_params(precision="float32")
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


@pytest.mark.slow
def test_load_network_shares_one_restored_network(fitted):
    clf, X, _ = fitted
    blob = pickle.dumps(clf)
    a, b = pickle.loads(blob).load_network(share_key="k"), pickle.loads(blob).load_network(share_key="k")
    assert a.module_ is b.module_
    np.testing.assert_array_equal(a.predict_proba(X), clf.predict_proba(X))
