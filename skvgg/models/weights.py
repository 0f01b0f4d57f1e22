"""Where a network's weights come from, how they are loaded strictly, and the input they expect.

``weights=`` accepts, everywhere in skvgg:

* ``None``: random initialisation (torchvision's scheme);
* ``"imagenet"`` or ``"DEFAULT"``: torchvision's default ImageNet weights for the architecture;
* every string torchvision's own builders accept: a member name alone (``"IMAGENET1K_V1"``,
  ``"IMAGENET1K_FEATURES"`` for vgg16) or with its enum (``"VGG16_Weights.IMAGENET1K_V1"``),
  case-insensitive, and the enum members themselves (``VGG16_Weights.IMAGENET1K_V1``);
* a path to a local checkpoint in torchvision's format (a plain ``state_dict``), written by
  ``torch.save`` (``.pth``, ``.pt``) or safetensors (``.safetensors``), such as
  :meth:`skvgg.VGGClassifier.save_weights` writes;
* a ``state_dict`` mapping already in memory.

``"imagenet"`` and ``"DEFAULT"`` always name torchvision's weights; for the other names, a
path to an existing file wins over a name that reads the same.

Errors form one tree: :class:`WeightsError` (a ``ValueError``) is the base of
:class:`WeightsMismatchError`, :class:`WeightsCorruptedError` and
:class:`WeightsUnavailableError` (also an ``OSError``: a download that failed). They live
in :mod:`skvgg.exceptions`, under :class:`~skvgg.exceptions.SkvggError`, and are
re-exported here.

Every choice carries a :class:`Preprocessing`: the mean, std, channel order and value
range the network was trained with, which the estimators apply automatically.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .._filesystem import atomic_write
from .._typing import StrPath, WeightsSpec
from ..exceptions import (
    MissingExtraError,
    WeightsCorruptedError,
    WeightsError,
    WeightsMismatchError,
    WeightsUnavailableError,
)
from ._preprocessing import Preprocessing
from .architectures import ArchSpec

__all__ = [
    "Preprocessing",
    "ResolvedWeights",
    "WeightsCorruptedError",
    "WeightsError",
    "WeightsMismatchError",
    "WeightsUnavailableError",
    "resolve_weights",
    "load_state_dict",
    "check_state_dict",
    "verify_weights_file",
]


@dataclass(frozen=True)
class ResolvedWeights:
    """A validated ``weights=`` choice, before any download or file read.

    Attributes
    ----------
    source : {"random", "torchvision", "file", "state_dict"}
    identity : str
        Stable text naming these weights (enum name, or path with size and
        modification time), used in cache keys.
    preprocessing : Preprocessing
    has_classifier : bool
        False where the fc layers carry no trained values (random init counts as
        True: it is a complete network). ``VGG16_Weights.IMAGENET1K_FEATURES`` is False.
    enum : torchvision WeightsEnum member or None
    path : str or None
    state_dict : mapping or None
    """

    source: str
    identity: str
    preprocessing: Preprocessing
    has_classifier: bool = True
    enum: object = None
    path: str | None = None
    state_dict: Mapping | None = None


WEIGHTS_ENUM_NAME = re.compile(r"^(VGG\d+(?:_BN)?_Weights)\.(\w+)$", re.IGNORECASE)
_MEMBER_NAME = re.compile(r"^\w+$")


def _weights_enum(spec: ArchSpec):
    import torchvision.models as tvm

    if spec.weights_enum_name is None:
        return None
    return getattr(tvm, spec.weights_enum_name)


def _resolve_enum(spec: ArchSpec, member) -> ResolvedWeights:
    enum_cls = _weights_enum(spec)
    if enum_cls is None or type(member) is not enum_cls:
        expected = f"members of {spec.weights_enum_name}" if enum_cls else "none: no weights are published"
        raise WeightsError(f"weights {member} do not fit arch={spec.name!r}; expected {expected}.")
    # The classifier of the 'features' weights is filled with NaN by torchvision: only
    # the convolutional part is usable.
    has_classifier = not member.name.endswith("FEATURES")
    return ResolvedWeights(
        source="torchvision",
        identity=f"{type(member).__name__}.{member.name}",
        preprocessing=Preprocessing.from_transforms(member.transforms()),
        has_classifier=has_classifier,
        enum=member,
    )


def resolve_weights(spec: ArchSpec, weights: WeightsSpec, preprocessing: Preprocessing | None = None) -> ResolvedWeights:
    """Validate a ``weights=`` value for an architecture, without loading anything.

    Parameters
    ----------
    spec : ArchSpec
    weights : None, "imagenet", weights enum, enum name, path or state_dict mapping
    preprocessing : Preprocessing, optional
        Overrides the weights' own (e.g. ``Preprocessing.caffe()`` for a converted
        Caffe checkpoint). Local files default to torchvision's normalisation.

    Raises
    ------
    WeightsError
        Unknown names, weights of another architecture, ImageNet weights for a
        configuration that has none published (A-LRN and C), a missing file.
    """
    if weights is None:
        resolved = ResolvedWeights("random", "random", Preprocessing.torchvision())
    elif isinstance(weights, Mapping):
        resolved = ResolvedWeights("state_dict", f"state_dict@{id(weights)}", Preprocessing.torchvision(), state_dict=weights)
    elif type(weights).__name__.endswith("_Weights") and hasattr(weights, "get_state_dict"):
        resolved = _resolve_enum(spec, weights)
    elif isinstance(weights, str) and weights.lower() in ("imagenet", "default"):
        enum_cls = _weights_enum(spec)
        if enum_cls is None:
            raise WeightsError(
                f"No ImageNet weights are published for configuration {spec.config} (arch={spec.name!r}): "
                "neither the paper's authors nor torchvision released them. Use weights=None (random "
                "initialisation) or a path to your own checkpoint, or an architecture with published "
                "weights: vgg11, vgg13, vgg16, vgg19 and their _bn variants."
            )
        resolved = _resolve_enum(spec, enum_cls.DEFAULT)
    elif isinstance(weights, str) and WEIGHTS_ENUM_NAME.match(weights) and not os.path.exists(weights):
        resolved = _resolve_enum(spec, _enum_from_name(spec, weights))
    elif isinstance(weights, str) and _MEMBER_NAME.match(weights) and not os.path.exists(weights):
        resolved = _resolve_enum(spec, _member_from_name(spec, weights))
    elif isinstance(weights, str | os.PathLike):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(
                f"weights={str(weights)!r} is neither a weights name ({', '.join(map(repr, valid_names(spec)))}) "
                "nor an existing checkpoint file (.pth, .pt or .safetensors)."
            )
        stat = path.stat()
        resolved = ResolvedWeights(
            "file",
            f"file:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}",
            Preprocessing.torchvision(),
            path=str(path),
        )
    else:
        raise WeightsError(
            "weights must be None, 'imagenet', a torchvision weights enum or its name, a checkpoint path "
            f"or a state_dict; got {type(weights).__name__}"
        )
    if preprocessing is not None:
        if not isinstance(preprocessing, Preprocessing):
            raise TypeError(f"preprocessing must be a skvgg.Preprocessing, got {type(preprocessing).__name__}")
        resolved = replace(resolved, preprocessing=preprocessing)
    return resolved


def valid_names(spec: ArchSpec) -> list[str]:
    """The weights names ``spec`` accepts: ``"imagenet"``, ``"DEFAULT"``, each member alone and with its enum."""
    enum_cls = _weights_enum(spec)
    if enum_cls is None:
        return []
    members = [member.name for member in enum_cls]
    return ["imagenet", "DEFAULT", *members, *(f"{enum_cls.__name__}.{name}" for name in ["DEFAULT", *members])]


def _member_from_name(spec: ArchSpec, name: str):
    """The member of ``spec``'s weights enum named ``name`` alone (``"IMAGENET1K_V1"``), as torchvision's builders accept."""
    enum_cls = _weights_enum(spec)
    if enum_cls is None:
        raise WeightsError(
            f"weights={name!r}: no weights are published for arch={spec.name!r} (configuration {spec.config}), "
            "and no file of that name exists. Use weights=None or a path to your own checkpoint."
        )
    try:
        return enum_cls[name.upper()]
    except KeyError:
        raise WeightsError(
            f"Unknown weights {name!r} for arch={spec.name!r} (and no file of that name exists); valid names: "
            f"{', '.join(map(repr, valid_names(spec)))}, or a path to a checkpoint file."
        ) from None


def _enum_from_name(spec: ArchSpec, name: str):
    import torchvision.models as tvm

    enum_name, member = WEIGHTS_ENUM_NAME.match(name).groups()
    enum_name = enum_name[: -len("_Weights")].upper() + "_Weights"  # names are case-insensitive
    enum_cls = getattr(tvm, enum_name, None)
    if enum_cls is None:
        raise WeightsError(f"Unknown torchvision weights enum {enum_name!r} in weights={name!r}.")
    try:
        return enum_cls[member.upper()]
    except KeyError:
        valid = [f"{enum_cls.__name__}.{m.name}" for m in enum_cls] + [f"{enum_cls.__name__}.DEFAULT"]
        raise WeightsError(f"Unknown weights {name!r}; {enum_cls.__name__} has {valid}.") from None


def _download_failure(resolved: ResolvedWeights, spec: ArchSpec, error: BaseException) -> WeightsUnavailableError:
    url = resolved.enum.url
    filename = os.path.basename(url)
    cache_dir = os.path.join(torch.hub.get_dir(), "checkpoints")
    return WeightsUnavailableError(
        f"Could not obtain the {resolved.identity} weights for {spec.name} ({type(error).__name__}: {error}).\n"
        f"  URL:        {url}\n"
        f"  file:       {filename}\n"
        f"  cache dir:  {cache_dir}\n"
        f"Without network access, download {filename} on another machine and place it at "
        f"{os.path.join(cache_dir, filename)} (torchvision's cache; set TORCH_HOME to move it), "
        f"or pass weights='/path/to/{filename}'."
    )


def _looks_like_torch_save(path: str) -> bool:
    # torch.save writes a zip archive; files from before PyTorch 1.6 start with a
    # pickle protocol opcode (0x80). Anything else would only yield a confusing
    # unpickling error, indistinguishable from the refusal of pickled code.
    if zipfile.is_zipfile(path):
        return True
    with open(path, "rb") as f:
        return f.read(1) == b"\x80"


# torch.hub's naming convention for published files: ``name-<hash>.ext``, where <hash> is
# the first 8 or more hex digits of the file's SHA-256 (torchvision: vgg16-397923af.pth).
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[^.\-]+$")
_HASH_CHUNK = 1 << 20
_verified_lock = threading.Lock()
_verified: dict[str, tuple] = {}  # real path -> (size, mtime_ns, prefix) checked by this process


def _torch_cache_file(url: str) -> str:
    """Where torch.hub keeps (or would download) the file of ``url``."""
    from urllib.parse import urlparse

    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(url).path))


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _memo_file(real: str) -> str:
    # A skvgg-owned folder beside torch.hub's checkpoints: no file is added next to the
    # user's own checkpoints, and TORCH_HOME moves the memos with the files they vouch for.
    name = hashlib.blake2b(real.encode(), digest_size=16).hexdigest() + ".json"
    return os.path.join(torch.hub.get_dir(), "skvgg-verified", name)


def _is_verified(real: str, stamp: tuple) -> bool:
    with _verified_lock:
        if _verified.get(real) == stamp:
            return True
    try:
        with open(_memo_file(real), encoding="utf-8") as f:
            memo = json.load(f)
        recorded = (memo["path"], memo["size"], memo["mtime_ns"], memo["sha256_prefix"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if recorded != (real, *stamp):
        return False
    with _verified_lock:
        _verified[real] = stamp
    return True


def _remember_verified(real: str, stamp: tuple, sha256: str | None = None) -> None:
    """Record a verified file in this process and, when the memo folder is writable, on disk."""
    with _verified_lock:
        _verified[real] = stamp
    memo = {"path": real, "size": stamp[0], "mtime_ns": stamp[1], "sha256_prefix": stamp[2], "sha256": sha256}
    target = _memo_file(real)
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        atomic_write(target, lambda temporary: temporary.write_text(json.dumps(memo), encoding="utf-8"), durable=False)
    except OSError:  # read-only TORCH_HOME: the in-process memo still spares re-hashing here
        pass


def _stamp(path: str, prefix: str) -> tuple[str, tuple]:
    real = os.path.realpath(path)
    info = os.stat(real)
    return real, (info.st_size, info.st_mtime_ns, prefix)


def _published_url(name: str) -> str | None:
    import torchvision.models as tvm

    for enum_name in dir(tvm):
        if enum_name.startswith("VGG") and enum_name.endswith("_Weights"):
            for member in getattr(tvm, enum_name):
                if os.path.basename(member.url) == name:
                    return member.url
    return None


def verify_weights_file(path: StrPath, url: str | None = None) -> None:
    """Check a weights file against the SHA-256 prefix in its name, once per file version.

    Files named by torch.hub's convention ``name-<hex>.ext`` (8 or more hex digits, as in
    torchvision's ``vgg16-397923af.pth``) must have a SHA-256 starting with ``<hex>``;
    other names are not checked. A verified file's size and modification time are
    remembered (under ``torch.hub.get_dir()/skvgg-verified``, or in this process when
    that is not writable), so later loads skip the hash until the file changes.

    Raises
    ------
    WeightsCorruptedError
        The digest differs: the message names the file, both prefixes and what to do.
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    match = _HASH_IN_NAME.search(name)
    if match is None:
        return
    expected = match.group(1)
    real, stamp = _stamp(path, expected)
    if _is_verified(real, stamp):
        return
    actual = _sha256(real)
    if actual.startswith(expected):
        _remember_verified(real, stamp, actual)
        return
    url = url or _published_url(name)
    lines = [
        f"Weights file {path} does not match the SHA-256 prefix in its name: expected {expected}, got "
        f"{actual[: len(expected)]} (size {stamp[0]} bytes). It is not loaded.",
    ]
    if url is not None:
        in_torch_cache = os.path.dirname(os.path.abspath(path)) == os.path.dirname(_torch_cache_file(url))
        lines.append(
            "It was damaged after download (disk or copy error, interrupted transfer). "
            + (
                f"Delete it ({path}) and load again: torchvision downloads it afresh from {url}"
                if in_torch_cache
                else f"Delete it and obtain it again from {url}"
            )
        )
        lines.append(
            f"Without network access, download {url} on another machine, check that its SHA-256 starts with "
            f"{expected} (sha256sum {name}), and place it at {path}."
        )
    else:
        lines.append(
            "If it is a published file, it was damaged after download: delete it and obtain it again. If it is "
            f"your own checkpoint and {expected!r} is not the start of its SHA-256, rename it: names ending in "
            "'-<8 or more hex digits>.<ext>' are checked as torch.hub checks its downloads."
        )
    raise WeightsCorruptedError("\n".join(lines))


