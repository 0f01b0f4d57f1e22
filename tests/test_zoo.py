"""The model zoo: configurations, torchvision compatibility, dense form, weights."""

import os
import re

import pytest
import torch
import torchvision
from torch import nn

from skvgg import (
    VGG,
    Preprocessing,
    WeightsError,
    WeightsMismatchError,
    WeightsUnavailableError,
    build_vgg,
    list_archs,
    resolve_arch,
)

# The paper's Table 2, exact counts with 1000 classes and biases (vgg-paper.md).
TABLE_2 = {
    "A": 132_863_336,
    "A-LRN": 132_863_336,
    "B": 133_047_848,
    "C": 133_638_952,
    "D": 138_357_544,
    "E": 143_667_240,
}
TORCHVISION_ARCHS = ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]


def meta_model(arch, **kwargs):
    with torch.device("meta"):
        return VGG(arch, **kwargs)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# --- configurations ---------------------------------------------------------------------------


@pytest.mark.parametrize("letter, count", TABLE_2.items())
def test_parameter_counts_equal_table_2(letter, count):
    assert n_params(meta_model(letter)) == count


def test_list_archs_and_names():
    names = list_archs()
    assert names == [
        "vgg11", "vgg11_bn", "vgg11_lrn", "vgg13", "vgg13_bn", "vgg16_1x1",
        "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    ]  # fmt: skip
    letters = {
        "A": "vgg11",
        "a-lrn": "vgg11_lrn",
        "A_LRN": "vgg11_lrn",
        "B": "vgg13",
        "C": "vgg16_1x1",
        "D": "vgg16",
        "e": "vgg19",
    }
    for letter, name in letters.items():
        assert resolve_arch(letter).name == name
    assert resolve_arch("VGG16_BN").batch_norm
    assert [resolve_arch(n).weight_layers for n in ("A", "B", "C", "D", "E")] == [11, 13, 16, 16, 19]


@pytest.mark.parametrize("bad", ["vgg17", "F", "resnet50", ""])
def test_unknown_arch_lists_choices(bad):
    with pytest.raises(ValueError, match=r"Unknown VGG architecture.*vgg16_1x1.*'A-LRN'"):
        resolve_arch(bad)
    with pytest.raises(TypeError):
        resolve_arch(16)


def test_config_c_has_1x1_convs_closing_blocks_3_to_5():
    model = meta_model("C")
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    kernels = [m.kernel_size[0] for m in convs]
    assert kernels == [3, 3, 3, 3, 3, 3, 1, 3, 3, 1, 3, 3, 1]
    index = model.feature_index
    for name in ("conv3_3", "conv4_3", "conv5_3"):
        conv = model.features[index[name] - 1]
        assert conv.kernel_size == (1, 1) and conv.padding == (0, 0)


def test_config_a_lrn_has_alexnet_lrn_after_first_conv():
    model = meta_model("A-LRN")
    lrn = model.features[2]
    assert isinstance(model.features[0], nn.Conv2d) and isinstance(model.features[1], nn.ReLU)
    assert isinstance(lrn, nn.LocalResponseNorm)
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 1e-4, 0.75, 2.0)
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in model.features) == 1


@pytest.mark.parametrize("arch", TORCHVISION_ARCHS)
def test_state_dict_keys_and_shapes_equal_torchvision(arch):
    ours = meta_model(arch).state_dict()
    with torch.device("meta"):
        theirs = getattr(torchvision.models, arch)().state_dict()
    assert list(ours) == list(theirs)
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}


def test_vgg16_conv_names_are_caffe_indices():
    index = meta_model("vgg16").feature_index
    convs = [index[f"conv{b}_{i}"] - 1 for b, n in zip(range(1, 6), (2, 2, 3, 3, 3)) for i in range(1, n + 1)]
    assert convs == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


# --- standard and dense forms -----------------------------------------------------------------


@pytest.fixture(scope="module")
def vgg11(tv_vgg11):
    return build_vgg("vgg11", weights=tv_vgg11.state_dict())


def test_standard_form_is_bitwise_torchvision(vgg11, tv_vgg11):
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        assert torch.equal(vgg11(x), tv_vgg11(x))
        # torchvision's adaptive pooling is kept for other sizes too.
        y = torch.randn(1, 3, 64, 96)
        assert torch.equal(vgg11(y), tv_vgg11(y))


