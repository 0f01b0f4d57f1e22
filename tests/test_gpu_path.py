"""The GPU path's logic, checked on a CPU: precision by capability, the device runner's ring
and ordering, bit-identity of the overlapped pipeline, and the GPU-decode path (JPEG
headers, EXIF orientation, tensor resizing) run with torchvision's CPU decoder."""

import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from sklearn.datasets import load_sample_images

import skvgg
from skvgg import Preprocessing, VGGFeaturizer
from skvgg._pipeline import gpudecode
from skvgg._pipeline.batches import plan_groups
from skvgg._pipeline.cuda import DeviceRunner, HostRing
from skvgg._pipeline.plan import ViewPlan, rescaled_shape
from skvgg._pipeline.runner import pool
from skvgg._pipeline.runtime import cuda_native_bfloat16, loss_scaler, resolve_precision
from skvgg._pipeline.views import rescale as pil_rescale
from skvgg._pipeline.views import resize_tensor, tensor_views
from skvgg.images import load_rgb, orient_tensor

SMALL = Preprocessing(resize_size=72, crop_size=64)  # the standard form runs down to 32 px


# --- precision by capability ---------------------------------------------------------------


@pytest.mark.parametrize(
    "capability, hip, expected",
    [((6, 1), None, torch.float16), ((7, 0), None, torch.float16), ((7, 5), None, torch.float16),
     ((8, 0), None, torch.bfloat16), ((8, 9), None, torch.bfloat16), ((9, 0), None, torch.bfloat16),
     ((7, 0), "6.2", torch.bfloat16)],
)  # fmt: skip
def test_auto_precision_follows_the_cards_capability(monkeypatch, capability, hip, expected):
    asked = []

    def capability_of(device=None):
        asked.append(device)
        return capability

    monkeypatch.setattr(torch.cuda, "get_device_capability", capability_of)
    monkeypatch.setattr(torch.version, "hip", hip)
    device = torch.device("cuda", 1)
    assert resolve_precision("auto", device) == expected
    assert cuda_native_bfloat16(device) == (expected == torch.bfloat16)
    if hip is None:
        assert asked and asked[-1] == device  # the device asked about, not the current one
    for name, dtype in [("float32", torch.float32), ("bfloat16", torch.bfloat16), ("float16", torch.float16)]:
        assert resolve_precision(name, device) == dtype  # explicit requests are kept


def test_auto_precision_off_cuda_is_float32_unless_the_cpu_computes_bfloat16(monkeypatch):
    from skvgg._pipeline.runtime import cpu_native_bfloat16

    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: pytest.fail("asked a CUDA card"))
    # A CPU with AVX512-BF16 or AMX computes bfloat16 natively (this test's AMD EPYC does); others, and MPS, float32.
    assert resolve_precision("auto", torch.device("cpu")) == (torch.bfloat16 if cpu_native_bfloat16() else torch.float32)
    assert resolve_precision("auto", torch.device("mps")) == torch.float32
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("half", torch.device("cpu"))


def test_loss_scaler_only_scales_float16_on_cuda():
    assert not loss_scaler(torch.device("cpu"), torch.float16).is_enabled()
    assert not loss_scaler(torch.device("cuda"), torch.bfloat16).is_enabled()
    assert not loss_scaler(torch.device("cuda"), torch.float32).is_enabled()
    scaler = loss_scaler(torch.device("cpu"), torch.float32)
    loss = torch.tensor(2.0, requires_grad=True)
    assert scaler.scale(loss) is loss  # disabled: a pass-through


# --- the ring and the runner ---------------------------------------------------------------


class FakeEvent:
    def __init__(self):
        self.waited = 0

    def synchronize(self):
        self.waited += 1


