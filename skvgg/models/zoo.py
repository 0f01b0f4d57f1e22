"""``build_vgg``: an architecture plus a weights choice, loaded strictly."""

from __future__ import annotations

import numbers
from dataclasses import replace

import torch

from .._typing import WeightsSpec
from .architectures import ArchSpec, resolve_arch
from .network import VGG, init_linear_
from .weights import Preprocessing, check_state_dict, load_state_dict, resolve_weights

__all__ = ["build_vgg"]


def build_vgg(
    arch: str | ArchSpec = "vgg16",
    weights: WeightsSpec = None,
    num_classes: int | None = None,
    *,
    dropout: float = 0.5,
    preprocessing: Preprocessing | None = None,
    progress: bool = True,
) -> VGG:
    """Build a VGG network of the paper's Table 1, optionally with pretrained weights.

    Parameters
    ----------
    arch : str, default="vgg16"
        A name from :func:`skvgg.list_archs` or a paper letter (``"A"``, ``"A-LRN"``,
        ``"B"``, ``"C"``, ``"D"``, ``"E"``).
    weights : None, "imagenet", weights enum or its name, path, or state_dict
        ``None`` initialises randomly; ``"imagenet"`` or ``"DEFAULT"`` is torchvision's
        default ImageNet weights (downloaded through torchvision's cache with its hash
        check); every name torchvision's builders accept picks a specific release
        (``"IMAGENET1K_V1"``, ``"IMAGENET1K_FEATURES"``, ``"VGG16_Weights.IMAGENET1K_V1"``,
        the enum members); a path loads a local torchvision-format checkpoint, ``.pth``/``.pt``
        with ``torch.load(weights_only=True)`` or ``.safetensors`` (as
        :meth:`skvgg.VGGClassifier.save_weights` writes). Keys and shapes are checked strictly.
    num_classes : int, optional
        Width of fc8. By default that of the checkpoint (1000 for ImageNet weights and
        for random initialisation). A different value keeps every pretrained layer but
        fc8, which is freshly initialised (N(0, 0.01) weights, zero bias).
    dropout : float, default=0.5
        Dropout after fc6 and fc7, active in training mode.
    preprocessing : Preprocessing, optional
        Overrides the input normalisation carried by the weights (local files default
        to torchvision's ImageNet normalisation).
    progress : bool, default=True
        Show a progress bar while downloading.

    Returns
    -------
    model : VGG
        In eval mode, with attributes ``preprocessing`` (:class:`Preprocessing`) and
        ``weights_info`` (:class:`~skvgg.models.weights.ResolvedWeights`).

    Raises
    ------
    ValueError
        Unknown architecture; :class:`~skvgg.models.weights.WeightsError` for an unknown weights
        name (listing the valid ones) or a checkpoint whose keys or shapes do not match
        (:class:`~skvgg.models.weights.WeightsMismatchError` lists missing, unexpected and
        wrongly shaped entries).
    OSError
        :class:`~skvgg.models.weights.WeightsUnavailableError` (also a ``WeightsError``) when a
        download fails; its message names the URL, the file and the cache directory to
        place it in.

    Examples
    --------
    >>> from skvgg import build_vgg
    >>> model = build_vgg("vgg11", weights=None)
    >>> sum(p.numel() for p in model.parameters())
    132863336
    """
    spec = resolve_arch(arch)
    resolved = resolve_weights(spec, weights, preprocessing)
    state = load_state_dict(resolved, spec, progress=progress)
    checkpoint_classes = 1000
    if state is not None and "classifier.6.weight" in state and resolved.has_classifier:
        checkpoint_classes = int(state["classifier.6.weight"].shape[0])
    if num_classes is None:
        num_classes = checkpoint_classes
    if not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")

    if state is None:
        model = VGG(spec, int(num_classes), dropout=dropout)
    else:
        # Build without initialising: random-filling fc6's 103M weights only to
        # overwrite them would cost a second or more.
        with torch.device("meta"):
            model = VGG(spec, int(num_classes), dropout=dropout, init_weights=False)
        if not resolved.has_classifier:
            fresh = ("classifier.",)
        elif num_classes != checkpoint_classes:
            fresh = ("classifier.6.",)
        else:
            fresh = ()
        check_state_dict(model, state, ignore=fresh, source=f"checkpoint {resolved.identity}")
        kept = {k: v for k, v in state.items() if not k.startswith(fresh)}
        if resolved.source in ("file", "torchvision"):
            # Tensors read (memory-mapped) from a file are skvgg's own: the network takes
            # them over instead of copying them into fresh memory.
            # A checkpoint saved in another dtype (e.g. float16) is converted, as copying would.
            dtypes = {k: v.dtype for k, v in model.state_dict().items()}
            kept = {k: v if v.dtype == dtypes[k] else v.to(dtypes[k]) for k, v in kept.items()}
            model.load_state_dict(kept, strict=False, assign=True)
            _materialize(model)
        else:  # a caller's state_dict: copied, so training never writes into it
            model = model.to_empty(device="cpu")
            model.load_state_dict(kept, strict=False)
        for name, buffer in model.named_buffers():
            if name.endswith("num_batches_tracked") and name not in kept:
                buffer.zero_()  # absent from torchvision's _bn files
        if fresh == ("classifier.",):  # a features-only checkpoint: fc6 and fc7 are new too
            init_linear_(model.classifier[0])
            init_linear_(model.classifier[3])
        if fresh:
            model.reset_head()
    model.preprocessing = resolved.preprocessing
    # Keep the description, not a second reference to the tensors.
    model.weights_info = replace(resolved, state_dict=None)
    return model.eval()


def _materialize(model: torch.nn.Module) -> None:
    """Give real (uninitialised) memory to what a checkpoint left on the meta device."""
    for module in model.modules():
        if any(t.is_meta for t in (*module.parameters(recurse=False), *module.buffers(recurse=False))):
            module.to_empty(device="cpu", recurse=False)
