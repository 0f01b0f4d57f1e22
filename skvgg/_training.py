"""The fine-tuning loop: the hold-out, SGD steps, epochs and the schedule, as a few short functions.

One :class:`TrainingRun` carries what a fit trains with (network, optimizer, images,
labels, options); :func:`fit_epochs` runs epochs of :func:`train_epoch` (passes of
:func:`train_step`) and :func:`validation_step`, and follows a
:class:`~skvgg._schedule.PlateauSchedule`. ``VGGClassifier.fit`` prepares the run.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import StratifiedShuffleSplit
from tqdm.auto import tqdm

from ._pipeline.batches import Batch, ImageSource, describe, pixel_source
from ._pipeline.cuda import DeviceRunner
from ._pipeline.plan import RandomCrop, TrainingPlan, ViewPlan
from ._pipeline.runner import NetworkRunner
from ._pipeline.runtime import autocast, halve_after_oom, is_out_of_memory, loss_scaler, run_with_backoff
from ._schedule import PlateauSchedule
from ._warnings import log, warn
from .exceptions import TrainingInterrupted
from .models import _quantize as quantize
from .models.network import VGG
from .models.weights import Preprocessing

__all__ = [
    "MIN_STEPS_PER_EPOCH",
    "TrainingInterrupted",
    "TrainingRun",
    "Progress",
    "min_class_size_for_holdout",
    "split_holdout",
    "passes_per_epoch",
    "sgd",
    "frozen_activations",
    "train_step",
    "train_epoch",
    "validation_step",
    "fit_epochs",
]

#: An epoch makes at least this many SGD steps: a small training set is reshuffled and
#: passed over again within the epoch. The paper's epochs were thousands of steps; one
#: step per epoch (30 images, batch 32) leaves 30 steps in all, too few to learn even the
#: new head, and too few per epoch for the plateau schedule to see a trend.
MIN_STEPS_PER_EPOCH = 10


# --- the data plan: hold-out and passes -------------------------------------------------------


def min_class_size_for_holdout(fraction: float) -> int:
    """Images every class needs before a stratified ``fraction`` of the data is held out.

    From this size on, a stratified split gives each class at least one held-out image
    and leaves it at least one training image: 10 for ``fraction=0.1``, 2 for 0.5.
    """
    # The epsilon keeps 1 / 0.1 at 10 whatever the rounding of the division.
    return max(math.ceil(1 / fraction - 1e-9), math.ceil(1 / (1 - fraction) - 1e-9))


def split_holdout(encoded: np.ndarray, n_classes: int, fraction: float | None, seed: int):
    """Sorted (train, valid) indices: a stratified hold-out of ``fraction``, or, when some class
    is smaller than :func:`min_class_size_for_holdout`, every image for training and none held out."""
    indices = np.arange(len(encoded))
    if not fraction or np.bincount(encoded, minlength=n_classes).min() < min_class_size_for_holdout(fraction):
        return indices, np.array([], dtype=int)
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    train, valid = next(splitter.split(indices, encoded))
    return np.sort(train), np.sort(valid)


def passes_per_epoch(n_train: int, batch_size: int) -> int:
    """Passes over the training images that give an epoch :data:`MIN_STEPS_PER_EPOCH` steps."""
    return max(1, math.ceil(MIN_STEPS_PER_EPOCH / max(1, math.ceil(n_train / batch_size))))


def sgd(params, resume: dict | None = None, **options) -> torch.optim.SGD:
    """SGD with momentum; the fused kernel where this torch has it for the device.

    Fused is 1.5x faster on a CPU for fc6's 103M weights (measured here), where one
    update of the classifier costs more than its forward and backward passes.
    ``resume``: a previous optimizer's state (a warm start), whose momentum carries
    over unless what trains changed; the rate stays ``options["lr"]``.
    """
    try:
        optimizer = torch.optim.SGD(params, fused=True, **options)
    except (RuntimeError, TypeError, ValueError):
        optimizer = torch.optim.SGD(params, **options)
    if resume is not None:
        try:
            optimizer.load_state_dict(resume)
        except ValueError:  # train_layers changed what trains
            pass
        for group in optimizer.param_groups:
            group["lr"] = options["lr"]
    return optimizer


# --- the state of one fit ---------------------------------------------------------------------


@dataclass
class TrainingRun:
    """Everything one ``fit`` trains with; the functions of this module read it and update ``lr`` and ``state``.

    ``boundary`` is the activation that feeds the first trained layer (None: all
    train). ``cached`` holds the frozen part's output per image when it is the same
    every epoch (no augmentation), so it is computed once. ``eval_logits(indices)`` is
    the estimator's own single-view prediction path (logits, one row per index), used
    for validation when nothing is cached. ``state`` is shared with the out-of-memory
    recovery: ``state["batch_size"]`` is the size of chunk that fits the device.
    """

    network: VGG
    optimizer: torch.optim.Optimizer
    boundary: str | None
    items: list
    labels: torch.Tensor
    weight: torch.Tensor | None
    train_idx: np.ndarray
    valid_idx: np.ndarray
    preprocessing: Preprocessing
    eval_logits: Callable[[np.ndarray], np.ndarray]
    lr: float
    seed: int
    dtype: torch.dtype = torch.float32
    compile: bool | str = "auto"
    batch_size: int = 32
    num_workers: int | None = None
    max_pixels: int | None = None
    given: object = None  # the X that fit was given: a 4-D uint8 batch is cut in slices (pixel_source)
    scale_jitter: int | tuple | None = None
    random_flip: bool = False
    color_shift: float = 0.0
    early_stopping: bool = True
    verbose: bool | int = False
    cached: torch.Tensor | None = None
    state: dict = field(default_factory=dict)

    def __post_init__(self):
        self.state.setdefault("batch_size", self.batch_size)
        # float16 autocast (pre-Ampere GPUs) needs loss scaling; the scaler is a no-op otherwise.
        self.state.setdefault("scaler", loss_scaler(self.device, self.dtype))

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    @property
    def augmenting(self) -> bool:
        return self.scale_jitter is not None or self.random_flip or self.color_shift > 0

    @property
    def monitor(self) -> str:
        """The history key of the loss that drives the schedule."""
        return "valid_loss" if len(self.valid_idx) else "train_eval_loss"

    @property
    def passes(self) -> int:
        return passes_per_epoch(len(self.train_idx), self.batch_size)


@dataclass
class Progress:
    """What a fit reports as it goes: the epoch records and the best monitored loss (and its hold-out accuracy)."""

    history: list
    best_loss: float | None = None
    best_score: float | None = None


# --- batches ----------------------------------------------------------------------------------


def training_plan(run: TrainingRun) -> TrainingPlan:
    """The run's views: a random crop (scale jitter), flip and colour shift, or the centre view."""
    pre = run.preprocessing
    return TrainingPlan(RandomCrop(run.scale_jitter, pre.resize_size, pre.crop_size, run.random_flip, run.color_shift))


