"""``VGGFeaturizer``: images in, VGG descriptors out, as a scikit-learn transformer."""

from __future__ import annotations

import numbers
import os

import numpy as np
import torch
from sklearn.base import TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from tqdm.auto import tqdm

from ._estimator import SHARED_CONSTRAINTS, NetworkEstimator, SharedNetworksMixin, aligned_arch_weights, image_transformer_tags
from ._pipeline import gpudecode
from ._pipeline.batches import ImageSource, describe, pixel_source, plan_groups
from ._pipeline.plan import ViewPlan
from ._pipeline.runner import NetworkRunner
from ._typing import ImageCollection
from ._warnings import log, warn
from .cache import DiskCache, fingerprint, open_cache
from .dask._collections import check_input, dispatch
from .images import DEFAULT_MAX_PIXELS, ImageFailureWarning, ImageInputError, check_images, describe_item, image_key
from .models._quantize import COMPILE_MIN_IMAGES, INT8_MIN_DENSE_SIZE, check_int8_available, fast_extractors
from .models.architectures import resolve_arch
from .models.network import DENSE_MIN_SIZE, FC_LAYERS, check_layer_names, check_scales
from .models.weights import resolve_weights

__all__ = ["VGGFeaturizer", "ImageFailureWarning", "TRANSFORM_TIME_PARAMS"]

#: Parameters read by each ``transform``: changing them after ``fit`` needs no new fit. A
#: change of any other parameter makes the next ``transform`` fit again first (it is cheap:
#: nothing is learned), so a fitted featurizer never serves what its parameters no longer say.
TRANSFORM_TIME_PARAMS = frozenset({"batch_size", "num_workers", "verbose", "on_error", "max_pixels", "cache", "compile"})

#: Parameters that decide the random networks' seeds (``weights=None``): a new fit keeps the
#: seeds drawn before while these stay as they were, so a changed ``layer`` describes with the same network.
_SEED_PARAMS = ("arch", "weights", "random_state")


