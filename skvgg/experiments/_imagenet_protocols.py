"""The paper's ImageNet test protocols (Tables 3-5): ``run_imagenet`` and the published errors.

The weights' own 1000-way classifier (:class:`~skvgg.VGGImageNetClassifier`) on the
ILSVRC-2012 validation set under each test protocol of :data:`IMAGENET_PROTOCOLS`, its
top-1/top-5 errors beside the paper's (:data:`TABLES_3_5`) and torchvision's published ones.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval, validate_params

from .._typing import StrPath, WeightsSpec
from ..models.architectures import resolve_arch
from ._networks import ESTIMATOR_PARAMETER, network_key

__all__ = [
    "IMAGENET_BLOCK",
    "IMAGENET_PROTOCOLS",
    "TABLES_3_5",
    "ImageNetProtocol",
    "paper_imagenet_errors",
    "run_imagenet",
    "torchvision_imagenet_errors",
]


@dataclass(frozen=True)
class ImageNetProtocol:
    """One test-time protocol of the paper's ImageNet tables, as :class:`~skvgg.VGGImageNetClassifier` parameters.

    ``table`` and ``paper_training`` say which column of the paper the published errors
    (:data:`TABLES_3_5`) come from: the paper trained its nets at fixed S or with scale
    jittering, and each column is a training scale.
    """

    name: str
    table: str
    title: str
    eval_scales: tuple | None
    eval_flip: bool
    multi_crop: bool | str
    paper_training: str

    def params(self) -> dict:
        """The classifier's test-time parameters."""
        return {"eval_scales": self.eval_scales, "eval_flip": self.eval_flip, "multi_crop": self.multi_crop}

    def views_per_image(self) -> int:
        """Network inputs per image and network (a dense view is the whole rescaled image)."""
        mirrors = 2 if self.eval_flip else 1
        if self.eval_scales is None:
            return mirrors
        dense = len(self.eval_scales) * mirrors if self.multi_crop in (False, "combine") else 0
        crops = 25 * len(self.eval_scales) * mirrors if self.multi_crop in (True, "combine") else 0
        return dense + crops


_JITTERED = "S in [256;512]"
_MULTI_SCALES = (256, 384, 512)

#: The test protocols (paper Sec. 3.2 and 4), by name. Dense and multi-crop evaluation
#: average the mirror image, as the paper does ("center-crop" is torchvision's protocol, the
#: one its published accuracy is measured with; it is in none of the paper's tables).
IMAGENET_PROTOCOLS = {
    p.name: p
    for p in (
        ImageNetProtocol("center-crop", "torchvision", "224 centre crop of the image resized to 256", None, False, False, ""),
        ImageNetProtocol("dense-256", "Table 3", "dense, Q=256", (256,), True, False, "S=256"),
        ImageNetProtocol("dense-384", "Table 3", "dense, Q=384", (384,), True, False, _JITTERED),
        ImageNetProtocol("multi-scale-256", "Table 4", "dense, Q={224,256,288}", (224, 256, 288), True, False, "S=256"),
        ImageNetProtocol("multi-scale-384", "Table 4", "dense, Q={352,384,416}", (352, 384, 416), True, False, "S=384"),
        ImageNetProtocol("multi-scale", "Table 4", "dense, Q={256,384,512}", _MULTI_SCALES, True, False, _JITTERED),
        ImageNetProtocol("multi-crop", "Table 5", "multi-crop, 150 crops, Q={256,384,512}", _MULTI_SCALES, True, True, _JITTERED),
        ImageNetProtocol(
            "multi-crop+dense", "Table 5", "multi-crop & dense, Q={256,384,512}", _MULTI_SCALES, True, "combine", _JITTERED
        ),
    )
}