def frozen_activations(run: TrainingRun) -> torch.Tensor:
    """The frozen part's output for the centre view of every image, one row per image.

    Through a compiled graph of the frozen part (built for this run: the frozen weights
    never change), on a CPU or a CUDA device, when ``run.compile`` is True, or is
    ``"auto"`` and there are :data:`skvgg.models._quantize.COMPILE_MIN_IMAGES` images or more.
    """
    pre, network = run.preprocessing, run.network
    network.eval()
    out = torch.empty(len(run.items), *network.activation_shape(run.boundary, pre.crop_size))
    device = next(network.parameters()).device
    extractors = None
    wanted = len(run.items) >= quantize.COMPILE_MIN_IMAGES if isinstance(run.compile, str) else bool(run.compile)
    if device.type in ("cpu", "cuda") and wanted and len(run.items):
        example = pre.normalize(torch.zeros(2, 3, pre.crop_size, pre.crop_size, dtype=torch.uint8, device=device))
        example = example.contiguous(memory_format=torch.channels_last)
        fast = quantize.compile_extract(network, [run.boundary], False, run.dtype, example)
        extractors = [lambda x, dense: fast(x)]
    runner = NetworkRunner(
        network, pre, [run.boundary], pooling="flatten", dtype=run.dtype, extractors=extractors, batch_size=run.batch_size
    )
    source = pixel_source(
        run.items, range(len(run.items)), run.given, device=device, num_workers=run.num_workers, max_pixels=run.max_pixels
    )
    for indices, rows in describe(ViewPlan.single(pre.resize_size, pre.crop_size), source, runner):
        out[torch.from_numpy(indices)] = torch.from_numpy(rows).view(len(indices), *out.shape[1:])
    return out


def training_batches(run: TrainingRun, order: np.ndarray, rng: np.random.Generator):
    """``(indices, inputs, from_boundary)`` per SGD step of one pass in ``order``: stored
    frozen activations, or freshly decoded (and augmented) views."""
    if run.cached is not None:
        for start in range(0, len(order), run.batch_size):
            chosen = order[start : start + run.batch_size]
            yield chosen, run.cached[chosen], True
        return
    # One generator per image, seeded from the epoch's: an image's view does not depend on
    # which batch or thread cuts it.
    seeds = {int(i): int(s) for i, s in zip(order, rng.integers(2**31, size=len(order)))}
    source = ImageSource(run.items, order, num_workers=run.num_workers, max_pixels=run.max_pixels, seeds=seeds)
    uploader = DeviceRunner(run.device)  # reused pinned buffers, copies on a side stream
    for batch in source.batches(training_plan(run), run.batch_size, uploader.input_buffer):
        assert isinstance(batch, Batch)  # on_error="raise": failures were raised
        yield batch.indices.tolist(), run.preprocessing.normalize(uploader.upload(batch.pixels)), False


# --- one step, one epoch ----------------------------------------------------------------------


def _training_logits(run: TrainingRun, x: torch.Tensor, from_boundary: bool) -> torch.Tensor:
    """Logits of a chunk: from stored frozen activations, or through the frozen part without autograd."""
    network, boundary = run.network, run.boundary
    if from_boundary:
        return network.forward_from(x, boundary)
    x = x.contiguous(memory_format=torch.channels_last)
    if boundary is None:
        return network(x)
    with torch.no_grad():
        frozen = network.extract(x, boundary)[boundary]
    return network.forward_from(frozen, boundary)


def _chunk_loss(run: TrainingRun, x: torch.Tensor, y: torch.Tensor, from_boundary: bool, epoch: int) -> torch.Tensor:
    """Summed (class-weighted) cross-entropy of a chunk; a non-finite loss is an error."""
    with autocast(run.device, run.dtype):
        logits = _training_logits(run, x, from_boundary)
        loss = F.cross_entropy(logits.float(), y, weight=run.weight, reduction="sum")
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"The training loss became {loss.item()} in epoch {epoch}: training diverged. "
            f"Try a lower learning rate, e.g. lr={run.lr / 10:g}."
        )
    return loss


def train_step(run: TrainingRun, x: torch.Tensor, y: torch.Tensor, *, epoch: int, from_boundary: bool) -> float:
    """One SGD step on a batch, accumulated over halves if the device runs out of memory; returns its mean loss."""
    run.optimizer.zero_grad(set_to_none=True)
    device = run.device
    total_weight = float(run.weight[y.to(device)].sum()) if run.weight is not None else float(len(y))
    size = min(len(y), run.state["batch_size"])
    start, loss_sum = 0, 0.0
    while start < len(y):
        xc, yc = x[start : start + size].to(device), y[start : start + size].to(device)
        try:
            loss = _chunk_loss(run, xc, yc, from_boundary, epoch)
            run.state["scaler"].scale(loss / total_weight).backward()
        except FloatingPointError:
            raise
        except Exception as error:
            loss = None  # the failed attempt's graph must be freed before the retry
            if is_out_of_memory(error):
                # The failed attempt's frames hold its graph; free it before the retry.
                traceback.clear_frames(error.__traceback__)
            size = halve_after_oom(error, size, run.state, f"training batch of {len(yc)}")
            # A failed backward may have left partial gradients: restart the batch.
            run.optimizer.zero_grad(set_to_none=True)
            start, loss_sum = 0, 0.0
            continue
        loss_sum += float(loss.detach())
        start += len(yc)
    run.state["scaler"].step(run.optimizer)
    run.state["scaler"].update()
    return loss_sum / total_weight


def train_epoch(run: TrainingRun, rng: np.random.Generator, epoch: int, bar) -> float:
    """``run.passes`` shuffled passes over the training images; returns the mean training loss."""
    run.network.train_from(run.boundary)
    total, count = 0.0, 0
    for _ in range(run.passes):
        for chosen, x, from_boundary in training_batches(run, rng.permutation(run.train_idx), rng):
            loss = train_step(run, x, run.labels[chosen], epoch=epoch, from_boundary=from_boundary)
            total, count = total + loss * len(chosen), count + len(chosen)
            bar.update(len(chosen))
            bar.set_postfix(loss=f"{total / count:.4f}")
    return total / max(count, 1)


