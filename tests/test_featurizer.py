"""VGGFeaturizer: numbers against torchvision, the paper's dense descriptors, cache, scikit-learn behaviour."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image, ImageOps
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_sample_images
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer
from sklearn.svm import LinearSVC

from skvgg import (
    ImageFailureWarning,
    ImageInputError,
    Preprocessing,
    VGGFeaturizer,
    clear_memory_cache,
    clear_network_cache,
)

# Small inputs where the behaviour under test does not depend on the 224 crop: the
# standard form accepts 32x32 (pool5 1x1, replicated to 7x7 by torchvision's pooling).
SMALL = Preprocessing(resize_size=40, crop_size=32)


@pytest.fixture(scope="module")
def photos():
    """scikit-learn's two real photos: paths and HxWx3 uint8 arrays."""
    data = load_sample_images()
    return list(data.filenames), list(data.images)


@pytest.fixture
def featurizer(vgg11_file):
    def make(**params):
        params.setdefault("arch", "vgg11")
        params.setdefault("weights", vgg11_file)
        params.setdefault("device", "cpu")
        # The references here are float32 torchvision runs; precision="auto" is bfloat16 on CPUs with
        # native bf16 (AVX512-BF16, AMX), so the comparisons pin float32 unless a test says otherwise.
        params.setdefault("precision", "float32")
        return VGGFeaturizer(**params)

    return make


def colour_images(n, size=(48, 40), seed=0):
    """Images whose class (0: reddish, 1: bluish) a random-weight VGG can separate."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(n):
        label = i % 2
        pixels = rng.integers(0, 60, size=(*size, 3), dtype=np.uint8)
        pixels[..., 0 if label == 0 else 2] += 180
        images.append(pixels)
        labels.append(label)
    return images, np.array(labels)


def tv_pipeline_fc7(model, pil_images):
    """torchvision's own single-view pipeline: weights.transforms() then the network."""
    from torchvision.models import VGG11_Weights

    transform = VGG11_Weights.IMAGENET1K_V1.transforms()
    x = torch.stack([transform(image) for image in pil_images])
    with torch.inference_mode():
        pool5 = torch.flatten(model.avgpool(model.features(x)), 1)
        return model.classifier[:5](pool5).numpy()


# --- numbers ----------------------------------------------------------------------------------


def test_default_view_fc7_equals_torchvision_pipeline(featurizer, photos, tv_vgg11):
    paths, _ = photos
    descriptors = featurizer(batch_size=2).fit(paths).transform(paths)
    expected = tv_pipeline_fc7(tv_vgg11, [Image.open(p).convert("RGB") for p in paths])
    assert descriptors.dtype == np.float32 and descriptors.shape == (2, 4096)
    np.testing.assert_allclose(descriptors, expected, rtol=1e-5, atol=1e-6)


