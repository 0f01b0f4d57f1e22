"""The PASCAL VOC devkit's files: image-set lists, XML annotations and the image-level target encoding."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd

from ._base import DatasetFormatError

__all__ = ["VOC_CLASSES", "read_image_set", "read_targets"]

#: The 20 PASCAL VOC classes, in the devkit's canonical order (the columns of ``target``).
VOC_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


def read_image_set(path, rel):
    """The image ids listed in ``path`` (``rel`` names it in messages), each once."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    ids = []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 1:
            raise DatasetFormatError(
                f"{rel} line {number} is {line.strip()!r}: expected one image id per line "
                "(the per-class <class>_<set>.txt files are not image sets)"
            )
        ids.append(fields[0])
    if not ids:
        raise DatasetFormatError(f"{rel} ({path}) lists no image ids")
    if len(set(ids)) != len(ids):
        seen, duplicates = set(), []
        for image_id in ids:
            if image_id in seen:
                duplicates.append(image_id)
            seen.add(image_id)
        raise DatasetFormatError(f"{rel} ({path}) lists image ids more than once: {duplicates[:5]}")
    return ids


def _xml_int(node, tag, path, index, default):
    text = node.findtext(tag)
    if text is None or not text.strip():
        return default
    try:
        return int(float(text.strip()))
    except ValueError:
        raise DatasetFormatError(
            f"VOC annotation {path}: object #{index} has <{tag}>{text.strip()}</{tag}>; expected 0 or 1"
        ) from None


def _xml_float(node, tag, path, index):
    text = node.findtext(tag) if node is not None else None
    if text is None or not text.strip():
        return np.nan
    try:
        return float(text.strip())
    except ValueError:
        raise DatasetFormatError(
            f"VOC annotation {path}: object #{index} has <{tag}>{text.strip()}</{tag}>; expected a number"
        ) from None


def _parse_voc_annotation(path, image_id):
    """The objects of one VOC XML file, as a list of dicts."""
    try:
        tree = ET.parse(path)
    except ET.ParseError as exc:
        raise DatasetFormatError(f"VOC annotation {path} is not valid XML: {exc}") from exc
    node = tree.getroot()
    if node.tag != "annotation":
        raise DatasetFormatError(f"VOC annotation {path} has root element <{node.tag}>; expected <annotation>")
    objects = []
    for index, obj in enumerate(node.findall("object")):
        name = (obj.findtext("name") or "").strip()
        if not name:
            raise DatasetFormatError(f"VOC annotation {path}: object #{index} has no <name>")
        if name not in VOC_CLASSES:
            raise DatasetFormatError(
                f"VOC annotation {path}: object #{index} has <name>{name}</name>, "
                f"which is not one of the 20 VOC classes {list(VOC_CLASSES)}"
            )
        difficult = _xml_int(obj, "difficult", path, index, default=0)
        truncated = _xml_int(obj, "truncated", path, index, default=0)
        if difficult not in (0, 1) or truncated not in (0, 1):
            bad = "difficult" if difficult not in (0, 1) else "truncated"
            raise DatasetFormatError(f"VOC annotation {path}: object #{index} has <{bad}> not 0 or 1")
        box = obj.find("bndbox")
        objects.append(
            {
                "image_id": image_id,
                "name": name,
                "difficult": bool(difficult),
                "truncated": bool(truncated),
                "pose": (obj.findtext("pose") or "").strip() or None,
                "xmin": _xml_float(box, "xmin", path, index),
                "ymin": _xml_float(box, "ymin", path, index),
                "xmax": _xml_float(box, "xmax", path, index),
                "ymax": _xml_float(box, "ymax", path, index),
            }
        )
    return objects


def read_targets(ids, annotation_paths):
    """The devkit's 1/0/-1 target of each image and class, and all the objects, from the XML files."""
    column = {name: k for k, name in enumerate(VOC_CLASSES)}
    # -1 everywhere, then 0 for any object of the class, then 1 for a non-difficult one.
    target = np.full((len(ids), len(VOC_CLASSES)), -1, dtype=np.int64)
    objects = []
    for row, (image_id, path) in enumerate(zip(ids, annotation_paths)):
        image_objects = _parse_voc_annotation(path, image_id)
        for obj in image_objects:
            k = column[obj["name"]]
            target[row, k] = max(target[row, k], 0 if obj["difficult"] else 1)
        objects.extend(image_objects)
    columns = ["image_id", "name", "difficult", "truncated", "pose", "xmin", "ymin", "xmax", "ymax"]
    return target, pd.DataFrame(objects, columns=columns)
