"""The paper's transfer pipelines and protocol runner on generated datasets."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer
from sklearn.svm import LinearSVC

from skvgg.datasets import load_caltech101, load_voc
from skvgg.experiments import TABLE_11, paper_featurizer, paper_pipeline, paper_search, run_transfer
from skvgg.testing import make_caltech101, make_voc


def _head(C, multilabel=False):
    """The SVM part of the paper's pipeline, on precomputed descriptors."""
    svm = LinearSVC(C=C)
    return Pipeline([("l2", Normalizer()), ("svm", OneVsRestClassifier(svm) if multilabel else svm)])


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


@pytest.mark.slow
def test_paper_pipeline_and_search_on_a_miniature_caltech(tmp_path, vgg11_file):
    data = load_caltech101(make_caltech101(tmp_path, counts={"BACKGROUND_Google": 5, "accordion": 5, "airplanes": 5}))
    pipe = paper_pipeline("caltech101", arch="vgg11", weights=vgg11_file, scales=(224,), cache=True, device="cpu")
    Cs = (1e-3, 0.1, 10.0)
    search = paper_search("caltech101", pipe, Cs=Cs, random_state=0).fit(data.paths, data.target)
    # The protocol made directly: the paper's descriptors of every image (computed again,
    # without the cache), one 20 % hold-out per class, mean class recall, the best C refit.
    from skvgg.metrics import mean_class_recall
    from skvgg.model_selection import PerClassHoldOut

    y = np.asarray(data.target)
    described = clone(pipe["vgg"]).set_params(cache=None).fit().transform(data.paths)
    ((train, valid),) = PerClassHoldOut(0.2, random_state=0).split(described, y)
    scores = [mean_class_recall(y[valid], _head(C).fit(described[train], y[train]).predict(described[valid])) for C in Cs]
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], scores, atol=1e-12)
    assert search.best_params_ == {"svm__C": Cs[int(np.argmax(scores))]}
    best = _head(search.best_params_["svm__C"]).fit(described, y)
    np.testing.assert_array_equal(search.predict(data.paths), best.predict(described))
    # The fused pipeline stacks two networks' descriptors.
    fused = paper_pipeline("caltech101", arch=("vgg11", "vgg11"), weights=[vgg11_file, None], random_state=0, scales=(224,))
    assert fused["vgg"].fit().transform(data.paths[:2]).shape == (2, 2 * 4096)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Label not:UserWarning", "ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_run_transfer_reports_beside_the_paper(tmp_path, vgg11_file):
    make_voc(tmp_path, "2007")
    lines = []
    results = run_transfer("voc2007", tmp_path, arch="vgg11", weights=vgg11_file, scales=(224,), report=lines.append)
    assert results["metric"] == "mAP (11-point)" and len(results["scores"]) == 1
    assert lines[0].startswith("PASCAL VOC-2007: vgg11") and "mean +- std" in lines[-1]
    assert results["featurize_seconds"] > 0
    # The protocol made directly: trainval and test described with the paper's VOC views,
    # C chosen on a 20 % hold-out of trainval by 11-point mAP, refit on trainval, scored on test.
    from sklearn.model_selection import ShuffleSplit

    from skvgg.experiments import C_GRID
    from skvgg.metrics import voc07_map_scorer, voc_mean_average_precision

    train, test = load_voc(tmp_path, "2007", "trainval"), load_voc(tmp_path, "2007", "test")
    featurizer = paper_featurizer("voc2007", arch="vgg11", weights=vgg11_file, scales=(224,)).fit()
    X_train, X_test = featurizer.transform(train.paths), featurizer.transform(test.paths)
    ((fit, valid),) = ShuffleSplit(n_splits=1, test_size=0.2, random_state=0).split(X_train)
    validated = [
        voc07_map_scorer(_head(C, multilabel=True).fit(X_train[fit], train.Y[fit]), X_train[valid], train.Y[valid])
        for C in C_GRID
    ]
    C = C_GRID[int(np.nanargmax(validated))]
    decision = _head(C, multilabel=True).fit(X_train, train.Y).decision_function(X_test)
    assert results["Cs"] == [C]
    assert results["scores"][0] == pytest.approx(100 * voc_mean_average_precision(test.target, decision, method="11point"))
    assert results["mean"] == results["scores"][0] and results["std"] == 0.0


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


def test_the_protocols_pickle_and_show_under_the_public_module():
    # skvgg.experiments is a package of one module per harness: its records keep the public path,
    # so pickles written before the split load and pickles written now do not name a private module.
    import pickle

    from skvgg.experiments import DATASETS, IMAGENET_PROTOCOLS, DatasetProtocol, ImageNetProtocol

    for protocol in (DATASETS["voc2007"], IMAGENET_PROTOCOLS["multi-crop+dense"]):
        blob = pickle.dumps(protocol, protocol=0)
        assert f"skvgg.experiments\n{type(protocol).__name__}".encode() in blob
        assert pickle.loads(blob) == protocol
    assert repr(DatasetProtocol) == "<class 'skvgg.experiments.DatasetProtocol'>"
    assert ImageNetProtocol.__module__ == "skvgg.experiments"


def test_the_transfer_and_imagenet_harnesses_name_networks_alike():
    # One network key for Table 11 and Tables 3-5: canonical names, fusions joined by "+".
    from skvgg.experiments import C_GRID, IMAGENET_BLOCK, TABLES_3_5, paper_imagenet_errors

    assert ("caltech101", "vgg16+vgg19") in TABLE_11 and ("multi-crop", "vgg16+vgg19") in TABLES_3_5
    assert paper_imagenet_errors("multi-crop", "D+E")[:2] == TABLES_3_5[("multi-crop", "vgg16+vgg19")]
    assert paper_imagenet_errors("dense-256", "A")[:2] == TABLES_3_5[("dense-256", "vgg11")]
    # The module constants stay reachable from the package: paper_search's default grid, the cache's block size.
    assert list(C_GRID) == paper_search("caltech101").param_grid["svm__C"]
    assert isinstance(IMAGENET_BLOCK, int) and IMAGENET_BLOCK > 0