def test_dense_fc7_is_mean_of_classifier_on_the_four_windows(featurizer, tv_vgg11):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    descriptor = featurizer(scales=256).fit([image]).transform([image])[0]
    x = Preprocessing().normalize(torch.from_numpy(image).permute(2, 0, 1)[None])
    with torch.inference_mode():
        pool5 = tv_vgg11.features(x)
        assert pool5.shape[-2:] == (8, 8)
        windows = [pool5[:, :, i : i + 7, j : j + 7].flatten(1) for i in range(2) for j in range(2)]
        expected = torch.stack([tv_vgg11.classifier[:5](w)[0] for w in windows]).mean(0)
    np.testing.assert_allclose(descriptor, expected.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("scales", [None, 224])
def test_flip_is_the_mean_with_the_mirror_image(featurizer, scales):
    # An odd width makes the centre crop's offset asymmetric: the mirror must still be
    # the crop of the mirrored photo.
    rng = np.random.default_rng(2)
    image = Image.fromarray(rng.integers(0, 256, size=(230, 263, 3), dtype=np.uint8))
    mirror = ImageOps.mirror(image)
    params = dict(scales=scales, layer=["pool5", "fc7"])
    plain = featurizer(**params).fit([image]).transform([image, mirror])
    flipped = featurizer(flip=True, **params).fit([image]).transform([image])
    np.testing.assert_allclose(flipped[0], plain.mean(0), rtol=1e-4, atol=1e-5)


def test_stack_and_mean_agree_with_single_scales(featurizer):
    images, _ = colour_images(2, size=(230, 250))
    single = [featurizer(scales=q, layer="pool5").fit(images).transform(images) for q in (224, 256)]
    stacked = featurizer(scales=(224, 256), scale_pooling="stack", layer="pool5").fit(images)
    averaged = featurizer(scales=(224, 256), scale_pooling="mean", layer="pool5").fit(images)
    np.testing.assert_allclose(stacked.transform(images), np.hstack(single), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(averaged.transform(images), (single[0] + single[1]) / 2, rtol=1e-5, atol=1e-6)
    names = stacked.get_feature_names_out()
    assert names[0] == "pool5_q224_000" and names[-1] == "pool5_q256_511" and len(names) == 1024


def test_layers_concatenate_and_pool(featurizer, tv_vgg11):
    images, _ = colour_images(3)
    f = featurizer(layer=["conv5_2", "pool3", "logits"], preprocessing=SMALL, batch_size=2).fit(images)
    out = f.transform(images)
    assert out.shape == (3, 512 + 256 + 1000) == (3, f.n_features_out_)
    # Expected values from torchvision's network on the same views the featurizer cut.
    from skvgg._pipeline.views import center_view

    views = torch.stack([center_view(Image.fromarray(im), 40, 32)[0] for im in images])
    with torch.inference_mode():
        acts = {}
        h = SMALL.normalize(views)
        for i, module in enumerate(tv_vgg11.features):
            h = module(h)
            acts[i] = h
        logits = tv_vgg11(SMALL.normalize(views))
    np.testing.assert_allclose(out[:, :512], acts[19].mean(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)  # conv5_2
    np.testing.assert_allclose(out[:, 512:768], acts[10].mean(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)  # pool3
    np.testing.assert_allclose(out[:, 768:], logits.numpy(), rtol=1e-4, atol=1e-5)
    maxed = featurizer(layer="pool3", pooling="max", preprocessing=SMALL).fit(images).transform(images)
    np.testing.assert_allclose(maxed, acts[10].amax(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    assert list(f.get_feature_names_out()[[0, 511, 512, 768, -1]]) == [
        "conv5_2_000", "conv5_2_511", "pool3_000", "logits_000", "logits_999",
    ]  # fmt: skip


def test_every_input_form_gives_the_same_rows(featurizer, photos, tmp_path):
    paths, arrays = photos
    f = featurizer(preprocessing=SMALL, layer="pool5").fit(paths)
    reference = f.transform(paths)
    forms = {
        "arrays": arrays,
        "pil": [Image.open(p) for p in paths],
        "series": pd.Series(paths),
        "frame": pd.DataFrame({"path": paths}),
        "float": [a / 255.0 for a in arrays],
        "mixed": [paths[0], arrays[1]],
    }
    for name, X in forms.items():
        np.testing.assert_allclose(f.transform(X), reference, rtol=1e-6, atol=1e-6, err_msg=name)


# --- cache ------------------------------------------------------------------------------------


def count_forwards(monkeypatch):
    """Record the number of network inputs of every forward pass of any VGG."""
    from skvgg import VGG

    calls = []
    original = VGG.extract

    def counting(self, x, *args, **kwargs):
        calls.append(len(x))
        return original(self, x, *args, **kwargs)

    monkeypatch.setattr(VGG, "extract", counting)
    return calls


def test_memory_cache_returns_identical_rows_and_skips_the_network(featurizer, monkeypatch):
    clear_memory_cache()
    images, _ = colour_images(4)
    calls = count_forwards(monkeypatch)
    f = featurizer(cache=True, preprocessing=SMALL, layer="pool5").fit(images)
    first = f.transform(images)
    assert sum(calls) == 4
    second = clone(f).fit(images).transform(images[::-1])  # a clone shares the cache
    assert sum(calls) == 4
    np.testing.assert_array_equal(second, first[::-1])
    featurizer(cache=True, preprocessing=SMALL, layer="pool4").fit(images).transform(images)
    assert sum(calls) == 8  # another layer is another descriptor


def test_disk_cache_is_shared_and_keyed_by_parameters_and_file(featurizer, monkeypatch, tmp_path):
    images, _ = colour_images(3)
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"img{i}.png")
        Image.fromarray(image).save(paths[-1])
    cache_dir = tmp_path / "cache"
    calls = count_forwards(monkeypatch)
    first = featurizer(cache=cache_dir, preprocessing=SMALL, layer="pool5").fit(paths).transform(paths)
    assert sum(calls) == 3 and len(list(cache_dir.rglob("*.npy"))) == 3
    again = featurizer(cache=str(cache_dir), preprocessing=SMALL, layer="pool5").fit(paths).transform(paths)
    assert sum(calls) == 3
    np.testing.assert_array_equal(again, first)
    featurizer(cache=cache_dir, preprocessing=SMALL, layer="pool5", flip=True).fit(paths).transform(paths)
    assert sum(calls) == 3 + 6  # flip changes the descriptor: images and mirrors run
    Image.fromarray(images[0][::-1].copy()).save(paths[0])  # the file changes: its key changes
    featurizer(cache=cache_dir, preprocessing=SMALL, layer="pool5").fit(paths).transform(paths)
    assert sum(calls) == 3 + 6 + 1


# --- scikit-learn behaviour -------------------------------------------------------------------


def test_pipeline_grid_search_over_layer_and_C(featurizer):
    from sklearn.model_selection import cross_val_score

    clear_memory_cache()
    # A faint colour cast on bright noise: with these random weights conv4_2 separates the
    # two classes in every fold, pool5 does not. The search must find out which is which.
    rng = np.random.default_rng(0)
    labels = np.arange(12) % 2
    images = [rng.integers(0, 200, size=(48, 40, 3), dtype=np.uint8) for _ in labels]
    for image, label in zip(images, labels):
        image[..., 0 if label == 0 else 2] += 8
    pipe = Pipeline(
        [
            ("vgg", featurizer(cache=True, preprocessing=SMALL, batch_size=8)),
            ("norm", Normalizer()),
            ("svm", LinearSVC(random_state=0)),
        ]
    )
    grid = GridSearchCV(pipe, {"vgg__layer": ["pool5", "conv4_2"], "svm__C": [0.1, 1.0]}, cv=3)
    grid.fit(images, labels)
    # The same comparison made directly, on descriptors of each layer computed without the
    # cache: the search must have described the images with the layer each candidate names.
    described = {layer: featurizer(preprocessing=SMALL, layer=layer).fit().transform(images) for layer in ["pool5", "conv4_2"]}

    def head(C):
        return Pipeline([("norm", Normalizer()), ("svm", LinearSVC(C=C, random_state=0))])

    candidates = grid.cv_results_["params"]
    expected = [cross_val_score(head(p["svm__C"]), described[p["vgg__layer"]], labels, cv=3).mean() for p in candidates]
    np.testing.assert_allclose(grid.cv_results_["mean_test_score"], expected, atol=1e-12)
    by_layer = {layer: max(e for p, e in zip(candidates, expected) if p["vgg__layer"] == layer) for layer in described}
    assert by_layer["conv4_2"] == 1.0 > by_layer["pool5"]  # one layer is better, by a direct comparison
    assert grid.best_params_["vgg__layer"] == "conv4_2" and grid.best_score_ == 1.0
    refit = head(grid.best_params_["svm__C"]).fit(described["conv4_2"], labels)
    np.testing.assert_array_equal(grid.predict(images), refit.predict(described["conv4_2"]))


def test_set_output_pandas_and_column_transformer(featurizer, photos):
    paths, _ = photos
    frame = pd.DataFrame({"path": paths, "other": [1, 2]}, index=["a", "b"])
    f = featurizer(preprocessing=SMALL, layer="pool5").set_output(transform="pandas")
    out = f.fit(frame[["path"]]).transform(frame[["path"]])
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(f.get_feature_names_out()) and list(out.index) == ["a", "b"]
    expected = featurizer(preprocessing=SMALL, layer="pool5").fit().transform(paths)
    np.testing.assert_array_equal(out.to_numpy(), expected)  # the same rows, labelled
    ct = ColumnTransformer([("vgg", featurizer(preprocessing=SMALL, layer="pool5"), ["path"])], remainder="passthrough")
    table = ct.fit_transform(frame)
    assert table.shape == (2, 513)
    np.testing.assert_array_equal(table[:, :512], expected)
    np.testing.assert_array_equal(table[:, 512], [1, 2])
    assert list(ct.get_feature_names_out()[[0, -1]]) == ["vgg__pool5_000", "remainder__other"]


def test_clones_share_one_network(featurizer, photos):
    paths, _ = photos
    a = featurizer(preprocessing=SMALL, layer="pool5").fit(paths)
    b = clone(a).set_params(layer="fc7").fit(paths)
    assert a._get_network() is b._get_network()


def test_pickle_leaves_weights_out_and_reloads(featurizer, photos):
    paths, _ = photos
    f = featurizer(preprocessing=SMALL, layer="pool5").fit(paths)
    before = f.transform(paths)
    blob = pickle.dumps(f)
    assert len(blob) < 100_000  # no 500 MB of weights inside
    clear_network_cache()
    restored = pickle.loads(blob)
    np.testing.assert_array_equal(restored.transform(paths), before)


@pytest.mark.slow
def test_random_weights_are_seeded_and_survive_pickling(photos):
    paths, _ = photos
    make = lambda seed: VGGFeaturizer(arch="vgg11", weights=None, random_state=seed, preprocessing=SMALL, layer="pool5")
    a = make(0).fit(paths)
    out = a.transform(paths)
    np.testing.assert_array_equal(make(0).fit(paths).transform(paths), out)
    assert not np.allclose(make(1).fit(paths).transform(paths), out)
    clear_network_cache()
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(a)).transform(paths), out)


def test_progress_bar(featurizer, photos, capsys):
    paths, _ = photos
    featurizer(preprocessing=SMALL, layer="pool5", verbose=True).fit(paths).transform(paths)
    err = capsys.readouterr().err
    assert "VGGFeaturizer" in err and "2/2" in err


# --- bad input --------------------------------------------------------------------------------


def test_missing_file_names_index_and_path(featurizer, photos, tmp_path):
    paths, _ = photos
    missing = str(tmp_path / "nope.jpg")
    f = featurizer(preprocessing=SMALL, layer="pool5").fit(paths)
    with pytest.raises(ImageInputError, match=r"X\[1\].*nope\.jpg"):
        f.transform([paths[0], missing, paths[1]])


def test_on_error_nan_keeps_rows_and_reports_every_failure(featurizer, photos, tmp_path):
    paths, _ = photos
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    X = [paths[0], str(tmp_path / "gone.png"), paths[1], str(text)]
    f = featurizer(preprocessing=SMALL, layer="pool5", on_error="nan").fit(paths)
    with pytest.warns(ImageFailureWarning, match=r"(?s)2 of 4 images.*X\[1\].*gone\.png.*X\[3\].*notes\.jpg"):
        out = f.transform(X)
    assert out.shape == (4, 512)
    assert np.isnan(out[[1, 3]]).all() and np.isfinite(out[[0, 2]]).all()
    assert [(failure["index"], failure["path"]) for failure in f.failures_] == [(1, X[1]), (3, X[3])]
    np.testing.assert_array_equal(out[[0, 2]], f.transform(paths))
    assert f.failures_ == []  # each transform reports its own failures


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(layer="conv5_3"), r"unknown \['conv5_3'\].*vgg11 offers"),
        (dict(layer=[]), "empty or repeated"),
        (dict(layer=["fc7", "fc7"]), "empty or repeated"),
        (dict(scales=(256, 200)), r"distinct integers >= 224.*offending: \[200\]"),
        (dict(scales=[256, 256]), "distinct integers"),
        (dict(device="cuda:7" if not torch.cuda.is_available() else "cuda:99"), "cuda"),
        (dict(cache=3), "cache"),
        (dict(pooling="sum"), "pooling"),
    ],
)
def test_bad_parameters(featurizer, params, message):
    with pytest.raises((ValueError, TypeError), match=message):
        featurizer(**params).fit()