#: The paper's ILSVRC-2012 validation errors (top-1, top-5, in %), by protocol and network
#: (skvgg's names of configurations A vgg11, A-LRN vgg11_lrn, B vgg13, C vgg16_1x1, D vgg16,
#: E vgg19; "vgg16+vgg19" is the D & E fusion of Table 6). Tables 3 and 4 give one column per
#: training scale; the one kept is the protocol's ``paper_training``: S=256 for Q=256 and
#: Q={224,256,288}, S=384 for Q={352,384,416}, scale jittering S in [256;512] for Q=384 and
#: Q={256,384,512} (the released D and E nets were trained with jittering).
TABLES_3_5 = {
    ("dense-256", "vgg11"): (29.6, 10.4),
    ("dense-256", "vgg11_lrn"): (29.7, 10.5),
    ("dense-256", "vgg13"): (28.7, 9.9),
    ("dense-256", "vgg16_1x1"): (28.1, 9.4),
    ("dense-256", "vgg16"): (27.0, 8.8),
    ("dense-256", "vgg19"): (27.3, 9.0),
    ("dense-384", "vgg16_1x1"): (27.3, 8.8),
    ("dense-384", "vgg16"): (25.6, 8.1),
    ("dense-384", "vgg19"): (25.5, 8.0),
    ("multi-scale-256", "vgg13"): (28.2, 9.6),
    ("multi-scale-256", "vgg16_1x1"): (27.7, 9.2),
    ("multi-scale-256", "vgg16"): (26.6, 8.6),
    ("multi-scale-256", "vgg19"): (26.9, 8.7),
    ("multi-scale-384", "vgg16_1x1"): (27.8, 9.2),
    ("multi-scale-384", "vgg16"): (26.5, 8.6),
    ("multi-scale-384", "vgg19"): (26.7, 8.6),
    ("multi-scale", "vgg16_1x1"): (26.3, 8.2),
    ("multi-scale", "vgg16"): (24.8, 7.5),
    ("multi-scale", "vgg19"): (24.8, 7.5),
    ("multi-scale", "vgg16+vgg19"): (24.0, 7.1),
    ("multi-crop", "vgg16"): (24.6, 7.5),
    ("multi-crop", "vgg19"): (24.6, 7.4),
    ("multi-crop", "vgg16+vgg19"): (23.9, 7.2),
    ("multi-crop+dense", "vgg16"): (24.4, 7.2),
    ("multi-crop+dense", "vgg19"): (24.4, 7.1),
    ("multi-crop+dense", "vgg16+vgg19"): (23.7, 6.8),
}


def _imagenet_protocol(name: str) -> ImageNetProtocol:
    if name not in IMAGENET_PROTOCOLS:
        raise ValueError(f"Unknown ImageNet protocol {name!r}; expected one of {', '.join(IMAGENET_PROTOCOLS)}")
    return IMAGENET_PROTOCOLS[name]


def paper_imagenet_errors(protocol: str, network: str) -> tuple[float, float, str] | None:
    """The paper's (top-1, top-5, source) validation errors in % for ``network`` under ``protocol``.

    ``network`` is an architecture name or a fusion ``"vgg16+vgg19"`` (paper letters
    accepted: ``"D+E"``). None where the paper has no such entry (e.g. BatchNorm nets).
    The source names the table and its training-scale column, e.g. ``"Table 3, S=256"``.

    Examples
    --------
    >>> from skvgg.experiments import paper_imagenet_errors
    >>> paper_imagenet_errors("multi-crop+dense", "D+E")
    (23.7, 6.8, 'Table 6, D & E fusion, S in [256;512]')
    >>> paper_imagenet_errors("dense-384", "vgg19")
    (25.5, 8.0, 'Table 3, S in [256;512]')
    """
    protocol_info = _imagenet_protocol(protocol)
    key = network_key(network.split("+"))
    errors = TABLES_3_5.get((protocol, key))
    if errors is None:
        return None
    table = "Table 6, D & E fusion" if "+" in key else protocol_info.table
    return errors[0], errors[1], f"{table}, {protocol_info.paper_training}"


def torchvision_imagenet_errors(arch: str, weights: WeightsSpec = "imagenet") -> tuple[float, float] | None:
    """torchvision's published (top-1, top-5) errors in % of ``weights`` (its centre-crop protocol).

    Read from the weights enum's metadata (``meta["_metrics"]["ImageNet-1K"]``), offline;
    None for weights torchvision did not publish (files, random weights, the features-only
    weights).

    Examples
    --------
    >>> from skvgg.experiments import torchvision_imagenet_errors
    >>> torchvision_imagenet_errors("vgg16")
    (28.408, 9.618)
    """
    from ..models.weights import resolve_weights

    info = resolve_weights(resolve_arch(arch), weights)
    metrics = getattr(info.enum, "meta", {}).get("_metrics", {}).get("ImageNet-1K") if info.enum is not None else None
    if not metrics or not np.isfinite(metrics.get("acc@1", np.nan)):
        return None
    return round(100.0 - metrics["acc@1"], 3), round(100.0 - metrics["acc@5"], 3)