def load_state_dict(resolved: ResolvedWeights, spec: ArchSpec, progress: bool = True) -> Mapping | None:
    """Fetch the tensors of a resolved choice (``None`` for random weights).

    torchvision weights go through its download cache (``torch.hub``) with the hash
    check and a progress bar. torch.hub checks the hash only while downloading, so a
    file already in its cache is checked here, once per file version
    (:func:`verify_weights_file`); so is a ``weights=`` path whose name carries a hash.
    Files are read with ``torch.load(weights_only=True)``, so a checkpoint that carries
    pickled code is refused instead of executed, and memory-mapped (``mmap=True``);
    ``.safetensors`` files with safetensors.

    Raises
    ------
    WeightsCorruptedError
        A file whose SHA-256 does not start with the hash prefix in its name.
    """
    if resolved.source == "random":
        return None
    if resolved.source == "state_dict":
        return resolved.state_dict
    if resolved.source == "torchvision":
        url = resolved.enum.url
        cached = _torch_cache_file(url)
        present = os.path.isfile(cached)
        if present:
            verify_weights_file(cached, url=url)
        if present:  # verified above: read it memory-mapped
            return _load_file(cached)
        try:
            state = resolved.enum.get_state_dict(progress=progress, check_hash=True)
        except (OSError, RuntimeError, ValueError) as error:  # URLError is an OSError; bad hash a RuntimeError
            raise _download_failure(resolved, spec, error) from error
        match = _HASH_IN_NAME.search(os.path.basename(cached))
        if not present and match and os.path.isfile(cached):
            # Just downloaded: torch.hub hashed it on the way in (check_hash=True).
            _remember_verified(*_stamp(cached, match.group(1)))
        return state
    verify_weights_file(resolved.path)
    if resolved.path.lower().endswith(".safetensors"):
        return _load_safetensors(resolved.path)
    if not _looks_like_torch_save(resolved.path):
        raise WeightsError(
            f"Could not read checkpoint {resolved.path}: it is not a file written by torch.save "
            "(neither a zip archive nor a legacy pickle)."
        )
    try:
        loaded = _load_file(resolved.path)
    except pickle.UnpicklingError as error:
        raise WeightsError(
            f"Refused to load {resolved.path}: it holds pickled Python objects, not only tensors, and "
            "loading it could run code (torch.load(weights_only=True) rejected it). Re-save the weights "
            f"as a plain state_dict: torch.save(model.state_dict(), path). Details: {error}"
        ) from None
    except Exception as error:
        raise WeightsError(f"Could not read checkpoint {resolved.path}: {type(error).__name__}: {error}") from error
    if isinstance(loaded, Mapping) and "state_dict" in loaded and isinstance(loaded["state_dict"], Mapping):
        loaded = loaded["state_dict"]  # the common {"state_dict": ..., "epoch": ...} wrapper
    if not isinstance(loaded, Mapping):
        raise WeightsError(
            f"Checkpoint {resolved.path} holds a {type(loaded).__name__}, expected a state_dict "
            "(a mapping of parameter names to tensors, as torch.save(model.state_dict(), path) writes)."
        )
    return loaded


