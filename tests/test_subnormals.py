"""flush_subnormals: opt-in training with numbers below the smallest normal one computed as 0.

By default training is exact IEEE arithmetic, subnormal numbers included: Adam's L2 steps take the
weights of an input that is always 0 down into them. With flush_subnormals=True none appears, the
result does not depend on the thread count, a fit that never meets such a number is bit for bit the
exact one, and every thread's floating-point modes are given back after each training call.
"""
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import _core

sklearn = pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

pytestmark = pytest.mark.skipif(not _core._flush_available(), reason="flush_subnormals needs an x86 CPU")

FLUSH_BITS = 0x8040      # MXCSR: flush-to-zero (bit 15), denormals-are-zero (bit 6)


def _data(dtype=np.float32):
    """Three classes from features 1 and 2; feature 0 is always 0."""
    rng = np.random.default_rng(0)
    X = rng.random((200, 6)).astype(dtype)
    X[:, 0] = 0
    y = (X[:, 1] > 0.5).astype(int) + (X[:, 2] > 0.5)
    return X, y


def _subnormals(*arrays):
    count = 0
    for a in arrays:
        a = np.asarray(a)
        count += int(np.sum((a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)))
    return count


def _state(clf):
    opt = clf._net._opt
    return [clf._net._theta] + [a for a in (opt.v, opt.m1, opt.m2) if a is not None]


