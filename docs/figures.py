"""Draw the user guide's figures from skvgg's own code: the views of a real photo, and what ``train_layers`` trains.

The documentation build runs this (``conf.py`` calls :func:`main` when the builder starts),
so the figures always show what the installed code does; run it by hand to look at them::

    PYTHONPATH=. python docs/figures.py [OUTPUT_DIR]    # default: docs/user-guide/figures

The photo is scikit-learn's ``china.jpg`` (shipped with scikit-learn, no network). The views
are computed by :mod:`skvgg._pipeline.views` exactly as the featurizer and classifier compute them; the
layer names and the trained part come from :class:`skvgg.models.network.VGG` (built on the meta
device: no weights, nothing allocated).
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
FIGURES = DOCS / "user-guide" / "figures"

#: The files this script writes, each shown by a user-guide page (check_build.py checks the build has them).
FIGURE_FILES = ("single-view.png", "dense-scales.png", "train-layers.png")


def _photo():
    from PIL import Image
    from sklearn.datasets import load_sample_images

    path = next(p for p in load_sample_images().filenames if p.endswith("china.jpg"))
    with Image.open(path) as image:
        return image.convert("RGB")


def _show(ax, view, title):
    ax.imshow(view.permute(1, 2, 0).numpy())
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def single_view_figure(photo):
    """The photo, its resize to shorter side 256 with the centre 224 crop outlined, the view and its mirror."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from skvgg._pipeline.views import center_view, rescale

    resized = rescale(photo, 256)
    view, mirrored = center_view(photo, 256, 224, mirror=True)
    height, width = resized.shape[1:]
    top, left = int(round((height - 224) / 2.0)), int(round((width - 224) / 2.0))
    figure, axes = plt.subplots(1, 4, figsize=(12, 3.0), gridspec_kw={"width_ratios": [width, width, 224, 224]})
    import torchvision.transforms.functional as TF

    _show(axes[0], TF.pil_to_tensor(photo), f"the photo, {photo.width}x{photo.height}")
    _show(axes[1], resized, f"shorter side to 256: {width}x{height}")
    axes[1].add_patch(Rectangle((left - 0.5, top - 0.5), 224, 224, fill=False, edgecolor="yellow", linewidth=2))
    _show(axes[2], view, "centre crop 224 (scales=None)")
    _show(axes[3], mirrored, "its mirror (flip=True)")
    figure.suptitle("The single view: what VGGFeaturizer() describes (torchvision's preset)", fontsize=10)
    figure.tight_layout()
    return figure


def dense_scales_figure(photo):
    """The whole photo rescaled to each test scale Q, drawn to scale, with the size of its fc7 map."""
    import matplotlib.pyplot as plt

    from skvgg._pipeline.views import dense_view

    scales = (256, 384, 512)
    views = [dense_view(photo, q)[0] for q in scales]
    widths = [v.shape[2] for v in views]
    figure, axes = plt.subplots(1, len(scales), figsize=(12, 3.4), gridspec_kw={"width_ratios": widths})
    tallest = max(v.shape[1] for v in views)
    for ax, q, view in zip(axes, scales, views):
        height, width = view.shape[1:]
        # fc6 is a 7x7 convolution over pool5 (stride 32): the map the descriptor pools.
        rows, columns = height // 32 - 6, width // 32 - 6
        _show(ax, view, f"Q={q}: {width}x{height}, fc7 map {rows}x{columns}")
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(tallest - 0.5, -0.5)  # the same pixel scale in every panel
        for r in range(rows + 1):  # the map's cells over the image, 32 px apart, inside the 224 px window
            ax.axhline(112 + 32 * r - 16, color="white", linewidth=0.4, alpha=0.6)
        for c in range(columns + 1):
            ax.axvline(112 + 32 * c - 16, color="white", linewidth=0.4, alpha=0.6)
    figure.suptitle(
        "Dense evaluation, scales=(256, 384, 512): the whole image at each scale Q, the network run convolutionally, "
        "its map averaged",
        fontsize=10,
    )
    figure.tight_layout()
    return figure


def train_layers_figure():
    """VGG16's layers, one row per ``train_layers`` value: frozen in grey, trained in colour."""
    import matplotlib.pyplot as plt
    import torch
    from matplotlib.patches import Rectangle

    from skvgg.models.architectures import resolve_arch
    from skvgg.models.network import VGG

    with torch.device("meta"):  # names and boundaries only: no weights
        network = VGG(resolve_arch("vgg16"))
    names = [("fc8" if name == "logits" else name) for name in network.layer_names]
    choices = ("head", "classifier", "conv5_1", "pool3", "all")
    figure, ax = plt.subplots(figsize=(12, 0.55 * len(choices) + 1.2))
    for row, choice in enumerate(choices):
        boundary = network.boundary(choice)
        first_trained = 0 if boundary is None else network.layer_names.index(boundary) + 1
        y = len(choices) - 1 - row
        for column, name in enumerate(names):
            trained = column >= first_trained
            colour = ("#d95f02" if name.startswith("fc") else "#1b9e77") if trained else "#d9d9d9"
            width = 0.9 if not name.startswith("pool") else 0.5
            ax.add_patch(Rectangle((column, y + 0.1), width, 0.8, facecolor=colour, edgecolor="white"))
            if row == 0:
                ax.text(column + width / 2, len(choices) + 0.05, name, rotation=60, fontsize=7, ha="left", va="bottom")
        ax.text(-0.3, y + 0.5, f'train_layers="{choice}"', ha="right", va="center", fontsize=8)
    ax.set_xlim(-5.5, len(names) + 0.5)
    ax.set_ylim(0, len(choices) + 1.6)
    ax.axis("off")
    ax.set_title("VGGClassifier: trained layers (colour) and frozen ones (grey, computed once when not augmenting)", fontsize=10)
    figure.tight_layout()
    return figure


def main(output: Path = FIGURES) -> list[Path]:
    """Write :data:`FIGURE_FILES` into ``output``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    photo = _photo()
    written = []
    for name, figure in zip(FIGURE_FILES, (single_view_figure(photo), dense_scales_figure(photo), train_layers_figure())):
        path = output / name
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in main(Path(sys.argv[1]) if len(sys.argv) > 1 else FIGURES):
        print(path)
