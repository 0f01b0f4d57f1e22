"""One tree of errors and warnings: skvgg.exceptions, its roots, the builtin bases kept, the old import paths."""

from __future__ import annotations

import ast
import builtins
import errno
import importlib
import inspect
import io
import pickle
import pkgutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import skvgg
from skvgg import exceptions
from skvgg._api import PUBLIC_MODULES
from skvgg.exceptions import (
    CacheIntegrityWarning,
    CacheReadOnlyWarning,
    CacheWarning,
    CommandError,
    DatasetDownloadError,
    DatasetError,
    DatasetFormatError,
    DatasetNotFoundError,
    ImageFailureWarning,
    ImageInputError,
    MissingExtraError,
    NotRegularFileError,
    OutOfMemoryWarning,
    PerformanceWarning,
    SkvggError,
    SkvggWarning,
    TrainingInterrupted,
    WeightsCorruptedError,
    WeightsError,
    WeightsMismatchError,
    WeightsUnavailableError,
)

PACKAGE = Path(skvgg.__file__).parent
CLASSES = [getattr(exceptions, name) for name in exceptions.__all__]
# Running `python -m skvgg` runs the command line: not a module to import.
ALL_MODULES = sorted(
    info.name for info in pkgutil.walk_packages(skvgg.__path__, prefix="skvgg.") if info.name != "skvgg.__main__"
)


# --- every class is in the tree ----------------------------------------------------------------------


def exception_classes(module):
    """The exception and warning classes a module holds (defined or imported), by name."""
    return {
        name: obj
        for name, obj in vars(module).items()
        if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__.split(".")[0] == "skvgg"
    }


def test_the_module_lists_every_class_it_defines():
    defined = {name for name, obj in exception_classes(exceptions).items() if obj.__module__ == "skvgg.exceptions"}
    assert defined == set(exceptions.__all__)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_class_derives_from_a_root(cls):
    if issubclass(cls, Warning):
        assert issubclass(cls, SkvggWarning) and issubclass(cls, UserWarning)
    else:
        assert issubclass(cls, SkvggError) and not issubclass(cls, Warning)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_error_and_warning_is_in_the_tree(module_name):
    module = importlib.import_module(module_name)
    found = 0
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            found += 1
            root = SkvggWarning if issubclass(obj, Warning) else SkvggError
            assert issubclass(obj, root), f"{module_name}.{name} is not a {root.__name__}"
            assert obj.__module__ == "skvgg.exceptions", f"{module_name}.{name} is defined in {obj.__module__}"
    if module_name in ("skvgg", "skvgg.exceptions", "skvgg.images", "skvgg.cache", "skvgg.models.weights"):
        assert found  # the walk sees the classes these modules export


@pytest.mark.parametrize("module_name", ALL_MODULES)
def test_every_module_holds_only_classes_of_the_tree(module_name):
    # Private modules too: a class defined anywhere in skvgg, public or not, must be in the tree
    # (helpers for internal control flow, named with an underscore, excepted).
    module = importlib.import_module(module_name)
    for name, obj in exception_classes(module).items():
        if obj.__name__.startswith("_"):
            continue
        root = SkvggWarning if issubclass(obj, Warning) else SkvggError
        assert issubclass(obj, root), f"{module_name}.{name}"
        assert obj.__module__ == "skvgg.exceptions", f"{module_name}.{name} is defined outside skvgg.exceptions"


BUILTIN_EXCEPTIONS = {name for name, obj in vars(builtins).items() if inspect.isclass(obj) and issubclass(obj, BaseException)}


