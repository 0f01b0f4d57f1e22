"""skvgg.plotting and the command line's --plot: the figures drawn, the files written, the missing extra."""

import sys

import numpy as np
import pytest

from skvgg.cli import main
from skvgg.testing import make_caltech101, make_voc

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.image import imread  # noqa: E402

from skvgg import plotting  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def assert_png(path, min_side=200):
    """A complete PNG file that decodes to an image of a sensible size, and no temporary file beside it."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) >= min_side
    assert image.std() > 0  # something was drawn
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_learning_curve_draws_mean_and_std_per_line():
    scores = {"raw pixels": [[30, 40], [50, 50]], "vgg11 fc7": [[60, 70], [80, 90]]}
    ax = plotting.plot_learning_curve([1, 3], scores)
    lines = ax.get_lines()
    means = [tuple(line.get_ydata()) for line in lines if len(line.get_xdata()) == 2]
    assert (35.0, 50.0) in means and (65.0, 85.0) in means
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["raw pixels", "vgg11 fc7"]


def test_learning_curve_refuses_scores_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"scores\['raw'\] has 3 rows; expected one per x value \(2\)"):
        plotting.plot_learning_curve([1, 3], {"raw": [1, 2, 3]})


def test_history_marks_learning_rate_cuts_and_plots_the_score():
    history = [
        {"epoch": 1, "train_loss": 2.0, "valid_loss": 2.1, "valid_score": 0.3, "lr_cut": False},
        {"epoch": 2, "train_loss": 1.5, "valid_loss": 1.9, "valid_score": 0.5, "lr_cut": True},
        {"epoch": 3, "train_loss": 1.2, "valid_loss": 1.8, "valid_score": 0.6, "lr_cut": False},
    ]
    fig = plotting.plot_history(history)
    loss_ax, score_ax = fig.axes
    assert list(loss_ax.get_lines()[0].get_ydata()) == [2.0, 1.5, 1.2]
    assert list(score_ax.get_lines()[0].get_ydata()) == pytest.approx([30, 50, 60])
    cut_lines = [line for line in score_ax.get_lines() if line.get_linestyle() == "--"]
    assert len(cut_lines) == 1 and cut_lines[0].get_xdata()[0] == 2.5
    with pytest.raises(ValueError, match="history is empty"):
        plotting.plot_history([])
    with pytest.raises(ValueError, match=r"history\[0\] has no 'epoch'"):
        plotting.plot_history([{"loss": 1}])


def test_average_precision_bars_and_mean_leave_nan_out():
    ax = plotting.plot_average_precision([0.5, np.nan, 1.0], ["cat", "dog", "car"])
    widths = [patch.get_width() for patch in ax.patches]
    assert widths == [50.0, 0.0, 100.0]
    assert "mAP) 75.0 %" in ax.get_legend().get_texts()[0].get_text()
    with pytest.raises(ValueError, match="one value per class name"):
        plotting.plot_average_precision([0.5], ["cat", "dog"])


def test_precision_recall_leaves_difficult_entries_out():
    # Devkit encoding: the difficult entry (0) of class "a" has the highest score; left out, the curve is perfect.
    y_true = np.array([[1, -1], [0, 1], [-1, 1], [1, -1]])
    y_score = np.array([[0.8, 0.1], [0.9, 0.7], [0.1, 0.8], [0.7, 0.2]])
    ax = plotting.plot_precision_recall(y_true, y_score, ["a", "b"], classes=["a"])
    recall, precision = ax.get_lines()[0].get_xdata(), ax.get_lines()[0].get_ydata()
    # Both positives outrank the one negative: full recall at precision 1 (counted, the difficult
    # entry would rank first as a false positive and cap it at 2/3).
    assert precision[recall == 1].max() == 1.0
    with pytest.raises(ValueError, match=r"classes \['z'\] are not among class_names"):
        plotting.plot_precision_recall(y_true, y_score, ["a", "b"], classes=["z"])


def test_embedding_colours_each_class():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (6, 5)), rng.normal(8, 1, (6, 5))])
    ax = plotting.plot_embedding(X, ["a"] * 6 + ["b"] * 6)
    assert [len(c.get_offsets()) for c in ax.collections] == [6, 6]
    with pytest.raises(ValueError, match="one row per label"):
        plotting.plot_embedding(X, ["a"])


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # as if matplotlib were not installed
    with pytest.raises(ImportError, match=r'pip install "skvgg\[plot\]"'):
        plotting.plot_learning_curve([1], {"a": [1]})


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


DEMO = ("demo", "--arch", "vgg11", "--size", "32", "--per-class", "1,2", "--repeats", "2", "--test-per-class", "3", "--quiet")


def test_demo_writes_its_learning_curve(capsys, tmp_path, vgg11_file):
    figure = tmp_path / "figures" / "demo.png"  # the folder is created
    code, out, err = run(capsys, *DEMO, "--weights", vgg11_file, "--plot", figure)
    assert code == 0, err
    assert f"figure written to {figure}" in out
    assert_png(figure)


def test_plot_without_matplotlib_exits_1_before_describing(capsys, tmp_path, vgg11_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    figure = tmp_path / "demo.png"
    code, out, err = run(capsys, *DEMO, "--weights", vgg11_file, "--plot", figure)
    assert code == 1
    assert 'pip install "skvgg[plot]"' in err and "--plot" in err
    assert "describing" not in out  # checked before any image is described
    assert not figure.exists()


def test_plot_refuses_an_unknown_format(capsys, tmp_path, vgg11_file):
    with pytest.raises(SystemExit) as exit_info:
        main([*DEMO, "--weights", str(vgg11_file), "--plot", str(tmp_path / "demo.gif")])
    assert exit_info.value.code == 2
    assert "--plot" in capsys.readouterr().err and not (tmp_path / "demo.gif").exists()


@pytest.mark.slow
def test_transfer_caltech_writes_scores_and_confusion_matrix(capsys, tmp_path, vgg11_file):
    root = make_caltech101(tmp_path / "data", counts={"BACKGROUND_Google": 4, "accordion": 4, "airplanes": 4})
    figure = tmp_path / "caltech.png"
    code, out, err = run(capsys, "transfer", "caltech101", "--root", root, "--arch", "vgg11", "--weights", vgg11_file,
                         "--scales", "224", "--splits", "2", "--train", "2", "--test", "2", "--quiet",
                         "--plot", figure)  # fmt: skip
    assert code == 0, err
    assert_png(figure)


@pytest.mark.slow
def test_transfer_voc_writes_ap_bars_and_curves(capsys, tmp_path, vgg11_file):
    make_voc(tmp_path / "data", "2007")
    figure = tmp_path / "voc.png"
    code, out, err = run(capsys, "transfer", "voc2007", "--root", tmp_path / "data", "--arch", "vgg11",
                         "--weights", vgg11_file, "--scales", "224", "--quiet", "--plot", figure)  # fmt: skip
    assert code == 0, err
    assert_png(figure)


def test_plot_transfer_draws_both_layouts():
    caltech = {
        "scores": [60.0, 70.0], "mean": 65.0, "std": 5.0, "paper": None, "metric": "mean class recall",
        "class_names": ["a", "b"], "y_true": [np.array([0, 1, 1])], "y_pred": [np.array([0, 1, 0])],
    }  # fmt: skip
    fig = plotting.plot_transfer(caltech)
    splits, matrix = fig.axes[:2]
    assert [p.get_height() for p in splits.patches] == [60.0, 70.0]
    assert matrix.images[0].get_array().tolist() == [[1.0, 0.0], [0.5, 0.5]]  # normalised per true class
    voc = {"class_names": ["a", "b"], "y_true": np.array([[1, -1], [-1, 1], [1, 1]]), "y_score": np.eye(3)[:, :2]}
    fig = plotting.plot_transfer(voc)
    assert len(fig.axes[0].patches) == 2 and len(fig.axes[1].get_lines()) >= 1
