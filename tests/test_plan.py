"""The view plan (skvgg/_pipeline/plan.py) and the batch-first pipeline.

* every protocol's views against digests of what the code before the plan cut
  (``tests/data/plan_views_before.json``, captured from commit 7576aec: centre view, dense
  scales with and without mirror, 5x5/3x3 grids, training views with fixed seeds, the
  classifier's test-time modes, both resize paths, and the tensor path);
* 4-D uint8 batches: no PIL, identical to the per-image path where nothing is resampled,
  within 2 levels where it is; rows never depend on batch composition.
"""

import ast
import hashlib
import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

import skvgg
from skvgg import Preprocessing, VGGFeaturizer
from skvgg._evaluation import evaluation_plan
from skvgg._pipeline import views
from skvgg._pipeline.batches import ImageSource, TensorBatchSource, as_uint8_batch, describe, plan_groups
from skvgg._pipeline.plan import CenterCrop, RandomCrop, ViewPlan, rescaled_shape
from skvgg._pipeline.runner import NetworkRunner
from skvgg.images import ImageInputError

BEFORE = json.loads((Path(__file__).parent / "data" / "plan_views_before.json").read_text())


def _digest(array) -> list:
    array = np.asarray(array)
    return [list(array.shape), hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]]


def _images():
    rng = np.random.default_rng(7)
    for h, w in [(45, 61), (70, 50), (40, 40), (33, 97), (20, 30)]:
        yield f"{h}x{w}", rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _stack(tensors) -> np.ndarray:
    return torch.stack(list(tensors)).numpy()


def _current_views(monkeypatch) -> dict:
    """The same cases the old code was captured on, cut by the plan."""
    out = {}
    pre = Preprocessing(resize_size=40, crop_size=32)
    for tag, limit in (("whole", views.WHOLE_RESIZE_PIXELS), ("croponly", 0)):
        monkeypatch.setattr(views, "WHOLE_RESIZE_PIXELS", limit)
        for name, array in _images():
            image = Image.fromarray(array)
            small = name == "20x30"
            for mirror in (False, True):
                out[f"{tag}/{name}/center/{mirror}"] = _stack(plan_groups(ViewPlan.single(40, 32, mirror), image)[0].views)
                if small:
                    continue
                for q in (36, 48):
                    dense = ViewPlan.featurizer(40, 32, (q,), mirror)
                    out[f"{tag}/{name}/dense{q}/{mirror}"] = _stack(plan_groups(dense, image)[0].views)
                    for grid in (5, 3):
                        out[f"{tag}/{name}/grid{q}x{grid}/{mirror}"] = _stack(views.grid_views(image, q, 32, grid, mirror))
            if small:
                continue
            random_cases = [(None, False, 0.0), (None, True, 0.1), (36, True, 0.0), ((33, 50), True, 0.1), ((32, 64), False, 0.0)]
            for k, (scale, flip, color) in enumerate(random_cases):
                for seed in range(3):
                    rng = np.random.default_rng(seed)
                    plan = skvgg._pipeline.plan.TrainingPlan(RandomCrop(scale, 40, 32, flip, color))
                    (group,) = plan_groups(plan, image, rng)
                    out[f"{tag}/{name}/random{k}/{seed}"] = group.views[0].contiguous().numpy()
                    out[f"{tag}/{name}/random{k}/{seed}/next"] = np.asarray(rng.integers(2**31))
            for mode in (False, True, "combine"):
                for flip in (False, True):
                    for single in (False, True):
                        for g, group in enumerate(plan_groups(evaluation_plan(pre, (36, 48), flip, mode, single), image)):
                            out[f"{tag}/{name}/tt{mode}/{flip}/{single}/{g}/{group.dense}"] = _stack(group.views)
                groups = plan_groups(evaluation_plan(pre, None, True, mode, False), image)
                out[f"{tag}/{name}/tt{mode}/none/{len(groups)}"] = _stack(groups[0].views)
    for name, array in _images():
        if name == "20x30":
            continue
        tensor = torch.from_numpy(array.copy()).permute(2, 0, 1)
        for scales, mirror in [(None, False), (None, True), ((36, 48), True), ((36,), False)]:
            plan = ViewPlan.featurizer(40, 32, scales, mirror)
            for g, layout in enumerate(plan.layouts(*array.shape[:2])):
                out[f"tensor/{name}/{scales}/{mirror}/{g}/{layout.dense}"] = views.tensor_views(tensor[None], layout).numpy()
    return out


