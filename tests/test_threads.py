"""Threads: results independent of n_threads; the GIL is released while kernels run; forks."""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fastnn


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_results_do_not_depend_on_the_thread_count(dtype, optimizer):
    rng = np.random.default_rng(0)
    X = rng.random((300, 130))
    labels = rng.integers(0, 7, 300)
    nets = []
    for n_threads in (1, 2, 3):
        net = fastnn.Network([130, 200, 70, 7], activation="relu", output_activation="softmax",
                             loss="cross_entropy", init="he", dtype=dtype, seed=4, n_threads=n_threads)
        net.fit(X, labels, epochs=2, batch_size=64, optimizer=optimizer,
                learning_rate=0.01 if optimizer == "adam" else 0.1)
        nets.append(net)
    for other in nets[1:]:
        for p, q in zip(nets[0].weights + nets[0].biases, other.weights + other.biases):
            assert np.array_equal(p, q)
        assert np.array_equal(nets[0].predict(X), other.predict(X))
        for g, h in zip(nets[0].gradients(X, labels)[0], other.gradients(X, labels)[0]):
            assert np.array_equal(g, h)


def test_n_threads_validation():
    net = fastnn.Network([3, 2], n_threads=2)
    assert net.n_threads == 2
    net.n_threads = None
    assert net.n_threads >= 1
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n_threads"):
            net.n_threads = bad


def _progress_of_a_python_thread_during(work):
    """How many times a pure-Python loop in another thread advanced while work() ran."""
    counter = {"n": 0, "stop": False}

    def spin():
        while not counter["stop"]:
            counter["n"] += 1

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.05)
    before = counter["n"]
    t0 = time.perf_counter()
    work()
    seconds = time.perf_counter() - t0
    during = counter["n"] - before
    counter["stop"] = True
    t.join()
    return during, seconds


def test_gil_is_released_during_fit_and_predict():
    rng = np.random.default_rng(1)
    X = rng.random((6000, 400)).astype(np.float32)
    labels = rng.integers(0, 10, 6000)
    net = fastnn.Network([400, 400, 10], dtype="float32", seed=0, n_threads=1)
    # the other thread's free rate, measured while this one sleeps
    free, slept = _progress_of_a_python_thread_during(lambda: time.sleep(0.2))
    free_rate = free / slept
    # one epoch is one compiled call: had it held the GIL, the other thread would have stalled
    # (a C call that holds the GIL lets it reach about 4% of its free rate; nogil kernels about 100%)
    during_fit, fit_seconds = _progress_of_a_python_thread_during(
        lambda: net.fit(X, labels, epochs=1, batch_size=50))
    during_predict, predict_seconds = _progress_of_a_python_thread_during(lambda: net.predict(np.tile(X, (4, 1))))
    assert fit_seconds > 0.05 and predict_seconds > 0.02
    assert during_fit > 0.25 * free_rate * fit_seconds, (during_fit, fit_seconds, free_rate)
    assert during_predict > 0.25 * free_rate * predict_seconds, (during_predict, predict_seconds, free_rate)


def test_the_gil_check_can_fail():
    """The same measure on a call that holds the GIL stays far below the bar used above."""
    free, slept = _progress_of_a_python_thread_during(lambda: time.sleep(0.2))
    held, seconds = _progress_of_a_python_thread_during(lambda: sum(range(5 * 10 ** 6)))
    assert held < 0.25 * (free / slept) * seconds, (held, seconds, free / slept)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_and_loss_on_many_chunks_match_the_oracle_for_any_thread_count(dtype):
    """2,000 rows are 8 chunks of at most 256 (the last one partial): with several threads each
    thread takes whole chunks, and the outputs and the summed loss are the same bits as on one."""
    from fastnn import _reference as ref
    rng = np.random.default_rng(5)
    X = rng.random((2000, 50)).astype(dtype)
    labels = rng.integers(0, 3, 2000)
    results = []
    for n_threads in (1, 2, 3):
        net = fastnn.Network([50, 40, 3], activation="tanh", output_activation="softmax", loss="cross_entropy",
                             init="glorot", dtype=dtype, seed=2, n_threads=n_threads)
        results.append((net.predict(X), net.loss(X, labels)))
    for out, loss in results[1:]:
        assert np.array_equal(out, results[0][0])
        assert loss == results[0][1]
    weights, biases = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    tol = 1e-10 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(results[0][0], ref.forward(weights, biases, X, "tanh", "softmax")[1][-1], atol=tol)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("sizes", [[300, 200, 70], [300, 1, 70], [257, 95, 33, 1]])
def test_oracle_agreement_on_the_threaded_path(sizes, dtype, n_threads):
    """Shapes big enough for the parallel products, a batch of 62 (not a multiple of the 4-row
    blocks), widths of 1: the kernels agree with the numpy oracle on every path."""
    from fastnn import _reference as ref
    rng = np.random.default_rng(3)
    X = rng.random((186, sizes[0])).astype(dtype)
    Y = rng.random((186, sizes[-1])).astype(dtype)
    net = fastnn.Network(sizes, activation="tanh", output_activation="sigmoid", init="glorot", dtype=dtype,
                         seed=1, n_threads=n_threads)
    weights, biases = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    tol = 1e-10 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(net.predict(X), ref.forward(weights, biases, X, "tanh", "sigmoid")[1][-1], atol=tol)
    for g, r in zip(sum(net.gradients(X, Y), []), sum(ref.backprop(weights, biases, X, Y, "tanh", "sigmoid"), [])):
        np.testing.assert_allclose(g, r, atol=tol)
    for start in range(0, 186, 62):
        net.train_batch(X[start:start + 62], Y[start:start + 62], learning_rate=0.5)
        ref.train_batch(weights, biases, X[start:start + 62], Y[start:start + 62], learning_rate=0.5,
                        act="tanh", out="sigmoid")
    assert max(np.abs(a - b).max() for a, b in zip(net.weights + net.biases, weights + biases)) <= tol