def _load_safetensors(path: str) -> dict:
    """The tensors of a safetensors file (a format that holds tensors only: nothing in it can run code)."""
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError as error:
        raise MissingExtraError(
            f"Reading {path} needs the safetensors package: pip install 'skvgg[skops]' (or pip install safetensors). "
            f"Import failed: {error}",
            extra="skvgg[skops]",
            name="safetensors",
        ) from error
    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise WeightsError(f"Could not read safetensors checkpoint {path}: {type(error).__name__}: {error}") from error


def _load_file(path: str):
    """``torch.load(weights_only=True)``, memory-mapped where the file allows it.

    Memory-mapped tensors are read from the page cache on first use instead of being
    copied into fresh memory, and :func:`skvgg.build_vgg` assigns them to the network
    (``load_state_dict(assign=True)``) rather than copying them again: loading VGG16
    peaks about 0.5 GB lower (benchmarks/cpu_speed.py). Files from before PyTorch 1.6
    (not zip archives) cannot be mapped and are read whole.
    """
    if zipfile.is_zipfile(path):
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return torch.load(path, map_location="cpu", weights_only=True)


def _list(title: str, items: list[str], limit: int = 20) -> str:
    shown = items[:limit]
    more = f"\n    ... and {len(items) - limit} more" if len(items) > limit else ""
    return f"  {title} ({len(items)}):\n" + "\n".join(f"    {item}" for item in shown) + more


