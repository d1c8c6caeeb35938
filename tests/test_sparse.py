"""Layer 0 computed from the nonzero inputs only (MNIST-like data is mostly zeros).

Skipping x == 0 drops only terms 0 * w from sums that keep their order, so every result must be
bit-identical to the dense kernels'. The tests force the sparse path on (density limit 1) or off
(limit 0) in both dtypes and compare, and check that the sparse path really ran.
"""
import numpy as np
import pytest

import fastnn
from fastnn import _core, _reference


@pytest.fixture
def sparse_mode():
    """set(on): layer 0 uses the nonzero lists for every chunk (on) or never (off); restored after."""
    old = _core._set_sparse(0.0, 0.0, 0)

    def set_mode(on):
        limit = 1.0 if on else 0.0
        _core._set_sparse(limit, limit, 0)

    yield set_mode
    _core._set_sparse(*old)


def _digits(n, seed=0):
    """Noise-free generated digits (about 80% zeros), plus an all-zero row and an all-nonzero row."""
    X, labels = fastnn.make_digits(n, seed=seed, noise=0.0)
    X[1] = 0
    X[2] = np.linspace(0.1, 1.0, X.shape[1])
    assert 0.05 < np.count_nonzero(X) / X.size < 0.4
    return X, labels


def _same(a, b):
    return all(np.array_equal(p, q) for p, q in zip(a, b))


FITS = [
    dict(batch_size=10, learning_rate=3.0),
    dict(batch_size=1, learning_rate=0.5),
    dict(batch_size=7, optimizer="adam", l2=1e-3),
    dict(batch_size=33, optimizer="nesterov", learning_rate=0.1, l2=1e-4),
    dict(batch_size=300, optimizer="momentum", step=0.2),      # batches over one chunk, normalized step
]


@pytest.mark.parametrize("fit", FITS, ids=lambda f: "-".join(f"{k}={v}" for k, v in f.items()))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_training_is_bit_identical_to_the_dense_kernels(sparse_mode, dtype, fit, n_threads):
    X, labels = _digits(620)
    nets = []
    for on in (False, True):
        sparse_mode(on)
        before = _core._sparse_chunks()
        net = fastnn.Network([784, 40, 10], dtype=dtype, seed=3, n_threads=n_threads)
        net.fit(X, labels, epochs=2, **fit)
        assert (_core._sparse_chunks() > before) == on
        nets.append(net)
    dense, sparse = nets
    assert _same(dense.weights + dense.biases, sparse.weights + sparse.biases)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_predict_loss_gradients_are_bit_identical(sparse_mode, dtype, n_threads):
    X, labels = _digits(1100, seed=1)     # several chunks, so predict runs chunk-parallel on 2 threads
    net = fastnn.Network([784, 70, 33, 10], activation="relu", output_activation="softmax",
                         loss="cross_entropy", init="he", dtype=dtype, seed=2, n_threads=n_threads)
    results = []
    for on in (False, True):
        sparse_mode(on)
        before = _core._sparse_chunks()
        out = net.predict(X)
        loss = net.loss(X, labels)
        nabla_w, nabla_b = net.gradients(X[:300], labels[:300])
        assert (_core._sparse_chunks() > before) == on
        results.append((out, loss, nabla_w, nabla_b))
    (out0, loss0, w0, b0), (out1, loss1, w1, b1) = results
    assert np.array_equal(out0, out1)
    assert loss0 == loss1
    assert _same(w0 + b0, w1 + b1)


@pytest.mark.parametrize("width", [1, 31, 33, 100])
def test_sparse_gradient_matches_the_numpy_oracle(sparse_mode, width):
    """The sparse path against SEED.md's plain-numpy back-propagation, layer widths around the tile size."""
    sparse_mode(True)
    X, labels = _digits(45, seed=4)
    Y = fastnn.one_hot(labels, 10)
    net = fastnn.Network([784, width, 10], dtype="float64", seed=5)
    nabla_w, nabla_b = net.gradients(X, Y)
    ref_w, ref_b = _reference.backprop(net.weights, net.biases, X, Y)
    for g, r in zip(nabla_w + nabla_b, ref_w + ref_b):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-13)


def test_untouched_inputs_still_take_their_optimizer_step(sparse_mode):
    """Inputs that are zero in every sample get a zero gradient, but momentum and L2 still move
    their weights (and plain SGD leaves them exactly as they were)."""
    X, labels = _digits(50, seed=6)
    X[:, :5] = 0
    for optimizer, moves in (("momentum", True), ("sgd", False)):
        sparse_mode(True)
        net = fastnn.Network([784, 20, 10], dtype="float64", seed=7)
        w0 = net.weights[0][:, :5].copy()
        net.fit(X, labels, epochs=2, batch_size=10, optimizer=optimizer, learning_rate=0.1,
                l2=1e-2 if moves else 0.0)
        assert (not np.array_equal(net.weights[0][:, :5], w0)) == moves


def test_default_policy():
    """By default: used for mostly-zero inputs; in predict when layer 0 has more than one panel of
    32 outputs, in training from one panel on."""
    X, labels = _digits(300, seed=8)
    dense_X = np.random.default_rng(0).random(X.shape)
    for sizes, data, used in (([784, 100, 10], X, True), ([784, 30, 10], X, False),
                              ([784, 100, 10], dense_X, False)):
        for dtype in ("float32", "float64"):
            before = _core._sparse_chunks()
            fastnn.Network(sizes, dtype=dtype, seed=0).predict(data)
            assert (_core._sparse_chunks() > before) == used, (sizes, dtype)
    for sizes, data, used in (([784, 30, 10], X, True), ([784, 100, 10], X, True), ([784, 30, 10], dense_X, False)):
        for dtype in ("float32", "float64"):
            before = _core._sparse_chunks()
            fastnn.Network(sizes, dtype=dtype, seed=0).fit(data, labels, epochs=1, batch_size=10)
            assert (_core._sparse_chunks() > before) == used, (sizes, dtype)
