"""
Dense evaluation: the score against the test scales
===================================================

The paper describes an image at several scales Q (the image rescaled to smaller side Q),
running the network densely (fc layers as convolutions over the whole image) and averaging
its fc7 map; the scales' descriptors are then averaged (VOC) or stacked (Caltech). This
example scores a linear SVM on descriptors of each single scale and of the scales together,
averaged and stacked (:func:`skvgg.plotting.plot_scale_effect`). All of them come from one
pass: ``scale_pooling="stack"`` keeps each scale's descriptor as its own block of columns.

.. note::

   **Stand-in run.** The images are scikit-learn's 8x8 handwritten digits (a few per class)
   and the network is a *randomly initialised* VGG11, at the smallest scales dense
   evaluation allows (224 and up): the figure shows the mechanics, not the paper's gain
   from multiple scales (Table 11 and Appendix B). On a real dataset, with ImageNet weights
   and the paper's scales, use ``VGGFeaturizer(scales=(256, 384, 512), scale_pooling="stack")``
   on ``load_caltech101("~/data/caltech101")``; ``skvgg transfer caltech101 --root DIR
   --scales 256,384,512`` runs the whole protocol.
"""

# %%
# Describe each image at three scales, in one pass
# ------------------------------------------------
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer
from sklearn.svm import LinearSVC

from skvgg import VGGFeaturizer
from skvgg.plotting import plot_scale_effect

SCALES, PER_CLASS = (224, 256, 320), 6
digits = load_digits()
rng = np.random.default_rng(0)
chosen = np.concatenate([rng.choice(np.flatnonzero(digits.target == c), PER_CLASS, replace=False) for c in range(10)])
images, y = digits.images[chosen] / 16.0, digits.target[chosen]  # 8x8 grayscale in [0, 1], rescaled to each Q
featurizer = VGGFeaturizer(arch="vgg11", weights=None, scales=SCALES, scale_pooling="stack", random_state=0)
stacked = featurizer.fit_transform(list(images))
blocks = np.split(stacked, len(SCALES), axis=1)  # one block of fc7 columns per scale
print(f"stacked descriptors: {stacked.shape}; per scale: {blocks[0].shape}")

# %%
# Score each setting by cross-validation
# --------------------------------------
model = make_pipeline(Normalizer(), LinearSVC())
cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)


def score(X):
    return 100 * cross_val_score(model, X, y, cv=cv)


settings = [str(q) for q in SCALES] + ["+".join(map(str, SCALES))]
single = [score(block) for block in blocks]
nan = np.full(cv.n_splits, np.nan)  # no stacked variant of a single scale
scores = {
    "one scale / scales averaged": single + [score(np.mean(blocks, axis=0))],
    "scales stacked": [nan] * len(SCALES) + [score(stacked)],
}

# %%
# The figure
# ----------
ax = plot_scale_effect(settings, scores, ylabel="accuracy (%), 3-fold CV", title="digits, random VGG11: dense scales")
ax.set_ylim(0, 105)
