"""The paper's transfer pipelines and protocol runner on generated datasets."""

import numpy as np
import pytest
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import Normalizer
from sklearn.svm import LinearSVC

from skvgg.datasets import load_caltech101, load_voc
from skvgg.experiments import TABLE_11, paper_featurizer, paper_pipeline, paper_search, run_transfer
from skvgg.testing import make_caltech101, make_voc


def test_paper_settings_per_dataset():
    caltech = paper_featurizer("caltech101")
    assert (caltech.layer, caltech.scales, caltech.flip, caltech.scale_pooling) == ("fc7", (256, 384, 512), True, "stack")
    voc = paper_featurizer("VOC-2007", arch=("vgg16", "vgg19"))
    assert (voc.scales, voc.scale_pooling, voc.arch) == ((256, 384, 512, 640, 768), "mean", ["vgg16", "vgg19"])
    pipe = paper_pipeline("voc2012", C=0.5)
    assert isinstance(pipe["l2"], Normalizer) and isinstance(pipe["svm"], OneVsRestClassifier)
    assert pipe["svm"].estimator.C == 0.5
    assert isinstance(paper_pipeline("caltech256")["svm"], LinearSVC)
    assert TABLE_11[("caltech101", "vgg16+vgg19")] == (92.7, 0.5)
    with pytest.raises(ValueError, match="Unknown dataset 'imagenet'"):
        paper_pipeline("imagenet")


def test_paper_pipeline_and_search_on_a_miniature_caltech(tmp_path, vgg11_file):
    data = load_caltech101(make_caltech101(tmp_path, counts={"BACKGROUND_Google": 5, "accordion": 5, "airplanes": 5}))
    pipe = paper_pipeline("caltech101", arch="vgg11", weights=vgg11_file, scales=(224,), cache=True, device="cpu")
    search = paper_search("caltech101", pipe, Cs=(0.1, 10.0), random_state=0).fit(data.paths, data.target)
    assert search.best_params_["svm__C"] in (0.1, 10.0)
    assert search.predict(data.paths[:3]).shape == (3,)
    # The fused pipeline stacks two networks' descriptors.
    fused = paper_pipeline("caltech101", arch=("vgg11", "vgg11"), weights=[vgg11_file, None], random_state=0, scales=(224,))
    assert fused["vgg"].fit().transform(data.paths[:2]).shape == (2, 2 * 4096)


@pytest.mark.filterwarnings("ignore:Label not:UserWarning", "ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_run_transfer_reports_beside_the_paper(tmp_path, vgg11_file):
    make_voc(tmp_path, "2007")
    lines = []
    results = run_transfer("voc2007", tmp_path, arch="vgg11", weights=vgg11_file, scales=(224,), report=lines.append)
    assert results["metric"] == "mAP (11-point)" and len(results["scores"]) == 1
    assert lines[0].startswith("PASCAL VOC-2007: vgg11") and "mean +- std" in lines[-1]
    assert np.isfinite(results["mean"]) and results["Cs"][0] in (0.01, 0.1, 1.0, 10.0)
    test = load_voc(tmp_path, "2007", "test")
    assert results["featurize_seconds"] > 0 and len(test.paths) > 0


def test_run_transfer_checks_the_splits_before_describing(tmp_path, monkeypatch, vgg11_file):
    from skvgg import VGGFeaturizer

    def no_describing(self, X):
        raise AssertionError("images were described before the splits were checked")

    monkeypatch.setattr(VGGFeaturizer, "transform", no_describing)
    make_caltech101(tmp_path, counts={"accordion": 6, "airplanes": 3})
    lines = []
    with pytest.raises(ValueError, match=r"Caltech-101 .* cannot be split .*'airplanes' has 3; lower n_train=3"):
        run_transfer("caltech101", tmp_path, arch="vgg11", weights=vgg11_file, n_train=3, report=lines.append)
    with pytest.raises(ValueError, match="n_splits must be an integer >= 1, got 0"):  # was silently ignored
        run_transfer("caltech101", tmp_path, arch="vgg11", weights=vgg11_file, n_splits=0, report=lines.append)
    assert lines == []


def test_experiment_functions_refuse_bad_arguments_before_any_work(tmp_path):
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=r"'C' parameter of paper_pipeline must be a float in the range \(0.0, inf\)"):
        paper_pipeline("caltech101", C=0)
    with pytest.raises(InvalidParameterError, match="'estimator' parameter of paper_search must be an object implementing 'fit'"):
        paper_search("caltech101", estimator="svm")
    # before the dataset is even looked for (there is none under tmp_path)
    with pytest.raises(InvalidParameterError, match=r"'random_state' parameter of run_transfer must be an int in the range"):
        run_transfer("caltech101", tmp_path, random_state=-1)
    with pytest.raises(InvalidParameterError, match="'report' parameter of run_transfer must be a callable"):
        run_transfer("caltech101", tmp_path, report="stdout")
