"""The paper's experiments: ImageNet test protocols (Tables 3-5) and transfer (Appendix B).

**ImageNet** (:func:`run_imagenet`, ``skvgg evaluate imagenet``): the weights' own 1000-way
classifier (:class:`~skvgg.VGGImageNetClassifier`) on the ILSVRC-2012 validation set under
each test protocol of :data:`IMAGENET_PROTOCOLS`, its top-1/top-5 errors beside the paper's
(:data:`TABLES_3_5`) and torchvision's published ones.

**Transfer** (:func:`run_transfer`, ``skvgg transfer``):

Fixed VGG descriptors (fc7 after ReLU, dense evaluation over several scales, averaged
with the mirror image), L2-normalised, then a linear SVM; the ConvNet is not fine-tuned.

========== ================================ ============ ===============================
dataset    scales Q, pooling across scales  metric       split
========== ================================ ============ ===============================
caltech101 (256, 384, 512), stacked         mean recall  30 train / <= 50 test per class, 3 splits
caltech256 (256, 384, 512), stacked         mean recall  60 train / rest per class, 3 splits
voc2007    (256, 384, 512, 640, 768), mean  11-point mAP trainval -> test
voc2012    (256, 384, 512, 640, 768), mean  area mAP     train -> val (test is server-only)
========== ================================ ============ ===============================

In every split the SVM's ``C`` is chosen on 20% of the training images held out, as the
paper validates its hyper-parameters.
"""

# One module per harness (_transfer, _imagenet_protocols) and the network naming both share
# (_networks); this package is their one public path.
from ._imagenet_protocols import IMAGENET_BLOCK as IMAGENET_BLOCK  # named by run_imagenet's docstring
from ._imagenet_protocols import (
    IMAGENET_PROTOCOLS,
    TABLES_3_5,
    ImageNetProtocol,
    paper_imagenet_errors,
    run_imagenet,
    torchvision_imagenet_errors,
)
from ._transfer import C_GRID as C_GRID  # paper_search's default grid
from ._transfer import DATASETS, TABLE_11, DatasetProtocol, paper_featurizer, paper_pipeline, paper_search, run_transfer

# Shown, documented and pickled under the package's public name, as before the split.
DatasetProtocol.__module__ = __name__
ImageNetProtocol.__module__ = __name__

__all__ = [
    "DATASETS",
    "IMAGENET_PROTOCOLS",
    "TABLE_11",
    "TABLES_3_5",
    "DatasetProtocol",
    "ImageNetProtocol",
    "paper_featurizer",
    "paper_imagenet_errors",
    "paper_pipeline",
    "paper_search",
    "run_imagenet",
    "run_transfer",
    "torchvision_imagenet_errors",
]