def test_host_ring_reuses_its_buffers_and_waits_for_each_slot():
    ring = HostRing(3, pin=False)
    events = []
    pointers = []
    for step in range(9):
        slot, buffer = ring.claim((4, 3, 8, 8), torch.uint8)
        assert slot == step % 3 and buffer.shape == (4, 3, 8, 8) and buffer.dtype == torch.uint8
        pointers.append(buffer.data_ptr())
        events.append(FakeEvent())
        ring.release_after(slot, events[-1])
    assert ring.allocations == 3  # three buffers, reused thereafter
    assert pointers[:3] == pointers[3:6] == pointers[6:9]
    assert [e.waited for e in events] == [1] * 6 + [0] * 3  # each slot waited for once, before its reuse
    slot, smaller = ring.claim((2, 3, 8, 8), torch.uint8)
    assert ring.allocations == 3 and smaller.data_ptr() == pointers[0]
    slot, larger = ring.claim((16, 3, 8, 8), torch.uint8)
    assert ring.allocations == 4  # grown for a larger batch
    _, floats = ring.claim((5, 7), torch.float32)
    assert floats.dtype == torch.float32 and floats.shape == (5, 7)


def test_runner_returns_batches_late_in_order_and_reuses_buffers():
    runner = DeviceRunner("cpu", depth=2)
    finished = []
    for k in range(7):
        pixels = torch.full((k % 3 + 1, 3, 4, 4), k, dtype=torch.uint8)
        done = runner.submit(pixels, lambda x: x.float().sum(dim=(1, 2, 3), keepdim=False)[:, None] + 0.5, tag=k)
        assert runner.in_flight == min(k + 1, 2)
        assert [tag for tag, _ in done] == ([k - 2] if k >= 2 else [])
        finished += [(tag, out.copy()) for tag, out in done]
    finished += [(tag, out.copy()) for tag, out in runner.flush()]
    assert [tag for tag, _ in finished] == list(range(7)) and runner.in_flight == 0
    for tag, out in finished:
        np.testing.assert_array_equal(out, np.full((tag % 3 + 1, 1), tag * 3 * 16 + 0.5, dtype=np.float32))
    assert runner.inputs.allocations <= 3 and runner.outputs.allocations <= 3


def test_runner_uses_the_buffer_it_handed_out_without_copying():
    runner = DeviceRunner("cpu")
    buffer = runner.input_buffer((2, 3, 4, 4))
    buffer.copy_(torch.arange(96, dtype=torch.uint8).view(2, 3, 4, 4))
    seen = []
    runner.submit(buffer, lambda x: seen.append(x.data_ptr()) or x.float().flatten(1), tag="a")
    assert seen == [buffer.data_ptr()]  # no copy into another slot
    other = torch.ones(2, 3, 4, 4, dtype=torch.uint8)  # a tensor of its own: copied into the ring
    runner.submit(other, lambda x: seen.append(x.data_ptr()) or x.float().flatten(1), tag="b")
    assert seen[1] != other.data_ptr()
    (tag_a, out_a), (tag_b, out_b) = runner.flush()
    assert (tag_a, tag_b) == ("a", "b")
    np.testing.assert_array_equal(out_a, np.arange(96, dtype=np.float32).reshape(2, 48))
    np.testing.assert_array_equal(out_b, np.ones((2, 48), dtype=np.float32))


def _reference_descriptors(network, items, batch_size, pre, layers=("fc7",)):
    """What the pipeline computed before the runner: batch by batch, read back at once."""
    plan = ViewPlan.single(pre.resize_size, pre.crop_size)
    views = [plan_groups(plan, load_rgb(item, i))[0].views[0] for i, item in enumerate(items)]
    out = []
    for start in range(0, len(views), batch_size):
        x = pre.normalize(torch.stack(views[start : start + batch_size])).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            activations = network.extract(x, list(layers))
        out.append(torch.cat([pool(activations[name], "avg") for name in layers], dim=1).cpu())
    return torch.cat(out).numpy()


