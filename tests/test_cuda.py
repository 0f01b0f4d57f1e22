"""What only a CUDA device can show: agreement with the CPU, nvJPEG decoding, real out-of-memory
halving, fused SGD under autocast, and a GPU-fitted model loaded where there is no GPU.

Run with ``pytest -m cuda tests/test_cuda.py``; skipped where CUDA is unavailable. The tests
use only plain functions, the ``tmp_path`` and ``vgg11_file`` fixtures and ``pytest.mark``/
``pytest.skip``, so ``benchmarks/gpu.py`` can run them on a machine without pytest.
"""

import json
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_sample_images

import skvgg
from skvgg import Preprocessing, VGGClassifier, VGGFeaturizer
from skvgg._pipeline.cuda import DeviceRunner
from skvgg._pipeline.runtime import clear_network_cache, resolve_precision
from skvgg.images import load_rgb

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

# The directory holding the skvgg under test (a checkout or site-packages), for child interpreters.
ROOT = Path(skvgg.__file__).resolve().parents[1]


def _cosines(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def _photos(n=8, seed=0):
    """Crops of scikit-learn's two sample photos, as uint8 arrays of several sizes."""
    rng = np.random.default_rng(seed)
    photos = load_sample_images().images
    out = []
    for i in range(n):
        photo = photos[i % 2]
        h, w = int(rng.integers(230, 427)), int(rng.integers(230, 640))
        top, left = int(rng.integers(0, 427 - h + 1)), int(rng.integers(0, 640 - w + 1))
        out.append(np.ascontiguousarray(photo[top : top + h, left : left + w]))
    return out


def _jpeg_files(directory, n=8):
    paths = []
    for i, photo in enumerate(_photos(n)):
        path = Path(directory) / f"photo{i}.jpg"
        Image.fromarray(photo).save(path, quality=90, progressive=(i % 4 == 1))
        paths.append(str(path))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated a quarter turn
    rotated = Path(directory) / "rotated.jpg"
    Image.fromarray(_photos(1, seed=5)[0]).save(rotated, quality=90, exif=exif.tobytes())
    cmyk = Path(directory) / "cmyk.jpg"
    Image.fromarray(_photos(1, seed=6)[0]).convert("CMYK").save(cmyk, quality=90)
    png = Path(directory) / "photo.png"
    Image.fromarray(_photos(1, seed=7)[0]).save(png)
    return paths + [str(rotated), str(cmyk), str(png)]


def _no_tf32():
    """Strict float32 on the GPU (cuDNN uses TF32 for convolutions by default); returns a restorer."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False

    def restore():
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved

    return restore


def test_auto_precision_is_native_on_this_card():
    major, _ = torch.cuda.get_device_capability()
    expected = torch.bfloat16 if major >= 8 else torch.float16
    assert resolve_precision("auto", torch.device("cuda")) == expected


def test_featurizer_on_cuda_agrees_with_cpu_float32(vgg11_file):
    images = _photos(8)
    options = dict(arch="vgg11", weights=str(vgg11_file), batch_size=4)
    reference = VGGFeaturizer(device="cpu", precision="float32", **options).fit().transform(images)
    for precision, bound in [("auto", 0.999), ("bfloat16", 0.999), ("float16", 0.999), ("float32", 0.9999)]:
        got = VGGFeaturizer(device="cuda", precision=precision, **options).fit().transform(images)
        cosine = _cosines(got, reference)
        assert np.isfinite(got).all() and cosine.min() >= bound, (precision, cosine)


def test_runner_on_cuda_is_asynchronous_pinned_and_exact():
    runner = DeviceRunner("cuda", depth=2)
    cpu = DeviceRunner("cpu", depth=2)
    weight = torch.randn(3 * 32 * 32, 64)

    def compute(x):
        return x.float().flatten(1) @ weight.to(x.device)

    batches = [torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8) for _ in range(10)]
    got, expected = [], []
    for k, pixels in enumerate(batches):
        got += [(tag, out.copy()) for tag, out in runner.submit(pixels, compute, k)]
        expected += [(tag, out.copy()) for tag, out in cpu.submit(pixels, compute, k)]
    got += [(tag, out.copy()) for tag, out in runner.flush()]
    expected += [(tag, out.copy()) for tag, out in cpu.flush()]
    assert [t for t, _ in got] == list(range(10)) == [t for t, _ in expected]
    for (_, a), (_, b) in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=0.5)  # TF32 matmul on the GPU
    assert runner.inputs.allocations <= 3 and runner.outputs.allocations <= 3
    assert all(buffer.is_pinned() for buffer in runner.inputs._buffers + runner.outputs._buffers if buffer is not None)

    # submit() returns while the device still computes: no synchronisation per batch.
    import time

    def slow(x):
        torch.cuda._sleep(200_000_000)  # ~0.1 s of GPU time
        return x.float().flatten(1)[:, :4]

    torch.cuda.synchronize()
    started = time.perf_counter()
    assert runner.submit(batches[0], slow, "a") == [] and runner.submit(batches[1], slow, "b") == []
    launched = time.perf_counter() - started
    finished = runner.flush()
    total = time.perf_counter() - started
    assert [t for t, _ in finished] == ["a", "b"]
    assert launched < 0.5 * total, (launched, total)


def test_gpu_decoding_agrees_with_pil(tmp_path, vgg11_file):
    from skvgg._pipeline import gpudecode
    from skvgg.images import orient_tensor

    paths = _jpeg_files(tmp_path)
    options = dict(arch="vgg11", weights=str(vgg11_file), device="cuda", precision="float32", batch_size=4)
    restore = _no_tf32()
    try:
        reference = VGGFeaturizer(**options).fit().transform(paths)
        featurizer = VGGFeaturizer(decode="gpu", **options).fit()
        got = featurizer.transform(paths)
    finally:
        restore()
    assert featurizer.decode_counts_ == {"gpu": 9, "cpu": 2}  # CMYK and PNG by PIL
    cosine = _cosines(got, reference)
    assert cosine.min() >= 0.999, cosine
    np.testing.assert_allclose(got[-2:], reference[-2:], rtol=1e-5, atol=1e-5)  # PIL-decoded rows
    # Pixels: nvJPEG (+ EXIF orientation) against PIL, before any resizing.
    from torchvision.io import ImageReadMode, decode_jpeg

    for path in paths[:9]:
        data = torch.frombuffer(bytearray(Path(path).read_bytes()), dtype=torch.uint8)
        header = gpudecode.read_jpeg_header(bytes(data.numpy()))
        decoded = orient_tensor(decode_jpeg([data], mode=ImageReadMode.RGB, device="cuda")[0], header.orientation)
        pil = torch.from_numpy(np.asarray(load_rgb(path)).copy()).permute(2, 0, 1)
        assert decoded.shape == pil.shape, path
        difference = (decoded.cpu().int() - pil.int()).abs().float()
        assert difference.mean() < 2.0, (path, difference.mean(), difference.max())


def _oom_blocker(leave_bytes):
    """Allocate all free GPU memory but ``leave_bytes``; returns the blocking tensor."""
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info()
    if free <= leave_bytes + (64 << 20):
        pytest.skip(f"only {free >> 20} MiB free on the GPU")
    return torch.empty(free - leave_bytes, dtype=torch.uint8, device="cuda")


def test_real_out_of_memory_halves_the_featurizer_batch(vgg11_file):
    clear_network_cache()
    pixels = torch.randint(0, 256, (64, 3, 224, 224), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    pre = Preprocessing(resize_size=224, crop_size=224)
    options = dict(arch="vgg11", weights=str(vgg11_file), device="cuda", precision="float32", preprocessing=pre)
    small = VGGFeaturizer(batch_size=8, **options).fit()
    reference = small.transform(pixels)
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    small.transform(pixels[:8])
    per_batch_of_8 = torch.cuda.max_memory_allocated() - base
    big = VGGFeaturizer(batch_size=64, **options).fit()
    blocker = _oom_blocker(int(2.5 * per_batch_of_8))  # room for ~20 images: 64 and 32 cannot fit
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = big.transform(pixels)
    finally:
        del blocker
        torch.cuda.empty_cache()
    halvings = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning) and "Out of memory" in str(w.message)]
    left = int(2.5 * per_batch_of_8) >> 20
    assert halvings, f"no out-of-memory with {left} MiB left (a batch of 8 took {per_batch_of_8 >> 20})"
    assert "batch_size=32" in halvings[0]
    assert np.isfinite(got).all() and _cosines(got, reference).min() >= 0.9999


def _labelled_images(n=32, seed=0):
    """Images whose class sets their colour (so predictions are far from ties)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    colours = np.array([[200, 40, 40], [40, 40, 200]])
    images = [np.clip(colours[y] + rng.normal(0, 25, (224, 224, 3)), 0, 255).astype(np.uint8) for y in labels]
    return images, labels


def _classifier(vgg11_file, **options):
    defaults = dict(
        arch="vgg11", weights=str(vgg11_file), train_layers="classifier", max_epochs=2, batch_size=16,
        validation_fraction=None, early_stopping=False, dropout=0.0, random_state=0, lr=1e-3,
    )  # fmt: skip
    return VGGClassifier(**{**defaults, **options})


def test_fine_tuning_on_cuda_uses_fused_sgd_and_autocast(vgg11_file):
    images, labels = _labelled_images(16)
    for precision in ("auto", "float16"):
        clf = _classifier(vgg11_file, train_layers="all", precision=precision, device="cuda").fit(images, labels)
        assert clf.device_.startswith("cuda")
        assert clf._optimizer_state["param_groups"][0].get("fused") is True
        momentum = [s["momentum_buffer"] for s in clf._optimizer_state["state"].values() if s.get("momentum_buffer") is not None]
        assert momentum and all(m.is_cuda for m in momentum)
        assert all(np.isfinite(h["train_loss"]) for h in clf.history_)
        proba = clf.predict_proba(images)
        assert proba.shape == (16, 2) and np.isfinite(proba).all()


def test_real_out_of_memory_halves_the_training_batch(vgg11_file):
    images, labels = _labelled_images(32)
    options = dict(train_layers="all", max_epochs=1, batch_size=32, precision="float32", device="cuda")

    def fit_and_measure(batch_size):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        clf = _classifier(vgg11_file, **{**options, "batch_size": batch_size}).fit(images, labels)
        return clf, torch.cuda.max_memory_allocated() - base

    restore = _no_tf32()
    try:
        reference, peak32 = fit_and_measure(32)
        expected = reference.predict_proba(images)
        del reference
        calibration, peak8 = fit_and_measure(8)
        del calibration
        per_image = max((peak32 - peak8) / 24, 1)
        leave = int(peak8 + 4 * per_image)  # a batch of 8 fits, 16 and 32 do not
        blocker = _oom_blocker(leave)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                halved = _classifier(vgg11_file, **options).fit(images, labels)
        finally:
            del blocker
            torch.cuda.empty_cache()
        got = halved.predict_proba(images)
    finally:
        restore()
    messages = [str(w.message) for w in caught if "Out of memory on a training batch" in str(w.message)]
    assert messages, f"no out-of-memory with {leave >> 20} MiB left (peaks: batch 8 {peak8 >> 20}, batch 32 {peak32 >> 20} MiB)"
    # Gradients are accumulated over the halves: the same SGD step, up to rounding.
    np.testing.assert_allclose(got, expected, atol=2e-3)


_LOAD_ON_CPU = r"""
import json, pickle, sys
import torch
assert not torch.cuda.is_available()
with open(sys.argv[1], "rb") as f:
    clf = pickle.load(f)
images = pickle.load(open(sys.argv[2], "rb"))
out = {"device_": clf.device_, "labels": clf.predict(images).tolist(), "proba": clf.predict_proba(images).tolist()}
clf.set_params(device="cuda")
try:
    clf._network = None
    clf.predict(images[:1])
    out["cuda_error"] = None
except ValueError as error:
    out["cuda_error"] = str(error)
print(json.dumps(out))
"""


def test_gpu_fitted_classifier_loads_and_predicts_without_cuda(tmp_path, vgg11_file):
    images, labels = _labelled_images(16)
    restore = _no_tf32()
    try:
        clf = _classifier(vgg11_file, precision="float32", device="auto").fit(images, labels)
        assert clf.device_.startswith("cuda")
        expected_labels = clf.predict(images)
        expected_proba = clf.predict_proba(images)
    finally:
        restore()
    model, data = tmp_path / "model.pkl", tmp_path / "images.pkl"
    model.write_bytes(pickle.dumps(clf))
    data.write_bytes(pickle.dumps(images))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_ON_CPU, str(model), str(data)], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["labels"] == expected_labels.tolist()
    np.testing.assert_allclose(np.array(loaded["proba"]), expected_proba, atol=1e-4)
    assert loaded["cuda_error"] and "CUDA" in loaded["cuda_error"]


def test_featurizer_fitted_on_cuda_loads_without_cuda(tmp_path, vgg11_file):
    featurizer = VGGFeaturizer(arch="vgg11", weights=str(vgg11_file), device="auto", batch_size=4).fit()
    assert featurizer.device_.startswith("cuda")
    images = _photos(2)
    expected = featurizer.transform(images)
    model, data = tmp_path / "featurizer.pkl", tmp_path / "images.pkl"
    model.write_bytes(pickle.dumps(featurizer))
    data.write_bytes(pickle.dumps(images))
    code = (
        "import pickle, sys, json; f = pickle.load(open(sys.argv[1], 'rb')); x = pickle.load(open(sys.argv[2], 'rb'));"
        "print(json.dumps(f.transform(x).tolist()))"
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", code, str(model), str(data)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    got = np.array(json.loads(result.stdout.strip().splitlines()[-1]), dtype=np.float32)
    assert _cosines(got, expected).min() >= 0.999  # CPU float32 against the GPU's bfloat16
