"""Type hints on the public API: every public callable is annotated, mypy accepts the package,
and a user's code type-checks against the installed fastnn (py.typed) and is caught when wrong."""
import inspect
import os
import subprocess
import sys
import textwrap

import pytest

import fastnn
from conftest import REPO, require

_MODULE_FUNCTIONS = ["load", "load_mnist", "make_digits", "minibatches", "one_hot"]
_CLASSES = ["Network", "History", "MLPClassifier", "MLPRegressor"]


def _public_callables():
    """(qualified name, function) for every public function, method and property getter/setter."""
    for name in _MODULE_FUNCTIONS:
        yield name, getattr(fastnn, name)
    for cls_name in _CLASSES:
        cls = getattr(fastnn, cls_name)
        for name, member in inspect.getmembers(cls):
            if name.startswith("_") and name != "__init__":
                continue
            if member is getattr(object, name, None):
                continue
            raw = inspect.getattr_static(cls, name)
            if isinstance(raw, property):
                yield f"{cls_name}.{name} (getter)", raw.fget
                if raw.fset is not None:
                    yield f"{cls_name}.{name} (setter)", raw.fset
            elif callable(member) and getattr(member, "__module__", "").startswith("fastnn"):
                yield f"{cls_name}.{name}", member


def _missing_annotations(func):
    func = inspect.unwrap(getattr(func, "__func__", func))
    sig = inspect.signature(func)
    missing = [p.name for i, p in enumerate(sig.parameters.values())
               if p.annotation is inspect.Parameter.empty and not (i == 0 and p.name in ("self", "cls"))]
    if sig.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def test_every_public_callable_is_annotated():
    require("sklearn")
    checked = dict(_public_callables())
    # the walk finds the API it is meant to check, so an empty walk cannot pass
    for name in ["Network.fit", "Network.predict", "Network.weights (getter)", "Network.n_threads (setter)",
                 "History.plot", "MLPClassifier.fit", "MLPClassifier.predict_proba", "MLPRegressor.__init__",
                 "load", "one_hot"]:
        assert name in checked
    missing = {name: m for name, f in checked.items() if (m := _missing_annotations(f))}
    assert missing == {}


def test_missing_annotation_is_detected():
    def half(x: int, y) -> int:
        return x

    assert _missing_annotations(half) == ["y"]
    assert _missing_annotations(lambda: 0) == ["return"]


def test_py_typed_marker_is_installed():
    assert os.path.isfile(os.path.join(os.path.dirname(fastnn.__file__), "py.typed"))


def _mypy(tmp_path, code):
    """mypy's exit status and report on a user's script importing the fastnn that tests import."""
    require("mypy")
    script = tmp_path / "user.py"
    script.write_text(textwrap.dedent(code))
    env = dict(os.environ)
    parent = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
    if "site-packages" not in parent:  # a source checkout on PYTHONPATH; installed copies are found anyway
        env["MYPYPATH"] = parent
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--strict",
                           "--ignore-missing-imports", str(script)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


USER_CODE = """
    from typing import Any

    import numpy as np
    import numpy.typing as npt
    import fastnn
    from fastnn import MLPClassifier

    X, labels = fastnn.make_digits(100, seed=0)
    net = fastnn.Network([784, 30, 10], activation="sigmoid", dtype="float32", seed=0)
    history: fastnn.History = net.fit(X, labels, epochs=1, batch_size=10, learning_rate=3.0)
    last: float = history.train_loss[-1]
    out: npt.NDArray[np.floating[Any]] = net.predict(X)
    acc: float = net.accuracy(X, labels)
    n: int = net.n_params
    clf = MLPClassifier(hidden_layer_sizes=(20,), max_iter=3).fit(X, labels)
    proba: npt.NDArray[np.floating[Any]] = clf.predict_proba(X)
    counts = fastnn.MLPRegressor(loss="poisson", momentum=1.0, n_iter_no_change=np.inf, max_iter=2)
    rates: npt.NDArray[np.floating[Any]] = counts.fit(X, labels).predict(X)
    path: str = net.save("model.fastnn")
    again: fastnn.Network = fastnn.load(path)
"""


def test_user_code_type_checks_against_fastnn(tmp_path):
    status, report = _mypy(tmp_path, USER_CODE)
    assert status == 0, report


@pytest.mark.parametrize("wrong, expected", [
    ('share: str = net.accuracy(X, labels)', 'Incompatible types in assignment'),
    ('fastnn.Network([784, 10], loss="hinge")', 'Argument "loss" to "Network" has incompatible type'),
    ('net.fit(X, labels, epochs="ten")', 'Argument "epochs" to "fit" of "Network" has incompatible type'),
    ('fastnn.MLPRegressor(loss="huber")', 'Argument "loss" to "MLPRegressor" has incompatible type'),
    ('MLPClassifier(solver="lbfgs")', 'Argument "solver" to "MLPClassifier" has incompatible type'),
])
def test_mypy_catches_misuse(tmp_path, wrong, expected):
    status, report = _mypy(tmp_path, USER_CODE + "    " + wrong + "\n")
    assert status == 1 and expected in report, report


def test_package_passes_mypy():
    require("mypy")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
