"""An ordered thread pool for the image pipeline: decode the next images while the network runs.

:func:`parallel_map` is used by the sources of pixels (:class:`skvgg._pipeline.batches.ImageSource`,
:class:`skvgg._pipeline.gpudecode.JpegSource`); it knows nothing about images (the decoding scope
and pixel budget are :mod:`skvgg.images`').
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral

__all__ = ["parallel_map"]


def parallel_map(fn, items, num_workers, lookahead):
    """Yield ``fn(i, item)`` for each item, in order, computing ahead in threads.

    PIL's decoding and resizing release the GIL, so a few threads decode
    the next images while the caller computes on the current one.

    Parameters
    ----------
    fn : callable
        Called as ``fn(index, item)``.
    items : iterable
        The items; consumed lazily, at most ``lookahead`` ahead.
    num_workers : int
        Number of worker threads; 0 runs ``fn`` inline in the caller's thread.
    lookahead : int
        Maximum number of items submitted but not yet yielded (>= 1); bounds
        memory. Values below ``num_workers`` leave workers idle. Ignored when
        ``num_workers`` is 0.

    Yields
    ------
    result : object
        ``fn(i, item)``, in the order of ``items``.

    Raises
    ------
    Exception
        Whatever ``fn`` (or iterating ``items``) raised, at the position of the
        failing item, after the results before it were yielded.

    Notes
    -----
    Closing the generator early (``close()``, ``break`` out of a loop,
    garbage collection) cancels the pending calls and waits for the at most
    ``num_workers`` running ones, so no work outlives the generator.
    """
    if isinstance(num_workers, bool) or not isinstance(num_workers, Integral) or num_workers < 0:
        raise ValueError(f"num_workers must be an integer >= 0, got {num_workers!r}")
    if isinstance(lookahead, bool) or not isinstance(lookahead, Integral) or lookahead < 1:
        raise ValueError(f"lookahead must be an integer >= 1, got {lookahead!r}")
    # Arguments are checked above, at call time; the work starts at the first next().
    if num_workers == 0:
        return _inline_map(fn, items)
    return _threaded_map(fn, items, int(num_workers), int(lookahead))


def _inline_map(fn, items):
    for index, item in enumerate(items):
        yield fn(index, item)


def _threaded_map(fn, items, num_workers, lookahead):
    enumerated = enumerate(items)
    pending = deque()
    source_error = None
    executor = ThreadPoolExecutor(max_workers=num_workers, thread_name_prefix="skvgg-images")

    def submit_next():
        # An error raised by `items` itself is kept until the results before
        # it have been yielded, so it surfaces at its own position.
        nonlocal source_error
        if source_error is not None:
            return
        try:
            index, item = next(enumerated)
        except StopIteration:
            source_error = StopIteration
            return
        except Exception as exc:  # noqa: BLE001
            source_error = exc
            return
        pending.append(executor.submit(fn, index, item))

    try:
        for _ in range(lookahead):
            submit_next()
        while pending:
            result = pending.popleft().result()
            # Refill before yielding, so the workers keep going while the caller
            # uses this result.
            submit_next()
            yield result
        if source_error is not None and source_error is not StopIteration:
            raise source_error
    finally:
        for future in pending:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)