def test_every_protocol_cuts_the_views_the_code_before_the_plan_cut(monkeypatch):
    current = _current_views(monkeypatch)
    assert set(current) == set(BEFORE)
    changed = [key for key, value in current.items() if _digest(value) != BEFORE[key]]
    assert not changed, changed[:10]


@pytest.mark.parametrize("size", [(20, 30), (30, 20), (21, 25), (300, 7)])
@pytest.mark.parametrize("mirror", [False, True])
def test_center_crop_larger_than_the_image_is_torchvisions_padded_crop(size, mirror, monkeypatch):
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    resized = TF.pil_to_tensor(TF.resize(image, 24, interpolation=InterpolationMode.BILINEAR, antialias=True))
    expected = [TF.center_crop(resized, [32, 32])] + ([TF.center_crop(resized.flip(-1), [32, 32])] if mirror else [])
    for limit in (views.WHOLE_RESIZE_PIXELS, 0):  # the whole-image path, and the crop-only path
        monkeypatch.setattr(views, "WHOLE_RESIZE_PIXELS", limit)
        got = views.pil_views(image, CenterCrop(24, 32, mirror).layout(*size))
        assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))
    tensor = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None]
    batch = views.tensor_views(tensor, CenterCrop(24, 32, mirror).layout(*size))
    assert batch.shape == (len(expected), 3, 32, 32)
    if rescaled_shape(*size, 24) == size:  # nothing resampled: the same pixels
        assert torch.equal(batch, torch.stack(expected))


def test_plans_are_immutable_values():
    plan = ViewPlan.featurizer(256, 224, (256, 384), True, "stack")
    assert plan == ViewPlan.featurizer(256, 224, (256, 384), True, "stack") and hash(plan) == hash(
        ViewPlan.featurizer(256, 224, (256, 384), True, "stack")
    )
    with pytest.raises(AttributeError):
        plan.combine = "mean"
    layouts = plan.layouts(300, 400)
    assert [(layout.size, layout.dense, layout.n_views) for layout in layouts] == [((256, 341), True, 2), ((384, 512), True, 2)]
    combined = evaluation_plan(Preprocessing(), (256, 384), True, "combine")
    assert [type(g).__name__ for g in combined.groups] == ["DenseScale", "DenseScale", "CropGrid", "CropGrid"]
    assert [layout.n_views for layout in combined.layouts(300, 400)] == [2, 2, 50, 50]
    with pytest.raises(ValueError, match="combine"):
        ViewPlan(plan.groups, "median")
    with pytest.raises(ValueError, match="rng"):
        skvgg._pipeline.plan.TrainingPlan(RandomCrop((256, 320))).layouts(300, 400)


# --- 4-D uint8 batches -------------------------------------------------------------------------


@pytest.fixture
def tiny(vgg11_file):
    def make(**params):
        params = {"arch": "vgg11", "weights": str(vgg11_file), "device": "cpu", "precision": "float32", **params}
        params.setdefault("preprocessing", Preprocessing(resize_size=32, crop_size=32))
        params.setdefault("layer", "pool2")
        return VGGFeaturizer(**params).fit()

    return make


def _no_pil(monkeypatch):
    def refuse(item, index=None):
        raise AssertionError(f"X[{index}] went through the per-image path")

    monkeypatch.setattr(skvgg._pipeline.batches, "load_rgb", refuse)


def _layouts(batch):
    """The same uint8 batch as a torch NCHW, torch NHWC, numpy NHWC and numpy NCHW input."""
    return {
        "torch NCHW": torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous(),
        "torch NHWC": torch.from_numpy(batch),
        "numpy NHWC": batch,
        "numpy NCHW": np.ascontiguousarray(batch.transpose(0, 3, 1, 2)),
    }


