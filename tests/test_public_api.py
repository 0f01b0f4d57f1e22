"""The public API: one import path per name, datasets/metrics/splitters only in their submodules."""

import importlib

import pytest

import skvgg
from skvgg._api import PUBLIC_MODULES

# The top level and the task submodules: no name in two of them.
TASK_MODULES = ("skvgg", "skvgg.datasets", "skvgg.metrics", "skvgg.model_selection", "skvgg.experiments")


def test_top_level_holds_estimators_networks_errors_warnings_and_cache_controls():
    assert sorted(skvgg.__all__) == sorted(
        [
            "VGGClassifier",
            "VGGFeaturizer",
            "VGGImageNetClassifier",
            "VGG",
            "Preprocessing",
            "build_vgg",
            "list_archs",
            "resolve_arch",
            "CacheIntegrityWarning",
            "CacheReadOnlyWarning",
            "CacheWarning",
            "DatasetDownloadError",
            "DatasetFormatError",
            "DatasetNotFoundError",
            "ImageFailureWarning",
            "ImageInputError",
            "TrainingInterrupted",
            "WeightsCorruptedError",
            "WeightsError",
            "WeightsMismatchError",
            "WeightsUnavailableError",
            "clear_memory_cache",
            "clear_network_cache",
            "keep_freed_memory",
        ]
    )
    for name in skvgg.__all__:
        obj = getattr(skvgg, name)
        if name[0].isupper() and isinstance(obj, type) and name.endswith(("Error", "Warning", "Interrupted")):
            assert issubclass(obj, Exception), name


@pytest.mark.parametrize(
    "name, module",
    [
        ("load_caltech101", "skvgg.datasets"),
        ("load_voc", "skvgg.datasets"),
        ("VOC_CLASSES", "skvgg.datasets"),
        ("mean_class_recall", "skvgg.metrics"),
        ("voc07_map_scorer", "skvgg.metrics"),
        ("PerClassSplit", "skvgg.model_selection"),
        ("CALTECH101_PROTOCOL", "skvgg.model_selection"),
        ("run_transfer", "skvgg.experiments"),
    ],
)
def test_datasets_metrics_and_splitters_live_only_in_their_submodule(name, module):
    assert name in importlib.import_module(module).__all__
    assert not hasattr(skvgg, name)


def test_every_public_name_has_one_import_path():
    owners = {}
    for module_name in TASK_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            getattr(module, name)  # listed names exist
            owners.setdefault(name, []).append(module_name)
    shared = {name: modules for name, modules in owners.items() if len(modules) > 1}
    assert shared == {}


def test_a_name_in_several_public_modules_is_one_object():
    # Re-exports (skvgg.build_vgg is skvgg.models.zoo.build_vgg) are allowed, homonyms are not.
    assert set(TASK_MODULES) <= set(PUBLIC_MODULES) and "skvgg.images" in PUBLIC_MODULES
    objects = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            objects.setdefault(name, []).append((module_name, getattr(module, name)))
    for name, found in objects.items():
        first = found[0][1]
        for module, obj in found[1:]:
            # skvgg.testing keeps its own copies of constants (VOC_CLASSES): an independent oracle
            # for the code it tests, equal by value.
            assert obj is first or (module == "skvgg.testing" and obj == first), (name, [m for m, _ in found])
