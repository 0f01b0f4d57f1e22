"""A resumable parquet dataset of descriptors: one part per partition, each written atomically, named by what it holds.

A part's name is ``part-<partition index, 6 digits>-<16 hex digits>.parquet``; the hex digits
digest the run's fingerprint (everything that changes a descriptor, see
:func:`run_fingerprint`) and the identity of each of its images (:func:`skvgg.images.image_key`:
resolved path, size and modification time for files; content for in-memory images). A
rerun therefore finds and keeps exactly the parts whose images and parameters are
unchanged, and recomputes the others (missing after a killed worker or client, or stale
because an input or a parameter changed). When every part exists, the run writes
``_skvgg.json`` (the manifest: the parts in order, rows, columns) and removes the parts of
other runs from the directory, so readers (``pandas.read_parquet(DIR)``,
``dask.dataframe.read_parquet(DIR)``) see this run's rows, in order, once each. Files
starting with ``.`` or ``_`` (temporary parts, the manifest) are ignored by parquet
readers.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

from .._filesystem import atomic_write, digest_fields

__all__ = ["PART", "MANIFEST", "run_fingerprint", "part_name", "atomic_write", "write_part", "finish", "check_directory"]

PART = re.compile(r"^part-(\d{6})-([0-9a-f]{16})\.parquet$")
MANIFEST = "_skvgg.json"
_TEMPORARY = re.compile(r"^\.part-\d{6}-[0-9a-f]{16}\.parquet\.[0-9a-z.]+\.tmp$")


def run_fingerprint(estimator) -> str:
    """A digest of what makes the descriptors: the estimator's ``_skvgg_signature()``, ``on_error`` and the column names.

    Parameters that do not change a descriptor (``batch_size``, ``num_workers``,
    ``verbose``, ``cache``) are not in it, so a rerun with other values reuses the parts.
    Other estimators (a fitted classifier's ``transform``) are fingerprinted by their pickle.
    """
    from ..cache import fingerprint

    names = tuple(str(n) for n in estimator.get_feature_names_out())
    if hasattr(estimator, "_skvgg_signature"):  # the documented hook (skvgg/dask/_collections.py), as the featurizer's cache keys
        on_error = estimator.get_params(deep=False).get("on_error")
        return fingerprint("skvgg-parquet-1", estimator._skvgg_signature(), on_error, names)
    from ._collections import shipped

    _, digest = shipped(estimator)
    return fingerprint("skvgg-parquet-1", type(estimator).__name__, digest, names)


def _identity(item) -> str:
    from ..images import describe_item, image_key

    try:
        return image_key(item)
    except (OSError, ValueError, TypeError):  # unreadable: named by its description; the run reports it
        return "unreadable:" + describe_item(item)[0]


def part_name(index: int, run: str, items) -> str:
    return f"part-{index:06d}-{digest_fields(run, *map(_identity, items), digest_size=8)}.parquet"


def write_part(estimator, key, method, part, offset, directory, index, run, names):
    """Runs in a worker: the part of partition ``index`` unless it exists; returns ``(name, rows, computed)``."""
    import pandas as pd

    from ..images import describe_item
    from ._collections import partition_items, run_partition

    items = partition_items(part)
    name = part_name(index, run, items)
    target = Path(directory) / name
    if target.exists():
        return name, len(items), False
    values = run_partition(estimator, key, method, part, offset)
    table = pd.DataFrame(values, columns=list(names))
    table.insert(0, "path", [describe_item(item)[1] for item in items])
    atomic_write(target, lambda temporary: table.to_parquet(temporary, index=False))
    return name, len(items), True


def check_directory(directory: Path) -> None:
    """Create ``directory``; refuse one holding parquet files skvgg did not write (readers would mix them in)."""
    directory.mkdir(parents=True, exist_ok=True)
    foreign = sorted(
        p.name for p in directory.iterdir() if p.name.endswith(".parquet") and not p.name.startswith((".", "_"))
        and not PART.match(p.name)
    )  # fmt: skip
    if foreign:
        shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise ValueError(
            f"{directory} holds parquet files skvgg did not write ({shown}); a dataset directory must hold only "
            "its parts: choose a new or an empty directory"
        )


def finish(directory: Path, written: list, run: str, columns: list) -> dict:
    """Write the manifest and remove other runs' parts and dead writers' temporary files; returns the manifest."""
    keep = {name for name, _, _ in written}
    for entry in directory.iterdir():
        if (PART.match(entry.name) and entry.name not in keep) or _TEMPORARY.match(entry.name):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
    manifest = {
        "format": "skvgg-parquet-1",
        "fingerprint": run,
        "rows": int(sum(rows for _, rows, _ in written)),
        "parts": [{"name": name, "rows": int(rows)} for name, rows, _ in written],
        "columns": ["path", *columns],
    }
    atomic_write(directory / MANIFEST, lambda temporary: Path(temporary).write_text(json.dumps(manifest, indent=1)))
    return manifest
