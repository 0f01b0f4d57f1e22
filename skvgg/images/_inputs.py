"""What ``X`` may hold: checking containers and items, and describing items for the error that names them.

:func:`check_images` validates a container cheaply (no file I/O, no decoding) and
returns a plain list of items; :func:`describe_item` describes one item for error
messages; :class:`~skvgg.exceptions.ImageInputError` (defined with skvgg's other errors in
:mod:`skvgg.exceptions`, re-exported here) names the offending item (index, path).
DataFrames and Series of any library narwhals supports (pandas, polars, pyarrow...)
are accepted as a column of items, and so are pyarrow arrays; pandas works without
narwhals.

Kinds of items (the predicates siblings use): paths (:func:`is_path`), PIL images,
numpy arrays and torch tensors (:func:`is_tensor`), encoded images in memory
(:func:`is_encoded`: ``bytes``, ``bytearray``, ``memoryview``, binary file objects)
and Hugging Face ``datasets`` image dicts (:func:`is_image_dict`, resolved to bytes or
a path by :func:`image_dict_source`).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping, Set
from typing import Any

import numpy as np
from PIL import Image

from ..exceptions import ImageInputError, format_item_message

__all__ = [
    "EXPECTED_DTYPE",
    "ImageInputError",
    "array_kind",
    "check_array",
    "check_images",
    "describe_item",
    "format_item_message",
    "image_dict_source",
    "is_encoded",
    "is_image_dict",
    "is_path",
    "is_tensor",
    "path_str",
    "shape_of",
    "unsupported_item",
]

_EXPECTED_ITEM = (
    "expected a file path (str or os.PathLike), encoded image bytes (bytes, bytearray, memoryview, "
    "a binary file object), a Hugging Face image dict {'bytes': ..., 'path': ...}, a PIL image, "
    "a numpy array or a torch tensor"
)
_EXPECTED_X = (
    "expected a sequence of images (file paths, encoded bytes, binary file objects, image dicts, PIL images, "
    "numpy arrays or torch tensors), a Series or one-column DataFrame of paths or binary data (pandas, polars, "
    "pyarrow...), a 4-D numpy array (N, H, W, C) or a 4-D torch tensor (N, C, H, W)"
)
_IMAGE_DICT_KEYS = frozenset({"bytes", "path"})
EXPECTED_DTYPE = "expected uint8, uint16 or floating point (with values in [0, 1])"
_EXPECTED_NUMPY_SHAPE = "expected HxW, HxWx1, HxWx3 or HxWx4 (channels last), or a 1xHxW or 3xHxW channels-first array"
_EXPECTED_TENSOR_SHAPE = "expected 3xHxW or 1xHxW (channels first), HxW, or a channels-last HxWx1, HxWx3 or HxWx4 tensor"


# -- Kinds of items --------------------------------------------------------------
# torch and pandas are looked up in sys.modules rather than imported: if they were
# never imported, X cannot hold their objects, and lists of paths need neither.


def is_tensor(obj):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def is_path(obj):
    return isinstance(obj, (str, os.PathLike))


def path_str(obj):
    if isinstance(obj, str):
        # Plain str also for numpy's np.str_, whose repr() is not a quoted string.
        return str(obj)
    # os.fsdecode also handles PathLike objects whose __fspath__ returns bytes.
    return os.fsdecode(os.fspath(obj))


def is_encoded(obj):
    """Whether ``obj`` is an encoded image in memory: bytes, bytearray, memoryview or a file object."""
    return isinstance(obj, (bytes, bytearray, memoryview, io.IOBase))


def is_image_dict(obj):
    """Whether ``obj`` is a Hugging Face ``datasets`` image dict: a mapping with keys among 'bytes' and 'path'."""
    # len(), not truth value: some mappings (scipy's DOK matrices) refuse bool().
    return isinstance(obj, Mapping) and len(obj) > 0 and set(obj.keys()) <= _IMAGE_DICT_KEYS


def image_dict_source(item, index):
    """What an image dict holds to decode: its bytes when not None (as ``datasets`` decodes), else its path."""
    data, path = item.get("bytes"), item.get("path")
    description, _ = describe_item(item)
    if data is not None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ImageInputError(
                f"image dict 'bytes' holds {_type_name(data)}; expected bytes (or None with a 'path')",
                index=index,
                description=description,
            )
        return data
    if path is None:
        raise ImageInputError(
            "image dict holds neither bytes nor a path; expected one of them", index=index, description=description
        )
    if not is_path(path) or not path_str(path):
        raise ImageInputError(
            f"image dict 'path' holds {path!r}; expected a non-empty file path (or 'bytes')", index=index, description=description
        )
    return path


def _file_object_problem(obj):
    """Why a file object cannot be an item (text mode, closed, not seekable), or None."""
    if isinstance(obj, io.TextIOBase):
        return "a text-mode file object; open the file in binary mode ('rb')"
    if obj.closed:
        return "a closed file object; expected an open binary file"
    if not obj.seekable():
        # fit then transform read each item again: a stream would be empty the second time.
        return "a file object that cannot seek (a pipe or a stream): it can be read only once; pass its bytes (f.read())"
    return None


def _type_name(obj):
    cls = type(obj)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def shape_of(obj):
    return tuple(int(s) for s in obj.shape)


def describe_item(item: object) -> tuple[str, str | None]:
    """Describe one input item for error messages.

    Parameters
    ----------
    item : object
        One element of ``X``.

    Returns
    -------
    description : str
        Short human-readable description: the quoted path, ``"numpy array of
        shape (5, 5, 2)"``, ``"torch tensor of shape (3, 8, 8)"``, ``"PIL image
        of mode 'RGB', width 5, height 3"``, or the item's type.
    path : str or None
        The path as a string when ``item`` is a path, else None.

    Examples
    --------
    >>> describe_item("/data/cat.jpg")
    ("'/data/cat.jpg'", '/data/cat.jpg')
    >>> import numpy as np
    >>> describe_item(np.zeros((5, 5, 2)))
    ('numpy array of shape (5, 5, 2)', None)
    """
    if is_path(item):
        path = path_str(item)
        return repr(path), path
    if isinstance(item, np.ndarray):
        return f"numpy array of shape {shape_of(item)}", None
    if is_tensor(item):
        return f"torch tensor of shape {shape_of(item)}", None
    if isinstance(item, (bytes, bytearray)):
        return f"{_type_name(item)} of {len(item)} bytes", None
    if isinstance(item, memoryview):
        return f"memoryview of {item.nbytes} bytes", None
    if isinstance(item, io.IOBase):
        description = f"file object {_type_name(item)}"
        name = getattr(item, "name", None)
        if isinstance(name, (str, bytes)) and name:
            description += f" named {os.fsdecode(name)!r}"
        return description, None
    if is_image_dict(item):
        data, path = item.get("bytes"), item.get("path")
        parts = []
        if isinstance(data, (bytes, bytearray, memoryview)):
            parts.append(f"{memoryview(data).nbytes} bytes")
        if is_path(path):
            parts.append(f"path {path_str(path)!r}")
        description = "image dict" + (f" with {', '.join(parts)}" if parts else "")
        return description, path_str(path) if data is None and is_path(path) else None
    if isinstance(item, Image.Image):
        description = f"PIL image of mode {item.mode!r}, width {item.width}, height {item.height}"
        filename = getattr(item, "filename", None)
        if filename:
            description += f", read from {os.fsdecode(filename)!r}"
        return description, None
    if item is None:
        return "None", None
    return f"object of type {_type_name(item)}", None


def unsupported_item(item, index):
    """The TypeError for an item that is neither a path, an image, an array nor a tensor."""
    description, _ = describe_item(item)
    if item is None or (isinstance(item, float) and item != item):
        reason = "missing value"
    elif isinstance(item, Mapping):
        reason = (
            f"unsupported item type {_type_name(item)} (keys {sorted(map(str, item.keys()))!r}; "
            "an image dict has the keys 'bytes' and 'path')"
        )
    else:
        reason = f"unsupported item type {_type_name(item)}"
    return TypeError(f"{format_item_message(reason, index, description)}; {_EXPECTED_ITEM}")


# -- Arrays and tensors ----------------------------------------------------------


def array_kind(item):
    """'uint8', 'uint16', 'float' or None (unsupported) for an array or tensor."""
    if isinstance(item, np.ndarray):
        if item.dtype == np.uint8:
            return "uint8"
        if item.dtype == np.uint16:
            return "uint16"
        return "float" if item.dtype.kind == "f" else None
    torch = sys.modules["torch"]
    if item.dtype == torch.uint8:
        return "uint8"
    if item.dtype == getattr(torch, "uint16", None):
        return "uint16"
    return "float" if item.is_floating_point() else None


def _item_layout(shape, channels_last):
    """'hw', 'hwc', 'chw' or None for the shape of one image.

    numpy arrays are read channels-last first, tensors channels-first first,
    each falling back to the other layout; the 4-D batch rule of
    :func:`check_images` is the same rule on the trailing three dimensions, so
    the items of a batch are read the way the batch was.
    """
    if len(shape) == 2:
        return "hw"
    if len(shape) != 3:
        return None
    hwc = shape[2] in (1, 3, 4)
    chw = shape[0] in (1, 3)
    if channels_last:
        return "hwc" if hwc else "chw" if chw else None
    return "chw" if chw else "hwc" if hwc else None


def check_array(item, index):
    """Validate the dtype and shape of an array or tensor; return its layout."""
    description, _ = describe_item(item)
    if array_kind(item) is None:
        hint = ""
        if isinstance(item, np.ndarray) and item.dtype.kind in "iu":
            hint = " (for 0-255 data use .astype(np.uint8))"
        raise ImageInputError(
            f"unsupported dtype {item.dtype}; {EXPECTED_DTYPE}{hint}",
            index=index,
            description=description,
        )
    shape = shape_of(item)
    is_numpy = isinstance(item, np.ndarray)
    layout = _item_layout(shape, channels_last=is_numpy)
    if layout is None:
        expected = _EXPECTED_NUMPY_SHAPE if is_numpy else _EXPECTED_TENSOR_SHAPE
        raise ImageInputError(expected, index=index, description=description)
    height, width = shape[1:] if layout == "chw" else shape[:2]
    if height == 0 or width == 0:
        raise ImageInputError("zero-size image; expected at least one pixel", index=index, description=description)
    return layout


# -- Containers ------------------------------------------------------------------


def _batch_layout(shape, channels_last):
    """'nhwc' or 'nchw' for a 4-D batch shape, or None: the layout of its images."""
    layout = _item_layout(shape[1:], channels_last)
    return "n" + layout if layout else None


def _split_batch(X, kind):
    """The items of a numeric numpy array or tensor X (kind 'numpy array'/'torch tensor')."""
    shape = shape_of(X)
    channels_last = kind == "numpy array"
    if X.ndim == 4:
        if shape[0] == 0:
            raise ValueError("X is empty: expected at least one image")
        if array_kind(X) is None:
            raise ValueError(f"X is a 4-D {kind} of dtype {X.dtype}; {EXPECTED_DTYPE}")
        if _batch_layout(shape, channels_last) is None:
            expected = (
                "(N, H, W, C) with C in (1, 3, 4), or (N, C, H, W) with C in (1, 3)"
                if channels_last
                else "(N, C, H, W) with C in (1, 3), or (N, H, W, C) with C in (1, 3, 4)"
            )
            raise ValueError(
                f"X is a 4-D {kind} of shape {shape} with an unsupported number of channels; expected a batch {expected}"
            )
        # Views, not copies: the items are read with the same rule (see _item_layout).
        return list(X)
    if X.ndim in (2, 3):
        raise ValueError(
            f"X is a {X.ndim}-D {kind} of shape {shape}, which is ambiguous: wrap a single "
            "image in a list ([image]), or pass a 4-D batch "
            "(add a channel axis to a stack of grayscale images, e.g. X[..., None])"
        )
    raise ValueError(f"X is a {X.ndim}-D {kind} of shape {shape}; {_EXPECTED_X}")


def _split_numpy(X):
    if X.dtype.kind == "S":
        # numpy strips trailing NUL bytes from the items of 'S' arrays: encoded images
        # would lose their last bytes, and paths are text.
        raise ValueError(
            f"X is a numpy array of fixed-size bytes (dtype {X.dtype}), whose items lose their trailing NUL bytes; "
            "pass encoded images as a list or an object array of bytes, and paths as str"
        )
    if X.dtype.kind in "OU":
        # Object and string arrays hold one item per element: 1-D, or a single
        # column as a ColumnTransformer passes from a numpy input.
        if X.ndim == 1:
            return list(X)
        if X.ndim == 2 and X.shape[1] == 1:
            return list(X[:, 0])
        raise ValueError(
            f"X is a numpy array of dtype {X.dtype} and shape {shape_of(X)}; "
            "expected a 1-D array (or a single column) of images or paths"
        )
    if X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: X is a numpy array of dtype {X.dtype}; {EXPECTED_DTYPE}")
    if X.dtype.kind not in "uif":
        raise ValueError(f"X is a numpy array of dtype {X.dtype}; {EXPECTED_DTYPE}")
    return _split_batch(X, "numpy array")


def _check_item(item, index):
    """Cheap per-item validation: type, array shape and dtype; no I/O."""
    if is_path(item):
        if not path_str(item):
            raise ImageInputError("empty path; expected a path to an image file", index=index, path="")
    elif isinstance(item, Image.Image):
        if item.width == 0 or item.height == 0:
            description, _ = describe_item(item)
            raise ImageInputError("zero-size image; expected at least one pixel", index=index, description=description)
    elif isinstance(item, np.ndarray) or is_tensor(item):
        check_array(item, index)
    elif isinstance(item, io.IOBase):
        problem = _file_object_problem(item)
        if problem is not None:
            description, _ = describe_item(item)
            raise ImageInputError(f"{problem}; expected a readable binary file object", index=index, description=description)
    elif is_encoded(item):
        if not (memoryview(item).nbytes if isinstance(item, memoryview) else len(item)):
            description, _ = describe_item(item)
            raise ImageInputError("empty data; expected the bytes of an encoded image", index=index, description=description)
    elif is_image_dict(item):
        image_dict_source(item, index)
    else:
        raise unsupported_item(item, index)


def _dataframe_column(X):
    """The items of a Series or one-column DataFrame of another library than pandas, or None.

    Read through narwhals (a dependency of scikit-learn), so polars, pyarrow and the
    other libraries it knows are accepted the way pandas is; without narwhals, or for
    anything it does not recognise, None.
    """
    if isinstance(X, (list, tuple, np.ndarray)) or is_tensor(X):
        return None
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None and isinstance(X, pyarrow.Array):
        return X.to_pylist()
    try:
        import narwhals.stable.v2 as nw
    except ImportError:
        return None
    frame = nw.from_native(X, eager_only=True, allow_series=True, pass_through=True)
    if isinstance(frame, nw.DataFrame):
        if frame.shape[1] != 1:
            raise ValueError(
                f"X is a DataFrame with {frame.shape[1]} columns {list(frame.columns)!r}; expected "
                "exactly one column of image paths (select it, e.g. X.select('path'))"
            )
        frame = frame.get_column(frame.columns[0])
    if isinstance(frame, nw.Series):
        return frame.to_list()
    return None


def check_images(X: object) -> list[Any]:
    """Validate an input container and return its items as a list.

    Only the container and each item's type, shape and dtype are checked:
    no file is opened and no pixel is read (see :func:`load_rgb`).

    Parameters
    ----------
    X : sequence, numpy.ndarray, torch.Tensor, Series or DataFrame
        - a list, tuple, 1-D object array or other re-iterable collection of
          items (file paths, encoded bytes, binary file objects, image dicts,
          PIL images, numpy arrays, torch tensors; kinds may be mixed);
          one-shot iterators (generators, ``map``, text files: anything whose
          ``iter(X) is X``) are refused;
        - a Series, or a one-column DataFrame (as a ColumnTransformer
          passes), of items, typically paths or binary data (pandas, polars,
          pyarrow...), or a pyarrow ``Array``/``ChunkedArray``;
        - a 4-D numpy array ``(N, H, W, C)``, C in (1, 3, 4), or ``(N, C, H,
          W)``, C in (1, 3), when the last dimension is not 1, 3 or 4;
        - a 4-D torch tensor ``(N, C, H, W)``, C in (1, 3), or ``(N, H, W,
          C)``, C in (1, 3, 4), when dimension 1 is not 1 or 3.

    Returns
    -------
    items : list
        The ``n >= 1`` items, in order; for batches, views ``X[i]``.

    Raises
    ------
    TypeError
        If X is None, a single path, encoded image, file object, image dict or
        PIL image (wrap it in a list), not
        iterable, a one-shot iterator (pass ``list(X)``), a mapping or a set,
        or holds an item of unsupported type.
    ValueError
        If X is empty, a numpy array of fixed-size bytes (dtype ``S``, whose
        items lose trailing NUL bytes), a DataFrame with other than one column, a 2-D or 3-D
        numeric array or tensor (ambiguous), or a batch with an unsupported
        channel count or dtype.
    ImageInputError
        If an array or tensor item has an unsupported shape or dtype, is
        zero-size, a path or encoded item is empty, a file object is in text
        mode, closed or cannot seek, or an image dict holds neither bytes nor
        a path.

    Examples
    --------
    >>> import numpy as np
    >>> items = check_images(np.zeros((2, 4, 4, 3), dtype=np.uint8))
    >>> len(items), items[0].shape
    (2, (4, 4, 3))
    """
    if X is None:
        raise TypeError(f"X is None; {_EXPECTED_X}")
    # Before the single-item checks: scipy's DOK format is a dict (a Mapping) whose truth value raises.
    if hasattr(X, "tocsr") and hasattr(X, "nnz"):  # scipy.sparse, without importing scipy
        raise TypeError(f"X is a sparse matrix ({_type_name(X)}): sparse input is not supported; {_EXPECTED_X}")
    if is_path(X):
        shown = repr(path_str(X))
        raise TypeError(f"X is a single path ({shown}), not a sequence of images; wrap it in a list: [{shown}]")
    if (is_encoded(X) and not isinstance(X, io.TextIOBase)) or is_image_dict(X):
        description, _ = describe_item(X)
        raise TypeError(f"X is a single image ({description}), not a sequence of images; wrap it in a list: [X]")
    if isinstance(X, Image.Image):
        raise TypeError("X is a single PIL image, not a sequence of images; wrap it in a list: [image]")

    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(X, pandas.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(
                f"X is a DataFrame with {X.shape[1]} columns {list(X.columns)!r}; expected "
                "exactly one column of image paths (select it, e.g. X[['path']])"
            )
        X = X.iloc[:, 0]
    if pandas is not None and isinstance(X, pandas.Series):
        items = X.tolist()
    elif (column := _dataframe_column(X)) is not None:
        items = column
    elif isinstance(X, np.ndarray):
        items = _split_numpy(X)
    elif is_tensor(X):
        items = _split_batch(X, "torch tensor")
    elif isinstance(X, (Mapping, Set)):
        raise TypeError(f"X is a {_type_name(X)}; {_EXPECTED_X}")
    else:
        try:
            iterator = iter(X)
        except TypeError:
            raise TypeError(f"X of type {_type_name(X)} is not a sequence; {_EXPECTED_X}") from None
        if iterator is X:
            # fit, then transform (fit_transform, Pipeline, cross-validation) each read X
            # once: a one-shot iterator would reach the second read empty.
            raise TypeError(
                f"X is a one-shot iterator ({_type_name(X)}): it can be read only once, but fitting then "
                "transforming or predicting reads X again; pass a list instead, e.g. list(X)"
            )
        items = list(iterator)

    if not items:
        raise ValueError("X is empty: expected at least one image")
    for index, item in enumerate(items):
        _check_item(item, index)
    return items
