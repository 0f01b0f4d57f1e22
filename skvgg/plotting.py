"""Figures of skvgg's results: learning curves, fine-tuning history, per-class AP, embeddings.

The gallery's examples and the command line (``skvgg demo --plot``, ``skvgg transfer
--plot``) draw with these functions, so a figure looks the same wherever it comes from.
Each takes numbers skvgg already returns (``history_``, the results of
:func:`skvgg.experiments.run_transfer`, descriptors, labels and scores) and returns the
matplotlib object it drew on; ``ax=`` draws into an existing axes.

matplotlib is an optional dependency: ``pip install "skvgg[plot]"``. It is imported when a
function is called, not when this module is imported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .exceptions import MissingExtraError

__all__ = [
    "plot_average_precision",
    "plot_embedding",
    "plot_history",
    "plot_imagenet_protocols",
    "plot_learning_curve",
    "plot_precision_recall",
    "plot_scale_effect",
    "plot_transfer",
]

MISSING_MATPLOTLIB = 'skvgg\'s figures need matplotlib, an optional dependency: pip install "skvgg[plot]"'


def _pyplot():
    """matplotlib.pyplot, or a :class:`~skvgg.exceptions.MissingExtraError` that names the extra to install."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise MissingExtraError(MISSING_MATPLOTLIB, extra="skvgg[plot]", name="matplotlib") from error
    return plt


def _axes(ax, figsize=(6.4, 4.0)):
    """``ax``, or the axes of a new figure."""
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
    return ax


def _mean_std_lines(ax, x, scores, *, fmt="o-"):
    """One line per entry of ``scores`` (label -> array of shape (len(x),) or (len(x), n_repeats)),
    at the mean over repeats, with the standard deviation as error bars."""
    x = np.asarray(x)
    for label, values in scores.items():
        values = np.asarray(values, dtype=float)
        if values.ndim == 1:
            values = values[:, None]
        if values.shape[0] != len(x):
            raise ValueError(f"scores[{label!r}] has {values.shape[0]} rows; expected one per x value ({len(x)})")
        std = values.std(axis=1) if values.shape[1] > 1 else None
        ax.errorbar(x, values.mean(axis=1), yerr=std, fmt=fmt, capsize=3, label=label)
    if len(scores) > 1:
        ax.legend()
    ax.grid(True, alpha=0.3)


