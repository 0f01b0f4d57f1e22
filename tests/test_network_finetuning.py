"""What VGG owns for fine-tuning: the trained part's boundary, freezing, the new head."""

import pytest
import torch
from torch import nn

from skvgg import VGG, build_vgg


@pytest.fixture(scope="module")
def meta_vgg11():
    with torch.device("meta"):
        return VGG("vgg11")


@pytest.fixture
def vgg11():
    # Uninitialised: these tests look at which modules and keys are frozen, not at values.
    return VGG("vgg11", num_classes=5, init_weights=False)


@pytest.mark.parametrize(
    "train_layers, boundary",
    [
        ("all", None),
        ("head", "fc7"),
        ("fc8", "fc7"),
        ("logits", "fc7"),
        ("fc7", "fc6"),
        ("classifier", "pool5"),
        ("fc6", "pool5"),
        ("pool4", "pool4"),
        ("conv5_1", "pool4"),  # the activation before the first trained convolution
        ("conv3_2", "conv3_1"),
        ("conv1_1", None),  # the first convolution trains: nothing is frozen
    ],
)
def test_boundary_is_the_activation_feeding_the_first_trained_layer(meta_vgg11, train_layers, boundary):
    assert meta_vgg11.boundary(train_layers) == boundary


@pytest.mark.parametrize("bad", ["conv5_3", "fc9", "pool6", "", "HEAD"])
def test_boundary_rejects_unknown_names_listing_the_valid_ones(meta_vgg11, bad):
    # vgg11 has no conv5_3: the error lists what it has.
    with pytest.raises(ValueError, match=rf"train_layers='{bad}'.*vgg11.*conv5_2.*fc8"):
        meta_vgg11.boundary(bad)


def test_feature_index_names_every_conv_and_pool_output(meta_vgg11):
    index = meta_vgg11.feature_index
    assert list(index) == list(meta_vgg11.layer_names[: len(index)])
    assert isinstance(meta_vgg11.features[index["pool1"]], nn.MaxPool2d)
    assert isinstance(meta_vgg11.features[index["conv2_1"]], nn.ReLU)  # after the ReLU
    assert isinstance(meta_vgg11.features[index["conv2_1"] - 1], nn.Conv2d)


def test_frozen_modules_end_at_the_boundary(meta_vgg11):
    features = list(meta_vgg11.features)
    assert meta_vgg11.frozen_modules(None) == []
    assert meta_vgg11.frozen_modules("pool4") == features[: meta_vgg11.feature_index["pool4"] + 1]
    classifier = list(meta_vgg11.classifier)
    assert meta_vgg11.frozen_modules("pool5") == features  # the trained classifier starts at the (parameter-free) avgpool
    assert meta_vgg11.frozen_modules("fc6") == features + [meta_vgg11.avgpool] + classifier[:2]
    assert meta_vgg11.frozen_modules("fc7") == features + [meta_vgg11.avgpool] + classifier[:5]
    with pytest.raises(ValueError, match="boundary='logits'"):
        meta_vgg11.frozen_modules("logits")


def test_freeze_turns_off_gradients_before_the_boundary_only(vgg11):
    trained = vgg11.freeze("pool4")
    first_trained = vgg11.feature_index["pool4"] + 1  # conv5_1
    for name, parameter in vgg11.named_parameters():
        frozen = name.startswith("features.") and int(name.split(".")[1]) < first_trained
        assert parameter.requires_grad is not frozen, name
    assert {id(p) for p in trained} == {id(p) for p in vgg11.parameters() if p.requires_grad}
    # Freezing again from a later boundary re-enables what the earlier call froze first.
    assert len(vgg11.freeze(None)) == len(list(vgg11.parameters()))
    assert [p.shape for p in vgg11.freeze("fc7")] == [(5, 4096), (5,)]


def test_frozen_state_keys_are_the_frozen_modules_entries():
    with torch.device("meta"):
        network = VGG("vgg11_bn")
    keys = network.frozen_state_keys("conv1_1")  # conv, BatchNorm, ReLU: features.0-2
    assert keys == {
        "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
        "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked",
    }  # fmt: skip
    assert network.frozen_state_keys(None) == set()
    assert network.frozen_state_keys("fc7") == set(network.state_dict()) - {"classifier.6.weight", "classifier.6.bias"}


def test_train_from_keeps_the_frozen_part_in_eval_mode():
    with torch.device("meta"):
        network = VGG("vgg11_bn")
    network.eval().train_from("conv3_1")
    frozen = {id(m) for m in network.frozen_modules("conv3_1")}
    assert len(frozen) == network.feature_index["conv3_1"] + 1
    for module in network.modules():
        if id(module) in frozen:
            assert not module.training, module  # frozen BatchNorm keeps its running statistics
    assert network.features[network.feature_index["conv3_2"] - 1].training  # conv3_2's BatchNorm trains
    network.train_from("fc6")  # fc6 is frozen; the dropout on its output feeds fc7, which trains
    assert not network.classifier[0].training and network.classifier[2].training and network.classifier[6].training


def test_reset_head_reinitialises_in_place_or_replaces_on_a_new_width(vgg11):
    torch.manual_seed(0)
    old = vgg11.classifier[6]
    head = vgg11.reset_head(std=0.1)
    assert head is old and head.out_features == 5
    assert torch.equal(head.bias, torch.zeros(5))
    assert 0.09 < float(head.weight.detach().std()) < 0.11  # 20480 draws of N(0, 0.1)
    wider = vgg11.reset_head(7)
    assert wider is vgg11.classifier[6] and wider is not old and vgg11.num_classes == 7
    assert wider.in_features == 4096 and 0.009 < float(wider.weight.detach().std()) < 0.011  # torchvision's 0.01 by default


def test_build_vgg_new_head_is_the_reset_head_draw(tv_vgg11):
    # build_vgg re-initialises fc8 with reset_head: the same seed gives the same draw.
    state = tv_vgg11.state_dict()
    torch.manual_seed(3)
    built = build_vgg("vgg11", weights=state, num_classes=4)
    drawn = built.classifier[6].weight.detach().clone()
    torch.manual_seed(3)
    assert torch.equal(built.reset_head().weight, drawn)
    assert torch.equal(built.classifier[6].bias, torch.zeros(4))
    assert torch.equal(built.classifier[3].weight, state["classifier.3.weight"])  # the rest is loaded
