"""The fc layers in eager CPU inference (skvgg.models._fast_fc): same numbers as torch's own forms, used only
where they apply, bfloat16 weights cast once and recast when the weights change."""

import gc

import pytest
import torch
import torch.nn.functional as F

from skvgg import build_vgg
from skvgg.models import _fast_fc
from skvgg.models._fast_fc import bfloat16_weights, eager_cpu_inference, linear_inference, windows_inference

FC = ["fc6", "fc7", "logits"]


@pytest.fixture(scope="module")
def vgg11():
    torch.manual_seed(0)
    return build_vgg("vgg11", weights=None).eval()


def reference(model, x, dense, dtype=None):
    # With gradients on, extract takes torch's own nn.Linear / F.conv2d forms.
    with torch.enable_grad(), torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        return {k: v.detach() for k, v in model.extract(x, FC, dense=dense).items()}


def fast(model, x, dense, dtype=None):
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        return model.extract(x, FC, dense=dense)


def assert_relative_close(actual, expected, tolerance):
    for name in expected:
        assert actual[name].shape == expected[name].shape, name
        assert actual[name].dtype == expected[name].dtype, name
        error = (actual[name].float() - expected[name].float()).abs().max() / expected[name].float().abs().max()
        assert error <= tolerance, (name, float(error))


@pytest.mark.parametrize(
    "shape, dense",
    [((3, 3, 64, 64), False), ((1, 3, 224, 224), True), ((2, 3, 256, 320), True), ((1, 3, 352, 288), True)],
)
def test_float32_equals_torch_forms(vgg11, shape, dense):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    assert_relative_close(fast(vgg11, x, dense), reference(vgg11, x, dense), 1e-5)


@pytest.mark.parametrize("dense", [False, True])
def test_bfloat16_autocast_equals_torch_forms(vgg11, dense):
    x = torch.randn(2, 3, 256, 288, generator=torch.Generator().manual_seed(2))
    expected = reference(vgg11, x, dense, torch.bfloat16)
    actual = fast(vgg11, x, dense, torch.bfloat16)
    # Standard form: the same bfloat16 weights through the same kernel, bit for bit. Dense form: a
    # matrix product instead of a convolution sums in another order, within bfloat16's rounding.
    assert_relative_close(actual, expected, 1e-2 if dense else 0.0)


def test_dense_windows_in_pieces_equal_one_piece(monkeypatch):
    torch.manual_seed(3)
    linear = torch.nn.Linear(8 * 3 * 3, 5)
    x = torch.randn(2, 8, 9, 11)
    expected = F.conv2d(x, linear.weight.view(5, 8, 3, 3), linear.bias)
    with torch.inference_mode():
        whole = windows_inference(x, linear, 3)
        monkeypatch.setattr(_fast_fc, "WINDOW_ROWS", 7)  # forces pieces of one output row (and an uneven last piece)
        pieces = windows_inference(x, linear, 3)
    torch.testing.assert_close(whole, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(pieces, whole, rtol=0, atol=0)
    one_by_one = torch.nn.Linear(8, 5)
    with torch.inference_mode():
        torch.testing.assert_close(
            windows_inference(x, one_by_one, 1), F.conv2d(x, one_by_one.weight.view(5, 8, 1, 1), one_by_one.bias)
        )


def test_applies_only_in_eager_cpu_inference(monkeypatch):
    x = torch.zeros(2, 3)
    with torch.inference_mode():
        assert eager_cpu_inference(x)
        assert not eager_cpu_inference(x.double())  # float64 keeps torch's kernels
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert eager_cpu_inference(x)
        with torch.autocast("cpu", dtype=torch.float16):
            assert not eager_cpu_inference(x)
        monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
        assert not eager_cpu_inference(x)  # inductor prepacks weights itself (compiled and int8 graphs)
    monkeypatch.undo()
    with torch.enable_grad():
        assert not eager_cpu_inference(x)  # training needs autograd through nn.Linear
    with torch.no_grad():
        assert eager_cpu_inference(x)  # e.g. the classifier's frozen activations


def test_training_still_gets_gradients_through_the_dense_form():
    model = build_vgg("vgg11", num_classes=3, weights=None)
    model.extract(torch.randn(1, 3, 224, 256), "logits", dense=True)["logits"].sum().backward()
    assert model.classifier[0].weight.grad is not None and model.classifier[0].weight.grad.abs().sum() > 0


def test_bfloat16_weights_are_cast_once_and_recast_after_a_change():
    torch.manual_seed(4)
    linear = torch.nn.Linear(6, 4)
    first = bfloat16_weights(linear)
    assert first[0].dtype == torch.bfloat16 and torch.equal(first[0], linear.weight.detach().bfloat16())
    assert bfloat16_weights(linear)[0] is first[0]  # kept, not cast again
    with torch.no_grad():
        linear.weight.add_(1.0)  # an optimizer step writes in place: the version counter moves
    second = bfloat16_weights(linear)
    assert second[0] is not first[0] and torch.equal(second[0], linear.weight.detach().bfloat16())
    linear.load_state_dict({"weight": torch.zeros(4, 6), "bias": torch.ones(4)})
    x = torch.randn(3, 6)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(linear_inference(x, linear), linear(x))


def test_bfloat16_copies_are_freed_with_their_module():
    linear = torch.nn.Linear(6, 4)
    bfloat16_weights(linear)
    before = len(_fast_fc._BF16_CACHE)
    del linear
    gc.collect()
    assert len(_fast_fc._BF16_CACHE) == before - 1