def _precision_name(precision: str, device) -> str:
    """The dtype a precision runs in on ``device``; ``"auto"`` says so: ``"bfloat16 (auto)"``."""
    from .._pipeline.runtime import resolve_precision

    name = str(resolve_precision(precision, device)).removeprefix("torch.")
    return f"{name} (auto)" if precision == "auto" else name


def _network_entries(arch) -> list[list[str]]:
    """``arch`` as a list of networks to report, each a list of fused architectures (canonical names)."""
    entries = [arch] if isinstance(arch, str) else list(arch)
    if not entries:
        raise ValueError("arch is empty; expected a name such as 'vgg16', or several, or a fusion 'vgg16+vgg19'")
    networks = []
    for entry in entries:
        members = entry.split("+") if isinstance(entry, str) else list(entry)
        names = [resolve_arch(member.strip()).name for member in members]
        if len(set(names)) != len(names):
            raise ValueError(f"arch entry {entry!r} fuses the same network twice")
        networks.append(names)
    return networks


#: Images per cached block of posteriors: an interrupted run restarts at the last block written.
IMAGENET_BLOCK = 500


def _block_key(identity: dict, paths: Sequence[str]) -> str:
    import hashlib
    import json

    text = json.dumps(identity, sort_keys=True, default=str) + "\n" + "\n".join(paths)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _posteriors(classifier, paths: list[str], cache_dir, identity: dict) -> tuple[np.ndarray, float, int]:
    """Posteriors of ``classifier`` on ``paths``, block by block, read from or written to ``cache_dir``.

    Returns the posteriors, the seconds spent computing them (as recorded when each block
    was computed) and the number of blocks read from the cache.
    """
    from pathlib import Path

    from ..dask._store import atomic_write

    blocks, seconds, cached = [], 0.0, 0
    for start in range(0, len(paths), IMAGENET_BLOCK):
        part = paths[start : start + IMAGENET_BLOCK]
        file = Path(cache_dir) / f"imagenet-{_block_key(identity, part)}.npz" if cache_dir is not None else None
        if file is not None and file.is_file():
            with np.load(file) as stored:
                blocks.append(stored["proba"])
                seconds += float(stored["seconds"])
            cached += 1
            continue
        started = time.perf_counter()
        proba = classifier.predict_proba(part).astype(np.float32)
        took = time.perf_counter() - started
        seconds += took
        blocks.append(proba)
        if file is not None:

            def write(temporary, proba=proba, took=took):
                with open(temporary, "wb") as handle:
                    np.savez(handle, proba=proba, seconds=np.float64(took))

            atomic_write(file, write)
    return np.concatenate(blocks), seconds, cached


