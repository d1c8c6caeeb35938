"""Numerical faults: outputs stay finite and in range at extreme z, cross-entropy never NaN at outputs 0 or 1."""
import numpy as np
import pytest

import fastnn

EXTREME = [1e4, -1e4, np.inf, -np.inf, 0.0, 88.0, -88.0, 710.0, -710.0]


BIG = float(np.finfo(np.float32).max)


def _x(n):
    """The input of _output_net's networks: n rows of BIG."""
    return np.full((n, 1), BIG)


def _output_net(out, loss, dtype, z):
    """A one-layer network whose pre-activations at the input BIG (_x) are exactly z, from finite
    parameters (the networks refuse others): a finite z is its bias times a zero weight; an
    infinite one overflows, the largest finite weight of its sign times BIG."""
    z = np.asarray(z, dtype=dtype)
    net = fastnn.Network([1, len(z)], activation="identity", output_activation=out, loss=loss, dtype=dtype)
    finite = np.isfinite(z)
    net.weights[0][:, 0] = np.where(finite, 0, np.sign(z) * np.finfo(dtype).max)
    net.biases[0][...] = np.where(finite, z, 0)
    return net


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("out", ["sigmoid", "tanh", "softmax"])
def test_outputs_finite_and_in_range_at_extreme_z(dtype, out):
    for z in ([v] for v in EXTREME):
        net = _output_net(out, "quadratic", dtype, z)
        a = net.predict(_x(2))
        assert np.isfinite(a).all(), (z, a)
        low = -1 if out == "tanh" else 0
        assert (a >= low).all() and (a <= 1).all(), (z, a)
    net = _output_net(out, "quadratic", dtype, EXTREME)
    a = net.predict(_x(3))
    assert np.isfinite(a).all() and (a >= (-1 if out == "tanh" else 0)).all() and (a <= 1).all()
    if out == "softmax":
        np.testing.assert_allclose(a.sum(axis=1), 1, rtol=1e-6)
        z_finite = [1e4, -1e4, 3.0]
        a = _output_net(out, "quadratic", dtype, z_finite).predict(_x(1))
        np.testing.assert_allclose(a[0], [1, 0, 0], atol=1e-30)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_cross_entropy_never_nan_at_outputs_0_and_1(dtype):
    for z in EXTREME:
        net = _output_net("sigmoid", "cross_entropy", dtype, [z])
        for y in (0.0, 1.0, 0.5):
            loss = net.loss(_x(1), np.array([[y]]))
            assert not np.isnan(loss), (z, y)
            g = net.gradients(_x(1), np.array([[y]]))
            assert all(np.isfinite(x).all() for x in g[0] + g[1]), (z, y)
    # right answers at saturation: z = +-inf with the matching target costs nothing
    assert _output_net("sigmoid", "cross_entropy", dtype, [np.inf]).loss(_x(1), [[1.0]]) == 0
    assert _output_net("sigmoid", "cross_entropy", dtype, [-np.inf]).loss(_x(1), [[0.0]]) == 0
    assert _output_net("sigmoid", "cross_entropy", dtype, [1e4]).loss(_x(1), [[0.0]]) == pytest.approx(1e4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_poisson_loss_never_nan(dtype):
    """Half the Poisson deviance y log(y / a) - y + a from z (a = exp(z)): never NaN at extreme z;
    0 where a rate of 0 meets a count of 0, infinite where a count > 0 meets a rate of 0 or where
    the rate is infinite; 0 at a = y."""
    X = _x(1)
    for z in EXTREME:
        net = _output_net("exp", "poisson", dtype, [z])
        for y in (0.0, 1.0, 3.0):
            assert not np.isnan(net.loss(X, np.array([[y]]))), (z, y)
    assert _output_net("exp", "poisson", dtype, [-np.inf]).loss(X, [[0.0]]) == 0
    assert _output_net("exp", "poisson", dtype, [-np.inf]).loss(X, [[2.0]]) == np.inf
    assert _output_net("exp", "poisson", dtype, [np.inf]).loss(X, [[2.0]]) == np.inf
    assert _output_net("exp", "poisson", dtype, [np.log(3.0)]).loss(X, [[3.0]]) == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_categorical_cross_entropy_never_nan(dtype):
    X = _x(1)
    for z in ([1e4, -1e4, 0.0], [np.inf, 0.0, -np.inf], [-1e4, -1e4, -1e4]):
        net = _output_net("softmax", "cross_entropy", dtype, z)
        for label in range(3):
            loss = net.loss(X, np.array([label]))
            assert not np.isnan(loss), (z, label)
    assert _output_net("softmax", "cross_entropy", dtype, [np.inf, 0.0, 0.0]).loss(X, np.array([0])) == 0
    assert _output_net("softmax", "cross_entropy", dtype, [np.inf, 0.0, 0.0]).loss(X, np.array([1])) == np.inf
    assert _output_net("softmax", "cross_entropy", dtype, [1e4, -1e4, 0.0]).loss(X, np.array([1])) == \
        pytest.approx(2e4)


def test_predict_raises_instead_of_returning_nan_on_overflow():
    """Finite float32 inputs near the type's maximum overflow an identity layer to +inf and -inf,
    whose sum in the next layer is NaN: predict says so instead of returning it."""
    net = fastnn.Network([4, 4, 1], activation="identity", output_activation="sigmoid", dtype="float32", seed=0)
    X = np.array([[0, 0, 2.7311932e38, 0]], dtype=np.float32)
    with pytest.raises(FloatingPointError, match="overflowed"):
        net.predict(X)
    assert np.isfinite(net.predict(X / 1e30)).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_as_accurate_as_numpy(dtype):
    """The kernels' vectorized exp: sigmoid(z) for 40,000 z in [-800, 800] (every exponent range,
    saturation at both ends) is within 2 ulp of the exact value (computed in long double) wherever
    that is a normal number, and never less accurate than numpy's 1 / (1 + exp(-z))."""
    if np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps and dtype == "float64":
        pytest.skip("long double is no wider than double on this platform: no exact reference")
    z = np.concatenate([np.linspace(-800, 800, 20001), np.linspace(-40, 40, 20001)]).astype(dtype)
    net = _output_net("sigmoid", "quadratic", dtype, z)
    a = net.predict(_x(1))[0]
    exact = 1 / (1 + np.exp(-z.astype(np.longdouble)))
    normal = exact > np.finfo(dtype).tiny
    ulp = np.spacing(exact.astype(dtype))
    err = (np.abs(a - exact) / ulp)[normal]
    with np.errstate(over="ignore"):
        numpy_err = (np.abs(1 / (1 + np.exp(-z)) - exact) / ulp)[normal]
    assert err.max() <= 2 and err.max() <= numpy_err.max(), (err.max(), numpy_err.max())
    assert a[0] == 0 and a[10000] == 0.5 and a[20000] == 1  # z = -800, 0, 800


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_and_its_loss_as_accurate_as_numpy(dtype):
    """The vectorized exp in softmax: for 2,000 rows of 10 z (spread up to +-200, so that many
    outputs are tiny) the outputs' errors against the exact softmax (long double), wherever that is
    a normal number, are at most numpy's plus 4 ulp, and on average at most numpy's plus 0.1 ulp
    (both round z - max z the same way, which dominates the error of small outputs); the
    cross-entropy loss (accumulated in double) is within 1e-12 relative of the exact sum of
    logsumexp(z) - z[label]."""
    if np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps and dtype == "float64":
        pytest.skip("long double is no wider than double on this platform: no exact reference")
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((2000, 10)) * rng.choice([1.0, 10.0, 60.0], size=(2000, 1))).astype(dtype)
    labels = rng.integers(0, 10, size=2000)
    # z = x @ I exactly: identity weights, zero biases
    net = fastnn.Network([10, 10], activation="identity", output_activation="softmax", loss="cross_entropy",
                         dtype=dtype)
    net.weights[0][...] = np.eye(10)
    net.biases[0][...] = 0
    a = net.predict(z)
    zl = z.astype(np.longdouble)
    e = np.exp(zl - zl.max(axis=1, keepdims=True))
    exact = e / e.sum(axis=1, keepdims=True)
    normal = exact > np.finfo(dtype).tiny
    ulp = np.spacing(exact.astype(dtype))
    err = (np.abs(a - exact) / ulp)[normal]
    zn = z - z.max(axis=1, keepdims=True)
    numpy_err = (np.abs(np.exp(zn) / np.exp(zn).sum(axis=1, keepdims=True) - exact) / ulp)[normal]
    assert err.max() <= numpy_err.max() + 4 and err.mean() <= numpy_err.mean() + 0.1, \
        (err.max(), numpy_err.max(), err.mean(), numpy_err.mean())
    exact_loss = float(np.sum(np.log(e.sum(axis=1)) + zl.max(axis=1) - zl[np.arange(2000), labels]))
    loss = net.loss(z, labels) * 2000   # loss is the mean over the rows
    assert loss == pytest.approx(exact_loss, rel=1e-12, abs=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("out", ["sigmoid", "softmax"])
def test_sklearn_log_loss_is_sklearns_clipped_loss(dtype, out):
    """_core.SKLEARN_LOG_LOSS (fastnn.MLPClassifier's loss_): scikit-learn's log loss, the outputs
    clipped to [eps, 1 - eps] (eps of the dtype) before the log, written here in numpy as
    scikit-learn's binary_log_loss and log_loss compute it; its gradient is the cross-entropy's,
    bit for bit. The z reach far past the clip (|z| up to 1e4), where the exact cross-entropy
    differs."""
    from scipy.special import xlogy
    from fastnn import _core
    rng = np.random.default_rng(1)
    n, k = 400, 4
    z = (rng.standard_normal((n, k)) * rng.choice([1.0, 20.0, 60.0, 1e4], size=(n, 1))).astype(dtype)
    net = fastnn.Network([k, k], activation="identity", output_activation=out, loss="cross_entropy", dtype=dtype)
    net.weights[0][...] = np.eye(k)
    net.biases[0][...] = 0
    if out == "sigmoid":
        Y = rng.integers(0, 2, size=(n, k)).astype(dtype)
    else:
        Y = np.eye(k, dtype=dtype)[rng.integers(0, k, size=n)]
    eps = np.finfo(dtype).eps
    p = np.clip(net.predict(z), eps, 1 - eps)       # in the dtype, as scikit-learn clips
    if out == "sigmoid":
        expected = -np.sum(xlogy(Y.astype(np.float64), p.astype(np.float64))
                           + xlogy((1 - Y).astype(np.float64), (1 - p).astype(np.float64)))
    else:
        expected = -np.sum(xlogy(Y.astype(np.float64), p.astype(np.float64)))
    exact_loss, exact_grad = net.loss(z, Y) * n, net.gradients(z, Y)
    net._loss_code = _core.SKLEARN_LOG_LOSS
    assert net.loss(z, Y) * n == pytest.approx(expected, rel=1e-12, abs=0)
    assert abs(exact_loss / expected - 1) > 1e-3   # the clip matters for these z
    clipped_grad = net.gradients(z, Y)
    for g, h in zip(exact_grad[0] + exact_grad[1], clipped_grad[0] + clipped_grad[1]):
        assert np.array_equal(g, h)