def test_batch_norm_variant_is_bitwise_torchvision():
    torch.manual_seed(3)
    tv = torchvision.models.vgg11_bn()
    for m in tv.modules():  # non-trivial running statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    tv.eval()
    state = {k: v for k, v in tv.state_dict().items() if not k.endswith("num_batches_tracked")}
    model = build_vgg("vgg11_bn", weights=state)  # published _bn files lack the counters
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        assert torch.equal(model(x), tv(x))


def test_dense_equals_standard_at_224(vgg11):
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        standard = vgg11.extract(x, ["fc6", "fc7", "logits"])
        dense = vgg11.extract(x, ["fc6", "fc7", "logits"], dense=True)
    for name in ("fc6", "fc7", "logits"):
        assert dense[name].shape[-2:] == (1, 1)
        torch.testing.assert_close(dense[name].flatten(1), standard[name], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size, grid", [((256, 256), (2, 2)), ((224, 320), (1, 4)), ((300, 260), (3, 2))])
def test_dense_map_shape(vgg11, size, grid):
    with torch.inference_mode():
        out = vgg11.extract(torch.randn(1, 3, *size), ["pool5", "fc7", "logits"], dense=True)
    assert out["pool5"].shape == (1, 512, size[0] // 32, size[1] // 32)
    assert out["fc7"].shape == (1, 4096, *grid)
    assert out["logits"].shape == (1, 1000, *grid)


def test_dense_map_is_classifier_on_each_7x7_window(vgg11):
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        out = vgg11.extract(x, ["pool5", "fc7", "logits"], dense=True)
        pool5 = out["pool5"]
        for i in range(2):
            for j in range(2):
                window = pool5[:, :, i : i + 7, j : j + 7].flatten(1)
                fc7 = vgg11.classifier[:5](window)
                torch.testing.assert_close(out["fc7"][:, :, i, j], fc7, rtol=1e-4, atol=1e-5)
                torch.testing.assert_close(out["logits"][:, :, i, j], vgg11.classifier(window), rtol=1e-4, atol=1e-5)


def test_dense_below_224_is_a_clear_error(vgg11):
    with pytest.raises(ValueError, match=r"at least 224x224.*got an input of about 192x256"):
        vgg11.forward_dense(torch.randn(1, 3, 200, 256))


@pytest.mark.slow
def test_dense_form_shares_the_linear_parameters():
    model = build_vgg("vgg11", num_classes=3)
    # No parameter beyond torchvision's: the dense kernels are views, not copies.
    assert n_params(model) == n_params(meta_model("vgg11", num_classes=3))
    model.forward_dense(torch.randn(1, 3, 224, 256)).sum().backward()
    for layer in (0, 3, 6):
        grad = model.classifier[layer].weight.grad
        assert grad is not None and grad.abs().sum() > 0


def test_extract_all_layers_in_one_pass(vgg11):
    with torch.inference_mode():
        out = vgg11.extract(torch.randn(1, 3, 224, 224), vgg11.layer_names)
    assert list(out) == list(vgg11.layer_names)
    assert out["conv1_1"].shape == (1, 64, 224, 224)
    assert out["conv5_2"].shape == (1, 512, 14, 14)
    assert out["pool5"].shape == (1, 512, 7, 7)
    assert out["fc6"].shape == out["fc7"].shape == (1, 4096)
    assert out["fc7"].min() >= 0  # after ReLU


def test_extract_stops_after_the_deepest_requested_layer(vgg11, monkeypatch):
    calls = []
    for i, module in enumerate(vgg11.features):
        monkeypatch.setattr(module, "forward", (lambda f, i: lambda x: calls.append(i) or f(x))(module.forward, i))  # noqa: B023 (bound by the outer lambda)
    with torch.inference_mode():
        vgg11.extract(torch.randn(1, 3, 64, 64), "conv3_2")
    assert max(calls) == vgg11.feature_index["conv3_2"]


def test_extract_rejects_unknown_layers(vgg11):
    with pytest.raises(ValueError, match=r"Unknown layer.*conv6_1.*conv5_2"):
        vgg11.extract(torch.randn(1, 3, 32, 32), ["conv6_1"])
    with pytest.raises(ValueError, match="conv5_3"):  # vgg11 has two convs in block 5
        vgg11.extract(torch.randn(1, 3, 32, 32), ["conv5_3"])


# --- weights ----------------------------------------------------------------------------------


def test_local_file_loads_strictly(vgg11_file, tv_vgg11):
    model = build_vgg("vgg11", weights=vgg11_file)
    assert model.weights_info.source == "file"
    assert model.preprocessing == Preprocessing.torchvision()
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        assert torch.equal(model(x), tv_vgg11(x))


def test_mismatch_lists_missing_unexpected_and_wrong_shapes(tv_vgg11):
    state = dict(tv_vgg11.state_dict())
    del state["features.3.bias"]
    state["features.99.weight"] = torch.zeros(1)
    state["classifier.3.weight"] = torch.zeros(10, 4096)
    with pytest.raises(WeightsMismatchError) as info:
        build_vgg("vgg11", weights=state, num_classes=1000)
    text = str(info.value)
    assert "missing (1):\n    features.3.bias" in text
    assert "unexpected (1):\n    features.99.weight" in text
    assert "classifier.3.weight: checkpoint (10, 4096), model (4096, 4096)" in text


def test_mismatch_between_architectures(tv_vgg11):
    with pytest.raises(WeightsMismatchError, match=r"(?s)does not match vgg13.*missing \(18\).*unexpected \(14\)"):
        build_vgg("vgg13", weights=tv_vgg11.state_dict())


def test_dataparallel_prefix_hint(tv_vgg11):
    state = {"module." + k: v for k, v in tv_vgg11.state_dict().items()}
    with pytest.raises(WeightsMismatchError, match="'module.'.*strip"):
        build_vgg("vgg11", weights=state)


class _Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": torch.zeros(1), "payload": _Payload(str(marker))}, path)
    with pytest.raises(WeightsError, match=r"Refused to load .*evil\.pth.*pickled Python objects"):
        build_vgg("vgg11", weights=path)
    assert not marker.exists()


def test_non_state_dict_file(tmp_path):
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)
    with pytest.raises(WeightsError, match="holds a Tensor, expected a state_dict"):
        build_vgg("vgg11", weights=path)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="Could not read checkpoint"):
        build_vgg("vgg11", weights=junk)