def test_featurizer_is_bit_identical_to_reading_each_batch_at_once(vgg11_file):
    rng = np.random.default_rng(0)
    items = [rng.integers(0, 256, (70 + 3 * i, 90, 3), dtype=np.uint8) for i in range(7)]
    featurizer = VGGFeaturizer(
        arch="vgg11", weights=str(vgg11_file), preprocessing=SMALL, batch_size=3, device="cpu", precision="float32"
    )  # the reference below runs in float32 (auto is bfloat16 on CPUs with native bf16)
    got = featurizer.fit().transform(items)  # batches of 3, 3 and 1: two read back late, by flush
    expected = _reference_descriptors(featurizer._get_network(), items, 3, SMALL)
    np.testing.assert_array_equal(got, expected)


# --- JPEG headers and EXIF orientation ---------------------------------------------------


def _jpeg(image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def _photo(size=(96, 64)):
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _with_orientation(value) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return _jpeg(_photo(), exif=exif.tobytes())


def test_jpeg_headers_decide_what_the_gpu_decodes():
    photo = _photo()
    baseline = gpudecode.read_jpeg_header(_jpeg(photo))
    assert (baseline.sof, baseline.precision, baseline.height, baseline.width) == (0xC0, 8, 64, 96)
    assert baseline.orientation == 1 and baseline.complete and gpudecode.gpu_decodable(baseline)
    progressive = gpudecode.read_jpeg_header(_jpeg(photo, progressive=True))
    assert progressive.sof == 0xC2 and gpudecode.gpu_decodable(progressive)
    assert gpudecode.gpu_decodable(gpudecode.read_jpeg_header(_jpeg(photo, subsampling=0)))  # 4:4:4
    for refused in (photo.convert("L"), photo.convert("CMYK")):
        header = gpudecode.read_jpeg_header(_jpeg(refused))
        assert header is not None and not gpudecode.gpu_decodable(header), refused.mode
    truncated = _jpeg(photo)[:-200]
    assert not gpudecode.read_jpeg_header(truncated).complete
    assert not gpudecode.gpu_decodable(gpudecode.read_jpeg_header(truncated))
    png = io.BytesIO()
    photo.save(png, format="PNG")
    assert gpudecode.read_jpeg_header(png.getvalue()) is None
    assert gpudecode.read_jpeg_header(b"") is None and gpudecode.read_jpeg_header(b"\xff\xd8\xff") is None
    assert gpudecode.gpu_decodable(baseline, max_pixels=96 * 64) and gpudecode.gpu_decodable(baseline, max_pixels=None)
    assert not gpudecode.gpu_decodable(baseline, max_pixels=96 * 64 - 1)  # the CPU path refuses it, saying why


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_read_and_applied_as_pil_does(orientation):
    data = _with_orientation(orientation)
    header = gpudecode.read_jpeg_header(data)
    with Image.open(io.BytesIO(data)) as image:
        assert header.orientation == image.getexif().get(0x0112) == orientation
        pil = np.asarray(ImageOps.exif_transpose(image.convert("RGB")))
        plain = torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)
    oriented = orient_tensor(plain, orientation).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(oriented, pil)
    assert gpudecode.gpu_decodable(header)


def test_orientation_metadata_pil_reads_differently_goes_to_the_cpu():
    exif = Image.Exif()
    exif[0x0112] = 6
    block = exif.tobytes()
    assert block.startswith(b"Exif\x00\x00")
    segment = b"\xff\xe1" + (len(block) + 2).to_bytes(2, "big") + block
    data = _jpeg(_photo())
    assert gpudecode.read_jpeg_header(data[:2] + segment + data[2:]).orientation == 6
    twice = data[:2] + segment + segment + data[2:]
    header = gpudecode.read_jpeg_header(twice)
    assert header.exif_blocks == 2 and not gpudecode.gpu_decodable(header)
    xmp = b'http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta tiff:Orientation="6"/>'
    xmp_only = data[:2] + b"\xff\xe1" + (len(xmp) + 2).to_bytes(2, "big") + xmp + data[2:]
    header = gpudecode.read_jpeg_header(xmp_only)
    assert header.xmp and header.exif_blocks == 0 and not gpudecode.gpu_decodable(header)


