"""Generate miniature dataset trees in the real on-disk layouts, for tests and examples.

Every image is a tiny real JPEG file (40x30 pixels by default, a color that
depends on its name), so that the trees can be read by the loaders of
:mod:`skvgg.datasets` *and* decoded by the featurizer. Each ``make_*``
function returns the dataset directory as a :class:`pathlib.Path` (the
``101_ObjectCategories``, ``256_ObjectCategories`` or ``VOC<year>`` directory,
or the image folder itself), which the loaders also accept as ``root``.

    from skvgg.testing import make_caltech101, make_caltech256, make_voc, make_image_folder

The default trees work with the command line's defaults: ``skvgg transfer caltech101
--root <make_caltech101(tmp)>`` (and caltech256, voc2007, voc2012 likewise) can draw
the paper's splits. Pass ``counts=`` for smaller, quicker trees; then give ``transfer``
matching ``--train``/``--test`` values (every class needs ``--train`` + 1 images,
and ``--train`` at least 2).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from PIL import Image

from ._typing import StrPath

__all__ = [
    "CALTECH101_COUNTS",
    "CALTECH256_COUNTS",
    "IMAGE_FOLDER_COUNTS",
    "VOC_CLASSES",
    "VOC_IMAGES",
    "make_caltech101",
    "make_caltech256",
    "make_image_folder",
    "make_imagenet_val",
    "imagenet_wnid",
    "make_voc",
    "voc_target",
    "write_image",
]

#: Default Caltech-101 classes and image counts (folder name -> number of images).
#: Every class has more than the paper's 30 training images, so the default tree runs
#: the protocol as it is (``skvgg transfer caltech101 --root TREE``, ``CALTECH101_PROTOCOL``),
#: with 1 to 4 test images per class; the counts differ so that classes are told apart.
CALTECH101_COUNTS = {
    "BACKGROUND_Google": 33,
    "Faces": 31,
    "Faces_easy": 31,
    "accordion": 32,
    "airplanes": 34,
}

#: Default Caltech-256 class folders and image counts, each above the protocol's 60
#: training images (``CALTECH256_PROTOCOL``). ``056.dog`` and ``198.spider`` carry the
#: real archive's quirks when ``quirks=True``.
CALTECH256_COUNTS = {
    "001.ak47": 62,
    "002.american-flag": 61,
    "056.dog": 62,
    "198.spider": 61,
    "257.clutter": 63,
}

#: Default classes of :func:`make_image_folder`.
IMAGE_FOLDER_COUNTS = {"cat": 3, "dog": 2}

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip


def _obj(name, difficult=0, truncated=0, pose="Unspecified", parts=()):
    return {"name": name, "difficult": difficult, "truncated": truncated, "pose": pose, "parts": parts}


#: Default VOC images: year -> {image_id: (main image set, list of objects)}; the
#: image set is "train", "val" or "test" (trainval = train + val). An object's
#: ``difficult`` may be None: the element is left out, as in some VOC-2012 files.
#: Test images of years after 2007 have objects None: no annotation file is written.
VOC_IMAGES = {
    "2007": {
        # chair: one plain and one difficult chair -> 1; pottedplant difficult only -> 0
        "000005": ("train", [_obj("chair", pose="Rear"), _obj("chair", difficult=1), _obj("pottedplant", 1)]),
        "000007": ("train", [_obj("car", truncated=1, pose="Unspecified")]),
        "000009": ("train", [_obj("horse", pose="Left"), _obj("person"), _obj("person", difficult=1)]),
        "000012": ("val", [_obj("car", pose="Left")]),
        "000016": ("val", [_obj("bicycle", difficult=1)]),
        "000017": ("val", [_obj("person"), _obj("horse", difficult=1)]),
        "000001": ("test", [_obj("dog", pose="Left"), _obj("person")]),
        "000002": ("test", [_obj("train")]),
        "000004": ("test", [_obj("car", difficult=1), _obj("car", truncated=1)]),
        "000006": ("test", [_obj("diningtable"), _obj("chair", difficult=1), _obj("pottedplant")]),
    },
    "2012": {
        # person without a <difficult> element (not difficult), with <part>s named head/hand
        "2008_000008": ("train", [_obj("horse"), _obj("person", difficult=None, parts=("head", "hand"))]),
        "2008_000015": ("train", [_obj("bottle", difficult=1), _obj("bottle", difficult=1)]),
        "2008_000019": ("val", [_obj("dog")]),
        "2008_000023": ("val", [_obj("bottle"), _obj("tvmonitor"), _obj("person", difficult=1)]),
        "2008_000001": ("test", None),
        "2008_000004": ("test", None),
    },
}


def write_image(path: StrPath, size: tuple[int, int] = (40, 30), fmt: str | None = None) -> Path:
    """Write a small real image file (JPEG unless the extension says otherwise).

    The background color depends on the parent folder (the class, in the class-folder
    layouts), shifted a little per file, and a stripe's color and place depend on the
    file name: images differ, and their class can be learned from their color.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h = zlib.crc32(path.name.encode())
    c = zlib.crc32(path.parent.name.encode())
    shift = (h % 41) - 20  # -20..20: the same class, not the same pixels
    base = tuple(min(255, max(0, ((c >> s) & 255) + shift)) for s in (16, 8, 0))
    img = Image.new("RGB", size, base)
    stripe = Image.new("RGB", (max(1, size[0] // 4), size[1]), (255 - (h & 255), 128, (h >> 24) & 255))
    img.paste(stripe, ((h >> 4) % max(1, size[0] - stripe.width), 0))
    ext = path.suffix.lower()
    if fmt is None:
        fmt = {".png": "PNG", ".bmp": "BMP", ".ppm": "PPM", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}.get(ext, "JPEG")
    img.save(path, fmt)
    return path


def _layout_dir(root, name, tv_dir, layout):
    root = Path(root)
    if layout == "standard":
        return root / name
    if layout == "torchvision":
        return root / tv_dir / name
    raise ValueError(f"layout must be 'standard' or 'torchvision', got {layout!r}")


def make_caltech101(root: StrPath, *, counts: Mapping[str, int] | None = None, layout: str = "standard") -> Path:
    """Caltech-101: ``root/101_ObjectCategories/<class>/image_0001.jpg``.

    Parameters
    ----------
    root : path
    counts : dict, default=CALTECH101_COUNTS
        Folder name -> number of images (0 makes an empty class folder).
    layout : {"standard", "torchvision"}
        "torchvision" puts the tree in ``root/caltech101/101_ObjectCategories``,
        where ``torchvision.datasets.Caltech101`` extracts it.

    Returns
    -------
    Path of the ``101_ObjectCategories`` directory.
    """
    counts = CALTECH101_COUNTS if counts is None else counts
    base = _layout_dir(root, "101_ObjectCategories", "caltech101", layout)
    base.mkdir(parents=True, exist_ok=True)
    for name, n in counts.items():
        (base / name).mkdir(exist_ok=True)
        for i in range(1, n + 1):
            write_image(base / name / f"image_{i:04d}.jpg")
    return base


def make_caltech256(
    root: StrPath, *, counts: Mapping[str, int] | None = None, layout: str = "standard", quirks: bool = True
) -> Path:
    """Caltech-256: ``root/256_ObjectCategories/NNN.<name>/NNN_0001.jpg``.

    Parameters
    ----------
    root : path
    counts : dict, default=CALTECH256_COUNTS
        Folder name (``"001.ak47"``) -> number of images.
    layout : {"standard", "torchvision"}
        "torchvision" puts the tree in ``root/caltech256/256_ObjectCategories``.
    quirks : bool, default=True
        Reproduce the real archive's non-image entries where their folders
        exist: the file ``198.spider/RENAME2`` and the empty directories
        ``056.dog/greg/vision309``.

    Returns
    -------
    Path of the ``256_ObjectCategories`` directory.
    """
    counts = CALTECH256_COUNTS if counts is None else counts
    base = _layout_dir(root, "256_ObjectCategories", "caltech256", layout)
    base.mkdir(parents=True, exist_ok=True)
    for folder, n in counts.items():
        (base / folder).mkdir(exist_ok=True)
        number = folder.split(".", 1)[0]
        for i in range(1, n + 1):
            write_image(base / folder / f"{number}_{i:04d}.jpg")
    if quirks:
        if (base / "198.spider").is_dir():
            (base / "198.spider" / "RENAME2").write_text("rename\n")
        if (base / "056.dog").is_dir():
            (base / "056.dog" / "greg" / "vision309").mkdir(parents=True, exist_ok=True)
    return base


def _annotation_xml(year, image_id, objects, size):
    width, height = size
    lines = [
        "<annotation>",
        f"\t<folder>VOC{year}</folder>",
        f"\t<filename>{image_id}.jpg</filename>",
        "\t<source>",
        f"\t\t<database>The VOC{year} Database</database>",
        f"\t\t<annotation>PASCAL VOC{year}</annotation>",
        "\t\t<image>flickr</image>",
        "\t</source>",
        "\t<size>",
        f"\t\t<width>{width}</width>",
        f"\t\t<height>{height}</height>",
        "\t\t<depth>3</depth>",
        "\t</size>",
        "\t<segmented>0</segmented>",
    ]
    for k, obj in enumerate(objects):
        x0, y0 = 1 + 2 * k, 2 + k
        lines += [
            "\t<object>",
            f"\t\t<name>{escape(obj['name'])}</name>",
            f"\t\t<pose>{escape(obj['pose'])}</pose>",
            f"\t\t<truncated>{obj['truncated']}</truncated>",
        ]
        if obj["difficult"] is not None:
            lines.append(f"\t\t<difficult>{obj['difficult']}</difficult>")
        lines += [
            "\t\t<bndbox>",
            f"\t\t\t<xmin>{x0}</xmin>",
            f"\t\t\t<ymin>{y0}</ymin>",
            f"\t\t\t<xmax>{width - 2}</xmax>",
            f"\t\t\t<ymax>{height - 1}</ymax>",
            "\t\t</bndbox>",
        ]
        for part in obj.get("parts", ()):
            lines += [
                "\t\t<part>",
                f"\t\t\t<name>{part}</name>",
                "\t\t\t<bndbox><xmin>3</xmin><ymin>3</ymin><xmax>9</xmax><ymax>9</ymax></bndbox>",
                "\t\t</part>",
            ]
        lines.append("\t</object>")
    lines.append("</annotation>")
    return "\n".join(lines) + "\n"


def voc_target(objects: Sequence[Mapping[str, Any]] | None) -> list[int] | None:
    """The devkit's 1/0/-1 row of one image's objects (None for unannotated)."""
    if objects is None:
        return None
    row = [-1] * len(VOC_CLASSES)
    for obj in objects:
        k = VOC_CLASSES.index(obj["name"])
        row[k] = max(row[k], 0 if obj["difficult"] else 1)
    return row


def make_voc(
    root: StrPath,
    year: str = "2007",
    *,
    images: Mapping[str, tuple[str, list[dict[str, Any]] | None]] | None = None,
    layout: str = "standard",
    class_files: bool = True,
    size: tuple[int, int] = (40, 30),
) -> Path:
    """PASCAL VOC: ``root/VOCdevkit/VOC<year>/{JPEGImages,Annotations,ImageSets/Main}``.

    Parameters
    ----------
    root : path
    year : str, default="2007"
    images : dict, default=VOC_IMAGES[year]
        ``{image_id: (set, objects)}`` with set in "train", "val", "test" and
        objects a list of dicts (``name``, ``difficult`` (0, 1 or None: element
        left out), ``truncated``, ``pose``, optional ``parts``) or None (no
        annotation file, as the VOC-2012 test set).
    layout : {"standard", "devkit", "year"}
        Where the tree goes: "standard" ``root/VOCdevkit/VOC<year>`` (also
        torchvision's), "devkit" ``root/VOC<year>`` (root is the VOCdevkit),
        "year" ``root`` itself.
    class_files : bool, default=True
        Also write the devkit's per-class ``<class>_<set>.txt`` files (id and
        1/0/-1) for the annotated sets.
    size : (width, height)

    Returns
    -------
    Path of the ``VOC<year>`` directory.

    Notes
    -----
    Writes ``ImageSets/Main/{train,val,trainval,test}.txt`` (test.txt only if
    some image is in "test"), ids sorted as in the official files. Adding
    images to an existing tree (the VOC-2007 test archive next to trainval)
    works by calling again with other images: the set files of sets that get
    no image are left as they are.
    """
    year = str(year)
    images = VOC_IMAGES[year] if images is None else images
    root = Path(root)
    voc = {"standard": root / "VOCdevkit" / f"VOC{year}", "devkit": root / f"VOC{year}", "year": root}.get(layout)
    if voc is None:
        raise ValueError(f"layout must be 'standard', 'devkit' or 'year', got {layout!r}")
    main = voc / "ImageSets" / "Main"
    main.mkdir(parents=True, exist_ok=True)
    (voc / "JPEGImages").mkdir(exist_ok=True)
    sets = {"train": [], "val": [], "test": []}
    for image_id, (image_set, objects) in sorted(images.items()):
        write_image(voc / "JPEGImages" / f"{image_id}.jpg", size=size)
        sets[image_set].append(image_id)
        if objects is not None:
            (voc / "Annotations").mkdir(exist_ok=True)
            (voc / "Annotations" / f"{image_id}.xml").write_text(_annotation_xml(year, image_id, objects, size))
    sets["trainval"] = sorted(sets["train"] + sets["val"])
    for image_set, ids in sets.items():
        if not ids:
            continue
        (main / f"{image_set}.txt").write_text("".join(f"{i}\n" for i in ids))
        annotated = [i for i in ids if images[i][1] is not None]
        if class_files and annotated and len(annotated) == len(ids):
            for k, cls in enumerate(VOC_CLASSES):
                rows = [f"{i} {voc_target(images[i][1])[k]:2d}\n" for i in ids]
                (main / f"{cls}_{image_set}.txt").write_text("".join(rows))
    return voc


def make_image_folder(
    root: StrPath, *, counts: Mapping[str, int] | None = None, extension: str = ".jpg", nested: bool = False
) -> Path:
    """A generic folder of class sub-folders: ``root/<class>/img_0001<extension>``.

    Parameters
    ----------
    root : path
    counts : dict, default=IMAGE_FOLDER_COUNTS
        Class name -> number of images.
    extension : str, default=".jpg"
    nested : bool, default=False
        Also put one image of each class in a sub-folder ``<class>/extra/``.

    Returns
    -------
    Path of ``root``.
    """
    counts = IMAGE_FOLDER_COUNTS if counts is None else counts
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for name, n in counts.items():
        (root / name).mkdir(exist_ok=True)
        for i in range(1, n + 1):
            write_image(root / name / f"img_{i:04d}{extension}")
        if nested:
            write_image(root / name / "extra" / f"nested_0001{extension}")
    return root


# -- ILSVRC-2012 validation set ------------------------------------------------------------------


def imagenet_wnid(index: int) -> str:
    """A made-up WordNet ID for class ``index`` (0-999) of the generated ImageNet trees.

    The real IDs are not shipped offline; these sort in index order, as the real ones sort
    in torchvision's class order, so a loader that maps IDs to indices by sorting gets
    the same indices from both.
    """
    return f"n{1440764 + 14000 * index:08d}"


def _imagenet_ids() -> list[int]:
    """ILSVRC2012_ID (1-1000) of each class index: a fixed shuffle, as the real devkit's IDs
    (ordered by the WordNet hierarchy) are not torchvision's order either."""
    import numpy as np

    return (np.random.RandomState(2012).permutation(1000) + 1).tolist()


def _write_meta_mat(path: Path, names: Sequence[str]) -> None:
    """The devkit's ``data/meta.mat``: a ``synsets`` struct array, the 1000 leaves and a few inner nodes."""
    import numpy as np
    from scipy.io import savemat

    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children", "wordnet_height", "num_train_images"]
    ids = _imagenet_ids()
    rows = [(ids[k], imagenet_wnid(k), names[k], f"gloss of {names[k]}", 0, np.zeros((1, 0)), 0, 1300) for k in range(1000)]
    # Inner nodes of the hierarchy come after the leaves (ID > 1000, children listed): not classes.
    rows += [(1001, "n00001740", "entity", "that which exists", 2, np.array([[1002, 1003]]), 19, 0)]
    rows += [(1001 + j, f"n0000{j}930", f"node {j}", "", 1, np.array([[j]]), 18, 0) for j in (1, 2)]
    synsets = np.empty((len(rows), 1), dtype=[(name, object) for name in fields])
    for i, row in enumerate(sorted(rows, key=lambda r: r[0])):
        synsets[i, 0] = row
    savemat(path, {"synsets": synsets})


def make_imagenet_val(
    root: StrPath,
    *,
    layout: str = "devkit",
    classes: Sequence[int] = (0, 1, 2),
    per_class: int = 2,
    size: tuple[int, int] = (48, 40),
) -> Path:
    """A miniature ILSVRC-2012 validation set in one of the layouts :func:`~skvgg.datasets.load_imagenet_val` reads.

    Images are numbered as in the real set, class after class within each round
    (image 1 of every class, then image 2 ...); their class indices are ``classes``, in
    torchvision's 1000-class order. The devkit's files have the real formats: the
    ground-truth text file (one ILSVRC2012_ID per line) and ``meta.mat`` (a ``synsets``
    struct array written by :func:`scipy.io.savemat`, IDs shuffled against the class
    order, as in the real file); ``meta.bin`` is what ``torchvision.datasets.ImageNet``
    saves. WordNet IDs are made up (:func:`imagenet_wnid`), class names are torchvision's.

    Parameters
    ----------
    root : path
        Where the tree is written (created if needed).
    layout : {"devkit", "torchvision", "csv"}, default="devkit"
        ``"devkit"``: ``root/ILSVRC2012_img_val/ILSVRC2012_val_NNNNNNNN.JPEG`` and
        ``root/ILSVRC2012_devkit_t12/data/{ILSVRC2012_validation_ground_truth.txt, meta.mat}``.
        ``"torchvision"``: ``root/val/<wnid>/ILSVRC2012_val_NNNNNNNN.JPEG`` and ``root/meta.bin``.
        ``"csv"``: ``root/images/*.JPEG`` and ``root/val.csv`` (``path,label``).
    classes : sequence of int, default=(0, 1, 2)
        Class indices (0-999) of the images.
    per_class : int, default=2
        Images of each class.
    size : (int, int), default=(48, 40)
        Width and height of the images.

    Returns
    -------
    Path of ``root``, or of the CSV file for ``layout="csv"``.
    """

    from .datasets import imagenet_categories

    if layout not in ("devkit", "torchvision", "csv"):
        raise ValueError(f"layout must be 'devkit', 'torchvision' or 'csv', got {layout!r}")
    classes = [int(k) for k in classes]
    if not classes or any(not 0 <= k < 1000 for k in classes) or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct indices in 0-999, got {classes!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    labels = [k for _ in range(per_class) for k in classes]  # image number i + 1 has labels[i]
    names = imagenet_categories()
    ids = _imagenet_ids()
    if layout == "devkit":
        images = root / "ILSVRC2012_img_val"
        data = root / "ILSVRC2012_devkit_t12" / "data"
        data.mkdir(parents=True, exist_ok=True)
        for number in range(1, len(labels) + 1):
            write_image(images / f"ILSVRC2012_val_{number:08d}.JPEG", size=size, fmt="JPEG")
        (data / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{ids[k]}\n" for k in labels))
        _write_meta_mat(data / "meta.mat", names)
        return root
    if layout == "torchvision":
        import torch

        val_wnids = []
        for number, label in enumerate(labels, start=1):
            write_image(root / "val" / imagenet_wnid(label) / f"ILSVRC2012_val_{number:08d}.JPEG", size=size, fmt="JPEG")
            val_wnids.append(imagenet_wnid(label))
        wnid_to_classes = {imagenet_wnid(k): tuple(names[k].split(", ")) for k in range(1000)}
        torch.save((wnid_to_classes, val_wnids), root / "meta.bin")
        return root
    rows = ["path,label\n"]
    for number, label in enumerate(labels, start=1):
        name = f"ILSVRC2012_val_{number:08d}.JPEG"
        write_image(root / "images" / name, size=size, fmt="JPEG")
        rows.append(f"images/{name},{label}\n")
    (root / "val.csv").write_text("".join(rows))
    return root / "val.csv"