@pytest.mark.parametrize("flip", [False, True])
def test_uint8_batches_without_resampling_equal_the_per_image_path(tiny, flip, monkeypatch):
    rng = np.random.default_rng(3)
    batch = rng.integers(0, 256, (7, 32, 45, 3), dtype=np.uint8)  # shorter side 32: no resize, a 32x32 centre crop
    featurizer = tiny(flip=flip, batch_size=4)
    expected = featurizer.transform(list(batch))  # one array per image: PIL
    _no_pil(monkeypatch)
    for name, X in _layouts(batch).items():
        assert as_uint8_batch(X) is not None, name
        np.testing.assert_array_equal(featurizer.transform(X), expected, err_msg=name)


def test_dense_uint8_batches_without_resampling_equal_the_per_image_path(tiny, monkeypatch):
    rng = np.random.default_rng(4)
    batch = rng.integers(0, 256, (3, 224, 230, 3), dtype=np.uint8)
    featurizer = tiny(scales=(224,), flip=True, layer="pool1", batch_size=4)
    expected = featurizer.transform(list(batch))
    _no_pil(monkeypatch)
    np.testing.assert_array_equal(featurizer.transform(batch), expected)


def test_uint8_batches_that_need_resizing_are_resized_in_batch_close_to_pil(tiny, monkeypatch):
    rng = np.random.default_rng(5)
    smooth = torch.nn.functional.interpolate(torch.rand(6, 3, 12, 16) * 255, size=(60, 80), mode="bilinear")
    batch = smooth.round().clamp(0, 255).to(torch.uint8)
    layout = CenterCrop(40, 32, True).layout(60, 80)
    in_batch = views.tensor_views(batch, layout)
    one_by_one = torch.cat([torch.stack(views.pil_views(TF.to_pil_image(image), layout)) for image in batch])
    difference = (in_batch.int() - one_by_one.int()).abs()
    assert in_batch.shape == one_by_one.shape and difference.max() <= 2
    assert (difference > 0).float().mean() < 0.02
    featurizer = tiny(preprocessing=Preprocessing(resize_size=40, crop_size=32), batch_size=4)
    expected = featurizer.transform(list(batch))
    _no_pil(monkeypatch)
    got = featurizer.transform(batch)
    cosine = (got * expected).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosine.min() > 0.999 and not np.array_equal(got, expected), cosine
    del rng


def _views_by_index(source, plan, batch_size) -> dict:
    """Each image's views (uint8 bytes, per group), as the source batches them."""
    seen: dict = {}
    for batch in source.batches(plan, batch_size):
        start = 0
        for index, number, count in batch.units.tolist():
            seen.setdefault(index, {})[number] = batch.pixels[start : start + count].clone()
            start += count
    return seen


@pytest.mark.parametrize(
    "plan", [ViewPlan.single(40, 32), ViewPlan.single(40, 32, True), ViewPlan.featurizer(40, 32, (36, 48), True)]
)
def test_an_images_views_never_depend_on_batch_composition(plan):
    rng = np.random.default_rng(6)
    image = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    others = [rng.integers(0, 256, size, dtype=np.uint8) for size in [(40, 90, 3), (64, 48, 3), (33, 33, 3), (50, 70, 3)]]
    alone = _views_by_index(ImageSource([image], [0]), plan, 3)[0]
    for items, position in [([image, *others], 0), ([*others, image], len(others)), ([others[0], image, *others[1:]], 1)]:
        for batch_size in (1, 2, 5):
            got = _views_by_index(ImageSource(items, range(len(items)), num_workers=2), plan, batch_size)[position]
            assert got.keys() == alone.keys() and all(torch.equal(got[k], alone[k]) for k in alone)
    batch = torch.from_numpy(np.stack([image, others[3], image[::-1].copy(), image])).permute(0, 3, 1, 2)
    single = _views_by_index(TensorBatchSource(batch[:1], [0], fallback=ImageSource(list(batch[:1]), [0])), plan, 3)[0]
    for batch_size in (1, 2, 3, 8):
        source = TensorBatchSource(batch, range(4), fallback=ImageSource(list(batch), range(4)))
        views_of = _views_by_index(source, plan, batch_size)
        for position in (0, 3):
            assert all(torch.equal(views_of[position][k], single[k]) for k in single)