def plot_learning_curve(
    train_sizes: ArrayLike,
    scores: Mapping[str, ArrayLike],
    *,
    ax: Any = None,
    xlabel: str = "training images per class",
    ylabel: str = "test accuracy (%)",
    title: str | None = None,
) -> Any:
    """Score against the number of training images, one line per feature set, with error bars.

    Parameters
    ----------
    train_sizes : array-like of shape (n_sizes,)
        Training images per class (the x axis, drawn on a log scale).
    scores : dict of str to array-like of shape (n_sizes,) or (n_sizes, n_repeats)
        For each line (e.g. ``"raw pixels"``, ``"vgg16 fc7"``), the scores at each size;
        with repeats, the line is at their mean and the error bars span +- one standard
        deviation.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    xlabel, ylabel, title : str
        Labels of the axes and the title.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.

    See Also
    --------
    plot_scale_effect : The same kind of figure against the test scales.

    Examples
    --------
    >>> from skvgg.plotting import plot_learning_curve
    >>> scores = {"raw pixels": [[30, 40], [50, 52]], "vgg16 fc7": [[60, 70], [85, 89]]}
    >>> ax = plot_learning_curve([1, 3], scores)  # two repeats per size: mean and error bars
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['raw pixels', 'vgg16 fc7']
    """
    ax = _axes(ax)
    _mean_std_lines(ax, train_sizes, scores)
    ax.set_xscale("log")
    ax.set_xticks(list(np.asarray(train_sizes)), [str(v) for v in np.asarray(train_sizes)])
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def plot_scale_effect(
    scales: Sequence[str | int],
    scores: Mapping[str, ArrayLike],
    *,
    ax: Any = None,
    ylabel: str = "score (%)",
    title: str | None = None,
) -> Any:
    """Score against the test scales Q of dense evaluation, one line per setting.

    Parameters
    ----------
    scales : sequence of str or int
        The x axis: one label per scale setting, e.g. ``["256", "384", "256,384,512"]``.
    scores : dict of str to array-like of shape (n_scales,) or (n_scales, n_repeats)
        For each line (e.g. ``"averaged"``, ``"stacked"``), the score at each setting.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    ylabel, title : str
        Label of the y axis, and the title.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.
    """
    ax = _axes(ax)
    labels = [str(s) for s in scales]
    _mean_std_lines(ax, np.arange(len(labels)), scores)
    ax.set_xticks(np.arange(len(labels)), labels)
    ax.set_xlabel("test scales Q (smaller image side, pixels)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def plot_history(history: Sequence[Mapping[str, Any]], *, axes: Any = None) -> Any:
    """The fine-tuning curves of :attr:`VGGClassifier.history_ <skvgg.VGGClassifier>`.

    Left: the training loss (and the held-out loss when there is one) per epoch; right:
    the held-out score. Dashed vertical lines mark the epochs after which the learning rate
    was divided by 10 (``lr_cut``).

    Parameters
    ----------
    history : list of dict
        ``history_``: one record per epoch with ``epoch``, ``train_loss`` and optionally
        ``valid_loss``, ``valid_score``, ``lr_cut``.
    axes : sequence of two matplotlib Axes, default=None
        Where to draw; a new figure with two panels when None.

    Returns
    -------
    fig : matplotlib Figure
        The figure of the axes drawn on.

    Examples
    --------
    >>> from skvgg.plotting import plot_history
    >>> history = [
    ...     {"epoch": 1, "train_loss": 2.1, "valid_loss": 1.9, "valid_score": 0.4, "lr_cut": True},
    ...     {"epoch": 2, "train_loss": 1.2, "valid_loss": 1.4, "valid_score": 0.6, "lr_cut": False},
    ... ]
    >>> fig = plot_history(history)  # or plot_history(classifier.history_)
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['cross-entropy', 'held-out accuracy (%)']
    """
    if not len(history):
        raise ValueError("history is empty: fit the classifier for at least one epoch first")
    for index, record in enumerate(history):
        if "epoch" not in record or "train_loss" not in record:
            raise ValueError(f"history[{index}] has no 'epoch' or 'train_loss': expected the records of history_")
    if axes is None:
        _, axes = _pyplot().subplots(1, 2, figsize=(9.6, 3.6), layout="constrained")
    loss_ax, score_ax = axes
    epochs = np.array([r["epoch"] for r in history])

    def column(key):
        return np.array([np.nan if r.get(key) is None else r[key] for r in history], dtype=float)

    loss_ax.plot(epochs, column("train_loss"), "o-", label="training loss")
    if not np.isnan(column("valid_loss")).all():
        loss_ax.plot(epochs, column("valid_loss"), "s-", label="held-out loss")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("cross-entropy")
    score_ax.plot(epochs, 100 * column("valid_score"), "o-", color="C2", label="held-out accuracy")
    score_ax.set_xlabel("epoch")
    score_ax.set_ylabel("held-out accuracy (%)")
    cuts = [r["epoch"] for r in history if r.get("lr_cut")]
    for ax in axes:
        for i, epoch in enumerate(cuts):
            # The cut takes effect after its epoch: the line sits between it and the next.
            ax.axvline(epoch + 0.5, color="grey", linestyle="--", label="learning rate / 10" if i == 0 else None)
        ax.grid(True, alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    return loss_ax.figure


def plot_average_precision(ap: ArrayLike, class_names: Sequence[str], *, ax: Any = None, title: str | None = None) -> Any:
    """Per-class average precision as horizontal bars, with the mean (the mAP) as a line.

    Parameters
    ----------
    ap : array-like of shape (n_classes,)
        The AP of each class (a fraction in [0, 1], e.g. from
        :func:`skvgg.metrics.voc_average_precision`); NaN (no positive) is drawn as no bar
        and left out of the mean.
    class_names : sequence of str of length n_classes
        The name of each class.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    title : str, default=None
        The title.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.

    See Also
    --------
    plot_precision_recall : The curves behind each class's AP.

    Examples
    --------
    >>> import numpy as np
    >>> from skvgg.plotting import plot_average_precision
    >>> ax = plot_average_precision([0.9, 0.5, np.nan], ["cat", "dog", "cow"])  # cow: no positive
    >>> ax.get_legend().get_texts()[0].get_text()
    'mean (mAP) 70.0 %'
    """
    ap = 100 * np.asarray(ap, dtype=float)
    if ap.ndim != 1 or len(ap) != len(class_names):
        raise ValueError(f"ap has shape {ap.shape}; expected one value per class name ({len(class_names)})")
    ax = _axes(ax, figsize=(6.4, max(3.0, 0.22 * len(ap) + 1)))
    positions = np.arange(len(ap))[::-1]  # the first class on top
    ax.barh(positions, np.nan_to_num(ap), color="C0")
    ax.set_yticks(positions, list(class_names))
    mean = float(np.nanmean(ap)) if not np.isnan(ap).all() else float("nan")
    ax.axvline(mean, color="C3", linestyle="--", label=f"mean (mAP) {mean:.1f} %")
    ax.set_xlim(0, 100)
    ax.set_xlabel("average precision (%)")
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title)
    return ax


def plot_precision_recall(
    y_true: ArrayLike,
    y_score: ArrayLike,
    class_names: Sequence[str],
    *,
    classes: Sequence[str] | None = None,
    ax: Any = None,
    title: str | None = None,
) -> Any:
    """Precision-recall curves of some classes of a multi-label problem (VOC style).

    Entries marked 0 in the devkit's encoding (``y_true`` holds 1 present, 0 difficult,
    -1 absent) are left out of their class's curve, as the VOC evaluation leaves them out.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_classes)
        Labels in the devkit's encoding (the ``target`` of :func:`skvgg.datasets.load_voc`)
        or as a 0/1 indicator.
    y_score : array-like of shape (n_samples, n_classes)
        Confidence of each label, e.g. ``decision_function``.
    class_names : sequence of str of length n_classes
        The name of each class.
    classes : sequence of str, default=None
        The classes to draw; all when None.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    title : str, default=None
        The title.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.
    """
    from sklearn.metrics import PrecisionRecallDisplay

    y_true, y_score = np.asarray(y_true), np.asarray(y_score, dtype=float)
    if y_true.ndim != 2 or y_true.shape != y_score.shape or y_true.shape[1] != len(class_names):
        raise ValueError(
            f"y_true {y_true.shape} and y_score {y_score.shape} must both be (n_samples, n_classes) "
            f"with n_classes = len(class_names) = {len(class_names)}"
        )
    names = list(class_names)
    unknown = [c for c in (classes or []) if c not in names]
    if unknown:
        raise ValueError(f"classes {unknown} are not among class_names")
    ax = _axes(ax, figsize=(5.6, 4.8))
    voc = (y_true == -1).any()
    for name in classes or names:
        k = names.index(name)
        keep = y_true[:, k] != 0 if voc else np.ones(len(y_true), bool)
        positive = y_true[keep, k] == 1
        if not positive.any():
            continue  # no curve without a positive
        display = PrecisionRecallDisplay.from_predictions(positive, y_score[keep, k], ax=ax, plot_chance_level=False)
        # The class name alone: scikit-learn's label carries its own (non-interpolated) AP, not the devkit's.
        display.line_.set_label(name)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize="small", loc="lower left")
    if title:
        ax.set_title(title)
    return ax