# --- resizing on tensors against PIL -------------------------------------------------------


def _sample_views():
    """scikit-learn's two sample photos and three crops of each (odd sizes, both orientations)."""
    for photo in load_sample_images().images:
        for top, left, height, width in [(0, 0, None, None), (7, 13, 164, 200), (40, 50, 360, 377), (0, 0, 300, 150)]:
            crop = photo[top : top + height if height else None, left : left + width if width else None]
            yield np.ascontiguousarray(crop)


def test_tensor_rescale_agrees_with_pil_within_two_levels():
    differing, total = 0, 0
    for array in _sample_views():
        image = Image.fromarray(array)
        tensor = torch.from_numpy(array.copy()).permute(2, 0, 1)
        for side in (224, 256, 384, 512):
            reference = pil_rescale(image, side).int()
            resized = resize_tensor(tensor, rescaled_shape(*array.shape[:2], side))
            assert resized.shape == reference.shape and resized.dtype == torch.uint8
            assert rescaled_shape(*array.shape[:2], side) == tuple(reference.shape[1:])
            difference = (resized.int() - reference).abs()
            assert difference.max() <= 2
            differing, total = differing + int((difference > 0).sum()), total + difference.numel()
    assert differing / total < 0.02  # measured: ~0.4% of values, by one level (docs/user-guide/featurizer.md)
    unchanged = torch.randint(0, 256, (3, 256, 300), dtype=torch.uint8)
    assert torch.equal(resize_tensor(unchanged, rescaled_shape(256, 300, 256)), unchanged)  # no resampling at the same size


def test_tensor_views_match_the_pil_views_geometry():
    array = next(iter(_sample_views()))
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1)
    image = Image.fromarray(array)
    pre = Preprocessing()
    for scales, mirror in [(None, False), (None, True), ((256, 384), True)]:
        plan = ViewPlan.featurizer(pre.resize_size, pre.crop_size, scales, mirror)
        layouts = plan.layouts(*tensor.shape[-2:])
        mine = [tensor_views(tensor[None], layout) for layout in layouts]
        theirs = plan_groups(plan, image)
        assert [layout.dense for layout in layouts] == [g.dense for g in theirs]
        for a, b in zip(mine, theirs):
            assert [v.shape for v in a] == [v.shape for v in b.views]
            for va, vb in zip(a, b.views):
                assert (va.int() - vb.int()).abs().max() <= 2


# --- decode="gpu", run with the CPU decoder ------------------------------------------------


@pytest.fixture
def emulated(monkeypatch):
    monkeypatch.setattr(gpudecode, "EMULATE_ON_CPU", True)


def _files(tmp_path):
    photos = load_sample_images().images
    paths = []
    for i, (photo, options) in enumerate([(photos[0], {}), (photos[1], {"progressive": True}), (photos[0][::2, ::3], {})]):
        path = tmp_path / f"photo{i}.jpg"
        Image.fromarray(np.ascontiguousarray(photo)).save(path, quality=90, **options)
        paths.append(str(path))
    rotated = tmp_path / "rotated.jpg"
    (tmp_path / "rotated.jpg").write_bytes(_with_orientation(6))
    cmyk = tmp_path / "cmyk.jpg"
    Image.fromarray(photos[1][:200, :300]).convert("CMYK").save(cmyk)
    png = tmp_path / "photo.png"
    Image.fromarray(photos[1][100:400, 100:400]).save(png)
    return paths + [str(rotated), str(cmyk), str(png), Image.fromarray(photos[0][:250, :250])]


def test_gpu_decoding_needs_cuda():
    featurizer = VGGFeaturizer(arch="vgg11", weights=None, device="cpu", decode="gpu")
    with pytest.raises(ValueError, match="decode='gpu'.*CUDA.*decode='cpu'"):
        featurizer.fit()