@validate_params(
    {
        "root": [str, os.PathLike],
        "arch": ESTIMATOR_PARAMETER,
        "weights": ESTIMATOR_PARAMETER,
        "protocols": [list, tuple, str, None],
        "precision": [list, tuple, str],
        "per_class": [Interval(Integral, 1, None, closed="left"), None],
        "layout": [str],
        "cache": [str, os.PathLike, None],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "report": [callable],
    },
    prefer_skip_nested_validation=False,
)
def run_imagenet(
    root: StrPath,
    *,
    arch: str | Sequence[str] = "vgg16",
    weights: WeightsSpec | Sequence[WeightsSpec] = "imagenet",
    protocols: str | Sequence[str] | None = None,
    precision: str | Sequence[str] = "auto",
    per_class: int | None = None,
    layout: str = "auto",
    cache: StrPath | None = None,
    random_state: int = 0,
    report: Callable[[str], None] = print,
    **classifier_params: Any,
) -> pd.DataFrame:
    """Run the paper's ImageNet test protocols (Tables 3-5) and tabulate the errors beside the published ones.

    Each network is evaluated with its own 1000-way head
    (:class:`~skvgg.VGGImageNetClassifier`) under each protocol and precision; fusions
    average the posteriors of their members, computed once, and "multi-crop+dense" is the
    mean of the dense and multi-crop posteriors at its scales (as the classifier's
    ``multi_crop="combine"`` weighs them), so with "multi-scale" and "multi-crop" it costs
    nothing more. Posteriors are cached block
    by block (:data:`IMAGENET_BLOCK` images) in ``cache``, so an interrupted run resumes
    where it stopped and a repeated one (or a new fusion of networks already run) reads
    them instead of recomputing.

    Parameters
    ----------
    root : path
        The validation set, see :func:`skvgg.datasets.load_imagenet_val`.
    arch : str or sequence of str, default="vgg16"
        The networks; ``"vgg16+vgg19"`` (or a tuple) is a fusion (Tables 6-7).
    weights : None, str, path or sequence, default="imagenet"
        The weights of every network (None: random, seeded by ``random_state``), or one
        entry per entry of ``arch`` (a fusion's members share theirs), e.g. to compare a
        checkpoint file with torchvision's weights: ``arch=["vgg16", "vgg16"],
        weights=["imagenet", "vgg16-caffe.pth"]``.
    protocols : str or sequence of str, default=None
        Names from :data:`IMAGENET_PROTOCOLS`; None runs all of them, in their order.
    precision : str or sequence of str, default="auto"
        One or more of "auto", "float32", "bfloat16", "float16": each precision is a row.
    per_class : int, default=None
        Only the first ``per_class`` images of each class (a quick run).
    layout : {"auto", "devkit", "torchvision", "csv"}, default="auto"
        See :func:`~skvgg.datasets.load_imagenet_val`.
    cache : path, default=None
        Directory of the cached posteriors (created); None computes everything.
    random_state : int, default=0
        Seeds random weights.
    report : callable, default=print
        Receives one line per row as it is measured.
    **classifier_params
        ``batch_size``, ``device``, ``num_workers``, ``max_pixels``, ``preprocessing``.

    Returns
    -------
    table : pandas.DataFrame
        One row per network, precision and protocol, in that nesting: ``network``,
        ``weights``, ``precision`` (the dtype it ran in, ``"bfloat16 (auto)"`` for
        ``"auto"``), ``protocol``, ``table``, ``views_per_image``,
        ``images``, the measured ``top1_error`` and ``top5_error`` (%), the paper's
        ``paper_top1_error``, ``paper_top5_error`` and ``paper_source`` (NaN and "" where
        the paper has no entry), torchvision's published ``torchvision_top1_error`` and
        ``torchvision_top5_error`` for the weights (its centre-crop protocol; NaN for other
        weights), ``seconds`` of network time, ``images_per_second`` and ``cached`` (the
        fraction of blocks read from ``cache``).

    Raises
    ------
    ValueError
        For an unknown protocol or architecture, or a precision not offered, before any
        image is read.
    DatasetNotFoundError
        Without the data, naming the files to obtain and where to put them.

    See Also
    --------
    skvgg.plotting.plot_imagenet_protocols : The table as a figure, error against images/s.
    """
    from .._pipeline.runtime import resolve_device, resolve_precision
    from ..datasets import load_imagenet_val
    from ..imagenet import VGGImageNetClassifier
    from ..metrics import top_k_error

    names = list(IMAGENET_PROTOCOLS) if protocols is None else [protocols] if isinstance(protocols, str) else list(protocols)
    chosen = [_imagenet_protocol(name) for name in names]
    precisions = [precision] if isinstance(precision, str) else list(precision)
    offered = VGGImageNetClassifier._parameter_constraints["precision"][0].options
    for value in precisions:
        if value not in offered:
            raise ValueError(f"precision {value!r} is not offered; expected one of {sorted(offered)}")
    networks = _network_entries(arch)
    if isinstance(weights, list | tuple):
        if len(weights) != len(networks):
            raise ValueError(f"weights has {len(weights)} entries but arch has {len(networks)}; give one per arch entry")
        weights_of = list(weights)
    else:
        weights_of = [weights] * len(networks)
    data = load_imagenet_val(root, layout=layout, per_class=per_class)
    paths, y = data.paths, data.target
    if cache is not None:
        os.makedirs(cache, exist_ok=True)
    device = resolve_device(classifier_params.get("device", "auto"))
    report(f"ImageNet validation ({data.layout}, {len(paths)} images of {len(np.unique(y))} classes): {data.root}")

    units = {}  # (member, precision, scales, flip, multi_crop) -> (posteriors, seconds, cached fraction)
    n_blocks = -(-len(paths) // IMAGENET_BLOCK)

    def unit(member: str, member_weights, precision_name: str, params: dict) -> tuple:
        # Weights by value when they are a name or a path (the same file twice is run once), else by object.
        named = member_weights if member_weights is None or isinstance(member_weights, str | os.PathLike) else id(member_weights)
        key = (member, str(named), precision_name, params["eval_scales"], params["eval_flip"], params["multi_crop"])
        if key in units:
            return units[key]
        if params["multi_crop"] == "combine":
            # Dense and multi-crop weigh equally in "combine" (one view group per scale and method,
            # skvgg._evaluation.evaluation_plan): the mean of the two runs, each computed once.
            dense, crops = (unit(member, member_weights, precision_name, {**params, "multi_crop": m}) for m in (False, True))
            units[key] = ((dense[0] + crops[0]) / 2, dense[1] + crops[1], (dense[2] + crops[2]) / 2)
            return units[key]
        classifier = VGGImageNetClassifier(
            member, weights=member_weights, precision=precision_name, random_state=random_state, **params, **classifier_params
        ).fit()
        identity = {
            "weights": classifier.weights_identity_, "arch": member, **params,
            "precision": str(resolve_precision(precision_name, device)), "device": device.type,
            "preprocessing": repr(classifier.preprocessings_[0]), "format": 1,
        }  # fmt: skip
        proba, took, hits = _posteriors(classifier, paths, cache, identity)
        units[key] = (proba, took, hits / max(1, n_blocks))
        return units[key]

    rows = []
    for network, network_weights in zip(networks, weights_of):
        key = "+".join(network)
        published = torchvision_imagenet_errors(network[0], network_weights) if len(network) == 1 else None
        weights_text = "random" if network_weights is None else str(network_weights)
        for precision_name in precisions:
            for protocol in chosen:
                probas, seconds, cached = [], 0.0, 0.0
                for member in network:
                    proba, took, fraction = unit(member, network_weights, precision_name, protocol.params())
                    probas.append(proba)
                    seconds += took
                    cached += fraction / len(network)
                proba = np.mean(probas, axis=0)
                top1 = 100 * top_k_error(y, proba, k=1)
                top5 = 100 * top_k_error(y, proba, k=5)
                paper = paper_imagenet_errors(protocol.name, key)
                rows.append(
                    {
                        "network": key,
                        "weights": weights_text,
                        "precision": _precision_name(precision_name, device),
                        "protocol": protocol.name,
                        "table": protocol.table,
                        "views_per_image": protocol.views_per_image() * len(network),
                        "images": len(paths),
                        "top1_error": top1,
                        "top5_error": top5,
                        "paper_top1_error": paper[0] if paper else np.nan,
                        "paper_top5_error": paper[1] if paper else np.nan,
                        "paper_source": paper[2] if paper else "",
                        "torchvision_top1_error": published[0] if published else np.nan,
                        "torchvision_top5_error": published[1] if published else np.nan,
                        "seconds": seconds,
                        "images_per_second": len(paths) / seconds if seconds > 0 else np.nan,
                        "cached": cached,
                    }
                )
                paper_text = f"paper {paper[0]:.1f} / {paper[1]:.1f} ({paper[2]})" if paper else "not in the paper's tables"
                report(
                    f"  {key} {rows[-1]['precision']} {protocol.name} ({protocol.title}): "
                    f"top-1 {top1:.1f} %, top-5 {top5:.1f} %; {paper_text}; {rows[-1]['images_per_second']:.2f} images/s"
                )
    return pd.DataFrame(rows)