def exception_definitions(source: str) -> list[str]:
    """Names of the public classes ``source`` defines on a builtin exception or warning, or on one of skvgg's."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            bases = {ast.unparse(base).rpartition(".")[2] for base in node.bases}
            if bases & (BUILTIN_EXCEPTIONS | set(exceptions.__all__)):
                found.append(node.name)
    return found


def test_no_source_file_defines_an_exception_class_outside_the_module():
    # Also classes defined inside functions, which the walk over module attributes cannot see.
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path != PACKAGE / "exceptions.py":
            names = exception_definitions(path.read_text(encoding="utf-8"))
            offences += [f"{path.relative_to(PACKAGE.parent)}: {name}" for name in names]
    assert offences == []


def test_the_source_check_sees_a_class_that_forgets_the_tree():
    source = (
        "import warnings\n"
        "class LocalError(ValueError): pass\n"
        "def f():\n"
        "    class Inner(skvgg.exceptions.WeightsError): pass\n"
        "class SlowWarning(warnings.UserWarning): pass\n"
        "class _Private(Exception): pass\n"
        "class Plain: pass\n"
    )
    assert sorted(exception_definitions(source)) == ["Inner", "LocalError", "SlowWarning"]


def test_the_module_imports_nothing_from_skvgg():
    tree = ast.parse((PACKAGE / "exceptions.py").read_text(encoding="utf-8"))
    imported = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert [ast.unparse(node) for node in imported] == ["from __future__ import annotations"]


# --- builtin bases are kept ----------------------------------------------------------------------------

BUILTIN_BASES = {
    ImageInputError: (ValueError,),
    WeightsError: (ValueError,),
    WeightsMismatchError: (WeightsError, ValueError),
    WeightsCorruptedError: (WeightsError, ValueError),
    WeightsUnavailableError: (WeightsError, ValueError, OSError),
    DatasetNotFoundError: (DatasetError, FileNotFoundError, OSError),
    DatasetFormatError: (DatasetError, ValueError),
    DatasetDownloadError: (DatasetError, OSError),
    NotRegularFileError: (OSError,),
    MissingExtraError: (ImportError,),
    CommandError: (Exception,),
    DatasetError: (Exception,),
    ImageFailureWarning: (UserWarning,),
    CacheWarning: (UserWarning,),
    CacheIntegrityWarning: (CacheWarning, UserWarning),
    CacheReadOnlyWarning: (CacheWarning, UserWarning),
    TrainingInterrupted: (UserWarning,),
    PerformanceWarning: (UserWarning,),
    OutOfMemoryWarning: (UserWarning, ResourceWarning),
}


def test_every_class_has_its_bases_listed():
    assert set(BUILTIN_BASES) == set(CLASSES) - {SkvggError, SkvggWarning}


@pytest.mark.parametrize("cls", list(BUILTIN_BASES), ids=lambda cls: cls.__name__)
def test_each_family_keeps_its_builtin_base(cls):
    for base in BUILTIN_BASES[cls]:
        assert issubclass(cls, base), (cls, base)


def test_families_do_not_cross():
    assert not issubclass(DatasetFormatError, WeightsError) and not issubclass(WeightsError, DatasetError)
    assert not issubclass(ImageInputError, (WeightsError, DatasetError))
    assert not issubclass(MissingExtraError, (ValueError, OSError))  # a missing package is not bad data


# --- the old import paths give the same objects ------------------------------------------------------------

OLD_PATHS = [
    ("skvgg", ["ImageInputError", "ImageFailureWarning", "TrainingInterrupted", "CacheWarning", "CacheIntegrityWarning",
               "CacheReadOnlyWarning", "DatasetNotFoundError", "DatasetFormatError", "DatasetDownloadError", "WeightsError",
               "WeightsMismatchError", "WeightsCorruptedError", "WeightsUnavailableError"]),
    ("skvgg.models.weights", ["WeightsError", "WeightsMismatchError", "WeightsCorruptedError", "WeightsUnavailableError"]),
    ("skvgg.weights", ["WeightsError", "WeightsUnavailableError"]),  # the 0.1 path (a moved module)
    ("skvgg.images", ["ImageInputError", "ImageFailureWarning"]),
    ("skvgg.images._inputs", ["ImageInputError"]),
    ("skvgg.datasets._base", ["DatasetNotFoundError", "DatasetFormatError", "DatasetDownloadError", "DatasetError"]),
    ("skvgg.cache", ["CacheWarning", "CacheIntegrityWarning", "CacheReadOnlyWarning"]),
    ("skvgg.classifier", ["TrainingInterrupted"]),
    ("skvgg._training", ["TrainingInterrupted"]),
    ("skvgg._filesystem", ["NotRegularFileError"]),
    ("skvgg.dask._collections", ["MissingExtraError"]),
    ("skvgg._dask", ["MissingExtraError"]),  # the former path of skvgg.dask._collections
    ("skvgg.cli", ["CommandError"]),
    ("skvgg.cli._messages", ["CommandError"]),
]  # fmt: skip


@pytest.mark.parametrize("module_name, names", OLD_PATHS, ids=[module for module, _ in OLD_PATHS])
def test_old_import_paths_give_the_same_class(module_name, names):
    module = importlib.import_module(module_name)
    for name in names:
        assert getattr(module, name) is getattr(exceptions, name), f"{module_name}.{name}"
    listed = getattr(module, "__all__", None)
    if listed is not None and module_name not in ("skvgg.cli", "skvgg.cli._messages", "skvgg._training"):
        assert set(names) <= set(listed)  # still exported where they were exported


def test_the_top_level_is_lazy_about_its_errors():
    # The errors' module imports nothing: `skvgg.WeightsError` does not load torch (checked in a fresh process).
    import subprocess

    code = "import sys, skvgg; skvgg.WeightsError; skvgg.ImageInputError; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("old_module", ["skvgg.images", "skvgg.models.weights", "skvgg.cache"])
def test_a_pickle_naming_a_former_home_loads(old_module):
    cls = {"skvgg.images": ImageInputError, "skvgg.models.weights": WeightsError, "skvgg.cache": CacheWarning}[old_module]
    error = cls("bad", 3, "/data/a.jpg") if cls is ImageInputError else cls("bad")
    blob = pickle.dumps(error, protocol=0)
    assert b"skvgg.exceptions" in blob
    former = pickle.loads(blob.replace(b"skvgg.exceptions", old_module.encode()))
    assert type(former) is cls and str(former) == str(error)


# --- real failures are caught by `except SkvggError` ---------------------------------------------------


def raised(call):
    """The SkvggError ``call`` raises (an AssertionError if it raises nothing or something else)."""
    try:
        call()
    except SkvggError as error:
        return error
    raise AssertionError("no SkvggError raised")


def test_a_missing_weights_file(tmp_path):
    error = raised(lambda: skvgg.build_vgg("vgg11", weights=str(tmp_path / "missing.pth")))
    assert type(error) is WeightsError and isinstance(error, ValueError) and "missing.pth" in str(error)


def test_weights_that_do_not_fit():
    error = raised(lambda: skvgg.build_vgg("vgg11", weights={"x": torch.zeros(1)}))
    assert type(error) is WeightsMismatchError and "features.0.weight" in str(error)


def test_a_weights_file_whose_name_hash_differs(tmp_path):
    from skvgg.models.weights import verify_weights_file

    path = tmp_path / "vgg11-mine-20240101.pth"
    torch.save({"x": torch.zeros(1)}, path)
    error = raised(lambda: verify_weights_file(path))
    assert type(error) is WeightsCorruptedError and str(path) in str(error)


def test_weights_that_cannot_be_downloaded(torch_home, offline):
    error = raised(lambda: skvgg.build_vgg("vgg11", weights="DEFAULT", progress=False))
    assert type(error) is WeightsUnavailableError and isinstance(error, OSError)


def test_a_bad_image_path(tmp_path):
    from skvgg.images import load_rgb

    missing = str(tmp_path / "missing.jpg")
    error = raised(lambda: load_rgb(missing, index=2))
    assert type(error) is ImageInputError and error.path == missing and error.index == 2
    error = raised(lambda: load_rgb(str(tmp_path)))  # a directory: refused before anything is read
    assert type(error) is ImageInputError and "is a directory" in str(error)


def test_a_path_that_is_not_a_regular_file(tmp_path):
    from skvgg._filesystem import open_regular_file

    error = raised(lambda: open_regular_file(tmp_path))
    assert type(error) is NotRegularFileError and isinstance(error, OSError)


def test_a_missing_dataset_folder(tmp_path):
    from skvgg.datasets import load_caltech101

    error = raised(lambda: load_caltech101(tmp_path / "nowhere"))
    assert type(error) is DatasetNotFoundError and isinstance(error, (DatasetError, FileNotFoundError))
    assert "nowhere" in str(error)


def test_a_dataset_folder_of_the_wrong_layout(tmp_path):
    from skvgg.datasets import load_image_folder

    error = raised(lambda: load_image_folder(tmp_path))  # no class folders
    assert type(error) is DatasetFormatError and isinstance(error, (DatasetError, ValueError))


def hide(monkeypatch, *modules):
    """Make ``import module`` fail for each module, as when its package is not installed."""
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def missing_matplotlib(monkeypatch, tmp_path):
    from skvgg import plotting

    hide(monkeypatch, "matplotlib", "matplotlib.pyplot")
    return lambda: plotting.plot_learning_curve([1], {"a": [1]})


def missing_torchao(monkeypatch, tmp_path):
    from skvgg.models._quantize import check_int8_available

    hide(monkeypatch, "torchao", "torchao.quantization", "torchao.quantization.pt2e")
    return lambda: check_int8_available(torch.device("cpu"))


def missing_safetensors_to_save(monkeypatch, tmp_path):
    from skvgg._persistence import save_state_dict

    hide(monkeypatch, "safetensors", "safetensors.torch")
    return lambda: save_state_dict(torch.nn.Linear(2, 2), tmp_path / "tiny.safetensors")


def missing_safetensors_to_read(monkeypatch, tmp_path):
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(b"\0" * 16)  # never read: the import fails first
    hide(monkeypatch, "safetensors", "safetensors.torch")
    return lambda: skvgg.build_vgg("vgg11", weights=str(path))


def missing_distributed(monkeypatch, tmp_path):
    from skvgg.dask._collections import require

    hide(monkeypatch, "distributed")
    return lambda: require("distributed")


MISSING_EXTRAS = {
    "matplotlib": (missing_matplotlib, "skvgg[plot]"),
    "torchao": (missing_torchao, "skvgg[int8]"),
    "safetensors (save)": (missing_safetensors_to_save, "skvgg[skops]"),
    "safetensors (read)": (missing_safetensors_to_read, "skvgg[skops]"),
    "distributed": (missing_distributed, "skvgg[dask]"),
}


@pytest.mark.parametrize("case", list(MISSING_EXTRAS))
def test_a_missing_extra_is_one_class_naming_the_extra(case, monkeypatch, tmp_path):
    prepare, extra = MISSING_EXTRAS[case]
    error = raised(prepare(monkeypatch, tmp_path))
    assert type(error) is MissingExtraError and isinstance(error, ImportError)
    assert error.extra == extra and extra in str(error) and "pip install" in str(error)
    assert error.name == case.split()[0]  # ImportError.name: the module that could not be imported
    assert isinstance(error.__cause__, ImportError)  # the failed import is kept


def test_the_command_line_reports_a_missing_extra(capsys, tmp_path, monkeypatch):
    from skvgg.cli import main
    from skvgg.testing import write_image

    path = tmp_path / "tiny.safetensors"
    path.write_bytes(b"\0" * 16)
    hide(monkeypatch, "safetensors", "safetensors.torch")
    image = write_image(tmp_path / "a.jpg")
    code = main(["featurize", str(image), "-o", str(tmp_path / "o.csv"), "--arch", "vgg11", "--weights", str(path),
                 "--device", "cpu", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "skvgg: error:" in err and "skvgg[skops]" in err and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()


# --- real warnings are SkvggWarnings ---------------------------------------------------------------------


def test_a_damaged_cache_entry_warns_a_skvgg_warning(tmp_path):
    from skvgg.cache import DiskCache

    cache = DiskCache(tmp_path)
    key = "ab" + "0" * 30
    cache.put(key, np.ones(8, dtype=np.float32))
    (tmp_path / "ab" / f"{key}.npy").write_bytes(b"\0garbage" * 40)
    with pytest.warns(SkvggWarning, match="Damaged descriptor cache entry") as record:
        assert cache.get(key) is None
    assert {w.category for w in record} == {CacheIntegrityWarning}


def test_a_failed_image_warns_a_skvgg_warning(tmp_path):
    from skvgg.testing import write_image

    X = [str(write_image(tmp_path / "a.jpg", size=(32, 32))), str(tmp_path / "missing.jpg")]
    featurizer = skvgg.VGGFeaturizer(
        "vgg11", weights=None, layer="pool5", preprocessing=skvgg.Preprocessing(resize_size=32, crop_size=32),
        on_error="nan", device="cpu", precision="float32",
    )  # fmt: skip
    with pytest.warns(SkvggWarning, match="missing.jpg") as record:
        features = featurizer.transform(X)
    assert {w.category for w in record} == {ImageFailureWarning}
    assert np.isfinite(features[0]).all() and np.isnan(features[1]).all()


@pytest.mark.skipif(
    importlib.import_module("skvgg._pipeline.runtime").cpu_native_float16(), reason="this CPU computes float16 natively"
)
def test_a_slow_precision_warns_a_performance_warning():
    from skvgg._pipeline.runtime import resolve_precision

    with pytest.warns(PerformanceWarning, match="precision='float16' on this CPU"):
        assert resolve_precision("float16", torch.device("cpu")) == torch.float16


def test_running_out_of_memory_warns_an_out_of_memory_warning():
    from skvgg._pipeline.runtime import halve_after_oom

    state = {}
    with pytest.warns(OutOfMemoryWarning, match="retrying with batch_size=4") as record:
        assert halve_after_oom(RuntimeError("CPU out of memory"), 8, state, "batch of 8") == 4
    assert issubclass(record[0].category, ResourceWarning) and state == {"batch_size": 4}


def test_skvgg_warnings_default_to_the_root():
    from skvgg._warnings import warn

    with pytest.warns(SkvggWarning) as record:
        warn("something to say")
    assert [w.category for w in record] == [SkvggWarning]


def test_one_filter_silences_every_skvgg_warning():
    from skvgg._pipeline.runtime import halve_after_oom

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", SkvggWarning)
        halve_after_oom(RuntimeError("CPU out of memory"), 8, {}, "batch of 8")
        warnings.warn("not skvgg's", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["not skvgg's"]


# --- pickling ------------------------------------------------------------------------------------------------

# Constructor arguments of the classes whose __init__ differs from Exception's: their instances
# must survive pickling (joblib workers send them back), which the default reduction breaks.
CUSTOM_INIT = {
    ImageInputError: (("file not found; expected a readable image file",), {"index": 3, "path": "/data/cat.jpg"}),
    MissingExtraError: (("figures need matplotlib: pip install 'skvgg[plot]'",), {"extra": "skvgg[plot]", "name": "matplotlib"}),
    # Its own __new__ (built through OSError's): raised with its message alone.
    WeightsUnavailableError: (("cannot download vgg16-397923af.pth: place it in ~/.cache/torch/hub/checkpoints/",), {}),
}


def test_every_class_with_its_own_init_has_a_pickling_case():
    own_init = {cls for cls in CLASSES if "__init__" in vars(cls) or "__new__" in vars(cls)}
    assert own_init == set(CUSTOM_INIT)


def instance(cls):
    args, kwargs = CUSTOM_INIT.get(cls, (("what went wrong",), {}))
    return cls(*args, **kwargs)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_an_instance_round_trips_through_pickle(cls):
    error = instance(cls)
    for protocol in (0, pickle.HIGHEST_PROTOCOL):
        loaded = pickle.loads(pickle.dumps(error, protocol=protocol))
        assert type(loaded) is cls
        assert str(loaded) == str(error) and loaded.args == error.args
        assert vars(loaded) == vars(error)
        if isinstance(error, ImportError):
            assert loaded.name == error.name


def test_image_input_error_keeps_its_attributes_through_pickle():
    loaded = pickle.loads(pickle.dumps(instance(ImageInputError)))
    assert (loaded.index, loaded.path, loaded.reason) == (3, "/data/cat.jpg", "file not found; expected a readable image file")
    assert str(loaded) == "X[3] ('/data/cat.jpg'): file not found; expected a readable image file"


# WeightsUnavailableError is a ValueError before an OSError: it is built from its message alone, as it is raised.
@pytest.mark.parametrize("cls", [DatasetNotFoundError, DatasetDownloadError, NotRegularFileError])
def test_os_errors_keep_errno_and_filename_through_pickle(cls):
    error = cls(errno.ENOENT, "No such file or directory", "/data/voc")
    loaded = pickle.loads(pickle.dumps(error))
    assert type(loaded) is cls and (loaded.errno, loaded.strerror, loaded.filename) == (errno.ENOENT, error.strerror, "/data/voc")
    assert isinstance(loaded, FileNotFoundError) == isinstance(error, FileNotFoundError)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_an_instance_round_trips_through_dask_exception_pickling(cls):
    # Dask's workers send exceptions to the client with tblib's reducer (distributed installs it for
    # every exception class), which rebuilds some through ``cls.__new__(cls)``; a class whose first
    # builtin base is not its layout base (ValueError before OSError) must still be built.
    tblib = pytest.importorskip("tblib.pickling_support")
    error = instance(cls)
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer)
    pickler.dispatch_table = {cls: tblib.pickle_exception}  # this pickler only: nothing installed process-wide
    pickler.dump(error)
    loaded = pickle.loads(buffer.getvalue())
    assert type(loaded) is cls
    assert str(loaded) == str(error) and loaded.args == error.args