def test_imagenet_comes_from_torchvision_cache(vgg11_file, torch_home, offline, tv_vgg11, monkeypatch):
    # The cached file's name must carry its own SHA-256 prefix (checked since issue 8): random
    # weights stand in for the published file under a URL named after their hash.
    import hashlib

    from torchvision.models import VGG11_Weights

    name = f"vgg11-{hashlib.sha256(vgg11_file.read_bytes()).hexdigest()[:8]}.pth"
    monkeypatch.setattr(VGG11_Weights.IMAGENET1K_V1.value, "url", f"https://download.pytorch.org/models/{name}")
    os.symlink(vgg11_file, torch_home / name)
    model = build_vgg("vgg11", weights="imagenet")
    assert model.weights_info.identity == "VGG11_Weights.IMAGENET1K_V1"
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        assert torch.equal(model(x), tv_vgg11(x))


def test_offline_download_error_says_what_to_place_where(torch_home, offline):
    with pytest.raises(WeightsUnavailableError) as info:
        build_vgg("vgg16", weights="VGG16_Weights.IMAGENET1K_V1", progress=False)
    text = str(info.value)
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in text
    assert f"place it at {torch_home / 'vgg16-397923af.pth'}" in text
    assert "URLError" in text and "TORCH_HOME" in text and "weights='/path/to/vgg16-397923af.pth'" in text


@pytest.mark.slow
def test_features_weights_use_paper_preprocessing_and_a_fresh_classifier(monkeypatch):
    torch.manual_seed(5)
    state = torchvision.models.vgg16().state_dict()
    for key in ("classifier.0.weight", "classifier.3.weight", "classifier.6.weight"):
        state[key].fill_(float("nan"))  # as in the published file
    import torchvision.models._api as api

    monkeypatch.setattr(api, "load_state_dict_from_url", lambda *a, **k: state)
    model = build_vgg("vgg16", weights="VGG16_Weights.IMAGENET1K_FEATURES")
    info = model.weights_info
    assert not info.has_classifier
    assert model.preprocessing.mean == pytest.approx((0.48235, 0.45882, 0.40784))
    assert model.preprocessing.std == pytest.approx((1 / 255,) * 3)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert torch.equal(model.features[28].weight, state["features.28.weight"])