def _same(a, b) -> bool:
    """Whether a parameter still holds the value it was fitted with (objects without a
    truth-valued ``==``, such as tensors, compare by identity)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except (TypeError, ValueError, RuntimeError):
        return False


class VGGFeaturizer(TransformerMixin, SharedNetworksMixin, NetworkEstimator):
    """Turn images into VGG descriptors (fc7, fc6, logits or pooled conv maps).

    A transformer for the start of a scikit-learn Pipeline: ``X`` is a list of image
    files or in-memory images, the output a float32 array ``(n_images, n_features)``.
    ``scales`` and ``flip`` give the paper's dense multi-scale, flip-averaged
    descriptors (Simonyan & Zisserman 2015, Appendix B).

    Parameters
    ----------
    arch : str or list of str, default="vgg16"
        Network, see :func:`skvgg.list_archs` (paper letters accepted). A list stacks
        the descriptors of several networks computed from one decoding of each image:
        ``["vgg16", "vgg19"]`` is the paper's Net-D & Net-E fusion.
    weights : None, str, weights enum, path, dict or list of these, default="imagenet"
        As in :func:`skvgg.build_vgg`: ``"imagenet"`` (``"DEFAULT"``), any torchvision
        weights name (``"IMAGENET1K_V1"``, ``"VGG16_Weights.IMAGENET1K_FEATURES"``) or
        enum, a checkpoint path (``.pth``, ``.safetensors``), a state_dict, or None (random, seeded by
        ``random_state``); with several networks, one value for all (None or
        ``"imagenet"``) or a list with one entry per network.
    layer : str or list of str, default="fc7"
        ``"fc6"``, ``"fc7"`` (after ReLU), ``"logits"``, a convolution by the paper's
        name (``"conv5_3"``, after ReLU) or a pool (``"pool1"`` ... ``"pool5"``). A list
        concatenates several layers from one forward pass, in the order given.
    pooling : {"avg", "max"}, default="avg"
        How a spatial map becomes a vector: conv and pool maps always, fc maps in
        dense evaluation (the paper averages).
    scales : None, int or sequence of int, default=None
        None: the common single view (shorter side to 256, centre crop 224, as
        torchvision's preset). An int Q (>= 224) or several: the paper's dense
        evaluation: the whole image rescaled isotropically to smaller side Q, the
        network run fully convolutionally, its maps pooled globally.
    flip : bool, default=False
        Also describe the horizontally mirrored image and average the two.
    scale_pooling : {"mean", "stack"}, default="mean"
        Across several scales: average the descriptors, or concatenate them (the
        paper stacks for Caltech and averages for VOC).
    preprocessing : Preprocessing or None, default=None
        Overrides the weights' input normalisation and view sizes.
    batch_size : int, default=32
        Network inputs per forward pass (mirror images count). Lowered automatically,
        with a warning, when the device runs out of memory.
    device : str or torch.device, default="auto"
        ``"auto"`` (CUDA, else Apple MPS, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    precision : {"auto", "float32", "bfloat16", "float16", "int8"}, default="auto"
        Autocast dtype; ``"auto"`` is bfloat16 on CUDA cards that compute it natively
        (compute capability 8.0 and later), float16 on older ones (T4, V100), bfloat16
        on CPUs with bfloat16 instructions (AVX512-BF16 or AMX), float32 elsewhere.
        ``"float16"`` on a CPU without float16 instructions warns (several times
        slower). ``"int8"`` (CPU only, needs ``pip install 'skvgg[int8]'``): static
        post-training int8 quantization, calibrated on a built-in set of photos and
        compiled; dense ``scales`` must then be >= 256. See
        :doc:`/user-guide/performance`. The output is float32 in every case.
    compile : {"auto"} or bool, default="auto"
        Run a ``torch.compile`` graph (inductor, with freezing) instead of the eager
        network: True always, False never, ``"auto"`` when a ``transform`` has at least
        1000 images to compute (compiling costs 10-30 s on a CPU, which a handful of
        images never repays). The graph is built once per process and shared by
        clones; its cost shows in the progress bar (``verbose``). ``precision="int8"``
        is always compiled.
    num_workers : int or None, default=None
        Threads decoding and resizing images ahead of the network (0: in the calling
        thread). Default: ``min(8, os.cpu_count())``.
    decode : {"cpu", "gpu"}, default="cpu"
        Where JPEG files are decoded and resized. "cpu": PIL in ``num_workers`` threads
        (the reference). "gpu" (CUDA devices only): nvJPEG in batches, then resizing and
        cropping on the GPU; other inputs and JPEG variants nvJPEG cannot reproduce
        (CMYK, grayscale, 12-bit...) take the CPU path image by image. Descriptors differ
        slightly from "cpu" (decoder and resize arithmetic; see :doc:`/user-guide/featurizer`).
    verbose : bool or int, default=False
        0 / False: silent. 1 / True: a progress bar over images (compile or int8 graph
        build time in its postfix). 2 and more: the bar, and log lines on the ``skvgg``
        logger at INFO (device and precision chosen, networks loaded, images computed
        and served from the cache); below 2 these lines are logged at DEBUG.
        Configure :mod:`logging` to see them.
    cache : None, bool, str, os.PathLike or :class:`~skvgg.cache.DiskCache`, default=None
        Per-image descriptor cache: None is off, True keeps descriptors in this
        process's memory (shared by clones, so a grid search over later steps computes
        each image once), a directory keeps them on disk for other processes and runs,
        bounded at 10 GiB (least recently used entries go first);
        ``DiskCache(directory, max_bytes=...)`` sets another bound.
    on_error : {"raise", "nan"}, default="raise"
        "raise": an unreadable image stops with an error naming its index and path.
        "nan": its row is filled with NaN and one :class:`ImageFailureWarning` lists
        every failed image; nothing is dropped or reordered.
    max_pixels : int or None, default=89_478_485
        Pixel budget (width x height) of one image: larger images are refused with
        an error naming them (or a NaN row with ``on_error="nan"``). Files are checked
        from their header, before anything is decoded; in-memory images and arrays
        before they are converted and resized. Also the most pixels of a dense view
        (``scales``: the whole image rescaled). The default is Pillow's warning
        threshold (``PIL.Image.MAX_IMAGE_PIXELS``, ~89.5 Mpx); None: no limit. Inside
        skvgg's decoding it also replaces Pillow's own decompression-bomb limit.
    random_state : int, RandomState or None, default=None
        Seeds the random initialisation when ``weights=None``.

    Attributes
    ----------
    layers_ : list of str
        The layers described, in output order (``layer`` checked).
    archs_ : list of str
        The resolved architecture name of each network (``arch`` checked).
    scales_ : tuple of int or None
        The checked ``scales`` (None: the single centre view).
    preprocessing_ : Preprocessing
        The input normalisation and view sizes in use (the first network's).
    preprocessings_ : list of Preprocessing
        Each network's input normalisation.
    weights_identity_ : str
        What the descriptors were computed with (enum name, file, or random seed).
    device_ : str
        The device resolved from ``device`` once per fit (and on first use after loading).
    precision_ : {"float32", "bfloat16", "float16", "int8"}
        The precision resolved from ``precision`` for ``device_``, when ``device_`` is.
    n_features_out_ : int
        Width of a descriptor row (the columns of :meth:`transform`).
    failures_ : list of dict
        Images the last ``transform`` could not read (``on_error="nan"``), each with
        ``index``, ``path`` and ``reason``.
    decode_counts_ : dict
        With ``decode="gpu"``: how many images the last ``transform`` decoded on the GPU
        (``"gpu"``) and with PIL (``"cpu"``).

    Notes
    -----
    The featurizer learns nothing from images, so ``fit`` is optional (its tags say
    ``requires_fit=False``): :meth:`transform` and :meth:`get_feature_names_out` fit first
    when needed. Parameters changed after a fit take effect at the next call: those read
    by every transform (``skvgg.featurizer.TRANSFORM_TIME_PARAMS``: ``batch_size``, ``num_workers``,
    ``verbose``, ``on_error``, ``max_pixels``, ``cache``, ``compile``) directly, any
    other (``layer``, ``scales``, ``weights``, ``device``...) by a new fit, which the next
    call makes by itself; the fitted attributes then describe the new parameters. A
    random network (``weights=None``) keeps its seed unless ``arch``, ``weights`` or
    ``random_state`` changed.

    See Also
    --------
    VGGClassifier : Fine-tunes the network on labelled images instead of describing them.
    skvgg.build_vgg : The network itself, for use in PyTorch.
    sklearn.preprocessing.Normalizer : L2-normalises descriptors before a linear classifier, as the paper does.

    Examples
    --------
    Descriptors of a few generated image files, then a linear classifier on them. The
    example runs offline on random weights and small views; leave out ``weights``,
    ``random_state`` and ``preprocessing`` for VGG16's ImageNet fc7 descriptors.

    >>> import tempfile
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import Normalizer
    >>> from sklearn.svm import LinearSVC
    >>> from skvgg import Preprocessing, VGGFeaturizer
    >>> from skvgg.datasets import load_image_folder
    >>> from skvgg.testing import make_image_folder
    >>> paths, labels = load_image_folder(make_image_folder(tempfile.mkdtemp()), return_X_y=True)
    >>> featurizer = VGGFeaturizer("vgg11", weights=None, random_state=0,
    ...                            preprocessing=Preprocessing(resize_size=40, crop_size=32))
    >>> featurizer.fit_transform(paths).shape
    (5, 4096)
    >>> featurizer.get_feature_names_out()[:2]
    array(['fc7_0000', 'fc7_0001'], dtype=object)
    >>> model = make_pipeline(featurizer, Normalizer(), LinearSVC())
    >>> model.fit(paths, labels).predict(paths).shape
    (5,)
    """

    _parameter_constraints: dict = {
        **SHARED_CONSTRAINTS,
        "arch": [str, list, tuple],
        "layer": [str, list, tuple],
        "pooling": [StrOptions({"avg", "max"})],
        "scales": [None, Interval(numbers.Integral, DENSE_MIN_SIZE, None, closed="left"), list, tuple],
        "flip": ["boolean"],
        "scale_pooling": [StrOptions({"mean", "stack"})],
        "decode": [StrOptions({"cpu", "gpu"})],
        "cache": [None, "boolean", str, os.PathLike, DiskCache],
        "on_error": [StrOptions({"raise", "nan"})],
        "precision": [StrOptions({"auto", "float32", "bfloat16", "float16", "int8"})],
        "compile": ["boolean", StrOptions({"auto"})],
    }
    _runtime_attributes = ("_networks", "_extractors")

    def __init__(
        self,
        arch="vgg16",
        *,
        weights="imagenet",
        layer="fc7",
        pooling="avg",
        scales=None,
        flip=False,
        scale_pooling="mean",
        preprocessing=None,
        batch_size=32,
        device="auto",
        precision="auto",
        num_workers=None,
        verbose=False,
        cache=None,
        on_error="raise",
        max_pixels=DEFAULT_MAX_PIXELS,
        random_state=None,
        decode="cpu",
        compile="auto",
    ):
        self.arch = arch
        self.weights = weights
        self.layer = layer
        self.pooling = pooling
        self.scales = scales
        self.flip = flip
        self.scale_pooling = scale_pooling
        self.preprocessing = preprocessing
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.num_workers = num_workers
        self.verbose = verbose
        self.cache = cache
        self.on_error = on_error
        self.max_pixels = max_pixels
        self.random_state = random_state
        self.decode = decode
        self.compile = compile

    # --- fitting ---------------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ImageCollection | None = None, y: object = None) -> VGGFeaturizer:
        """Validate the parameters (and ``X``'s container) and load the network.

        Nothing is learned from the images: ``X`` and ``y`` are accepted for Pipeline
        compatibility, and ``X`` is checked cheaply (no decoding) when given. Calling
        ``fit`` is optional: :meth:`transform` fits first when the featurizer is not
        fitted, or when a parameter that shapes the descriptors changed since (see
        Notes).

        Parameters
        ----------
        X : sequence of images or None, default=None
            Checked as :meth:`transform` would (container, not contents).
        y : None
            Ignored.

        Returns
        -------
        self : VGGFeaturizer
            The fitted featurizer.
        """
        if X is not None:
            check_input(X)
        self._fit()
        return self

    def _fit(self, keep_seeds: bool = False) -> None:
        """Check the parameters, resolve device and precision, load the networks; ``keep_seeds``:
        the random networks keep the seeds drawn by the previous fit."""
        archs, weights = aligned_arch_weights(self.arch, self.weights)
        specs = [resolve_arch(arch) for arch in archs]
        if len({spec.name for spec in specs}) != len(specs) and len(set(map(str, weights))) != len(weights):
            raise ValueError(f"arch={self.arch!r} with weights={self.weights!r} names the same network twice")
        resolved = [resolve_weights(spec, w, self.preprocessing) for spec, w in zip(specs, weights)]
        layers = None
        for spec, weights_info in zip(specs, resolved):
            layers = check_layer_names(spec, self.layer)
            if not weights_info.has_classifier and any(name in FC_LAYERS for name in layers):
                raise ValueError(
                    f"weights {weights_info.identity} have no trained classifier (fc6, fc7, fc8), so layer={self.layer!r} "
                    "cannot be computed; choose a convolutional layer such as 'conv5_3' or 'pool5'."
                )
        views = {(r.preprocessing.resize_size, r.preprocessing.crop_size) for r in resolved}
        if len(views) > 1:
            raise ValueError(
                f"The networks of arch={self.arch!r} expect different views (resize, crop) {sorted(views)}; "
                "stacking needs one view per image: pass preprocessing= to set it"
            )
        scales = check_scales(self.scales, "scales", distinct=True)
        self._resolve_runtime()
        device = torch.device(self.device_)
        if self.precision == "int8":
            check_int8_available(device)
            if scales and min(scales) < INT8_MIN_DENSE_SIZE:
                raise ValueError(
                    f"precision='int8' with dense scales needs every scale >= {INT8_MIN_DENSE_SIZE} (one graph for "
                    f"every image size); got scales={self.scales}. Use float32 for scales below {INT8_MIN_DENSE_SIZE}."
                )
        if self.decode == "gpu" and not gpudecode.EMULATE_ON_CPU:
            if device.type != "cuda":
                raise ValueError(
                    f"decode='gpu' decodes JPEG files with nvJPEG on a CUDA device, but device={self.device!r} "
                    f"resolved to {self.device_!r}; use decode='cpu'"
                )
            gpudecode.check_gpu_decoding(device)
        open_cache(self.cache)  # checks the value and creates the directory
        self.scales_ = scales
        self.layers_ = layers
        self.archs_ = [spec.name for spec in specs]
        self.preprocessings_ = [r.preprocessing for r in resolved]
        self.preprocessing_ = self.preprocessings_[0]
        self._identify_networks(resolved, keep_seeds)
        self._extractors = None
        networks = self._get_networks()
        self._widths_ = [[network.activation_shape(name)[0] for name in layers] for network in networks]
        per_view = sum(sum(widths) for widths in self._widths_)
        self.n_features_out_ = per_view * (len(self.scales_) if self.scales_ and self.scale_pooling == "stack" else 1)
        self.failures_ = []
        self._fitted_params = {k: list(v) if isinstance(v, list) else v for k, v in self.get_params(deep=False).items()}
        log(self.verbose, "VGGFeaturizer: %s (%s), layers %s, %d features", "+".join(self.archs_), self.weights_identity_,
            self.layers_, self.n_features_out_)  # fmt: skip

    def _ensure_fitted(self) -> None:
        """Fit when not fitted, or fit again when a parameter that shapes the descriptors changed since.

        The featurizer learns nothing, so this is what ``fit`` would do; parameters read by each
        ``transform`` (``TRANSFORM_TIME_PARAMS``) need no new fit.
        """
        fitted = getattr(self, "_fitted_params", None)
        if fitted is None:
            self._validate_params()
            self._fit()
            return
        changed = [
            name for name, value in self.get_params(deep=False).items()
            if name not in TRANSFORM_TIME_PARAMS and not _same(value, fitted.get(name))
        ]  # fmt: skip
        if changed:
            log(self.verbose, "VGGFeaturizer: %s changed since fit; fitting again", ", ".join(changed))
            self._validate_params()
            self._fit(keep_seeds=not any(name in _SEED_PARAMS for name in changed))

    def load_network(self, *, share_key: object = None) -> VGGFeaturizer:
        """Load the networks now (they are otherwise loaded on first use, e.g. after unpickling).

        Parameters
        ----------
        share_key : hashable, optional
            Accepted for symmetry with :meth:`VGGClassifier.load_network`: the featurizer's
            read-only networks are always shared in the process (one load per network and device).

        Returns
        -------
        self : VGGFeaturizer
            Fitted (see :meth:`fit`), with its networks on ``device_``.
        """
        self._ensure_fitted()
        self._get_networks()
        return self

    def _get_network(self):
        """The first (usually only) network."""
        return self._get_networks()[0]

    # --- transforming ----------------------------------------------------------------------

    def transform(self, X: ImageCollection) -> np.ndarray:
        """Describe each image of ``X``.

        Parameters
        ----------
        X : sequence of paths, PIL images or arrays; 4-D array or tensor; Series or
            one-column DataFrame of paths. One-shot iterators (generators, ``map``)
            are refused with a ``TypeError``: pass ``list(X)``.
            The images to describe.

        Returns
        -------
        descriptors : ndarray of shape (n_images, ``n_features_out_``), float32
            A lazy dask array (DataFrame under ``set_output``) for a dask input: see
            :doc:`/user-guide/scale-out`.
        """
        self._ensure_fitted()
        if (lazy := dispatch(self, "transform", X)) is not None:  # dask collections: skvgg/dask/_collections.py
            return lazy
        items = check_images(X)
        out = np.full((len(items), self.n_features_out_), np.nan, dtype=np.float32)
        cache = open_cache(self.cache)
        keys = [None] * len(items)
        todo = list(range(len(items)))
        if cache is not None:
            todo = []
            signature = self._signature()
            for i, item in enumerate(items):
                try:
                    keys[i] = fingerprint(image_key(item, max_pixels=self.max_pixels), signature)
                except (OSError, ValueError, TypeError):
                    todo.append(i)  # unreadable: decoding reports it properly
                    continue
                hit = cache.get(keys[i])
                if hit is not None and hit.shape == (self.n_features_out_,):
                    out[i] = hit
                else:
                    todo.append(i)
        self.failures_ = []
        log(self.verbose, "VGGFeaturizer: %d images, %d from the cache", len(items), len(items) - len(todo))
        with tqdm(total=len(items), disable=not self.verbose, unit="img", desc="VGGFeaturizer") as progress:
            progress.update(len(items) - len(todo))
            extractors = self._get_extractors(len(todo), progress)
            for i, descriptor in self._describe(items, todo, extractors, X):
                if isinstance(descriptor, BaseException):
                    self.failures_.append(self._failure(i, items[i], descriptor))
                else:
                    out[i] = descriptor
                    if cache is not None and keys[i] is not None:
                        cache.put(keys[i], descriptor)
                progress.update(1)
        self._skvgg_report_failures(self.failures_, len(items))
        return out

    @staticmethod
    def _failure(index, item, error) -> dict:
        _, path = describe_item(item)
        reason = error.reason if isinstance(error, ImageInputError) else f"{type(error).__name__}: {error}"
        return {"index": index, "path": path, "reason": reason}

    def _signature(self) -> tuple:
        """Everything that changes a descriptor, for cache keys."""
        pre = self.preprocessing_
        return (
            tuple(self.archs_),
            tuple(self._identities_),
            tuple((p.mean, p.std, p.channel_order, p.value_range) for p in self.preprocessings_),
            tuple(self.layers_),
            self.pooling,
            self.scales_,
            bool(self.flip),
            self.scale_pooling if self.scales_ else None,
            (pre.mean, pre.std, pre.channel_order, pre.value_range, pre.resize_size, pre.crop_size),
            # As the keys were before precision_ existed ("auto" wrote the dtype), so disk caches stay valid.
            self.precision if self.precision != "auto" else f"torch.{self.precision_}",
        ) + ((("decode", "gpu"),) if self.decode == "gpu" else ())

    def _plan(self) -> ViewPlan:
        """The views of every image: the single centre view, or one dense group per scale (with mirrors: ``flip``)."""
        pre = self.preprocessing_
        combine = "stack" if self.scale_pooling == "stack" else "mean"
        return ViewPlan.featurizer(pre.resize_size, pre.crop_size, self.scales_, bool(self.flip), combine)

    def _compiles(self, n_images: int) -> bool:
        """Whether a transform of ``n_images`` runs compiled graphs (always for int8)."""
        if self.precision == "int8":
            return True
        if self.compile is False:
            return False
        return self.compile is True or n_images >= COMPILE_MIN_IMAGES

    def _views_signature(self) -> tuple:
        """What the view groups and their normalisation depend on (calibration key)."""
        return (self.preprocessings_[0], tuple(self.preprocessings_), self.scales_, bool(self.flip))

    def _get_extractors(self, n_images: int, progress=None):
        """The shared compiled (or int8) graphs, one per network, or None for the eager networks."""
        if n_images == 0 or not self._compiles(n_images):
            return None
        if getattr(self, "_extractors", None) is None:
            plan = self._plan()
            self._extractors = fast_extractors(
                self._get_networks(), self.preprocessings_, [(a, i) for a, i in zip(self.archs_, self._identities_)],
                self.layers_, self.scales_, self.precision_, lambda image, index: plan_groups(plan, image),
                self._views_signature(),
            )  # fmt: skip
            if progress is not None:
                what = "int8 graph" if self.precision == "int8" else "compile"
                progress.set_postfix_str(f"{what} {sum(f.build_seconds for f in self._extractors):.1f}s", refresh=True)
        return [lambda x, dense, f=f: f(x) for f in self._extractors]

    def _source(self, items, indices, X=None):
        """Where the pixels come from: JPEG files decoded on the GPU, a 4-D uint8 batch cut in slices, or image by image."""
        device = next(self._get_networks()[0].parameters()).device
        options = dict(num_workers=self.num_workers, on_error=self.on_error, max_pixels=self.max_pixels)
        if self.decode == "gpu":
            if device.type != "cuda" and not gpudecode.EMULATE_ON_CPU:  # e.g. unpickled on a machine without CUDA
                raise ValueError(f"decode='gpu' needs a CUDA device; the network is on {device}: set decode='cpu'")
            self.decode_counts_ = {"gpu": 0, "cpu": 0}
            per_image = ImageSource(items, indices, **options)
            return gpudecode.JpegSource(items, indices, device, fallback=per_image, counts=self.decode_counts_)
        return pixel_source(items, indices, X, device=device, **options)

    def _describe(self, items, indices, extractors=None, X=None):
        """Yield ``(index, descriptor or exception)`` for the given images (``X``: the input, for 4-D batches)."""
        networks = self._get_networks()
        runner = NetworkRunner(
            networks, self.preprocessings_, self.layers_, pooling=self.pooling, extractors=extractors,
            dtype=self._runtime()[1], batch_size=self.batch_size,
        )  # fmt: skip
        for done, rows in describe(self._plan(), self._source(items, indices, X), runner):
            if isinstance(rows, BaseException):
                yield done, rows
            else:
                yield from zip(done.tolist(), rows)

    # --- hooks of skvgg's Dask support and parquet store (the contract in skvgg/dask/_collections.py) ---

    def _skvgg_signature(self) -> tuple:
        """Everything that changes a descriptor (the cache's and the parquet store's keys)."""
        return self._signature()

    def _skvgg_report_failures(self, failures: list, n_images: int) -> None:
        """Keep ``failures`` (dicts of ``index``, ``path``, ``reason``) as ``failures_`` and warn when there are any.

        ``transform`` calls it, and so does :func:`skvgg.dask.distribute` with the failures of all
        partitions, indexed in the whole input.
        """
        self.failures_ = list(failures)
        if self.failures_:
            listing = "\n".join(f"  X[{f['index']}] {f['path'] or ''}: {f['reason']}" for f in self.failures_)
            message = f"{len(self.failures_)} of {n_images} images could not be read; their rows are NaN:\n{listing}"
            warn(message, ImageFailureWarning)  # at the user's line, through Dask's and scikit-learn's frames

    # --- names and tags --------------------------------------------------------------------

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Names such as ``fc7_0000`` or, for stacked scales, ``fc7_q384_0000``.

        Parameters
        ----------
        input_features : None
            Ignored (the input is images).

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        self._ensure_fitted()
        stacked = self.scales_ if self.scales_ and self.scale_pooling == "stack" else [None]
        several = len(self.archs_) > 1
        names = []
        for q in stacked:
            for arch, widths in zip(self.archs_, self._widths_):
                for layer, width in zip(self.layers_, widths):
                    prefix = f"{arch}_{layer}" if several else layer
                    prefix = prefix if q is None else f"{prefix}_q{q}"
                    digits = len(str(width - 1))
                    names.extend(f"{prefix}_{i:0{digits}d}" for i in range(width))
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        # Nothing is learned: transform fits by itself (as scikit-learn's stateless transformers need no fit).
        return image_transformer_tags(super().__sklearn_tags__(), requires_fit=False)