def _fit(flush, max_iter=300, **kwargs):
    X, y = _data()
    kwargs = {"hidden_layer_sizes": (8,), "batch_size": 10, "random_state": 0, "tol": 0,
              "n_iter_no_change": 10 ** 6, "max_iter": max_iter, **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fastnn.MLPClassifier(flush_subnormals=flush, **kwargs).fit(X, y)


def _team_modes(n_threads):
    """The modes of each thread of a team of n_threads (under OMP_THREAD_LIMIT, only the threads
    the team gets: -1 for the others)."""
    modes = _core._fp_modes(n_threads)
    assert modes[0] >= 0
    if "OMP_THREAD_LIMIT" not in os.environ:
        assert np.all(modes >= 0)
    return modes[modes >= 0]


def _env(**extra):
    """os.environ for a subprocess that imports the fastnn these tests import (an in-place build
    under PYTHONPATH=src too), with extra's variables."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]), **extra}


def _modes_clear(n_threads):
    return bool(np.all(_team_modes(n_threads) & FLUSH_BITS == 0))


def test_exact_by_default_flushed_on_request():
    exact = _fit(False)
    assert _subnormals(*_state(exact)) > 0       # the mechanism: Adam's L2 steps reach them
    flushed = _fit(True)
    assert _subnormals(*_state(flushed)) == 0
    # the input that is always 0: its weights decayed to tiny numbers in both, to 0 when flushed
    assert np.abs(exact.coefs_[0][0]).max() < 1e-20
    assert np.all(flushed.coefs_[0][0] == 0) or np.abs(flushed.coefs_[0][0]).max() < 1e-20
    # the rest of the network is the same to the last few bits
    np.testing.assert_allclose(flushed.coefs_[0][1:], exact.coefs_[0][1:], rtol=1e-5, atol=1e-20)
    assert np.array_equal(flushed.predict(_data()[0]), exact.predict(_data()[0]))


def test_without_subnormals_flushing_changes_nothing():
    """A short fit meets no subnormal number: flushed or not, the same weights bit for bit."""
    exact, flushed = _fit(False, max_iter=20), _fit(True, max_iter=20)
    assert _subnormals(*_state(exact)) == 0
    for a, b in zip(_state(exact), _state(flushed)):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flushed_results_do_not_depend_on_the_thread_count(dtype):
    X, y = _data(dtype)
    X = np.tile(X, (20, 1))        # 4,000 rows, batches of 200: large enough to split over threads
    y = np.tile(y, 20)
    fits = []
    for n_threads in (1, 2, 3):
        clf = fastnn.MLPClassifier(hidden_layer_sizes=(40,), max_iter=30, random_state=0, tol=0,
                                   n_iter_no_change=10 ** 6, n_threads=n_threads, flush_subnormals=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        fits.append(_state(clf))
        assert _modes_clear(n_threads) and _modes_clear(4)
    for other in fits[1:]:
        for a, b in zip(fits[0], other):
            assert np.array_equal(a, b)


def test_every_thread_gets_its_modes_back():
    """After flushed training calls (fit, partial_fit, a Network's fit), each thread of the caller's
    teams has its own modes again, and numpy in the calling thread computes subnormal numbers."""
    X, y = _data()
    for n_threads in (1, 2, 3):
        clf = fastnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, n_threads=n_threads,
                                   flush_subnormals=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        clf.partial_fit(X, y)
        net = fastnn.Network([6, 8, 3], n_threads=n_threads, flush_subnormals=True, seed=0)
        net.fit(X, y, epochs=2, batch_size=10, learning_rate=0.1)
        assert _modes_clear(n_threads) and _modes_clear(max(n_threads, 2))
    assert np.float32(1e-30) * np.float32(1e-10) != 0


def test_modes_given_back_when_training_fails():
    """A fit that diverges raises (from inside its training calls); the modes are still given back."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    est = fastnn.MLPRegressor(solver="sgd", learning_rate_init=1.0, random_state=0, batch_size=25,
                              max_iter=12, n_threads=2, flush_subnormals=True)
    with pytest.raises(FloatingPointError):
        est.fit(X, 1e3 * X[:, 0])
    assert _modes_clear(2)


def test_the_setting_is_validated_kept_and_cloned():
    from sklearn.base import clone
    from sklearn.utils._param_validation import InvalidParameterError
    X, y = _data()
    with pytest.raises(InvalidParameterError, match="flush_subnormals"):
        fastnn.MLPClassifier(flush_subnormals="yes").fit(X, y)
    with pytest.raises(TypeError, match="flush_subnormals"):
        fastnn.Network([6, 3], flush_subnormals=1)
    est = fastnn.MLPRegressor(flush_subnormals=True)
    assert est.get_params()["flush_subnormals"] is True and clone(est).flush_subnormals is True
    net = fastnn.Network([6, 3], flush_subnormals=True)
    assert pickle.loads(pickle.dumps(net)).flush_subnormals is True
    assert fastnn.Network([6, 3]).flush_subnormals is False
    net.flush_subnormals = False
    assert net.flush_subnormals is False


def test_a_loaded_model_trains_exactly(tmp_path):
    net = fastnn.Network([6, 3], flush_subnormals=True, seed=0)
    net.save(tmp_path / "m.fastnn")
    assert fastnn.load(tmp_path / "m.fastnn").flush_subnormals is False


def test_command_line_option(tmp_path):
    X, y = _data()
    np.savez(tmp_path / "d.npz", X=X, y=y)
    models = {}
    for flag in ([], ["--flush-subnormals"]):
        name = f"m{len(flag)}.fastnn"
        r = subprocess.run([sys.executable, "-m", "fastnn", "train", "--data", "d.npz", "--sizes", "6,8,3",
                            "--epochs", "3", "--save", name, *flag], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300, env=_env())
        assert r.returncode == 0, r.stderr
        models[len(flag)] = fastnn.load(tmp_path / name)
    # three epochs meet no subnormal number: the same weights
    assert np.array_equal(models[0]._theta, models[1]._theta)


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_enter_sets_every_thread_of_the_team(n_threads):
    """_enter_flush sets the modes in each thread of the team the training calls then use (and
    at least two: the kernels' two-thread regions), _leave_flush clears them in each."""
    team = max(n_threads, 2) if fastnn.build_info()["openmp"] else 1
    saved = _core._enter_flush(n_threads)
    try:
        assert np.all(_team_modes(team) & FLUSH_BITS == FLUSH_BITS)
    finally:
        _core._leave_flush(saved)
    assert _modes_clear(team)


def test_an_estimator_pickled_before_the_setting_unpickles_exact():
    """A fitted estimator pickled by a fastnn without flush_subnormals (its state has no such
    entry) unpickles with it False and predicts as before."""
    X, y = _data()
    clf = _fit(False, max_iter=5)
    state = dict(clf.__getstate__())      # (a copy: it may be clf's own __dict__)
    del state["flush_subnormals"]
    old = fastnn.MLPClassifier.__new__(fastnn.MLPClassifier)
    old.__setstate__(state)
    assert old.flush_subnormals is False and old.get_params()["flush_subnormals"] is False
    assert np.array_equal(old.predict_proba(X), clf.predict_proba(X))


def test_under_omp_dynamic_every_thread_is_set_and_given_back():
    """With OMP_DYNAMIC=true OpenMP may give a region fewer threads than it asks for; the enter and
    leave regions turn that off for themselves, so that no worker keeps the modes after training
    (a worker left with them would flush in later, exact calls)."""
    script = """
import numpy as np, fastnn
from fastnn import _core
saved = _core._enter_flush(2)
assert np.all(_core._fp_modes(2) & 0x8040 == 0x8040), _core._fp_modes(2)
_core._leave_flush(saved)
assert np.all(_core._fp_modes(2) & 0x8040 == 0), _core._fp_modes(2)
X = np.random.default_rng(0).random((400, 6))
net = fastnn.Network([6, 40, 3], n_threads=2, flush_subnormals=True, seed=0)
for _ in range(5):
    net.fit(X, X[:, :3], epochs=1, batch_size=200, learning_rate=0.1)
    assert np.all(_core._fp_modes(2) & 0x8040 == 0), _core._fp_modes(2)
print("ok")
"""
    env = _env(OMP_DYNAMIC="true")
    env.pop("OMP_THREAD_LIMIT", None)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