def test_a_row_never_depends_on_batch_composition(tiny):
    # The network's float arithmetic may differ in the last bit with the batch size (oneDNN
    # picks kernels by shape): rows agree to float precision; the views above, exactly.
    rng = np.random.default_rng(6)
    image = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    others = [rng.integers(0, 256, size, dtype=np.uint8) for size in [(40, 90, 3), (64, 48, 3), (33, 33, 3), (50, 70, 3)]]
    for params in ({}, {"flip": True}, {"preprocessing": Preprocessing(resize_size=40, crop_size=32)}):
        featurizer = tiny(batch_size=3, **params)
        alone = featurizer.transform([image])[0]
        for items, position in [([image, *others], 0), ([*others, image], len(others)), ([others[0], image, *others[1:]], 1)]:
            np.testing.assert_allclose(featurizer.transform(items)[position], alone, rtol=1e-5, atol=1e-6)
        batch = np.stack([image, others[3], image[::-1].copy(), image])
        single = featurizer.transform(batch[:1])[0]
        for batch_size in (1, 2, 3, 8):
            rows = featurizer.set_params(batch_size=batch_size).transform(batch)
            np.testing.assert_allclose(rows[[0, 3]], [single, single], rtol=1e-5, atol=1e-6)


def test_batch_source_takes_any_indices_in_any_order(tiny):
    rng = np.random.default_rng(8)
    batch = torch.from_numpy(rng.integers(0, 256, (6, 3, 32, 40), dtype=np.uint8))
    featurizer = tiny(batch_size=2)
    expected = featurizer.transform(batch)
    network = featurizer._get_network()
    runner = NetworkRunner(network, featurizer.preprocessing_, featurizer.layers_, batch_size=2)
    fallback = ImageSource(list(batch), [4, 0, 2, 3])
    rows = {}
    for indices, values in describe(featurizer._plan(), TensorBatchSource(batch, [4, 0, 2, 3], fallback=fallback), runner):
        rows.update(zip(indices.tolist(), values))
    assert sorted(rows) == [0, 2, 3, 4]
    for index, row in rows.items():
        np.testing.assert_array_equal(row, expected[index])


def test_batches_over_the_pixel_budget_are_refused_per_image_as_before(tiny):
    batch = np.zeros((3, 32, 40, 3), dtype=np.uint8)
    featurizer = tiny(max_pixels=1000, on_error="nan")
    with pytest.warns(skvgg.featurizer.ImageFailureWarning):
        rows = featurizer.transform(batch)
    assert np.isnan(rows).all() and [f["index"] for f in featurizer.failures_] == [0, 1, 2]
    with pytest.raises(ImageInputError, match=r"X\[0\]"):
        tiny(max_pixels=1000).transform(batch)


def test_other_batches_take_the_per_image_path():
    assert as_uint8_batch(np.zeros((2, 8, 8, 1), np.uint8)) is None  # grayscale: converted image by image
    assert as_uint8_batch(np.zeros((2, 8, 8, 4), np.uint8)) is None  # RGBA
    assert as_uint8_batch(np.zeros((2, 8, 8, 3), np.float32)) is None
    assert as_uint8_batch(torch.zeros(2, 1, 8, 8, dtype=torch.uint8)) is None
    assert as_uint8_batch([np.zeros((8, 8, 3), np.uint8)]) is None  # a list: image by image
    assert as_uint8_batch(np.zeros((2, 8, 9, 3), np.uint8)).shape == (2, 3, 8, 9)
    assert as_uint8_batch(torch.zeros(2, 8, 9, 3, dtype=torch.uint8)).shape == (2, 3, 8, 9)


# --- the route --------------------------------------------------------------------------------


def test_describe_takes_the_plan_the_source_and_the_runner():
    assert list(inspect.signature(describe).parameters) == ["plan", "source", "runner"]


