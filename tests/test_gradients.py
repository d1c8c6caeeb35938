"""gradients() against central finite differences of loss(), float64."""
import numpy as np
import pytest

import fastnn

CASES = [
    ([3, 4, 2], 1),
    ([3, 4, 2], 7),
    ([5, 1, 3], 4),        # a hidden layer of width 1
    ([20, 17, 9, 4], 5),   # widths that do not divide the tile sizes
    ([33, 6, 5, 1], 3),    # 33 inputs: one whole tile of columns and a remainder
    ([2, 2], 6),           # no hidden layer
    ([5, 33, 65], 5),      # widths just past one and two blocks of 32 output columns
]


@pytest.mark.parametrize("sizes,batch", CASES)
def test_gradients_match_finite_differences(sizes, batch):
    rng = np.random.default_rng(len(sizes) * 100 + batch)
    net = fastnn.Network(sizes, seed=batch)
    X = rng.standard_normal((batch, sizes[0]))
    Y = rng.random((batch, sizes[-1]))
    worst = _worst_fd_error(net, X, Y)
    assert worst <= 1e-6, f"worst relative error {worst:.3g}"


def test_gradients_of_larger_batches_are_means():
    """The gradient of the mean loss over 600 rows (several compute chunks) is the mean of two halves."""
    rng = np.random.default_rng(3)
    net = fastnn.Network([6, 5, 3], seed=0)
    X = rng.standard_normal((600, 6))
    Y = rng.random((600, 3))
    full = net.gradients(X, Y)
    first, second = net.gradients(X[:300], Y[:300]), net.gradients(X[300:], Y[300:])
    for g, g1, g2 in zip(full[0] + full[1], first[0] + first[1], second[0] + second[1]):
        np.testing.assert_allclose(g, (g1 + g2) / 2, rtol=1e-12, atol=1e-15)


MODELS = [
    dict(activation=act, output_activation=out, loss=loss)
    for act in ("sigmoid", "tanh", "relu", "identity")
    for out, loss in (("sigmoid", "quadratic"), ("tanh", "quadratic"), ("relu", "quadratic"),
                      ("identity", "quadratic"), ("softmax", "quadratic"),
                      ("sigmoid", "cross_entropy"), ("softmax", "cross_entropy"),
                      ("exp", "quadratic"), ("exp", "poisson"))
]


def _worst_fd_error(net, X, Y):
    """Worst relative error of gradients() against fourth-order central differences of loss().

    The stencil's truncation error O(h^4) ~ 1e-12 and rounding ~ 1e-16/h stay far below
    1e-6. The relative error of an element is |fd - g| / max(|fd|, |g|, 1e-6 * max|g|):
    elements a million times smaller than the largest gradient (exact zeros of an
    inactive relu, for instance) are held to an absolute 1e-12 * max|g| instead.
    """
    nabla_w, nabla_b = net.gradients(X, Y)
    scale = max(np.abs(g).max() for g in nabla_w + nabla_b)
    h, worst = 1e-3, 0.0
    for grads, params in ((nabla_w, net.weights), (nabla_b, net.biases)):
        for g, P in zip(grads, params):
            assert g.shape == P.shape
            for idx in np.ndindex(P.shape):
                orig = P[idx]
                f = {}
                for k in (-2, -1, 1, 2):
                    P[idx] = orig + k * h
                    f[k] = net.loss(X, Y)
                P[idx] = orig
                fd = (f[-2] - 8 * f[-1] + 8 * f[1] - f[2]) / (12 * h)
                worst = max(worst, abs(fd - g[idx]) / max(abs(fd), abs(g[idx]), 1e-6 * scale))
    return worst


def _min_relu_distance_from_kink(net, X, model):
    """Smallest |z| over the units whose activation is relu (inf when there are none)."""
    from fastnn import _reference as ref
    zs = ref.forward(net.weights, net.biases, X, model["activation"], model["output_activation"])[0]
    names = [model["activation"]] * (len(zs) - 1) + [model["output_activation"]]
    dists = [np.abs(z).min() for z, name in zip(zs, names) if name == "relu"]
    return min(dists, default=np.inf)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: "-".join(m.values()))
def test_every_activation_and_loss_matches_finite_differences(model):
    # relu has no derivative at 0: draw data until every relu pre-activation is at least 0.02
    # from the kink, farther than the stencil's perturbations (2e-3 times an input) can move it
    for attempt in range(50):
        rng = np.random.default_rng(attempt)
        net = fastnn.Network([4, 5, 3], init="glorot", seed=attempt, **model)
        X = rng.standard_normal((6, 4))
        if _min_relu_distance_from_kink(net, X, model) > 0.02:
            break
    else:
        pytest.fail("no data found away from the relu kink")
    labels = rng.integers(0, 3, size=6)
    Y = fastnn.one_hot(labels, 3) if model["loss"] == "cross_entropy" else rng.random((6, 3))
    assert _worst_fd_error(net, X, Y) <= 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 3, 4, 7, 8, 9, 17, 64, 100])
def test_relu_derivative_is_the_product_bit_for_bit(dtype, n):
    """ReLU's derivative as back-propagation applies it (vector compares where AVX is there, a C loop
    for the rest): delta * (z > 0), bit for bit, over lengths that take the vector loop, its tail or
    both; z = 0, -0.0, NaN, -inf and the negative smallest subnormal give 0 (a negative delta then
    -0.0, a NaN delta NaN), inf and the smallest subnormal give 1."""
    rng = np.random.default_rng(n)
    z = rng.standard_normal(n).astype(dtype)
    d = rng.standard_normal(n).astype(dtype)
    tiny = np.finfo(dtype).smallest_subnormal
    special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, tiny, -tiny], dtype=dtype)
    z[:7] = special[:n]
    d[1:4] = np.array([np.nan, -2.0, np.inf], dtype=dtype)[:max(0, n - 1)]
    expected = d * (z > 0).astype(dtype)
    got = d.copy()
    fastnn._core._relu_scale(z, got)
    assert got.dtype == dtype
    assert np.array_equal(got.view(np.uint32 if dtype == np.float32 else np.uint64),
                          expected.view(np.uint32 if dtype == np.float32 else np.uint64))


def test_relu_derivative_refuses_lengths_that_differ():
    with pytest.raises(ValueError, match="differ in length"):
        fastnn._core._relu_scale(np.zeros(3), np.zeros(4))
