"""CPU fast paths: the auto precision rule, float16 on a CPU, int8, compile="auto", memory-mapped weights."""

from __future__ import annotations

import builtins
import hashlib
import importlib.util
import os
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skvgg import Preprocessing, VGGFeaturizer, build_vgg, clear_network_cache
from skvgg._pipeline import runtime
from skvgg.models._quantize import calibration_images
from skvgg.models.weights import WeightsCorruptedError

# Small views (resize 72, crop 64) of real photos keep VGG11 cheap; the dense form needs >= 256.
PRE = Preprocessing(resize_size=72, crop_size=64)
INT8 = dict(arch="vgg11", weights=None, random_state=0, preprocessing=PRE, device="cpu", num_workers=0, precision="int8")


def photos(n=6, size=(80, 64)):
    """Crops of scikit-learn's sample photos (the calibration photos, resized), as arrays."""
    return [np.asarray(image.resize(size)) for image in calibration_images()][:n]


def cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# --- precision="auto" and float16 ---------------------------------------------------------


@pytest.mark.parametrize("native, expected", [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_precision_on_a_cpu_follows_the_bf16_probe(monkeypatch, native, expected):
    monkeypatch.setattr(runtime, "cpu_native_bfloat16", lambda: native)
    assert runtime.resolve_precision("auto", torch.device("cpu")) == expected
    assert runtime.resolve_precision("float32", torch.device("cpu")) == torch.float32


def test_bf16_probe_reads_the_cpu_instructions(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert runtime.cpu_native_bfloat16() is False
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert runtime.cpu_native_bfloat16() is True
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")  # an older torch: assume no
    assert runtime.cpu_native_bfloat16() is False


def test_float16_on_a_cpu_without_it_warns(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_native_float16", lambda: False)
    with pytest.warns(UserWarning, match="float16.*slower than float32"):
        assert runtime.resolve_precision("float16", torch.device("cpu")) == torch.float16
    monkeypatch.setattr(runtime, "cpu_native_float16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runtime.resolve_precision("float16", torch.device("cpu"))


# --- int8 --------------------------------------------------------------------------------


def test_int8_without_torchao_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_torchao(name, *args, **kwargs):
        if name.startswith("torchao"):
            raise ImportError("No module named 'torchao'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torchao)
    with pytest.raises(ImportError, match=r"skvgg\[int8\]"):
        VGGFeaturizer(**INT8).fit()


def test_int8_refuses_small_dense_scales_and_other_devices():
    with pytest.raises(ValueError, match="scale >= 256"):
        VGGFeaturizer(**{**INT8, "preprocessing": None}, scales=[224, 384]).fit()
    from skvgg.models._quantize import check_int8_available

    with pytest.raises(ValueError, match="CPU only"):
        check_int8_available(torch.device("meta"))


def test_int8_warning_without_vnni_says_what_was_measured(monkeypatch):
    pytest.importorskip("torchao.quantization.pt2e")
    import skvgg.models._quantize as quantize_module

    monkeypatch.setattr(quantize_module, "_cpu_has_int8_dot_product", lambda: False)
    with pytest.warns(UserWarning, match="without VNNI or AMX") as record:
        quantize_module.check_int8_available(torch.device("cpu"))
    message = str(record[0].message)
    assert "8.1 images/s" in message and "float32 3.8" in message and "2.1x float32" in message
    assert "no faster" not in message
    monkeypatch.setattr(quantize_module, "_cpu_has_int8_dot_product", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quantize_module.check_int8_available(torch.device("cpu"))


@pytest.mark.slow
@pytest.mark.parametrize("options", [dict(precision="int8"), dict(precision="float32", compile=True)], ids=["int8", "compiled"])
def test_graphs_do_not_recompile_for_another_batch_size(options):
    """Issue 19: 4 images, then 32, compiled again inside the second (timed) call."""
    from torch._dynamo.utils import counters

    clear_network_cache()
    images = (photos() * 6)[:33]
    params = {**INT8, **options, "batch_size": 16}
    featurizer = VGGFeaturizer(**params).fit()
    featurizer.transform(images[:4])  # builds the graphs (batch of 4)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs >= 1
    for n in (32, 1, 3, 17, 33):  # batches of 16, 1, 3, 16 + 1, 16 + 16 + 1
        featurizer.transform(images[:n])
        assert counters["stats"]["unique_graphs"] == graphs, f"compiled again for {n} images"


@pytest.mark.slow
@pytest.mark.parametrize("options", [dict(precision="int8"), dict(precision="float32", compile=True)], ids=["int8", "compiled"])
def test_dense_graphs_do_not_recompile_for_other_shapes_or_batch_sizes(options):
    """A square example tied height to width (duck sizing): the first oblong image compiled again;
    a single view with small dense maps is another backend regime than one with larger maps."""
    from torch._dynamo.utils import counters

    clear_network_cache()
    params = {**INT8, **options, "preprocessing": None, "scales": [256], "batch_size": 16}
    featurizer = VGGFeaturizer(**params).fit()
    featurizer.transform(photos(1, (300, 260)))  # builds the graphs
    graphs = counters["stats"]["unique_graphs"]
    for images in [photos(1, (260, 410)), photos(1, (350, 350)), photos(1, (300, 260)) * 17, photos(2, (400, 300))]:
        featurizer.transform(images)
        assert counters["stats"]["unique_graphs"] == graphs, f"compiled again for {len(images)} images of {images[0].shape}"


@pytest.mark.slow
def test_int8_single_view_agrees_with_float32_and_is_deterministic():
    images = photos()
    reference = VGGFeaturizer(**{**INT8, "precision": "float32"}).fit().transform(images)
    clear_network_cache()
    first = VGGFeaturizer(**INT8).fit()
    out = first.transform(images)
    assert out.shape == (len(images), 4096) and out.dtype == np.float32
    # Measured 0.9996-0.9997 on these photos (VGG11, random weights); the bound leaves room for other CPUs.
    assert cosines(out, reference).min() >= 0.999
    assert not np.array_equal(out, reference)  # it is really another computation
    # A clone and an unpickled copy share the graph; a fresh build re-creates the same one.
    assert np.array_equal(clone(first).fit().transform(images), out)
    assert np.array_equal(pickle.loads(pickle.dumps(first)).transform(images), out)
    assert clone(first).fit()._get_extractors(1) is not None
    clear_network_cache()
    assert np.array_equal(VGGFeaturizer(**INT8).fit().transform(images), out)


@pytest.mark.slow
def test_int8_dense_scales_on_images_of_several_sizes():
    images = [photos(1, size)[0] for size in [(300, 260), (260, 410), (350, 350)]]
    params = {**INT8, "preprocessing": None, "scales": [256, 288], "flip": True}
    out = VGGFeaturizer(**params).fit().transform(images)
    reference = VGGFeaturizer(**{**params, "precision": "float32"}).fit().transform(images)
    assert out.shape == (3, 4096) and np.isfinite(out).all()
    assert cosines(out, reference).min() >= 0.999


# --- compile ------------------------------------------------------------------------------


def test_compile_auto_does_not_compile_a_handful(monkeypatch):
    import skvgg.models._quantize as quantize_module

    def refuse(*args, **kwargs):
        raise AssertionError("compiled for a handful of images")

    monkeypatch.setattr(quantize_module, "compiled_extractor", refuse)
    featurizer = VGGFeaturizer(arch="vgg11", weights=None, random_state=0, preprocessing=PRE, device="cpu", num_workers=0)
    out = featurizer.fit().transform(photos(3))
    assert out.shape == (3, 4096) and featurizer._extractors is None
    assert featurizer._compiles(3) is False and featurizer._compiles(5000) is True
    assert featurizer.set_params(compile=False)._compiles(5000) is False
    assert featurizer.set_params(compile=True)._compiles(1) is True


@pytest.mark.slow
def test_compiled_graph_gives_the_eager_numbers_and_is_shared():
    params = dict(arch="vgg11", weights=None, random_state=0, preprocessing=PRE, device="cpu", num_workers=0)
    images = photos(4)
    eager = VGGFeaturizer(**params, compile=False).fit().transform(images)
    compiled = VGGFeaturizer(**params, compile=True).fit()
    out = compiled.transform(images)
    np.testing.assert_allclose(out, eager, rtol=1e-3, atol=1e-4)
    other = clone(compiled).fit()
    other.transform(images[:2])
    assert other._extractors[0] is compiled._extractors[0]


# --- memory-mapped weights ----------------------------------------------------------------


def test_weights_file_is_memory_mapped_and_identical(vgg11_file, tv_vgg11):
    model = build_vgg("vgg11", weights=vgg11_file)
    reference = tv_vgg11.state_dict()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in reference.items())
    assert not any(p.is_meta for p in model.parameters())
    # fc6's weight is the file's (memory-mapped) storage, taken over rather than copied.
    loaded = torch.load(vgg11_file, weights_only=True, mmap=True)
    assert model.classifier[0].weight.untyped_storage().nbytes() == loaded["classifier.0.weight"].untyped_storage().nbytes()
    # A caller's state_dict is copied: training the network never writes into it.
    given = {k: v.clone() for k, v in reference.items()}
    copy = build_vgg("vgg11", weights=given)
    with torch.no_grad():
        copy.classifier[0].weight.add_(1.0)
    assert torch.equal(given["classifier.0.weight"], reference["classifier.0.weight"])


def test_memory_mapped_loading_still_detects_a_corrupted_file(vgg11_file, tmp_path, torch_home):
    # A sibling test module, loaded by path: the suite also runs with --import-mode=importlib (.ci/test-wheel).
    spec = importlib.util.spec_from_file_location("_integrity", Path(__file__).with_name("test_weights_integrity.py"))
    integrity = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(integrity)
    flip_byte_inside_a_tensor = integrity.flip_byte_inside_a_tensor

    digest = hashlib.sha256(vgg11_file.read_bytes()).hexdigest()[:8]
    path = tmp_path / f"vgg11-{digest}.pth"
    shutil.copy(vgg11_file, path)
    build_vgg("vgg11", weights=path)
    flip_byte_inside_a_tensor(path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(WeightsCorruptedError, match=str(path)):
        build_vgg("vgg11", weights=path)


def test_a_new_head_gets_real_memory_beside_mapped_weights(vgg11_file):
    model = build_vgg("vgg11", weights=vgg11_file, num_classes=10)
    assert model.classifier[6].weight.shape == (10, 4096)
    assert not any(t.is_meta for t in (*model.parameters(), *model.buffers()))
    assert torch.isfinite(model.classifier[6].weight).all()


# --- the classifier's frozen part ---------------------------------------------------------


@pytest.mark.slow
def test_classifier_frozen_part_compiled_for_large_jobs_gives_the_same_model(monkeypatch, vgg11_file):
    from skvgg import VGGClassifier
    from skvgg.models import _quantize as quantize

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, size=(40, 48, 3), dtype=np.uint8) for _ in range(12)]
    labels = np.array(["a", "b", "c"] * 4)
    params = dict(arch="vgg11", weights=vgg11_file, preprocessing=Preprocessing(resize_size=40, crop_size=32),
                  train_layers="head", max_epochs=2, batch_size=4, random_state=0, device="cpu",
                  validation_fraction=None, random_flip=False, scale_jitter=None)  # fmt: skip
    eager = VGGClassifier(**params).fit(images, labels).predict_proba(images)
    calls = []
    real = quantize.compile_extract

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(quantize, "COMPILE_MIN_IMAGES", 10)
    monkeypatch.setattr(quantize, "compile_extract", counting)
    compiled = VGGClassifier(**params).fit(images, labels).predict_proba(images)
    assert calls == [["fc7"]]  # the frozen part, up to the head's input, compiled once
    np.testing.assert_allclose(compiled, eager, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(
    ("compile_", "threshold", "compiles"), [(False, 1, False), (True, 10_000, True), ("auto", 10_000, False)]
)
def test_classifier_compile_parameter_decides_whether_the_frozen_part_compiles(
    monkeypatch, vgg11_file, compile_, threshold, compiles
):
    from skvgg import VGGClassifier
    from skvgg.models import _quantize as quantize

    class Compiled(Exception):
        pass

    def refuse(*args, **kwargs):
        raise Compiled(args[1])

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, size=(40, 48, 3), dtype=np.uint8) for _ in range(4)]
    labels = np.array(["a", "b"] * 2)
    model = VGGClassifier(arch="vgg11", weights=vgg11_file, preprocessing=Preprocessing(resize_size=40, crop_size=32),
                          train_layers="head", max_epochs=1, batch_size=4, random_state=0, device="cpu",
                          validation_fraction=None, compile=compile_)  # fmt: skip
    monkeypatch.setattr(quantize, "COMPILE_MIN_IMAGES", threshold)
    monkeypatch.setattr(quantize, "compile_extract", refuse)
    if compiles:
        with pytest.raises(Compiled, match="fc7"):
            model.fit(images, labels)
    else:
        assert model.fit(images, labels).predict(images).shape == (4,)
