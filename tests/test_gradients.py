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
    nabla_w, nabla_b = net.gradients(X, Y)
    # fourth-order central differences: truncation O(h^4) ~ 1e-12 and rounding ~ 1e-16/h stay
    # far below the 1e-6 bound even for gradients near 1e-7 (saturated sigmoids)
    h = 1e-3
    worst = 0.0
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
                rel = abs(fd - g[idx]) / max(abs(fd), abs(g[idx]), 1e-8)
                worst = max(worst, rel)
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