def test_eight_threads_predicting_at_once_match_serial_calls():
    rng = np.random.default_rng(5)
    net = fastnn.Network([300, 200, 10], activation="relu", output_activation="softmax", init="he", seed=0)
    inputs = [rng.random((500, 300)) for _ in range(8)]
    serial = [net.predict(x) for x in inputs]
    results = [None] * 8
    barrier = threading.Barrier(8)

    def work(k):
        barrier.wait()
        for _ in range(5):
            results[k] = net.predict(inputs[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, serial):
        assert np.array_equal(got, want)


def test_predict_during_fit_sees_only_whole_epochs():
    """Predictions made while fit runs in another thread each match the parameters at some epoch boundary."""
    rng = np.random.default_rng(6)
    X = rng.random((4000, 100))
    labels = rng.integers(0, 5, 4000)
    probe = X[:20]
    net = fastnn.Network([100, 64, 5], seed=0)
    states = [net._theta.copy()]
    seen = []
    done = threading.Event()

    def record(n, info):
        states.append(n._theta.copy())

    def predictor():
        while not done.is_set():
            seen.append(net.predict(probe))

    t = threading.Thread(target=predictor)
    t.start()
    try:
        net.fit(X, labels, epochs=15, batch_size=5, callbacks=[record])
    finally:
        done.set()
        t.join()
    assert len(seen) > 15
    reference = fastnn.Network([100, 64, 5], seed=0)
    expected = []
    for theta in states:
        reference._theta[...] = theta
        expected.append(reference.predict(probe))
    for out in seen:
        assert any(np.array_equal(out, e) for e in expected)


def test_round_trip_probe_times_two_threads_or_says_it_could_not():
    """bench/round_trip.py's probe (_core._round_trip): a positive, finite time per round trip of a
    cache line between two threads, or nan when the region got one thread; n < 1 is refused."""
    from fastnn import _core
    trip = _core._round_trip(2000)
    assert np.isnan(trip) or (np.isfinite(trip) and trip > 0)
    with pytest.raises(ValueError, match="at least 1"):
        _core._round_trip(0)


# A parent that has trained on two threads, then forks (os.fork, multiprocessing's "fork" start
# method, a fork from a thread while another thread trains); each child trains, predicts and sends
# back its weights, which must be those of the same fit in the parent. Run in a subprocess with a
# timeout: before the fork handlers, each child waited forever for the parent's OpenMP workers.
_FORK_SCRIPT = r"""
import multiprocessing, os, pickle, sys, threading
import numpy as np
import fastnn
from fastnn import _core

release = sys.argv[1] == "release"
_core._set_release_at_fork(release)
rng = np.random.default_rng(0)
X = rng.random((600, 70))
y = rng.integers(0, 5, 600)

def fit(seed):
    net = fastnn.Network([70, 96, 5], activation="relu", output_activation="softmax",
                         loss="cross_entropy", init="he", seed=seed, n_threads=2)
    net.fit(X, y, epochs=2, batch_size=32, optimizer="adam", learning_rate=0.01)
    return [w.copy() for w in net.weights + net.biases] + [net.predict(X)]

def in_child(seed):
    return fit(seed), _core._one_thread()

def forked(seed):
    # os.fork: the child sends (weights, one_thread) through a pipe
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        with os.fdopen(w, "wb") as f:
            pickle.dump(in_child(seed), f)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        got = pickle.load(f)
    assert os.waitpid(pid, 0)[1] == 0
    return got

expected = {seed: fit(seed) for seed in (1, 2, 3)}      # the parent's workers now exist
results = [forked(1)]
with multiprocessing.get_context("fork").Pool(2) as pool:
    results += pool.map(in_child, [2, 3])
stop = threading.Event()
def keep_training():
    while not stop.is_set():
        fit(4)
trainer = threading.Thread(target=keep_training)
trainer.start()
try:
    results.append(forked(3))                          # while another thread trains
finally:
    stop.set()
    trainer.join()
for seed, (arrays, one_thread) in zip((1, 2, 3, 3), results):
    assert all(np.array_equal(a, b) for a, b in zip(arrays, expected[seed])), seed
    assert one_thread == (not release), (seed, one_thread)
assert not _core._one_thread()
print("ok", len(results))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
@pytest.mark.parametrize("mode", ["release", "no-release"])
def test_a_forked_child_trains_after_the_parent_used_two_threads(mode):
    """release: the children train on two threads; no-release (as where libgomp cannot release its
    workers): they train on one. Both get the parent's weights, bit for bit."""
    try:
        r = subprocess.run([sys.executable, "-c", _FORK_SCRIPT, mode], capture_output=True, text=True,
                           timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("a forked child hung (it waited for the parent's OpenMP threads)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["ok", "4"]
