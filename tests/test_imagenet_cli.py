"""``skvgg evaluate imagenet ROOT``, end to end on generated validation sets and random weights."""

import json

import pandas as pd
import pytest

from skvgg.cli import main
from skvgg.testing import make_imagenet_val


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
def test_evaluate_imagenet_writes_the_table_and_figure(capsys, tmp_path, vgg11_file):
    pytest.importorskip("matplotlib")
    root = make_imagenet_val(tmp_path / "val", layout="torchvision", classes=(3, 4), per_class=1)
    output, figure = tmp_path / "out" / "table.csv", tmp_path / "out" / "errors.png"
    code, out, err = run(
        capsys, "evaluate", "imagenet", root, "--arch", "vgg11", "--weights", vgg11_file, "--protocols", "center-crop",
        "--precision", "float32", "--per-class", 1, "--cache", tmp_path / "cache", "-o", output, "--plot", figure,
    )  # fmt: skip
    assert code == 0, err
    table = pd.read_csv(output)
    assert table.shape[0] == 1 and table["protocol"].tolist() == ["center-crop"] and table["images"].tolist() == [2]
    assert 0 <= table["top1_error"][0] <= 100 and table["top5_error"][0] <= table["top1_error"][0]
    assert "vgg11 float32 center-crop" in out and "table written to" in out and "figure written to" in out
    assert figure.stat().st_size > 1000
    # A second run reads the cached posteriors; JSON holds the same rows.
    code, out, err = run(
        capsys, "evaluate", "imagenet", root, "--arch", "vgg11", "--weights", vgg11_file, "--protocols", "center-crop",
        "--precision", "float32", "--cache", tmp_path / "cache", "-o", tmp_path / "table.json",
    )  # fmt: skip
    assert code == 0, err
    rows = json.loads((tmp_path / "table.json").read_text())
    assert rows[0]["cached"] == 1.0 and rows[0]["top5_error"] == pytest.approx(table["top5_error"][0])


def test_evaluate_imagenet_errors(capsys, tmp_path):
    code, _, err = run(capsys, "evaluate", "imagenet", tmp_path, "--weights", "none")
    assert code == 1 and "ILSVRC2012_img_val.tar" in err and "ILSVRC2012_devkit_t12" in err
    for argv, message in (
        (["--protocols", "dense-999"], "unknown protocol dense-999"),
        (["--arch", "vgg16+vgg99"], "unknown architecture 'vgg99'"),
        (["--precision", "int4"], "unknown precision int4"),
        (["--weights", "VGG16_Weights.IMAGENET1K_FEATURES"], "no trained 1000-way classifier"),
        (["--arch", "vgg19", "--weights", "VGG16_Weights.IMAGENET1K_V1"], "--weights VGG16_Weights.IMAGENET1K_V1 for vgg19"),
        (["-o", str(tmp_path / "table.npy")], "expected a file name ending in .csv or .json"),
        (["--per-class", "0"], "expected an integer >= 1"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["evaluate", "imagenet", str(tmp_path), *argv])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
