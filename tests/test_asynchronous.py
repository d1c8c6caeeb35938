"""fit(asynchronous=True): Hogwild mini-batches on several threads at once.

What can be checked exactly despite the timing-dependent result: on one thread it is the
ordinary fit; with a learning rate of 1e-300 no parameter moves (each step is far below half an
ulp of every parameter) and every batch reads the same parameters, so the epoch's
loss (summed batch by batch in order) must equal the serial one bit for bit, which fails if a
batch is skipped, taken twice or given another batch's rows; Adam's step count is the number of
batches. And on the MNIST digits it must still learn about as well as the serial fit.
"""
import numpy as np
import pytest

import fastnn
from conftest import assert_raises_and_unchanged

SETTINGS = [
    dict(optimizer="sgd", learning_rate=0.5),
    dict(optimizer="sgd", step=0.5),                # the normalized step: its own gradient buffer
    dict(optimizer="momentum", learning_rate=0.1),
    dict(optimizer="adam", learning_rate=0.01, l2=1e-3),
]


def _data(n=700, n_in=40, n_out=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_in))
    X[X < 0.6] = 0                                   # sparse enough for layer 0's zero-skipping kernels
    return X, rng.integers(0, n_out, n)


def _net(dtype, n_threads, sizes=(40, 48, 5)):
    # "scaled": no parameter starts at 0, so a step of 1e-300 * gradient changes none of them
    return fastnn.Network(list(sizes), activation="relu", output_activation="softmax", loss="cross_entropy",
                          init="scaled", dtype=dtype, seed=3, n_threads=n_threads)


@pytest.mark.parametrize("batch_size", [1, 10, 300])      # 300: a batch over one chunk of 256 rows
@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(map(str, s.values())))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_on_one_thread_it_is_the_ordinary_fit(dtype, settings, batch_size):
    X, labels = _data()
    serial, hogwild = _net(dtype, 1), _net(dtype, 1)
    h1 = serial.fit(X, labels, epochs=2, batch_size=batch_size, **settings)
    h2 = hogwild.fit(X, labels, epochs=2, batch_size=batch_size, asynchronous=True, **settings)
    assert h1.train_loss == h2.train_loss
    for p, q in zip(serial.weights + serial.biases, hogwild.weights + hogwild.biases):
        assert np.array_equal(p, q)


@pytest.mark.parametrize("batch_size", [1, 7, 64, 300])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_batch_runs_once_on_its_own_rows(dtype, batch_size):
    X, labels = _data(n=1001)
    serial, hogwild = _net(dtype, 1), _net(dtype, 3)
    before = [p.copy() for p in hogwild.weights + hogwild.biases]
    h1 = serial.fit(X, labels, epochs=2, batch_size=batch_size, learning_rate=1e-300)
    h2 = hogwild.fit(X, labels, epochs=2, batch_size=batch_size, learning_rate=1e-300, asynchronous=True)
    assert h1.train_loss == h2.train_loss                  # the same sum of the same per-batch losses
    for p, q in zip(before, hogwild.weights + hogwild.biases):
        assert np.array_equal(p, q)


def test_adam_counts_one_step_per_batch():
    X, labels = _data(n=1001)
    net = _net("float32", 2)
    net.fit(X, labels, epochs=3, batch_size=10, optimizer="adam", asynchronous=True)
    assert net._opt.t == 3 * 101
    net.partial_fit(X[:95], labels[:95], batch_size=10, optimizer="adam", asynchronous=True)
    assert net._opt.t == 3 * 101 + 10


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_it_learns_the_digits_about_as_well_as_the_serial_fit(mnist, dtype):
    """Hogwild's result varies from run to run (in about one run in 30 of these, two epochs ended
    near 0.82 instead of 0.91-0.92): the better of two runs must come within 2 points."""
    X, labels = mnist
    X = X.astype(dtype)
    train, test = slice(0, 10000), slice(20000, 24345)
    accuracy = {False: [], True: []}
    for asynchronous in (False, True, True):
        net = fastnn.Network([784, 30, 10], init="scaled", dtype=dtype, seed=0, n_threads=2)
        history = net.fit(X[train], labels[train], epochs=2, batch_size=10, learning_rate=3.0,
                          asynchronous=asynchronous)
        assert history.train_loss[1] < history.train_loss[0]
        accuracy[asynchronous].append(net.accuracy(X[test], labels[test]))
    assert accuracy[False][0] > 0.9
    assert max(accuracy[True]) > accuracy[False][0] - 0.02, accuracy


def test_asynchronous_must_be_a_bool():
    X, labels = _data(n=50)
    net = _net("float64", 2)
    for bad in ("yes", 1, None):
        assert_raises_and_unchanged(net, lambda: net.fit(X, labels, epochs=1, asynchronous=bad),
                                    TypeError, "asynchronous must be True or False")
        assert_raises_and_unchanged(net, lambda: net.partial_fit(X, labels, asynchronous=bad),
                                    TypeError, "asynchronous must be True or False")