def plot_embedding(
    X: ArrayLike,
    y: ArrayLike,
    *,
    ax: Any = None,
    perplexity: float | None = None,
    random_state: int | None = 0,
    title: str | None = None,
) -> Any:
    """A 2-D t-SNE embedding of descriptors, one colour per class.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Descriptors, e.g. the output of :class:`~skvgg.VGGFeaturizer`.
    y : array-like of shape (n_samples,)
        The class of each sample.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    perplexity : float, default=None
        t-SNE's perplexity; by default ``min(30, (n_samples - 1) / 3)``, which small sets need.
    random_state : int, default=0
        Seeds t-SNE.
    title : str, default=None
        The title.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.
    """
    from sklearn.manifold import TSNE

    X, y = np.asarray(X, dtype=float), np.asarray(y)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"X {X.shape} must be 2-D with one row per label in y ({len(y)})")
    if len(X) < 4:
        raise ValueError(f"t-SNE needs at least 4 samples; got {len(X)}")
    if perplexity is None:
        perplexity = min(30.0, (len(X) - 1) / 3)
    points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=random_state).fit_transform(X)
    ax = _axes(ax, figsize=(5.6, 4.8))
    for label in np.unique(y):
        ax.scatter(*points[y == label].T, s=18, label=str(label))
    ax.legend(fontsize="small", markerscale=1.5, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    if title:
        ax.set_title(title)
    return ax


def plot_transfer(results: Mapping[str, Any], *, title: str | None = None) -> Any:
    """The figure of :func:`skvgg.experiments.run_transfer`'s results (``skvgg transfer --plot``).

    VOC: per-class AP bars and the precision-recall curves of the five classes of highest AP.
    Caltech: the score of each split beside the paper's value, and the confusion matrix of
    the first split (normalised per true class).

    Parameters
    ----------
    results : dict
        What :func:`~skvgg.experiments.run_transfer` returns.
    title : str, default=None
        The figure's title.

    Returns
    -------
    fig : matplotlib Figure
        The figure.
    """
    plt = _pyplot()
    if "y_score" in results:  # multi-label (VOC)
        fig, (bars, curves) = plt.subplots(1, 2, figsize=(11, 0.2 * len(results["class_names"]) + 2.5), layout="constrained")
        from .metrics import voc_average_precision

        ap = voc_average_precision(results["y_true"], results["y_score"], method=results.get("ap_method", "11point"))
        plot_average_precision(ap, results["class_names"], ax=bars, title="average precision per class (test)")
        best = [results["class_names"][k] for k in np.argsort(-np.nan_to_num(ap, nan=-1))[:5]]
        plot_precision_recall(
            results["y_true"],
            results["y_score"],
            results["class_names"],
            classes=best,
            ax=curves,
            title="precision-recall, the five classes of highest AP",
        )
    else:
        from sklearn.metrics import ConfusionMatrixDisplay

        fig, (splits, matrix) = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained", width_ratios=[1, 1.4])
        scores = np.asarray(results["scores"], dtype=float)
        numbers = np.arange(1, len(scores) + 1)
        splits.bar(numbers, scores, color="C0", label="this run")
        splits.axhline(results["mean"], color="C0", linestyle="--", label=f"mean {results['mean']:.1f} %")
        if results.get("paper"):
            splits.axhline(results["paper"][0], color="C3", linestyle=":", label=f"paper {results['paper'][0]:.1f} %")
        splits.set_xticks(numbers)
        splits.set_xlabel("split")
        splits.set_ylabel(f"{results['metric']} (%)")
        splits.set_ylim(0, 100)
        splits.legend(loc="lower right")
        names = list(results["class_names"])
        y_true, y_pred = np.asarray(results["y_true"][0]), np.asarray(results["y_pred"][0])
        # Labels are the class names (the loaders' target) or their indices.
        labels = names if y_true.dtype.kind in "OUS" else np.arange(len(names))
        ConfusionMatrixDisplay.from_predictions(
            y_true,
            y_pred,
            labels=labels,
            display_labels=names,
            normalize="true",
            include_values=len(names) <= 12,
            colorbar=True,
            ax=matrix,
            xticks_rotation="vertical",
        )
        if len(names) > 30:  # unreadable names: keep the matrix, drop its tick labels
            matrix.set_xticks([])
            matrix.set_yticks([])
        matrix.set_title("confusion matrix, split 1 (normalised per true class)")
    if title:
        fig.suptitle(title)
    return fig


def plot_imagenet_protocols(table: Any, *, metric: str = "top5", ax: Any = None, title: str | None = None) -> Any:
    """Error against images/s per test protocol: the table of :func:`skvgg.experiments.run_imagenet`.

    One marker per row (network, precision, protocol), labelled with the protocol; one
    colour per network and precision. Where the paper publishes the error, a grey cross
    at the same throughput marks it, joined to the measured point by a dotted line (the
    paper gives no throughput: the cross shares the measured one).

    Parameters
    ----------
    table : pandas.DataFrame
        What :func:`~skvgg.experiments.run_imagenet` returns.
    metric : {"top1", "top5"}, default="top5"
        The error shown.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    title : str, default=None
        The axes' title.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.
    """
    if metric not in ("top1", "top5"):
        raise ValueError(f"metric must be 'top1' or 'top5', got {metric!r}")
    missing = {"network", "precision", "protocol", "images_per_second", f"{metric}_error"} - set(table.columns)
    if missing:
        raise ValueError(f"table lacks the column(s) {sorted(missing)}; expected the table of skvgg.experiments.run_imagenet")
    ax = _axes(ax, figsize=(7.2, 4.6))
    for number, ((network, precision), rows) in enumerate(table.groupby(["network", "precision"], sort=False)):
        color = f"C{number % 10}"
        speed = rows["images_per_second"].to_numpy(dtype=float)
        error = rows[f"{metric}_error"].to_numpy(dtype=float)
        ax.plot(speed, error, "o", color=color, label=f"{network} ({precision})")
        for x, y, protocol in zip(speed, error, rows["protocol"]):
            ax.annotate(protocol, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        paper_column = f"paper_{metric}_error"
        if paper_column in rows:
            paper = rows[paper_column].to_numpy(dtype=float)
            known = np.isfinite(paper)
            ax.plot(speed[known], paper[known], "x", color="0.4")
            for x, y, p in zip(speed[known], error[known], paper[known]):
                ax.plot([x, x], [y, p], ":", color="0.6", linewidth=1)
    if (table["images_per_second"] > 0).all():
        ax.set_xscale("log")
    ax.set_xlabel("images per second (measured)")
    ax.set_ylabel(f"{'top-1' if metric == 'top1' else 'top-5'} error (%)")
    ax.plot([], [], "x", color="0.4", label="paper (Tables 3-6)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax
