"""Overlapped host-device traffic for batched networks: reused host buffers, side-stream uploads, late read-back.

A network on a GPU waits if every batch is copied, computed and copied back in turn
with a synchronising ``.cpu()`` at the end. :class:`DeviceRunner` keeps the device busy:

* batches are written into a small ring of *persistent* host buffers (pinned on CUDA),
  allocated once and grown only when a larger batch arrives, never per batch;
* each upload runs on a side stream, which the compute stream waits for through an
  event, so the next batch crosses the bus while the current one computes;
* results are copied into pinned host buffers asynchronously and read ``depth``
  batches later, each after waiting on its own event: no device-wide synchronisation
  per batch.

On other devices (the CPU, Apple MPS) the same ring and the same delayed read-back
run with completed work in place of events, so tests on a CPU exercise the ordering,
and results are bit-identical to computing and reading each batch at once.

Several GPUs: one process per device, each with its own runner, network and decoding
threads (the Dask route: ``dask_cuda.LocalCUDACluster`` pins one GPU per worker, and the
featurizer's partitions are spread over them; ``docs/user-guide/scale-out.md``). Not
``torch.nn.DataParallel``: it replicates the network per batch and splits batches across
threads of one process, which the feature extraction (``network.extract``) and this
runner's streams and host buffers are not built for.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import torch

__all__ = ["HostRing", "DeviceRunner"]


class HostRing:
    """``slots`` host buffers handed out in turn, each reused once the device is done with it.

    Parameters
    ----------
    slots : int
        Number of buffers; a buffer comes round again after ``slots - 1`` others.
    pin : bool
        Page-locked memory (CUDA copies from it run asynchronously and at full speed).

    Attributes
    ----------
    allocations : int
        How many buffers were allocated so far (tests check they are reused).
    """

    def __init__(self, slots: int, pin: bool):
        if slots < 1:
            raise ValueError(f"a ring needs at least one slot, got {slots}")
        self.pin = pin
        self._buffers: list[torch.Tensor | None] = [None] * slots
        self._busy: list = [None] * slots  # per slot: the event after which it may be rewritten
        self._next = 0
        self.allocations = 0

    def __len__(self) -> int:
        return len(self._buffers)

    def claim(self, shape, dtype: torch.dtype) -> tuple[int, torch.Tensor]:
        """The next slot, as a tensor of ``shape`` and ``dtype``: ``(slot number, tensor)``.

        Waits for the slot's last registered use (:meth:`release_after`) to finish on
        the device; that waits for one copy, not for the whole device.
        """
        slot = self._next
        self._next = (slot + 1) % len(self._buffers)
        busy, self._busy[slot] = self._busy[slot], None
        if busy is not None:
            busy.synchronize()
        nbytes = math.prod(shape) * dtype.itemsize
        buffer = self._buffers[slot]
        if buffer is None or buffer.numel() < nbytes:
            # Grow with headroom, so that slowly growing batches (images of several
            # sizes) do not reallocate every time.
            size = max(nbytes, buffer.numel() * 5 // 4 if buffer is not None else 0)
            buffer = torch.empty(size, dtype=torch.uint8, pin_memory=self.pin)
            self._buffers[slot] = buffer
            self.allocations += 1
        return slot, buffer[:nbytes].view(dtype).view(shape)

    def release_after(self, slot: int, event) -> None:
        """The slot may be rewritten once ``event`` (a CUDA event, or None: at once) completes."""
        self._busy[slot] = event

    def owns(self, slot: int, tensor: torch.Tensor) -> bool:
        buffer = self._buffers[slot]
        return buffer is not None and tensor.data_ptr() == buffer.data_ptr()


class DeviceRunner:
    """Run ``compute`` on batches on ``device``, overlapping uploads, compute and read-back.

    ``submit(pixels, compute, tag)`` uploads a host batch (or takes one already on the
    device), launches ``compute`` on it and returns the batches that are finished,
    oldest first, as ``(tag, numpy array)``: results come back ``depth`` submissions
    later; :meth:`flush` returns the rest. Each returned array is a view of a reused
    host buffer, valid until the next ``submit``: copy what must be kept.

    Parameters
    ----------
    device : torch.device
    depth : int, default=2
        Batches in flight before the oldest is read back. 2 lets batch ``k + 1``
        upload and batch ``k + 2`` be prepared while ``k`` computes.

    Attributes
    ----------
    inputs, outputs : HostRing
        The reused upload and read-back buffers.
    """

    def __init__(self, device, depth: int = 2):
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        self.device = device
        self.depth = depth
        self.cuda = device.type == "cuda"
        self.inputs = HostRing(depth + 1, pin=self.cuda)
        self.outputs = HostRing(depth + 1, pin=self.cuda)
        self._copy_stream = torch.cuda.Stream(device) if self.cuda else None
        self._claimed: tuple[int, torch.Tensor] | None = None
        self._pending: deque = deque()

    def input_buffer(self, shape, dtype: torch.dtype = torch.uint8) -> torch.Tensor:
        """A host buffer to build the next batch in; :meth:`submit` it to skip a copy."""
        self._claimed = self.inputs.claim(tuple(shape), dtype)
        return self._claimed[1]

    def upload(self, pixels: torch.Tensor) -> torch.Tensor:
        """``pixels`` on the device; on CUDA copied on the side stream, ordered before later compute."""
        claimed, self._claimed = self._claimed, None
        if pixels.device.type != "cpu":
            return pixels if pixels.device == self.device else pixels.to(self.device)
        if claimed is not None and self.inputs.owns(claimed[0], pixels) and claimed[1].shape == pixels.shape:
            slot, host = claimed
        else:
            slot, host = self.inputs.claim(tuple(pixels.shape), pixels.dtype)
            host.copy_(pixels)
        if not self.cuda:
            # The CPU computes in the caller's thread, so the slot is free again on return;
            # MPS copies synchronously from pageable memory.
            return host if self.device.type == "cpu" else host.to(self.device)
        compute_stream = torch.cuda.current_stream(self.device)
        with torch.cuda.stream(self._copy_stream):
            moved = host.to(self.device, non_blocking=True)
            copied = torch.cuda.Event()
            copied.record(self._copy_stream)
        compute_stream.wait_event(copied)
        # Allocated on the copy stream, used on the compute stream: tell the caching
        # allocator, or it could hand the memory out again while compute still reads it.
        moved.record_stream(compute_stream)
        self.inputs.release_after(slot, copied)
        return moved

    def submit(self, pixels: torch.Tensor, compute: Callable, tag=None) -> list:
        """Upload ``pixels``, launch ``compute(device_pixels)`` and return the finished batches.

        ``compute`` returns a tensor on the device (e.g. ``(N, D)`` descriptors); it is
        read back as float32 numpy arrays.
        """
        out = compute(self.upload(pixels))
        slot, host = self.outputs.claim(tuple(out.shape), torch.float32)
        if self.cuda:
            host.copy_(out, non_blocking=True)
            done = torch.cuda.Event()
            done.record(torch.cuda.current_stream(self.device))
        else:
            host.copy_(out)
            done = None
        self.outputs.release_after(slot, done)
        self._pending.append((tag, host, done))
        return self._collect(self.depth)

    def flush(self) -> list:
        """Every batch still in flight, oldest first."""
        return self._collect(0)

    def _collect(self, keep: int) -> list:
        ready = []
        while len(self._pending) > keep:
            tag, host, done = self._pending.popleft()
            if done is not None:
                done.synchronize()  # this batch's read-back only
            ready.append((tag, host.numpy()))
        return ready

    @property
    def in_flight(self) -> int:
        return len(self._pending)
