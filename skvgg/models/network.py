"""The VGG network as a config-driven ``torch.nn.Module``, in two forms over one set of weights.

*Standard form* (``model(x)``): exactly torchvision's ``VGG`` -- same modules, same
``state_dict`` keys, same arithmetic -- so a 224x224 input gives the same logits as
``torchvision.models.vgg16`` loaded with the same weights.

*Dense form* (``model.forward_dense(x)``, ``model.extract(x, ..., dense=True)``): the
paper's fully-convolutional evaluation (Sec. 3.2). fc6 is applied as a 7x7 convolution
and fc7/fc8 as 1x1 convolutions whose kernels are *views* of the Linear layers'
weight tensors, so no copy of fc6's 400 MB matrix is made and fine-tuning either form
trains the same parameters. An image of size HxW (both >= 224) gives maps of spatial
size ``(H // 32 - 6, W // 32 - 6)``; at 224x224 that is 1x1 and equals the standard form.

Below 224 pixels the pool5 map is smaller than fc6's 7x7 window, so the dense form
raises a ``ValueError``. The standard form accepts inputs down to 32x32, because
torchvision's ``AdaptiveAvgPool2d((7, 7))`` resamples pool5 to 7x7 (replicating cells
for small inputs, averaging them for large ones); that is torchvision's behaviour, kept
for exactness, and *not* the paper's evaluation.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._fast_fc import eager_cpu_inference, linear_inference, windows_inference
from .architectures import ArchSpec, resolve_arch

__all__ = ["VGG", "FC_LAYERS", "DENSE_MIN_SIZE", "LINEAR_INIT_STD", "check_scales", "check_layer_names", "init_linear_"]

FC_LAYERS = ("fc6", "fc7", "logits")
#: Smallest input side for the dense form: five 2x pools must leave fc6's 7x7 window.
DENSE_MIN_SIZE = 7 * 32
#: torchvision's initialisation of linear layers: N(0, 0.01) weights (a standard deviation;
#: the fine-tuner follows the paper's variance of 1e-2 instead, see skvgg.classifier).
LINEAR_INIT_STD = 0.01

# train_layers="head"/"classifier" and the fc names, as the activation that feeds them.
_NAMED_BOUNDARIES = {"head": "fc7", "fc8": "fc7", "logits": "fc7", "fc7": "fc6", "classifier": "pool5", "fc6": "pool5"}
# For a boundary among the fc activations: how many classifier modules lie before the trained part.
_CLASSIFIER_FROZEN = {"fc6": 2, "fc7": 5}


def init_linear_(linear: nn.Linear, std: float = LINEAR_INIT_STD) -> nn.Linear:
    """Re-initialise ``linear`` in place: N(0, ``std``) weights, zero bias."""
    nn.init.normal_(linear.weight, 0, std)
    nn.init.zeros_(linear.bias)
    return linear


def check_scales(
    value: int | Sequence[int] | None, name: str, minimum: int = DENSE_MIN_SIZE, distinct: bool = False
) -> tuple[int, ...] | None:
    """``value`` (None, an int or a sequence of ints) as a tuple of image sides >= ``minimum``.

    Raises a ``ValueError`` naming the parameter and the offending values.
    """
    if value is None:
        return None
    scales = [value] if isinstance(value, numbers.Integral) else list(value)
    bad = [q for q in scales if not isinstance(q, numbers.Integral) or isinstance(q, bool) or q < minimum]
    if not scales or bad or (distinct and len(set(scales)) != len(scales)):
        kind = "distinct integers" if distinct else "integers"
        raise ValueError(
            f"{name}={value!r}: expected None, or {kind} >= {minimum} (smaller image sides in pixels, "
            f"e.g. (256, 384, 512)); offending: {bad or scales}"
        )
    return tuple(int(q) for q in scales)


def _make_features(spec: ArchSpec) -> tuple[nn.Sequential, dict[str, int]]:
    """Build ``features`` as torchvision's ``make_layers`` does, and name its outputs.

    Returns the Sequential and a map from the paper's layer names (``conv3_2``,
    ``pool3``...) to the index of the module whose *output* is that activation:
    a convolution's activation is taken after its ReLU (and BatchNorm), as Caffe's
    in-place blobs and Keras's layer outputs are.
    """
    layers: list[nn.Module] = []
    names: dict[str, int] = {}
    in_channels, block, conv_in_block = 3, 1, 0
    for token in spec.layers:
        if token == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            names[f"pool{block}"] = len(layers) - 1
            block, conv_in_block = block + 1, 0
        elif token == "LRN":
            # AlexNet's parameters (n=5, alpha=1e-4, beta=0.75, k=2). Like Caffe, the
            # paper's framework, PyTorch divides alpha by n inside the sum.
            layers.append(nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0))
        else:
            kernel = 3
            if isinstance(token, str):  # "1x1:512", configuration C
                kernel, token = 1, int(token.split(":")[1])
            layers.append(nn.Conv2d(in_channels, token, kernel_size=kernel, padding=kernel // 2))
            if spec.batch_norm:
                layers.append(nn.BatchNorm2d(token))
            layers.append(nn.ReLU(inplace=True))
            conv_in_block += 1
            names[f"conv{block}_{conv_in_block}"] = len(layers) - 1
            in_channels = token
    return nn.Sequential(*layers), names


class VGG(nn.Module):
    """A VGG network of the paper's Table 1 with torchvision's module layout.

    Parameters
    ----------
    arch : str or ArchSpec, default="vgg16"
        Architecture name or paper letter, see :func:`skvgg.list_archs`.
    num_classes : int, default=1000
        Width of the last layer (fc8, ``classifier.6``).
    dropout : float, default=0.5
        Dropout probability after fc6 and fc7 (active in training mode only).
    init_weights : bool, default=True
        Initialise as torchvision does (Kaiming-normal convolutions, N(0, 0.01)
        linear layers, zero biases). Pass False when weights are loaded next.

    Attributes
    ----------
    spec : ArchSpec
        The resolved architecture.
    layer_names : tuple of str
        Every activation :meth:`extract` can return, in forward order.
    feature_index : dict of str to int
        For each convolution and pool activation (``"conv3_2"``, ``"pool3"``...), the
        position in ``features`` of the module whose output it is (a convolution's
        activation is taken after its ReLU).
    num_classes : int
        Width of fc8.
    """

    def __init__(
        self, arch: str | ArchSpec = "vgg16", num_classes: int = 1000, dropout: float = 0.5, init_weights: bool = True
    ) -> None:
        super().__init__()
        self.spec = resolve_arch(arch)
        self.features, self.feature_index = _make_features(self.spec)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    init_linear_(m)

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(self.feature_index) + FC_LAYERS

    @property
    def num_classes(self) -> int:
        return self.classifier[6].out_features

    # --- fine-tuning: the new head, the frozen part ------------------------------------------

    def reset_head(self, num_classes: int | None = None, std: float = LINEAR_INIT_STD) -> nn.Linear:
        """Give fc8 (``classifier[6]``) ``num_classes`` outputs and fresh N(0, ``std``) weights, zero bias.

        The layer is replaced only when its width changes (on the same device and dtype);
        otherwise it is re-initialised in place. Returns the head.
        """
        head = self.classifier[6]
        if num_classes is not None and num_classes != head.out_features:
            head = nn.Linear(head.in_features, int(num_classes), device=head.weight.device, dtype=head.weight.dtype)
            self.classifier[6] = head
        return init_linear_(head, std)

    def boundary(self, train_layers: str) -> str | None:
        """The activation that feeds the first trained layer of ``train_layers`` (None: everything trains).

        ``train_layers`` is ``"all"``, ``"head"`` (fc8), ``"classifier"`` (fc6-fc8), an fc
        name (``"fc6"``, ``"fc7"``, ``"fc8"``/``"logits"``), a convolution (trained with
        everything after it: the boundary is the activation before it) or a pool
        (everything after the pool trains).

        Raises
        ------
        ValueError
            For a name that is none of these, listing the valid ones.
        """
        if train_layers == "all":
            return None
        if train_layers in _NAMED_BOUNDARIES:
            return _NAMED_BOUNDARIES[train_layers]
        names = list(self.feature_index)
        if train_layers in names and train_layers.startswith("pool"):
            return train_layers
        if train_layers in names and train_layers.startswith("conv"):
            position = names.index(train_layers)
            return names[position - 1] if position > 0 else None
        raise ValueError(
            f"train_layers={train_layers!r}: expected 'head', 'classifier', 'all', or a layer of {self.spec.name}: "
            f"{names + ['fc6', 'fc7', 'fc8']}"
        )

    def frozen_modules(self, boundary: str | None) -> list[nn.Module]:
        """The modules up to and including the one that outputs ``boundary``, in forward order."""
        if boundary is None:
            return []
        if boundary in self.feature_index:
            return list(self.features[: self.feature_index[boundary] + 1])
        if boundary not in _CLASSIFIER_FROZEN:
            raise ValueError(f"boundary={boundary!r}: expected None, a conv or pool activation, 'fc6' or 'fc7'")
        return [*self.features, self.avgpool, *self.classifier[: _CLASSIFIER_FROZEN[boundary]]]

    def frozen_state_keys(self, boundary: str | None) -> set[str]:
        """The ``state_dict`` keys of :meth:`frozen_modules` (what fine-tuning from ``boundary`` never changes)."""
        frozen = {id(module) for module in self.frozen_modules(boundary)}
        keys = set()
        for prefix, module in self.named_modules():
            if id(module) in frozen and not list(module.children()):
                keys.update(f"{prefix}.{key}" for key in module.state_dict())
        return keys

    def freeze(self, boundary: str | None) -> list[nn.Parameter]:
        """Freeze what comes before ``boundary`` (no gradient); everything after trains. Returns the trained parameters."""
        self.requires_grad_(True)
        for module in self.frozen_modules(boundary):
            module.requires_grad_(False)
        return [p for p in self.parameters() if p.requires_grad]

    def train_from(self, boundary: str | None) -> VGG:
        """Training mode for the part after ``boundary``; the frozen part stays in eval mode.

        So frozen BatchNorm keeps its running statistics, and dropout feeding a frozen
        layer stays off. Returns the network.
        """
        self.train()
        for module in self.frozen_modules(boundary):
            module.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standard form: ``(N, 3, H, W)`` -> logits ``(N, num_classes)``, as torchvision."""
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)

    def forward_dense(self, x: torch.Tensor) -> torch.Tensor:
        """Dense form: ``(N, 3, H, W)`` -> logit map ``(N, num_classes, H//32 - 6, W//32 - 6)``."""
        return self.extract(x, "logits", dense=True)["logits"]

    def extract(self, x: torch.Tensor, layers: str | Iterable[str], dense: bool = False) -> dict[str, torch.Tensor]:
        """Run one forward pass and return the named activations.

        The pass stops after the deepest requested layer, so asking for ``conv4_3``
        never touches block 5 or the classifier.

        Parameters
        ----------
        x : Tensor of shape (N, 3, H, W)
            Normalised input batch.
        layers : str or iterable of str
            Names from :attr:`layer_names`: convolutions by the paper's names
            (``"conv5_3"``, taken after ReLU), ``"pool1"``..``"pool5"``,
            ``"fc6"`` and ``"fc7"`` (after ReLU) and ``"logits"`` (fc8).
        dense : bool, default=False
            False: the standard form; fc activations have shape ``(N, C)``.
            True: the paper's dense form; fc activations are maps ``(N, C, h, w)``.
            Convolution and pool activations are the same maps in both forms.

        Returns
        -------
        activations : dict of str to Tensor
        """
        wanted = [layers] if isinstance(layers, str) else list(layers)
        unknown = [name for name in wanted if name not in self.layer_names]
        if unknown or not wanted:
            raise ValueError(f"Unknown layer(s) {unknown or wanted}; expected names from {list(self.layer_names)}")
        out: dict[str, torch.Tensor] = {}
        by_index = {i: name for name, i in self.feature_index.items() if name in wanted}
        last = max(by_index, default=-1)
        needs_fc = any(name in FC_LAYERS for name in wanted)
        if needs_fc:
            last = len(self.features) - 1
        for i, module in enumerate(self.features):
            if i > last:
                break
            x = module(x)
            if i in by_index:
                out[by_index[i]] = x
        if needs_fc:
            out.update(self._classifier_dense(x, wanted) if dense else self._classifier_standard(x, wanted))
        return out

    def activation_shape(self, layer: str, size: int = 224) -> tuple[int, ...]:
        """Shape of one image's ``layer`` activation in the standard form on a ``size`` x ``size`` input.

        ``(C, H, W)`` for convolutions and pools, ``(C,)`` for fc6, fc7 and the logits.
        """
        if layer in FC_LAYERS:
            return (self.num_classes,) if layer == "logits" else (4096,)
        channels = 3
        for module in self.features[: self.feature_index[layer] + 1]:
            if isinstance(module, nn.Conv2d):
                channels = module.out_channels
            elif isinstance(module, nn.MaxPool2d):
                size //= 2
        return (channels, size, size)

    def count_macs(self, height: int, width: int, layer: str = "logits", dense: bool = False) -> int:
        """Multiply-accumulates of one forward pass on an ``height`` x ``width`` input, up to ``layer``.

        Counts convolutions and fc layers (what dominates; pools, ReLUs and BatchNorm are
        left out, as torchvision's published ``_ops`` figures do). The standard form's fc
        layers see one 7x7 window; the dense form's see every position of the pool5 map.
        At 224x224 VGG16 costs 15.47 GMACs either way.
        """
        macs, channels, h, w = 0, 3, height, width
        stop = self.feature_index.get(layer, len(self.features) - 1)
        for module in self.features[: stop + 1]:
            if isinstance(module, nn.Conv2d):
                k = module.kernel_size[0]
                macs += h * w * module.out_channels * channels * k * k
                channels = module.out_channels
            elif isinstance(module, nn.MaxPool2d):
                h, w = h // 2, w // 2
        if layer not in FC_LAYERS:
            return macs
        positions = max(h - 6, 0) * max(w - 6, 0) if dense else 1
        widths = [(self.classifier[0].in_features, 4096), (4096, 4096), (4096, self.num_classes)]
        for (fan_in, fan_out), name in zip(widths, FC_LAYERS):
            macs += positions * fan_in * fan_out
            if name == layer:
                break
        return macs

    def forward_from(self, x: torch.Tensor, layer: str | None) -> torch.Tensor:
        """Standard form from the activation named ``layer`` on: ``x`` -> logits.

        ``model.forward_from(model.extract(x, name)[name], name)`` equals ``model(x)``;
        ``layer=None`` runs the whole network. Lets a fine-tuner run the frozen part of
        the network once (or without autograd) and only the trainable rest with it.
        """
        if layer is None:
            return self(x)
        if layer in self.feature_index:
            for module in self.features[self.feature_index[layer] + 1 :]:
                x = module(x)
            return self.classifier(torch.flatten(self.avgpool(x), 1))
        start = {"fc6": 2, "fc7": 5}.get(layer)
        if start is None:
            raise ValueError(f"forward_from needs a layer before the logits; got {layer!r}")
        return self.classifier[start:](x)

    def _classifier_standard(self, x: torch.Tensor, wanted: Iterable[str]) -> dict[str, torch.Tensor]:
        x = torch.flatten(self.avgpool(x), 1)
        return self._run_fc(x, wanted, self._fc_standard)

    def _classifier_dense(self, x: torch.Tensor, wanted: Iterable[str]) -> dict[str, torch.Tensor]:
        if x.shape[-2] < 7 or x.shape[-1] < 7:
            size = tuple(s * 32 for s in x.shape[-2:])
            raise ValueError(
                f"Dense evaluation needs an input of at least {DENSE_MIN_SIZE}x{DENSE_MIN_SIZE} pixels "
                f"(a pool5 map of at least 7x7 for fc6's 7x7 window); got an input of about {size[0]}x{size[1]} "
                f"(pool5 map {tuple(x.shape[-2:])}). Rescale the image so its smaller side is >= {DENSE_MIN_SIZE}."
            )
        return self._run_fc(x, wanted, self._fc_dense)

    def _run_fc(self, x, wanted, apply) -> dict[str, torch.Tensor]:
        out = {}
        fc6, fc7, fc8 = self.classifier[0], self.classifier[3], self.classifier[6]
        x = F.relu(apply(x, fc6, 7))
        if "fc6" in wanted:
            out["fc6"] = x
        if "fc7" not in wanted and "logits" not in wanted:
            return out
        x = F.relu(apply(self.classifier[2](x), fc7, 1))
        if "fc7" in wanted:
            out["fc7"] = x
        if "logits" in wanted:
            out["logits"] = apply(self.classifier[5](x), fc8, 1)
        return out

    @staticmethod
    def _fc_standard(x: torch.Tensor, linear: nn.Linear, kernel: int) -> torch.Tensor:
        if eager_cpu_inference(x):
            return linear_inference(x, linear)
        return linear(x)

    @staticmethod
    def _fc_dense(x: torch.Tensor, linear: nn.Linear, kernel: int) -> torch.Tensor:
        if eager_cpu_inference(x):
            # Eager oneDNN would re-lay out fc6's 411 MB kernel on every call (skvgg.models._fast_fc).
            return windows_inference(x, linear, kernel)
        # A Linear over a flattened (C, k, k) window is a k x k convolution whose kernel is
        # the same matrix viewed as (out, C, k, k): torchvision flattens pool5 in C, H, W
        # order. ``view`` shares storage, so no weights are copied.
        weight = linear.weight.view(linear.out_features, -1, kernel, kernel)
        return F.conv2d(x, weight, linear.bias)


def check_layer_names(spec: ArchSpec, layer: str | Sequence[str]) -> list[str]:
    """Check layer names against a configuration's layers.

    Parameters
    ----------
    spec : ArchSpec
        The configuration (see :func:`skvgg.models.architectures.resolve_arch`).
    layer : str or sequence of str
        One layer name (``"fc7"``, ``"pool5"``...) or several, without repeats.

    Returns
    -------
    layers : list of str
        The names, in the order given.

    Raises
    ------
    ValueError
        For an unknown, empty or repeated name, listing the names ``spec`` offers.
    """
    layers = [layer] if isinstance(layer, str) else list(layer)
    with torch.device("meta"):  # names only: nothing allocated
        valid = VGG(spec).layer_names
    bad = [name for name in layers if name not in valid]
    if not layers or bad or len(set(layers)) != len(layers):
        problem = f"unknown {bad}" if bad else "empty or repeated names"
        raise ValueError(f"layer={layer!r}: {problem}; {spec.name} offers {list(valid)}")
    return layers