def test_empty_and_malformed_X(featurizer, photos):
    f = featurizer(preprocessing=SMALL, layer="pool5").fit()
    with pytest.raises(ValueError, match="empty"):
        f.transform([])
    with pytest.raises(ValueError, match=r"X\[1\]"):
        f.transform([photos[1][0], np.zeros((5, 5, 2), dtype=np.uint8)])
    with pytest.raises(ValueError, match=r"X\[0\].*(NaN|finite)"):
        f.transform([np.full((8, 8, 3), np.nan)])


def test_out_of_memory_halves_the_batch(featurizer, monkeypatch):
    images, _ = colour_images(5)
    f = featurizer(preprocessing=SMALL, layer="pool5", batch_size=4).fit(images)
    expected = f.transform(images)
    network = f._get_network()
    original = network.extract

    def tight(x, *args, **kwargs):
        if len(x) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(x, *args, **kwargs)

    monkeypatch.setattr(network, "extract", tight)
    with pytest.warns(ResourceWarning, match="retrying with batch_size=2"):
        out = f.transform(images)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_fc_layers_need_a_trained_classifier(monkeypatch):
    import skvgg.featurizer as module
    from skvgg.models.weights import ResolvedWeights

    def features_only(spec, weights, preprocessing=None):
        return ResolvedWeights("torchvision", "VGG16_Weights.IMAGENET1K_FEATURES", Preprocessing(), has_classifier=False)

    monkeypatch.setattr(module, "resolve_weights", features_only)
    with pytest.raises(ValueError, match="no trained classifier.*conv5_3"):
        VGGFeaturizer(layer="fc7").fit()


def test_two_networks_stack_from_one_decoding(featurizer, photos, monkeypatch):
    """The paper's Net-D & Net-E fusion: descriptors stacked, each image decoded once."""
    import skvgg._pipeline.batches

    paths, _ = photos
    vgg11_file = featurizer().weights
    single = [
        featurizer(preprocessing=SMALL, layer="pool5").fit(paths).transform(paths),
        featurizer(preprocessing=SMALL, layer="pool5", weights=None, random_state=0).fit(paths).transform(paths),
    ]
    decoded = []
    load_rgb = skvgg._pipeline.batches.load_rgb
    monkeypatch.setattr(skvgg._pipeline.batches, "load_rgb", lambda item, index: decoded.append(index) or load_rgb(item, index))
    fused = featurizer(arch=["vgg11", "vgg11"], weights=[vgg11_file, None], random_state=0, preprocessing=SMALL, layer="pool5")
    out = fused.fit(paths).transform(paths)
    assert sorted(decoded) == [0, 1]
    np.testing.assert_allclose(out, np.hstack(single), rtol=1e-6, atol=1e-6)
    names = fused.get_feature_names_out()
    assert names[0] == "vgg11_pool5_000" and len(names) == 1024
    with pytest.raises(ValueError, match="weights has 1 entries"):
        featurizer(arch=["vgg11", "vgg13"], weights=[vgg11_file]).fit()
    with pytest.raises(ValueError, match="one entry per network"):
        featurizer(arch=["vgg11", "vgg13"], weights=vgg11_file).fit()


def test_files_of_every_mode_and_odd_size(featurizer, tmp_path):
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    gray = Image.fromarray(rgb).convert("L")
    files = {
        "L.png": gray,
        "LA.png": Image.fromarray(rgb).convert("LA"),
        "P.png": Image.fromarray(rgb).convert("P"),
        "RGBA.png": Image.fromarray(rgb).convert("RGBA"),
        "CMYK.jpg": Image.fromarray(rgb).convert("CMYK"),
        "I16.png": Image.fromarray(np.asarray(gray).astype(np.uint16) * 257),
        "tiny.png": Image.fromarray(rgb[:1, :1]),
        "thin.png": Image.fromarray(rng.integers(0, 256, size=(3, 517, 3), dtype=np.uint8)),
        "tall.png": Image.fromarray(rng.integers(0, 256, size=(517, 3, 3), dtype=np.uint8)),
    }
    paths = []
    for name, image in files.items():
        paths.append(tmp_path / name)
        image.save(paths[-1])
    f = featurizer(preprocessing=SMALL, layer="pool5").fit(paths)
    out = f.transform(paths)
    assert out.shape == (len(paths), 512) and np.isfinite(out).all()
    # Grayscale and 16-bit grayscale (scaled, not clipped) describe like the RGB image of the same grey.
    expected = f.transform([np.stack([np.asarray(gray)] * 3, axis=-1)])[0]
    np.testing.assert_allclose(out[0], expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out[5], expected, rtol=1e-6, atol=1e-6)