def check_state_dict(
    model: torch.nn.Module, state_dict: Mapping, ignore: tuple[str, ...] = (), source: str = "checkpoint"
) -> None:
    """Raise :class:`WeightsMismatchError` unless keys and shapes match the model exactly.

    ``ignore`` lists key prefixes left out of the comparison (a replaced head).
    BatchNorm's ``num_batches_tracked`` counters may be absent, as in torchvision's
    own published ``_bn`` files; PyTorch fills them in.
    """
    expected = {k: v for k, v in model.state_dict().items() if not k.startswith(ignore)}
    given = {k: v for k, v in state_dict.items() if not k.startswith(ignore)}
    missing = [k for k in expected if k not in given and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in given if k not in expected]
    wrong = [
        f"{k}: checkpoint {tuple(given[k].shape)}, model {tuple(expected[k].shape)}"
        for k in expected
        if k in given and hasattr(given[k], "shape") and tuple(given[k].shape) != tuple(expected[k].shape)
    ]
    not_tensors = [k for k in given if k in expected and not isinstance(given[k], torch.Tensor)]
    if not (missing or unexpected or wrong or not_tensors):
        return
    parts = [f"The {source} does not match {model.spec.name} (strict key and shape check):"]
    if missing:
        parts.append(_list("missing", missing))
    if unexpected:
        parts.append(_list("unexpected", unexpected))
    if wrong:
        parts.append(_list("wrong shape", wrong))
    if not_tensors:
        parts.append(_list("not tensors", not_tensors))
    if unexpected and all(k.startswith("module.") for k in unexpected):
        parts.append("Hint: the keys start with 'module.' (saved from DataParallel); strip that prefix.")
    if any(k.startswith(("classifier.1.", "classifier.4.")) for k in unexpected):
        parts.append("Hint: this is the pre-2017 torchvision layout (dropout before fc6); re-export it.")
    raise WeightsMismatchError("\n".join(parts))
