"""VGGClassifier: learning, freezing, schedule, reliability, persistence, scikit-learn behaviour."""

import warnings

import joblib
import numpy as np
import pytest
import torch
import torchvision
from sklearn.base import clone
from sklearn.ensemble import VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_predict

from skvgg import Preprocessing, VGGClassifier, VGGFeaturizer, _training
from skvgg._schedule import PlateauSchedule
from skvgg._training import min_class_size_for_holdout, passes_per_epoch, split_holdout
from skvgg.classifier import MIN_STEPS_PER_EPOCH, TrainingInterrupted

SMALL = Preprocessing(resize_size=40, crop_size=32)
COLOURS = np.array(["red", "green", "blue"])


def colour_data(n, seed=0, size=(40, 48)):
    """Three classes a random-weight VGG separates: the dominant colour channel."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(n):
        label = i % 3
        pixels = rng.integers(0, 60, size=(*size, 3), dtype=np.uint8)
        pixels[..., label] += 180
        images.append(pixels)
        labels.append(COLOURS[label])
    return images, np.array(labels)


@pytest.fixture(scope="module")
def data():
    return colour_data(45, seed=0), colour_data(30, seed=1)


@pytest.fixture
def make(vgg11_file):
    def make(**params):
        defaults = dict(
            arch="vgg11", weights=vgg11_file, preprocessing=SMALL, lr=0.1, batch_size=8,
            max_epochs=6, random_state=0, device="cpu",
        )  # fmt: skip
        defaults.update(params)
        return VGGClassifier(**defaults)

    return make


@pytest.mark.slow
def test_head_learns_well_above_chance(make, data):
    (X, y), (X_test, y_test) = data
    clf = make().fit(X, y)
    assert list(clf.classes_) == ["blue", "green", "red"]
    assert clf.score(X_test, y_test) >= 0.9  # chance is 1/3
    proba = clf.predict_proba(X_test)
    assert proba.shape == (30, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert set(clf.history_[0]) >= {"epoch", "train_loss", "valid_score", "lr", "time", "lr_cut"}
    assert clf.n_epochs_ == len(clf.history_) >= 1


@pytest.mark.slow
def test_frozen_layers_keep_their_exact_values(make, data, tv_vgg11):
    (X, y), _ = data
    clf = make(train_layers="conv5_1", max_epochs=1, validation_fraction=None, lr=0.01).fit(X, y)
    reference = tv_vgg11.state_dict()
    trained = clf._get_network().state_dict()
    for key, value in trained.items():
        frozen = key.startswith("features.") and int(key.split(".")[1]) < 16  # conv5_1 is features.16
        if frozen:
            assert torch.equal(value.cpu(), reference[key]), key
        elif not key.startswith("classifier.6"):
            assert not torch.equal(value.cpu(), reference[key]), key  # it did train


@pytest.mark.slow
def test_frozen_batch_norm_statistics_do_not_move(data):
    (X, y), _ = data
    torch.manual_seed(7)
    state = torchvision.models.vgg11_bn().state_dict()
    clf = VGGClassifier(
        arch="vgg11_bn", weights=state, preprocessing=SMALL, train_layers="conv4_1", max_epochs=1,
        batch_size=8, validation_fraction=None, scale_jitter=48, random_state=0, device="cpu",
    ).fit(X, y)  # fmt: skip
    trained = clf._get_network().state_dict()
    conv4_1 = 15  # features index of conv4_1 in vgg11_bn
    for key, value in trained.items():
        if key.startswith("features.") and int(key.split(".")[1]) < conv4_1:
            assert torch.equal(value.cpu(), state[key]), key
    assert not torch.equal(trained["features.16.running_mean"].cpu(), state["features.16.running_mean"])


def test_schedule_cuts_the_rate_then_stops(make, data):
    (X, y), _ = data
    # A learning rate too small to change any prediction: the validation score never
    # improves after epoch 1, so every lr_patience epochs the rate is cut.
    clf = make(lr=1e-9, lr_patience=1, max_lr_cuts=2, max_epochs=20).fit(X, y)
    lrs = [h["lr"] for h in clf.history_]
    assert [h["lr_cut"] for h in clf.history_] == [False, True, True, False]
    assert lrs == pytest.approx([1e-9, 1e-9, 1e-10, 1e-11])
    assert clf.n_epochs_ == 4  # stopped: the rate was cut twice and the score stalled again


@pytest.mark.slow
def test_keyboard_interrupt_keeps_a_usable_model_and_resumes(make, data, monkeypatch):
    (X, y), (X_test, y_test) = data
    original = _training.train_epoch
    calls = []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(_training, "train_epoch", interrupted)
    clf = make(max_epochs=10, early_stopping=False)
    with pytest.warns(TrainingInterrupted, match="interrupted during epoch 3"):
        clf.fit(X, y)
    assert clf.history_[-1] == {"epoch": 3, "interrupted": True, "lr": clf.history_[-1]["lr"]}
    assert clf.score(X_test, y_test) >= 0.6
    monkeypatch.setattr(_training, "train_epoch", original)
    clf.set_params(warm_start=True, max_epochs=2).fit(X, y)
    assert [h["epoch"] for h in clf.history_] == [1, 2, 3, 4, 5]


@pytest.mark.slow
def test_out_of_memory_halves_the_batch(make, data, monkeypatch):
    (X, y), (X_test, _) = data
    # float32: the comparison is of batch sizes, whose sums bfloat16 (precision="auto" on CPUs with native bf16) rounds apart.
    expected = make(max_epochs=2, precision="float32").fit(X, y).predict_proba(X_test)
    from skvgg import VGG

    forward_from = VGG.forward_from

    def tight(self, x, layer):
        if len(x) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return forward_from(self, x, layer)

    monkeypatch.setattr(VGG, "forward_from", tight)
    with pytest.warns(ResourceWarning, match="retrying with batch_size=2"):
        clf = make(max_epochs=2, precision="float32").fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X_test), expected, atol=1e-4)


def test_non_finite_loss_names_the_epoch(make, data):
    (X, y), _ = data
    with pytest.raises(FloatingPointError, match=r"epoch 1.*lower learning rate"):
        make(lr=1e30).fit(X, y)


@pytest.mark.slow
def test_same_seed_same_model(make, data):
    (X, y), (X_test, _) = data
    # Augmentation in worker threads: each image's random view has its own seeded stream.
    params = dict(scale_jitter=(40, 52), random_flip=True, color_shift=0.1, max_epochs=2, num_workers=2)
    a = make(**params).fit(X, y)
    b = make(**params).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    assert [h["train_loss"] for h in a.history_] == [h["train_loss"] for h in b.history_]
    c = make(**{**params, "random_state": 1}).fit(X, y)
    assert [h["train_loss"] for h in a.history_] != [h["train_loss"] for h in c.history_]


@pytest.mark.slow
def test_persistence_round_trip_without_pretrained_weights(make, data, tmp_path):
    (X, y), (X_test, _) = data
    clf = make().fit(X, y)
    expected = clf.predict_proba(X_test)
    path = tmp_path / "clf.joblib"
    joblib.dump(clf, path)
    assert path.stat().st_size < 2_000_000  # the 500 MB of unchanged weights are not inside
    loaded = joblib.load(path)
    assert all(isinstance(t, np.ndarray) for t in loaded._state.values())  # numpy: loads on CPU-only machines
    np.testing.assert_array_equal(loaded.predict_proba(X_test), expected)


@pytest.mark.slow
def test_persistence_refuses_different_pretrained_weights(make, data, tmp_path):
    (X, y), _ = data
    weights = tmp_path / "w.pth"
    torch.manual_seed(11)
    torch.save(torchvision.models.vgg11().state_dict(), weights)
    clf = make(weights=weights, max_epochs=1).fit(X, y)
    blob = joblib.dump(clf, tmp_path / "clf.joblib")[0]
    torch.manual_seed(12)
    torch.save(torchvision.models.vgg11().state_dict(), weights)  # same name, other values
    with pytest.raises(ValueError, match="differ from those this model was fine-tuned from"):
        joblib.load(blob).predict(X[:1])


@pytest.mark.slow
def test_persistence_of_random_weights_embeds_them(data, tmp_path):
    (X, y), (X_test, _) = data
    clf = VGGClassifier(arch="vgg11", weights=None, preprocessing=SMALL, lr=0.1, batch_size=8, max_epochs=1, random_state=0)
    clf.fit(X, y)
    joblib.dump(clf, tmp_path / "r.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "r.joblib").predict_proba(X_test), clf.predict_proba(X_test))


@pytest.mark.slow
def test_grid_search_over_lr(make, data):
    (X, y), _ = data
    grid = GridSearchCV(make(max_epochs=3), {"lr": [1e-9, 0.1]}, cv=2).fit(X, y)
    assert grid.best_params_ == {"lr": 0.1}


@pytest.mark.slow
def test_soft_voting_fuses_two_networks(make, data):
    (X, y), (X_test, y_test) = data
    one, two = make(random_state=0), make(random_state=1, max_epochs=3)
    vote = VotingClassifier([("a", one), ("b", two)], voting="soft").fit(X, y)
    fitted = vote.estimators_
    expected = (fitted[0].predict_proba(X_test) + fitted[1].predict_proba(X_test)) / 2
    np.testing.assert_allclose(vote.predict_proba(X_test), expected, rtol=1e-6)
    assert vote.score(X_test, y_test) >= 0.9


@pytest.mark.slow
def test_transform_gives_fc7_of_the_fitted_network(make, data, vgg11_file):
    (X, y), (X_test, _) = data
    clf = make(max_epochs=1).fit(X, y)
    descriptors = clf.transform(X_test[:4])
    assert descriptors.shape == (4, 4096) and clf.get_feature_names_out()[-1] == "fc7_4095"
    # Only the head trained: fc7 is the pretrained network's.
    expected = VGGFeaturizer(arch="vgg11", weights=vgg11_file, preprocessing=SMALL).fit().transform(X_test[:4])
    np.testing.assert_allclose(descriptors, expected, rtol=1e-5, atol=1e-6)


def test_test_time_parameters_take_effect_without_refitting(make, data):
    (X, y), _ = data
    fitted = make(max_epochs=1, preprocessing=Preprocessing(resize_size=32, crop_size=32)).fit(X[:12], y[:12])
    wide = np.random.default_rng(5).integers(0, 256, size=(230, 300, 3), dtype=np.uint8)
    centre = fitted.predict_proba([wide])
    dense = fitted.set_params(eval_scales=224, eval_flip=True).predict_proba([wide])
    assert not np.allclose(centre, dense, rtol=1e-3)
    # the same as a model fitted with those parameters (training does not depend on them)
    refit = make(max_epochs=1, preprocessing=Preprocessing(resize_size=32, crop_size=32), eval_scales=224, eval_flip=True)
    np.testing.assert_allclose(refit.fit(X[:12], y[:12]).predict_proba([wide]), dense, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="multi_crop needs eval_scales"):
        fitted.set_params(eval_scales=None, multi_crop=True).predict_proba([wide])


@pytest.mark.slow
def test_dense_and_multi_crop_evaluation(make, data):
    (X, y), _ = data
    # The same seed and data train the same network whatever the eval_* (they are read when predicting).
    tiny = Preprocessing(resize_size=32, crop_size=32)  # the centre view of a 32x32 image is the image
    models = {q: make(max_epochs=1, preprocessing=tiny, eval_scales=q).fit(X, y) for q in (None, 224, 256)}
    two_scales = make(max_epochs=1, preprocessing=tiny, eval_scales=(224, 256), eval_flip=True).fit(X, y)
    for model in (*models.values(), two_scales):
        assert [h["train_loss"] for h in model.history_] == [h["train_loss"] for h in models[None].history_]
    rng = np.random.default_rng(3)
    # Multi-crop at Q=224 on a 224x224 image: the mean posterior of the 5x5 grid of 32x32 crops.
    square = rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
    offsets = [0, 48, 96, 144, 192]
    grid = [square[top : top + 32, left : left + 32] for top in offsets for left in offsets]
    crops = models[224].set_params(multi_crop=True).predict_proba([square])
    np.testing.assert_allclose(crops[0], models[None].predict_proba(grid).mean(0), rtol=1e-4, atol=1e-6)
    # Dense and multi-crop differ, and "combine" weighs the two methods equally.
    wide = rng.integers(0, 256, size=(230, 300, 3), dtype=np.uint8)
    dense = models[224].set_params(multi_crop=False).predict_proba([wide])
    crops = models[224].set_params(multi_crop=True).predict_proba([wide])
    assert not np.allclose(dense, crops, rtol=1e-3)
    combined = models[224].set_params(multi_crop="combine").predict_proba([wide])
    np.testing.assert_allclose(combined, (dense + crops) / 2, rtol=1e-4, atol=1e-6)
    # Two scales with flips: the dense posteriors of the image and its mirror at each scale,
    # averaged (the paper's Table 5).
    image_and_mirror = [wide, wide[:, ::-1]]
    single = [models[q].set_params(multi_crop=False).predict_proba(image_and_mirror) for q in (224, 256)]
    assert not np.allclose(single[0], single[1], rtol=1e-3)  # the scales do differ
    np.testing.assert_allclose(two_scales.predict_proba([wide])[0], np.concatenate(single).mean(0), rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_labels_of_any_type(make, data):
    (X, y), (X_test, y_test) = data
    code = {"red": 5, "green": 15, "blue": 25}
    clf = make().fit(X, np.array([code[label] for label in y]))
    assert list(clf.classes_) == [5, 15, 25]
    assert clf.score(X_test, [code[label] for label in y_test]) >= 0.9  # each image gets its colour's number


@pytest.mark.slow
@pytest.mark.parametrize("class_weight, p_minority", [(None, 6 / 36), ("balanced", 0.5), ({"a": 1, "b": 10}, 60 / 90)])
def test_class_weight_sets_the_prior_learnt_from_indistinguishable_images(make, class_weight, p_minority):
    # 36 copies of one image, 30 labelled "a" and 6 "b": nothing tells them apart, so the
    # head's optimum is the class-weighted prior, P(b) = w_b n_b / (w_a n_a + w_b n_b):
    # 1/6 unweighted, 1/2 balanced (w = n / (2 n_class)). Full batches, no dropout, no
    # rate cuts: plain gradient descent on a convex problem, which gets close to it.
    image = np.random.default_rng(0).integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
    y = np.array(["a"] * 30 + ["b"] * 6)
    clf = make(
        class_weight=class_weight, lr=0.01, max_epochs=30, batch_size=36, dropout=0.0,
        validation_fraction=None, early_stopping=False, lr_patience=100,
    ).fit([image] * 36, y)  # fmt: skip
    assert clf.predict_proba([image])[0, 1] == pytest.approx(p_minority, abs=0.1)


@pytest.mark.parametrize(
    "labels, message",
    [
        (["a"] * 45, "single class"),
        (None, "requires y to be passed"),
        (np.array([0.0, np.nan] * 22 + [1.0]), "NaN or infinite labels at indices \\[1, 3"),
        (["a", "b"] * 10, "45 images but y has 20 labels"),
        ([None] + ["a", "b"] * 22, "missing labels"),
    ],
)
def test_bad_labels(make, data, labels, message):
    (X, _), _ = data
    with pytest.raises(ValueError, match=message):
        make().fit(X, labels)


def test_unseen_labels_at_score_time(make, data):
    (X, y), (X_test, y_test) = data
    clf = make(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match=r"not seen during fit: \['purple'\]"):
        clf.score(X_test[:2], ["red", "purple"])


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(train_layers="conv9_9"), "train_layers='conv9_9'"),
        (dict(scale_jitter=(60, 40)), "Smin <= Smax"),
        (dict(scale_jitter=20), "smaller than the 32 px training crop"),
        (dict(eval_scales=100), "eval_scales"),
        (dict(multi_crop=True), "multi_crop needs eval_scales"),
    ],
)
def test_bad_parameters(make, data, params, message):
    (X, y), _ = data
    with pytest.raises(ValueError, match=message):
        make(**params).fit(X, y)


def test_clone_is_unfitted(make, data):
    (X, y), _ = data
    clf = make(max_epochs=1).fit(X, y)
    fresh = clone(clf)
    assert not hasattr(fresh, "classes_")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fresh.get_params()["lr"] == 0.1


@pytest.mark.slow
def test_progress_bar_per_epoch(make, data, capsys):
    (X, y), _ = data
    make(max_epochs=2, verbose=True, lr_patience=5).fit(X, y)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err
    assert "loss=" in err and "valid=" in err and "lr=1.0e-01" in err


@pytest.mark.slow
def test_loaded_model_ignores_later_parameter_changes_and_warm_starts(make, data, tmp_path):
    (X, y), (X_test, _) = data
    clf = make(max_epochs=2).fit(X, y)
    expected = clf.predict_proba(X_test)
    joblib.dump(clf, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib").set_params(train_layers="classifier", dropout=0.1)
    np.testing.assert_array_equal(loaded.predict_proba(X_test), expected)  # rebuilt as fitted
    loaded.set_params(warm_start=True, max_epochs=1, train_layers="head").fit(X, y)
    assert [h["epoch"] for h in loaded.history_] == [1, 2, 3]


# --- small data -------------------------------------------------------------------------


@pytest.fixture
def default(vgg11_file):
    """VGGClassifier with its default training parameters; only the network, its input
    size, the device and the seed are chosen, for speed and repeatability."""

    def default(weights=vgg11_file, **params):
        fixed = {"arch": "vgg11", "weights": weights, "preprocessing": SMALL, "device": "cpu", "random_state": 0}
        return VGGClassifier(**{**fixed, **params})

    return default


@pytest.fixture(scope="module")
def vgg11_preserving_file(tmp_path_factory):
    """A random VGG11 in torchvision's format, initialised to keep the activations' variance
    (He, fan-in): fc7 norms of ~140 instead of ~4 with torchvision's own initialisation.
    With the larger scale lr=1e-3 overshoots and the schedule has to cut the rate."""
    torch.manual_seed(0)
    model = torchvision.models.vgg11()
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
            torch.nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            torch.nn.init.zeros_(module.bias)
    path = tmp_path_factory.mktemp("weights") / "vgg11-preserving.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("init", ["torchvision", "variance-preserving"])
def test_head_with_defaults_learns_what_logistic_regression_learns(default, vgg11_file, vgg11_preserving_file, init):
    # 10 images per class: the defaults hold out 3 images. The former schedule watched
    # their accuracy, made one SGD step per epoch, cut the rate three times within eight
    # epochs and stopped at 33 % and 63 % training accuracy.
    weights = vgg11_file if init == "torchvision" else vgg11_preserving_file
    (X, y), (X_test, y_test) = colour_data(30, seed=0), colour_data(30, seed=1)
    featurizer = VGGFeaturizer(arch="vgg11", weights=weights, preprocessing=SMALL, device="cpu").fit()
    fc7 = featurizer.transform(X)
    logistic = LogisticRegression(max_iter=2000).fit(fc7, y)
    assert logistic.score(fc7, y) == 1.0
    assert logistic.score(featurizer.transform(X_test), y_test) == 1.0  # separable with a margin, not by chance
    clf = default(weights).fit(X, y)
    assert clf.score(X, y) >= 0.95
    assert clf.score(X_test, y_test) >= 0.9
    assert clf.history_[0]["monitor"] == "valid_loss"


def test_two_images_per_class_fit_and_predict(default):
    X, y = colour_data(6)
    clf = default().fit(X, y)
    assert all(h["monitor"] == "train_eval_loss" and h["valid_loss"] is None for h in clf.history_)
    assert clf.best_score_ is None and clf.best_loss_ == min(h["train_eval_loss"] for h in clf.history_)
    assert clf.score(X, y) == 1.0
    X_test, y_test = colour_data(12, seed=1)
    proba = clf.predict_proba(X_test)
    assert proba.shape == (12, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    # predict is the class of highest posterior, in classes_' order (not a re-sorted or shuffled copy)
    np.testing.assert_array_equal(clf.predict(X_test), clf.classes_[proba.argmax(1)])


def test_cross_val_predict_on_four_images_per_class(default):
    X, y = colour_data(12)
    predicted = cross_val_predict(default(), X, y, cv=2)  # 2 images per class train each fold
    assert predicted.shape == (12,)
    assert np.mean(predicted == y) >= 0.75  # chance is 1/3


@pytest.mark.slow
def test_grid_search_on_a_few_dozen_images(default):
    X, y = colour_data(24)
    grid = GridSearchCV(default(), {"lr": [1e-9, 1e-3]}, cv=2).fit(X, y)  # 4 images per class train
    assert grid.best_params_ == {"lr": 1e-3}
    assert grid.cv_results_["mean_test_score"][1] >= 0.9


@pytest.mark.slow
def test_soft_voting_on_four_images_per_class(default):
    X, y = colour_data(12)
    vote = VotingClassifier([("a", default()), ("b", default(random_state=1))], voting="soft").fit(X, y)
    X_test, y_test = colour_data(12, seed=1)
    fitted = vote.estimators_
    expected = (fitted[0].predict_proba(X_test) + fitted[1].predict_proba(X_test)) / 2
    np.testing.assert_allclose(vote.predict_proba(X_test), expected, rtol=1e-6)
    assert vote.score(X_test, y_test) >= 0.9


def test_hold_out_only_when_every_class_can_spare_an_image(make, data):
    (X, y), _ = data  # 15 images per class
    # 2 %: a class would need 50 images to give one; everything trains instead (this
    # was an error before small data worked).
    everything = make(validation_fraction=0.02, max_epochs=1).fit(X, y)
    assert everything.history_[0]["monitor"] == "train_eval_loss" and everything.history_[0]["valid_score"] is None
    held_out = make(validation_fraction=0.1, max_epochs=1).fit(X, y)
    assert held_out.history_[0]["monitor"] == "valid_loss" and held_out.history_[0]["train_eval_loss"] is None
    assert held_out.best_score_ == held_out.history_[0]["valid_score"]


@pytest.mark.parametrize("fraction, size", [(0.1, 10), (0.25, 4), (0.5, 2), (0.3, 4), (0.8, 5), (0.02, 50)])
def test_min_class_size_for_holdout(fraction, size):
    assert min_class_size_for_holdout(fraction) == size


def test_split_holdout_gives_every_class_images_on_both_sides():
    rng = np.random.default_rng(0)
    for trial in range(300):
        fraction = float(rng.choice([0.05, 0.1, 0.2, 0.25, 0.3, 0.5, 0.7, 0.9]))
        n_classes = int(rng.integers(2, 8))
        counts = rng.integers(1, 40, size=n_classes)
        encoded = rng.permutation(np.repeat(np.arange(n_classes), counts))
        train, valid = split_holdout(encoded, n_classes, fraction, seed=trial)
        assert np.array_equal(np.sort(np.concatenate([train, valid])), np.arange(len(encoded)))
        if counts.min() < min_class_size_for_holdout(fraction):
            assert len(valid) == 0, (fraction, counts)
        else:
            assert len(valid) == int(np.ceil(fraction * len(encoded)))
            assert (np.bincount(encoded[valid], minlength=n_classes) >= 1).all(), (fraction, counts)
            assert (np.bincount(encoded[train], minlength=n_classes) >= 1).all(), (fraction, counts)
    assert len(split_holdout(np.array([0, 1] * 50), 2, None, seed=0)[1]) == 0


def test_small_training_sets_are_passed_over_several_times_per_epoch(make, data):
    assert passes_per_epoch(30, 32) == MIN_STEPS_PER_EPOCH == 10
    assert passes_per_epoch(40, 8) == 2 and passes_per_epoch(320, 32) == 1 and passes_per_epoch(1000, 32) == 1
    (X, y), _ = data
    steps = []
    original = _training.train_step

    def counting(run, x, *args, **kwargs):
        steps.append(len(x))
        return original(run, x, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_training, "train_step", counting)
        make(validation_fraction=None, batch_size=32, max_epochs=1).fit(X[:12], y[:12])
    assert steps == [12] * MIN_STEPS_PER_EPOCH  # every image once per step, 10 steps


def test_plateau_schedule_judges_each_rate_from_where_it_starts():
    schedule = PlateauSchedule(patience=2, max_cuts=2)
    actions = [schedule.update(loss) for loss in [1.0, 0.5, 0.9, 0.9]]
    # 0.5 was a lucky low: two epochs above it cut the rate.
    assert actions == [(True, "keep"), (True, "keep"), (False, "keep"), (False, "cut")]
    # The new rate starts from 0.9: 0.8 improves on that, though not on the best 0.5.
    assert schedule.update(0.8) == (False, "keep") and schedule.stalled == 0
    # Less than the 1e-3 relative tolerance is a stall.
    assert [schedule.update(loss) for loss in [0.7995, 0.7993]] == [(False, "keep"), (False, "cut")]
    assert [schedule.update(loss) for loss in [0.4, 0.4, 0.4]] == [(True, "keep"), (False, "keep"), (False, "stop")]
    assert schedule.best == 0.4 and schedule.cuts == 2
