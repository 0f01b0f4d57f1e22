"""
Learning curve: VGG descriptors against raw pixels
==================================================

How many training images per class does a linear SVM need, on VGG descriptors and on the
raw pixels? This is the experiment of ``skvgg demo`` on scikit-learn's handwritten digits,
and the figure that ``skvgg demo --plot demo.png`` writes: test accuracy against the number
of training images per class, the mean over seeded draws of the training images with +- one
standard deviation as error bars.

.. note::

   **Stand-in run.** The digits are real, but the network here is a *randomly initialised*
   VGG11 looking at 32x32 images, so that the example runs in seconds: the figure shows the
   mechanics, not the value of VGG's ImageNet features (random features do not transfer).
   For the real figure, with VGG16's ImageNet weights at 112 px (minutes on a CPU)::

       skvgg demo --plot demo.png

   or set ``ARCH, WEIGHTS, SIZE = "vgg16", "imagenet", 112`` below.
"""

# %%
# The data: a fixed test set, and a pool to draw training images from
# -------------------------------------------------------------------
import numpy as np
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer
from sklearn.svm import LinearSVC

from skvgg import Preprocessing, VGGFeaturizer
from skvgg.plotting import plot_learning_curve

ARCH, WEIGHTS, SIZE = "vgg11", None, 32  # None: random weights (seeded by random_state)
PER_CLASS, REPEATS, TEST_PER_CLASS = [1, 3, 10], 3, 10

digits = load_digits()
images, labels = digits.images / 16.0, digits.target  # 8x8 grayscale in [0, 1]
rng = np.random.default_rng(0)
test_idx, pool_idx = [], []
for c in range(10):
    members = rng.permutation(np.flatnonzero(labels == c))
    test_idx.extend(members[:TEST_PER_CLASS])
    pool_idx.extend(members[TEST_PER_CLASS : TEST_PER_CLASS + 2 * max(PER_CLASS)])
test_idx, pool_idx = np.array(test_idx), np.array(pool_idx)

# %%
# Describe every image once
# -------------------------
# The digits are upscaled to ``SIZE`` pixels, whole (no crop); each becomes VGG's fc7 vector.
used = np.concatenate([test_idx, pool_idx])
featurizer = VGGFeaturizer(
    arch=ARCH, weights=WEIGHTS, layer="fc7", preprocessing=Preprocessing(resize_size=SIZE, crop_size=SIZE), random_state=0
)
described = featurizer.fit_transform([images[i] for i in used])
row = {index: position for position, index in enumerate(used)}
print(f"{len(used)} images -> descriptors of shape {described.shape}")


def features(kind, idx):
    if kind == "raw pixels":
        return images[idx].reshape(len(idx), -1)
    return described[[row[i] for i in idx]]


# %%
# Train on growing subsets, score on the test set
# -----------------------------------------------
scores = {"raw pixels": [], f"{ARCH} fc7": []}
for per_class in PER_CLASS:
    for kind in scores:
        accuracies = []
        for repeat in range(REPEATS):
            draw = np.random.default_rng([per_class, repeat])
            train_idx = np.concatenate(
                [draw.choice(pool_idx[labels[pool_idx] == c], per_class, replace=False) for c in range(10)]
            )
            model = make_pipeline(Normalizer(), LinearSVC()).fit(features(kind, train_idx), labels[train_idx])
            accuracies.append(100 * model.score(features(kind, test_idx), labels[test_idx]))
        scores[kind].append(accuracies)

# %%
# The learning curve
# ------------------
ax = plot_learning_curve(PER_CLASS, scores, title=f"digits at {SIZE} px: {ARCH} ({WEIGHTS or 'random weights'}) vs raw pixels")
ax.set_ylim(0, 100)
