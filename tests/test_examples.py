"""The scripts of examples/ run end to end on their generated stand-in data (random weights, CPU)."""

import importlib.util
import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
NAMES = ["caltech101_transfer", "voc2007_transfer", "grid_search_layers", "fine_tune"]


def load_example(name):
    """Import examples/<name>.py as a module (examples/ is not a package)."""
    path = EXAMPLES_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"skvgg_example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", NAMES)
def test_docstring_says_how_to_run_on_real_data(name):
    module = load_example(name)
    assert f"python examples/{name}.py --root" in module.__doc__
    assert callable(module.main)


@pytest.mark.parametrize("name", NAMES)
def test_help_as_a_script(name, monkeypatch, capsys):
    # Runs the file as __main__ (its `sys.exit(main())` guard), without a subprocess.
    monkeypatch.setattr(sys, "argv", [f"{name}.py", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(EXAMPLES_DIR / f"{name}.py"), run_name="__main__")
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--root", "--arch", "--weights", "--device"):
        assert option in out


@pytest.mark.slow
def test_caltech101_transfer_standin(capsys):
    assert load_example("caltech101_transfer").main(["--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "STAND-IN RUN" in out and "RANDOM weights (vgg11)" in out
    assert "fc7 at scales 224 px (concatenated), averaged with the mirror image, L2, LinearSVC; 3 splits of 3 train" in out
    assert "Q=" not in out
    for number in (1, 2, 3):
        assert f"split {number}: mean class recall" in out
    assert "mean +- std over 3 splits:" in out
    assert "paper (Table 11, vgg11): not in Table 11" in out


@pytest.mark.slow
def test_caltech101_transfer_on_a_root(tmp_path, capsys):
    # The real-data path (--root): no stand-in banner, protocol sizes from the options.
    from skvgg.testing import make_caltech101

    make_caltech101(tmp_path, counts={"Faces": 3, "accordion": 3, "airplanes": 3})
    argv = ["--root", str(tmp_path), "--weights", "random", "--arch", "vgg11", "--scales", "224"]
    argv += ["--n-train", "2", "--n-test", "1", "--splits", "1", "--device", "cpu"]
    assert load_example("caltech101_transfer").main(argv) == 0
    out = capsys.readouterr().out
    assert "STAND-IN" not in out
    assert "Caltech-101: 9 images, 3 classes" in out
    assert "split 1: mean class recall" in out and "mean +- std over 1 splits:" in out


@pytest.mark.slow
def test_voc2007_transfer_standin(capsys):
    assert load_example("voc2007_transfer").main(["--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "STAND-IN RUN" in out and "RANDOM weights (vgg11)" in out
    assert "VOC-2007: 20 trainval and 10 test images, 20 classes" in out
    assert "fc7 at scales 224 px (averaged), averaged with the mirror image, L2, one-vs-rest LinearSVC" in out
    for name in ("aeroplane", "diningtable", "tvmonitor"):  # every class has a test positive: an AP each
        line = next(line for line in out.splitlines() if line.strip().startswith(name))
        assert "n/a" not in line
    assert "mAP (11-point) on test:" in out
    assert "paper (Table 11, vgg11): not in Table 11" in out


def test_grid_search_layers_standin(capsys):
    assert load_example("grid_search_layers").main(["--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "STAND-IN RUN" in out and "RANDOM weights (vgg11) at 64 px" in out
    assert "3 layers x 3 C values x 3 folds" in out
    assert "cv_results_ (9 candidates" in out
    table = out.split("cv_results_ (9 candidates")[1]
    for layer in ("fc6", "fc7", "pool5"):
        assert table.count(f" {layer} ") + table.count(f"\n{layer} ") >= 3
    assert "best: layer=" in out and "test mean class recall" in out


@pytest.mark.slow
def test_fine_tune_standin(capsys):
    assert load_example("fine_tune").main(["--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "STAND-IN RUN" in out and "RANDOM weights (vgg11) at 64 px" in out
    assert "training 'classifier', at most 3 epochs" in out
    history = out.split("history_:")[1].splitlines()
    assert history[1].split()[:6] == ["epoch", "train_loss", "valid_score", "lr", "lr_cut", "time"]
    assert [line.split()[0] for line in history[2:5]] == ["1", "2", "3"]
    assert "test accuracy:" in out
    assert "reloaded model gives the same predictions: True" in out


@pytest.mark.slow
def test_fine_tune_from_a_weights_file_saves_only_the_trained_layers(vgg11_file, tmp_path, capsys):
    # Pretrained weights from a file: the saved model holds only the new fc8, not the frozen network.
    model_out = tmp_path / "model.joblib"
    argv = ["--weights", str(vgg11_file), "--arch", "vgg11", "--image-size", "64", "--train-layers", "head"]
    argv += ["--augment", "--epochs", "2", "--device", "cpu", "--model-out", str(model_out)]
    assert load_example("fine_tune").main(argv) == 0
    out = capsys.readouterr().out
    assert "RANDOM weights" not in out
    assert "training 'head', at most 2 epochs" in out
    assert "reloaded model gives the same predictions: True" in out
    assert model_out.exists() and model_out.stat().st_size < 5_000_000