def test_weights_names_and_errors():
    from torchvision.models import VGG11_Weights

    from skvgg.models.weights import resolve_weights

    spec = resolve_arch("vgg11")
    assert resolve_weights(spec, VGG11_Weights.IMAGENET1K_V1).identity == "VGG11_Weights.IMAGENET1K_V1"
    assert resolve_weights(spec, "vgg11_weights.default").identity == "VGG11_Weights.IMAGENET1K_V1"
    with pytest.raises(WeightsError, match=r"VGG11_Weights has \['VGG11_Weights.IMAGENET1K_V1'"):
        build_vgg("vgg11", weights="VGG11_Weights.NOPE")
    with pytest.raises(WeightsError, match=r"do not fit arch='vgg11'.*VGG11_Weights"):
        build_vgg("vgg11", weights="VGG16_Weights.IMAGENET1K_V1")
    with pytest.raises(WeightsError, match=r"do not fit arch='vgg11_bn'"):
        build_vgg("vgg11_bn", weights=VGG11_Weights.IMAGENET1K_V1)
    for arch in ("C", "A-LRN"):
        with pytest.raises(WeightsError, match=rf"No ImageNet weights are published for configuration {re.escape(arch)}"):
            build_vgg(arch, weights="imagenet")
    with pytest.raises(WeightsError, match=r"Unknown weights 'imagenett' for arch='vgg11' \(and no file of that name exists\)"):
        build_vgg("vgg11", weights="imagenett")
    with pytest.raises(WeightsError, match=r"neither a weights name \('imagenet', 'DEFAULT'.*nor an existing checkpoint file"):
        build_vgg("vgg11", weights="no/such/file.pth")
    with pytest.raises(WeightsError, match="got int"):
        build_vgg("vgg11", weights=3)
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        build_vgg("vgg11", num_classes=0)


def test_new_head_keeps_every_other_layer(tv_vgg11):
    model = build_vgg("vgg11", weights=tv_vgg11.state_dict(), num_classes=7)
    theirs = tv_vgg11.state_dict()
    for key, value in model.state_dict().items():
        if key.startswith("classifier.6."):
            assert value.shape[0] == 7
        else:
            assert torch.equal(value, theirs[key]), key
    assert model.classifier[6].bias.abs().sum() == 0
    assert 0.005 < model.classifier[6].weight.std() < 0.015


def test_preprocessing_matches_torchvision_transforms():
    from torchvision.models import VGG16_Weights

    image = torch.randint(0, 256, (3, 224, 224), dtype=torch.uint8)
    for member in VGG16_Weights:
        preprocessing = Preprocessing.from_transforms(member.transforms())
        transform = member.transforms()
        transform.resize_size, transform.crop_size = [224], [224]
        assert torch.equal(preprocessing.normalize(image[None])[0], transform(image))
    caffe = Preprocessing.caffe().normalize(image[None].clone())[0]
    expected = image.flip(0).float() - torch.tensor([103.939, 116.779, 123.68]).view(3, 1, 1)
    torch.testing.assert_close(caffe, expected)
    with pytest.raises(ValueError, match="channel_order"):
        Preprocessing(channel_order="BRG")


def test_preprocessing_override_for_local_file(vgg11_file):
    model = build_vgg("vgg11", weights=vgg11_file, preprocessing=Preprocessing.caffe())
    assert model.preprocessing.channel_order == "BGR"


@pytest.mark.parametrize("arch, gmacs", [("vgg11", 7.609), ("vgg13", 11.308), ("vgg16", 15.470), ("vgg19", 19.632)])
def test_mac_counts_equal_torchvision_ops(arch, gmacs):
    model = meta_model(arch)
    assert model.count_macs(224, 224) / 1e9 == pytest.approx(gmacs, abs=5e-4)  # torchvision's published _ops
    assert model.count_macs(224, 224, dense=True) == model.count_macs(224, 224)
    # Dense at 256: the fc layers run at 2x2 positions; the convolutions scale with pixels.
    conv = model.count_macs(256, 256, "pool5")
    assert conv == pytest.approx(model.count_macs(224, 224, "pool5") * (256 / 224) ** 2, rel=1e-9)
    fc = 4 * (25088 * 4096 + 4096 * 4096 + 4096 * 1000)
    assert model.count_macs(256, 256, dense=True) == conv + fc


def test_activation_shapes():
    model = meta_model("vgg16_1x1", num_classes=7)
    assert model.activation_shape("conv3_3") == (256, 56, 56)
    assert model.activation_shape("pool5", size=32) == (512, 1, 1)
    assert model.activation_shape("fc7") == (4096,) and model.activation_shape("logits") == (7,)
