"""Loaders for the datasets of the paper's experiments.

:func:`load_imagenet_val` reads the ILSVRC-2012 validation set of the paper's Tables 3-7.
Simonyan & Zisserman (2015, Appendix B) evaluate their very deep features on
PASCAL VOC 2007 and 2012 (mean average precision) and on Caltech-101 and
Caltech-256 (mean class recall). The loaders below read the standard extracted
layouts of these datasets (and any folder of class sub-folders) and return
image **paths** with their labels, ready for :class:`skvgg.VGGFeaturizer`::

    from skvgg.datasets import load_caltech101

    data = load_caltech101("~/data")
    X, y = data.paths, data.target
    X, y = load_caltech101("~/data", return_X_y=True)  # the same two

Every loader returns a :class:`sklearn.utils.Bunch` (or, with
``return_X_y=True``, the tuple ``(paths, target)``) with at least

- ``paths`` : list of str, absolute image paths in a deterministic order;
- ``target`` : the labels (see each loader);
- ``target_names`` : list of str, the classes in their canonical order;
- ``frame`` : :class:`pandas.DataFrame` with a ``path`` column and the labels;
- ``root`` : str, the absolute path of the dataset directory that was read;
- ``DESCR`` : str, the dataset, the paper's protocol and its Table 11 results
  (the text of ``skvgg/datasets/descr/*.rst``).

Nothing is dropped silently: a missing directory, a listed image or
annotation that does not exist, an invalid XML file or an empty class folder
raise an error that says what was expected where (:class:`skvgg.DatasetNotFoundError`,
:class:`skvgg.DatasetFormatError`). The only entries skipped are those that
are not images of the layout (other files, nested directories, hidden files,
e.g. the real Caltech-256's ``198.spider/RENAME2`` and ``056.dog/greg/``);
they are listed in the Bunch's ``ignored`` attribute.

``download=True`` delegates to torchvision's dataset classes, then reads the
tree they extracted with the same loader; a failure is a
:class:`skvgg.DatasetDownloadError` saying what to download and where.
"""

from ._base import IMG_EXTENSIONS
from ._caltech import load_caltech101, load_caltech256
from ._folder import load_image_folder
from ._imagenet import IMAGENET_N_CLASSES, imagenet_categories, load_imagenet_val
from ._voc import load_voc, load_voc2007, load_voc2012
from ._voc_devkit import VOC_CLASSES

__all__ = [
    "IMAGENET_N_CLASSES",
    "IMG_EXTENSIONS",
    "VOC_CLASSES",
    "load_caltech101",
    "load_caltech256",
    "imagenet_categories",
    "load_image_folder",
    "load_imagenet_val",
    "load_voc",
    "load_voc2007",
    "load_voc2012",
]