@pytest.mark.parametrize("scales, flip", [(None, False), (None, True)])
def test_gpu_decode_path_agrees_with_pil_and_keeps_order(tmp_path, vgg11_file, emulated, scales, flip):
    items = _files(tmp_path)
    options = dict(arch="vgg11", weights=str(vgg11_file), scales=scales, flip=flip, batch_size=3, device="cpu", num_workers=2)
    reference = VGGFeaturizer(**options).fit().transform(items)
    featurizer = VGGFeaturizer(decode="gpu", **options).fit()
    got = featurizer.transform(items)
    # Baseline, progressive, subsampled and rotated JPEGs are decoded by the device path;
    # CMYK, PNG and the in-memory image by PIL.
    assert featurizer.decode_counts_ == {"gpu": 4, "cpu": 3}
    cosine = (got * reference).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosine.min() > 0.999, cosine
    np.testing.assert_array_equal(got[4:], reference[4:])  # PIL-decoded rows are the CPU path's
    unrelated = (got[0] * reference[1]).sum() / np.linalg.norm(got[0]) / np.linalg.norm(reference[1])
    assert unrelated < cosine.min()  # rows are not swapped


def test_gpu_decode_path_reports_bad_files_like_the_cpu_path(tmp_path, vgg11_file, emulated):
    items = _files(tmp_path)[:2]
    broken = tmp_path / "broken.jpg"
    data = bytearray(Path(items[0]).read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4000] = b"\xff\x00" * 2000  # header intact, scan corrupt
    broken.write_bytes(bytes(data))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(Path(items[1]).read_bytes()[:5000])
    items += [str(tmp_path / "missing.jpg"), str(truncated)]
    options = dict(arch="vgg11", weights=str(vgg11_file), preprocessing=SMALL, device="cpu", on_error="nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = VGGFeaturizer(**options).fit()
        expected = reference.transform(items + [str(broken)])
        featurizer = VGGFeaturizer(decode="gpu", **options).fit()
        got = featurizer.transform(items + [str(broken)])
    assert [f["index"] for f in featurizer.failures_] == [f["index"] for f in reference.failures_]
    assert {2, 3} <= {f["index"] for f in featurizer.failures_}
    assert [f["reason"] for f in featurizer.failures_] == [f["reason"] for f in reference.failures_]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    with pytest.raises(Exception, match="missing.jpg"):
        VGGFeaturizer(decode="gpu", **{**options, "on_error": "raise"}).fit().transform(items)


def test_gpu_decode_path_keeps_the_pixel_budget_and_special_files_out(tmp_path, vgg11_file, emulated):
    small = tmp_path / "small.jpg"
    Image.fromarray(np.ascontiguousarray(load_sample_images().images[0][:120, :160])).save(small, quality=90)
    large = tmp_path / "large.jpg"
    Image.fromarray(load_sample_images().images[1]).save(large, quality=90)  # 640x427
    items = [str(small), str(large)]
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.jpg")  # opening it for reading would block
        items.append(str(tmp_path / "pipe.jpg"))
    # 160x120 fits 30,000 pixels, 640x427 does not, nor the 298x224 dense view of the small one.
    for scales in (None, (224,)):
        options = dict(
            arch="vgg11", weights=str(vgg11_file), preprocessing=SMALL if scales is None else None, scales=scales,
            device="cpu", on_error="nan", max_pixels=30_000,
        )  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = VGGFeaturizer(**options).fit()
            expected = reference.transform(items)
            featurizer = VGGFeaturizer(decode="gpu", **options).fit()
            got = featurizer.transform(items)
        assert [f["reason"] for f in featurizer.failures_] == [f["reason"] for f in reference.failures_]
        assert [f["index"] for f in featurizer.failures_] == list(range(1 if scales is None else 0, len(items)))
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        assert featurizer.decode_counts_["gpu"] == (1 if scales is None else 0)


def test_images_the_decoder_refuses_take_the_pil_path(tmp_path, vgg11_file, emulated, monkeypatch):
    import skvgg._pipeline.gpudecode

    items = _files(tmp_path)[:4]
    refused = len(Path(items[1]).read_bytes())
    real = skvgg._pipeline.gpudecode.decode_jpegs  # the decoding seam (skvgg.images._tvio)
    calls = []

    def decode_jpegs(data, device):
        calls.append(len(data))
        if any(len(d) == refused for d in data):
            raise RuntimeError("Error while decoding JPEG images: simulated refusal")
        return real(data, device)

    monkeypatch.setattr(skvgg._pipeline.gpudecode, "decode_jpegs", decode_jpegs)
    options = dict(arch="vgg11", weights=str(vgg11_file), preprocessing=SMALL, device="cpu", batch_size=8)
    featurizer = VGGFeaturizer(decode="gpu", **options).fit()
    got = featurizer.transform(items)
    assert calls == [4, 1, 1, 1, 1]  # the batch, then image by image to find the refused one
    assert featurizer.decode_counts_ == {"gpu": 3, "cpu": 1}
    expected = VGGFeaturizer(**options).fit().transform(items)
    np.testing.assert_array_equal(got[1], expected[1])  # decoded by PIL, exactly the CPU path
    assert not np.array_equal(got[0], expected[0])  # the others by the (emulated) device decoder


@pytest.mark.slow
def test_gpu_decode_path_dense_scales_with_flip(tmp_path, vgg11_file, emulated):
    items = _files(tmp_path)
    options = dict(arch="vgg11", weights=str(vgg11_file), scales=(224, 256), flip=True, device="cpu", batch_size=4)
    reference = VGGFeaturizer(**options, scale_pooling="stack").fit().transform(items)
    got = VGGFeaturizer(decode="gpu", scale_pooling="stack", **options).fit().transform(items)
    cosine = (got * reference).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosine.min() > 0.999, cosine


def test_gpu_decoding_changes_cache_keys_but_not_cpu_ones(vgg11_file, emulated):
    options = dict(arch="vgg11", weights=str(vgg11_file), device="cpu")
    signature = VGGFeaturizer(**options).fit()._signature()
    assert "decode" not in str(signature)  # existing caches stay valid
    assert VGGFeaturizer(decode="gpu", **options).fit()._signature() == signature + (("decode", "gpu"),)


# --- the benchmark script --------------------------------------------------------------------


@pytest.mark.slow
def test_gpu_benchmark_quick_mode_runs_every_section(tmp_path):
    import json

    out = tmp_path / "gpu.json"
    root = Path(__file__).resolve().parents[1]  # the checkout's benchmarks/, run on the skvgg under test
    package_root = str(Path(skvgg.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": package_root, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    result = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "gpu.py"), "--device", "cpu", "--quick", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    sections = report["sections"]
    expected = {"environment", "agreement", "raw", "featurizer_tensors", "jpeg_files", "dense", "finetune", "cuda_tests"}
    assert expected <= set(sections)
    errors = {name: s.get("error") for name, s in sections.items() if s["status"] != "ok"}
    if "compile" in errors and errors["compile"].startswith("TimeoutError"):
        del errors["compile"]  # inductor on a slow CPU may not finish in the quick budget (the timeout path)
    assert not errors, errors
    parts = {(name, key) for name, s in sections.items() for key, v in (s.get("results") or {}).items() if "error" in str(v)[:9]}
    assert not parts, parts  # no part of a section failed either
    assert sections["raw"]["results"]["eager"], sections["raw"]
    assert sections["jpeg_files"]["results"]["decode_gpu"]["images_per_s"] > 0
    assert sections["agreement"]["results"]["precision"]["bfloat16"]["fc7_cosine_min"] > 0.99