def validation_step(run: TrainingRun, indices: np.ndarray) -> tuple[float, float]:
    """Loss (cross-entropy, class-weighted as in training) and accuracy of the network as
    it predicts (eval mode, single centre view) on the images ``indices``."""
    network = run.network
    network.eval()
    if run.cached is not None:

        def forward(chunk):
            with torch.inference_mode():
                return network.forward_from(chunk.to(run.device), run.boundary).float().cpu()

        memory = {"batch_size": run.batch_size}
        logits = torch.cat(run_with_backoff(forward, run.cached[indices], memory, what="evaluation batch"))
    else:
        logits = torch.from_numpy(run.eval_logits(indices))
    truth = run.labels[indices]
    loss = F.cross_entropy(logits, truth, weight=None if run.weight is None else run.weight.cpu())
    return float(loss), float((logits.argmax(1) == truth).float().mean())


# --- epochs and the schedule ------------------------------------------------------------------


def run_epoch(run: TrainingRun, epoch: int, last_epoch: int) -> dict:
    """Train one epoch and measure the monitored loss; returns the epoch's history record (without ``time``)."""
    total = run.passes * len(run.train_idx)
    with tqdm(total=total, disable=not run.verbose, desc=f"epoch {epoch}/{last_epoch}", unit="img") as bar:
        epoch_rng = np.random.default_rng([run.seed, epoch])
        with torch.random.fork_rng(devices=[run.device] if run.device.type == "cuda" else []):
            torch.manual_seed(int(epoch_rng.integers(2**31)))
            loss = train_epoch(run, epoch_rng, epoch, bar)
        record = {"epoch": epoch, "train_loss": loss, "train_eval_loss": None, "valid_loss": None, "valid_score": None}
        if len(run.valid_idx):
            record["valid_loss"], record["valid_score"] = validation_step(run, run.valid_idx)
        else:
            # The running loss carries dropout's noise and the weights' drift over the
            # epoch; the schedule needs the loss of the weights as they are.
            record["train_eval_loss"], _ = validation_step(run, run.train_idx)
        record.update(monitor=run.monitor, lr=run.lr, lr_cut=False)
        postfix = {"loss": f"{loss:.4f}", "lr": f"{run.lr:.1e}"}
        if record["valid_score"] is not None:
            postfix["valid"] = f"{record['valid_score']:.3f}"
        postfix[run.monitor] = f"{record[run.monitor]:.4f}"
        bar.set_postfix(postfix)
    log(run.verbose, "epoch %d/%d: %s", epoch, last_epoch, ", ".join(f"{k}={v}" for k, v in postfix.items()))
    return record


def follow_schedule(run: TrainingRun, schedule: PlateauSchedule, progress: Progress, record: dict) -> tuple[bool, str]:
    """Feed the epoch's monitored loss to ``schedule``; note a new best, cut the rate when told."""
    improved, action = schedule.update(record[record["monitor"]])
    if improved:
        progress.best_loss, progress.best_score = schedule.best, record["valid_score"]
    if action == "cut":
        run.lr /= 10
        for group in run.optimizer.param_groups:
            group["lr"] = run.lr
        record["lr_cut"] = True
    return improved, action


def trained_state(run: TrainingRun) -> dict:
    """A copy of what training changes (the frozen part never does)."""
    frozen = run.network.frozen_state_keys(run.boundary)
    return {k: v.detach().clone() for k, v in run.network.state_dict().items() if k not in frozen}


def fit_epochs(run: TrainingRun, schedule: PlateauSchedule, progress: Progress, max_epochs: int, started: float) -> None:
    """Up to ``max_epochs`` epochs appended to ``progress.history``; with early stopping, the best weights are kept.

    ``started`` is when the fit's preparation began: epoch 1 is charged for it (the one
    pass through the frozen layers). Ctrl-C ends training with a
    :class:`TrainingInterrupted` warning and a usable model.
    """
    best_state = None
    first = len(progress.history) + 1
    try:
        for epoch in range(first, first + max_epochs):
            started = started if epoch == first else time.perf_counter()
            record = run_epoch(run, epoch, first + max_epochs - 1)
            improved, action = follow_schedule(run, schedule, progress, record)
            if improved and run.early_stopping:
                best_state = trained_state(run)
            record["time"] = time.perf_counter() - started
            progress.history.append(record)
            if action == "stop" and run.early_stopping:
                break
    except KeyboardInterrupt:
        progress.history.append({"epoch": len(progress.history) + 1, "interrupted": True, "lr": run.lr})
        warn(
            f"Training interrupted during epoch {len(progress.history)}; keeping the "
            f"{'best weights so far' if best_state is not None else 'current weights'}. "
            "Continue with warm_start=True.",
            TrainingInterrupted,
        )
    finally:
        if best_state is not None:
            run.network.load_state_dict(best_state, strict=False)
