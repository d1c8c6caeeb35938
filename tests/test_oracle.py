"""The kernels against fastnn._reference, a plain-numpy implementation of SEED.md."""
import numpy as np
import pytest

import fastnn
from fastnn import _reference as ref

TOL = {"float64": 1e-10, "float32": 1e-4}


def _copy_params(net):
    return [w.copy() for w in net.weights], [b.copy() for b in net.biases]


def _max_diff(net, weights, biases):
    return max(np.abs(a - b).max() for a, b in zip(net.weights + net.biases, weights + biases))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("sizes", [[784, 30, 10], [20, 17, 9, 4], [7, 1, 3], [4, 3], [37, 70, 33, 64]])
def test_forward_loss_gradient_agree(dtype, sizes):
    rng = np.random.default_rng(0)
    net = fastnn.Network(sizes, dtype=dtype, seed=1, init="scaled")
    X = rng.random((37, sizes[0])).astype(dtype)
    Y = rng.random((37, sizes[-1])).astype(dtype)
    weights, biases = _copy_params(net)
    tol = TOL[dtype]
    np.testing.assert_allclose(net.predict(X), ref.forward(weights, biases, X)[1][-1], rtol=0, atol=tol)
    assert abs(net.loss(X, Y) - ref.loss(weights, biases, X, Y)) <= tol
    nabla_w, nabla_b = net.gradients(X, Y)
    ref_w, ref_b = ref.backprop(weights, biases, X, Y)
    for g, r in zip(nabla_w + nabla_b, ref_w + ref_b):
        np.testing.assert_allclose(g, r, rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("sizes,batch,rate", [
    ([784, 30, 10], 10, {"learning_rate": 3.0}),
    ([784, 30, 10], 10, {"step": 0.5}),
    ([20, 17, 9, 4], 1, {"learning_rate": 1.0}),
    ([20, 17, 9, 4], 7, {"step": 0.1}),
    ([13, 1, 5], 3, {"learning_rate": 2.0}),
    ([9, 12, 2], 300, {"learning_rate": 2.0}),   # a batch larger than one compute chunk
    ([9, 12, 2], 300, {"step": 0.2}),
    ([37, 70, 33, 64], 6, {"learning_rate": 0.5}),   # several blocks of 32 columns, 70 not a multiple
])
def test_train_batch_epoch_agrees_with_numpy(dtype, sizes, batch, rate):
    """Same start, same mini-batches through train_batch: parameters agree after an epoch."""
    rng = np.random.default_rng(2)
    n = 600 if batch == 300 else 10 * batch + 3    # the last batch is smaller
    X = rng.random((n, sizes[0])).astype(dtype)
    labels = rng.integers(0, sizes[-1], size=n)
    Y = fastnn.one_hot(labels, sizes[-1], dtype=dtype)
    net = fastnn.Network(sizes, dtype=dtype, seed=3)
    weights, biases = _copy_params(net)
    for start in range(0, n, batch):
        xb, yb = X[start:start + batch], Y[start:start + batch]
        net.train_batch(xb, labels[start:start + batch], **rate)
        ref.train_batch(weights, biases, xb, yb, **rate)
    moved = max(np.abs(a - b).max() for a, b in zip(net.weights, _copy_params(fastnn.Network(sizes, dtype=dtype, seed=3))[0]))
    assert moved > 1e-3, "training did not change the weights"
    assert _max_diff(net, weights, biases) <= TOL[dtype]


def test_normalized_step_has_length_eps():
    """w <- w - eps * grad / ||grad||: the parameter vector moves by exactly eps."""
    rng = np.random.default_rng(4)
    net = fastnn.Network([5, 4, 3], seed=0)
    X, Y = rng.random((8, 5)), rng.random((8, 3))
    before = np.concatenate([p.ravel() for p in net.weights + net.biases])
    net.train_batch(X, Y, step=0.25)
    after = np.concatenate([p.ravel() for p in net.weights + net.biases])
    assert np.linalg.norm(after - before) == pytest.approx(0.25, rel=1e-12)


def test_zero_gradient_step_changes_nothing():
    net = fastnn.Network([2, 2], seed=0)
    for W in net.weights:
        W[...] = 0
    for b in net.biases:
        b[...] = 0
    X = np.zeros((3, 2))
    Y = np.full((3, 2), 0.5)          # sigma(0) = 0.5: zero error, zero gradient
    net.train_batch(X, Y, step=1.0)
    assert all(np.all(W == 0) for W in net.weights) and all(np.all(b == 0) for b in net.biases)


def test_fit_equals_train_batch_loop():
    """fit(shuffle=False) runs the same kernel as train_batch over consecutive slices: bit-identical."""
    rng = np.random.default_rng(5)
    X = rng.random((95, 12))
    labels = rng.integers(0, 4, size=95)
    a = fastnn.Network([12, 8, 4], seed=7)
    b = fastnn.Network([12, 8, 4], seed=7)
    a.fit(X, labels, epochs=1, batch_size=10, learning_rate=1.5, shuffle=False)
    for start in range(0, 95, 10):
        b.train_batch(X[start:start + 10], labels[start:start + 10], learning_rate=1.5)
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        assert np.array_equal(p, q)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("model", [
    dict(act="tanh", out="softmax", loss="cross_entropy"),
    dict(act="relu", out="softmax", loss="cross_entropy"),
    dict(act="relu", out="sigmoid", loss="cross_entropy"),
    dict(act="identity", out="softmax", loss="quadratic"),
    dict(act="tanh", out="identity", loss="quadratic"),
    dict(act="sigmoid", out="relu", loss="quadratic"),
    dict(act="tanh", out="exp", loss="poisson"),
], ids=lambda m: "-".join(m.values()))
def test_activations_and_losses_agree_with_numpy(dtype, model):
    rng = np.random.default_rng(6)
    sizes = [21, 35, 10]
    net = fastnn.Network(sizes, activation=model["act"], output_activation=model["out"],
                         loss=model["loss"], init="he", dtype=dtype, seed=4)
    X = rng.random((53, 21)).astype(dtype)
    labels = rng.integers(0, 10, size=53)
    Y = fastnn.one_hot(labels, 10, dtype=dtype)
    weights, biases = _copy_params(net)
    tol = TOL[dtype]
    np.testing.assert_allclose(net.predict(X), ref.forward(weights, biases, X, model["act"], model["out"])[1][-1],
                               rtol=0, atol=tol)
    assert net.loss(X, Y) == pytest.approx(ref.loss(weights, biases, X, Y, **model), rel=tol, abs=tol)
    for g, r in zip(sum(net.gradients(X, Y), []), sum(ref.backprop(weights, biases, X, Y, **model), [])):
        np.testing.assert_allclose(g, r, rtol=0, atol=tol)
    for start in range(0, 53, 8):
        net.train_batch(X[start:start + 8], labels[start:start + 8], learning_rate=0.1)
        ref.train_batch(weights, biases, X[start:start + 8], Y[start:start + 8], learning_rate=0.1, **model)
    assert _max_diff(net, weights, biases) <= tol


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("sizes,batch", [
    ([30, 40, 10], 10),    # layer 2: n_out 10 <= 10 samples: delta @ W, W = WT.T copied
    ([30, 40, 33, 5], 40),  # n_out 33 <= 40 (two panels of W), n_out 5 <= 40
    ([30, 40, 70, 3], 7),   # n_out 70 > 7 samples, below ROWS_BACKPROP: one dot per element
    ([30, 40, 70, 3], 20),  # n_out 70 > 20 samples from ROWS_BACKPROP on: samples as the lanes
    ([30, 1, 1, 1], 1),     # widths of 1
])
def test_backprop_delta_paths_agree_with_numpy(dtype, act, sizes, batch):
    """Each way _backprop_delta computes delta[l-1] (chosen by n_out and the batch size) matches numpy."""
    rng = np.random.default_rng(8)
    net = fastnn.Network(sizes, activation=act, init="he", dtype=dtype, seed=5)
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    Y = rng.random((batch, sizes[-1])).astype(dtype)
    weights, biases = _copy_params(net)
    for g, r in zip(sum(net.gradients(X, Y), []), sum(ref.backprop(weights, biases, X, Y, act), [])):
        np.testing.assert_allclose(g, r, rtol=0, atol=TOL[dtype])
    net.train_batch(X, Y, learning_rate=0.5)
    ref.train_batch(weights, biases, X, Y, learning_rate=0.5, act=act)
    assert _max_diff(net, weights, biases) <= TOL[dtype]