def test_pipeline_modules_import_only_downwards():
    """plan <- views <- batches <- gpudecode <- featurizer: no module imports one that imports it."""
    files = {
        "plan": "_pipeline/plan.py", "views": "_pipeline/views.py", "batches": "_pipeline/batches.py",
        "runner": "_pipeline/runner.py", "gpudecode": "_pipeline/gpudecode.py",
    }  # fmt: skip
    package = Path(skvgg.__file__).parent
    imports = {}
    for name, file in files.items():
        tree = ast.parse((package / file).read_text())
        found = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
        imports[name] = {module.rpartition(".")[2] for module in found}  # the module's own name, any depth
    assert not imports["plan"] & {"views", "batches", "gpudecode", "runner"}
    assert not imports["views"] & {"batches", "gpudecode", "runner"}
    assert not imports["batches"] & {"gpudecode", "runner", "featurizer", "_evaluation", "_training"}
    assert not imports["runner"] & {"batches", "gpudecode", "featurizer"}
    assert not imports["gpudecode"] & {"featurizer", "runner"}


def test_compile_auto_applies_to_gpu_decoding_too(tiny, monkeypatch):
    monkeypatch.setattr(skvgg._pipeline.gpudecode, "EMULATE_ON_CPU", True)
    featurizer = tiny(decode="gpu")
    assert featurizer._compiles(5000) and not featurizer._compiles(3)
    assert not featurizer.set_params(compile=False)._compiles(5000)


# --- on a CUDA device (skipped without one) ----------------------------------------------------


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_uint8_batches_on_cuda_are_cut_on_the_device_and_match_the_cpu(tiny):
    rng = np.random.default_rng(9)
    for size, pre in [
        ((32, 45), Preprocessing(resize_size=32, crop_size=32)),
        ((60, 80), Preprocessing(resize_size=40, crop_size=32)),
    ]:
        batch = rng.integers(0, 256, (9, *size, 3), dtype=np.uint8)
        on_cpu = tiny(preprocessing=pre, batch_size=4).transform(batch)
        on_cuda = tiny(preprocessing=pre, batch_size=4, device="cuda").transform(torch.from_numpy(batch).permute(0, 3, 1, 2))
        cosine = (on_cuda * on_cpu).sum(1) / np.linalg.norm(on_cuda, axis=1) / np.linalg.norm(on_cpu, axis=1)
        assert cosine.min() > 0.999, (size, cosine)
    layout = CenterCrop(40, 32, True).layout(60, 80)
    images = torch.from_numpy(rng.integers(0, 256, (5, 3, 60, 80), dtype=np.uint8))
    on_device = views.tensor_views(images.cuda(), layout)
    assert on_device.device.type == "cuda"
    assert (on_device.cpu().int() - views.tensor_views(images, layout).int()).abs().max() <= 1


# --- 4-D batches through the classifier, and read-only batches --------------------------------


def test_classifier_predicts_a_uint8_batch_as_its_images_one_by_one(vgg11_file, monkeypatch):
    # fit's frozen activations, the hold-out's logits and every prediction method take the batch path.
    import skvgg._pipeline.batches as batches
    from skvgg import VGGClassifier

    taken = []
    real = batches.TensorBatchSource.batches

    def counting(self, *args, **kwargs):
        taken.append(len(self.indices))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(batches.TensorBatchSource, "batches", counting)
    rng = np.random.default_rng(4)
    X = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    y = np.arange(8) % 2
    clf = VGGClassifier(
        "vgg11", weights=str(vgg11_file), preprocessing=Preprocessing(resize_size=32, crop_size=32), device="cpu",
        precision="float32", max_epochs=1, batch_size=4, validation_fraction=None, random_state=0,
    ).fit(X, y)  # fmt: skip
    assert taken, "fit did not cut the batch in slices"
    taken.clear()
    proba, descriptors = clf.predict_proba(X), clf.transform(X)
    assert taken == [8, 8]
    np.testing.assert_allclose(proba, clf.predict_proba(list(X)), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(descriptors, clf.transform(list(X)), rtol=1e-5, atol=1e-6)


def test_a_read_only_batch_is_read_slice_by_slice_without_warnings(tiny, tmp_path):
    import warnings

    rng = np.random.default_rng(5)
    X = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    np.save(tmp_path / "batch.npy", X)
    mapped = np.load(tmp_path / "batch.npy", mmap_mode="r")
    assert not mapped.flags.writeable
    featurizer = tiny()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns when it wraps read-only memory
        got = featurizer.transform(mapped)
    np.testing.assert_array_equal(got, featurizer.transform(X))
