"""The public surface of Network: shapes, views, dtypes, initialisation, validation."""
import os
import re

import numpy as np
import pytest

import fastnn
from conftest import assert_raises_and_unchanged, require


def test_shapes_and_views():
    net = fastnn.Network([6, 4, 3], seed=0)
    assert net.sizes == (6, 4, 3)
    assert net.dtype == np.float64
    assert [W.shape for W in net.weights] == [(4, 6), (3, 4)]
    assert [b.shape for b in net.biases] == [(4,), (3,)]
    assert net.n_params == 4 * 6 + 4 + 3 * 4 + 3
    X = np.random.default_rng(0).random((5, 6))
    out = net.predict(X)
    assert out.shape == (5, 3) and out.dtype == np.float64
    assert np.all((out > 0) & (out < 1))


def test_writing_into_views_changes_the_network():
    net = fastnn.Network([3, 2], seed=0)
    X = np.ones((1, 3))
    net.weights[0][...] = 0
    net.biases[0][...] = 0
    np.testing.assert_array_equal(net.predict(X), 0.5)
    net.biases[0][1] = 100.0
    assert net.predict(X)[0, 1] == pytest.approx(1.0)
    assert net.weights[0].base is not None and np.shares_memory(net.weights[0], net.biases[0].base)


@pytest.mark.parametrize("dtype", ["float32", "float64", np.float32])
def test_dtypes_end_to_end(dtype):
    rng = np.random.default_rng(1)
    net = fastnn.Network([4, 5, 2], dtype=dtype, seed=0)
    X, labels = rng.random((50, 4)), rng.integers(0, 2, 50)
    net.fit(X, labels, epochs=2, batch_size=5)
    want = np.dtype(dtype)
    assert net.dtype == want
    assert all(W.dtype == want for W in net.weights)
    assert net.predict(X).dtype == want
    assert all(g.dtype == want for g in net.gradients(X, labels)[0])
    assert np.isfinite(net.loss(X, labels))


def test_float32_and_float64_start_from_the_same_values():
    a = fastnn.Network([5, 3, 2], dtype="float32", seed=9)
    b = fastnn.Network([5, 3, 2], dtype="float64", seed=9)
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_array_equal(p, q.astype(np.float32))


def test_init_normal_and_scaled():
    normal = fastnn.Network([400, 300, 2], seed=0, init="normal")
    scaled = fastnn.Network([400, 300, 2], seed=0, init="scaled")
    assert normal.weights[0].std() == pytest.approx(1.0, rel=0.02)
    assert normal.biases[0].std() == pytest.approx(1.0, rel=0.2)
    assert scaled.weights[0].std() == pytest.approx(1 / np.sqrt(400), rel=0.02)
    assert scaled.weights[1].std() == pytest.approx(1 / np.sqrt(300), rel=0.1)


def test_same_seed_same_data_bit_identical():
    rng = np.random.default_rng(2)
    X, labels = rng.random((200, 8)), rng.integers(0, 3, 200)
    nets = [fastnn.Network([8, 6, 3], seed=42) for _ in range(2)]
    for net in nets:
        net.fit(X, labels, epochs=3, batch_size=7)
    for p, q in zip(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases):
        assert np.array_equal(p, q)
    other = fastnn.Network([8, 6, 3], seed=43)
    other.fit(X, labels, epochs=3, batch_size=7)
    assert not np.array_equal(other.weights[0], nets[0].weights[0])


def test_labels_are_one_hot_encoded():
    rng = np.random.default_rng(3)
    net = fastnn.Network([4, 3], seed=0)
    X, labels = rng.random((6, 4)), np.array([0, 2, 1, 1, 0, 2])
    assert net.loss(X, labels) == net.loss(X, fastnn.one_hot(labels, 3))
    for g, h in zip(net.gradients(X, labels)[0], net.gradients(X, fastnn.one_hot(labels, 3))[0]):
        assert np.array_equal(g, h)


def test_accuracy():
    net = fastnn.Network([2, 2], seed=0)
    net.weights[0][...] = [[1, 0], [0, 1]]
    net.biases[0][...] = 0
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert net.accuracy(X, [0, 1, 1, 1]) == 0.75
    assert net.accuracy(X, fastnn.one_hot(np.array([0, 1, 0, 1]), 2)) == 1.0
    # a label no output stands for is an error, not a silent miss
    for bad in (2, -1):
        with pytest.raises(ValueError, match=f"label {bad} is out of range: the network has 2 outputs"):
            net.accuracy(X, [0, 1, bad, 1])


def test_inputs_are_not_modified_and_layouts_agree():
    rng = np.random.default_rng(4)
    net = fastnn.Network([5, 4, 2], seed=0)
    X = rng.random((9, 5))
    expected = net.predict(X)
    fortran = np.asfortranarray(X)
    strided = np.repeat(X, 2, axis=0)[::2]
    as_list = X.tolist()
    readonly = X.copy()
    readonly.setflags(write=False)
    for variant in (fortran, strided, as_list, readonly, X.astype(np.float32)):
        got = net.predict(variant)
        tol = 1e-6 if np.asarray(variant).dtype == np.float32 else 0
        np.testing.assert_allclose(got, expected, rtol=0, atol=tol)
    np.testing.assert_array_equal(fortran, X)
    ints = np.arange(10).reshape(2, 5)
    np.testing.assert_array_equal(net.predict(ints), net.predict(ints.astype(float)))


@pytest.mark.parametrize("call,error,match", [
    (lambda: fastnn.Network([3]), ValueError, "at least 2"),
    (lambda: fastnn.Network([3, 0]), ValueError, ">= 1"),
    (lambda: fastnn.Network([3, 2.5]), TypeError, "integers"),
    (lambda: fastnn.Network([2**62, 2]), ValueError, "too big"),      # was an OverflowError from numpy
    (lambda: fastnn.Network([3, 2], dtype="float16"), ValueError, "float32"),
    (lambda: fastnn.Network([3, 2], init="zeros"), ValueError, "'normal', 'scaled'"),
    (lambda: fastnn.Network([3, 2], output_activation="identity", loss="poisson"), ValueError, "'exp'"),
    (lambda: fastnn.Network([3, 2], output_activation="exp", loss="cross_entropy"), ValueError, "'sigmoid'"),
    (lambda: fastnn.Network([3, 2], activation="exp"), ValueError, "activation"),
    (lambda: fastnn.Network([3, 2], seed=-1), ValueError, "seed must be None, a non-negative integer"),
    (lambda: fastnn.Network([3, 2], seed=1.5), TypeError, "seed must be None, a non-negative integer"),
])
def test_bad_construction(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("call,error,match", [
    (lambda net, X, y: net.predict(X[0]), ValueError, "reshape"),
    (lambda net, X, y: net.predict(X[:, :2]), ValueError, "features"),
    (lambda net, X, y: net.predict(X[:0]), ValueError, "no rows"),
    (lambda net, X, y: net.predict(np.where(X > 0.5, np.nan, X)), ValueError, "NaN"),
    (lambda net, X, y: net.predict(X.astype(complex)), TypeError, "real numbers"),
    (lambda net, X, y: net.predict(np.array([[1.0, None, 2.0]] * 2, dtype=object)), TypeError, "real numbers"),
    (lambda net, X, y: net.predict([["a", "b", "c"]]), TypeError, "real numbers"),
    (lambda net, X, y: net.predict(np.empty((4, 0))), ValueError, "features"),
    (lambda net, X, y: net.predict(np.empty((0, 0))), ValueError, "no rows"),
    (lambda net, X, y: net.fit(X, y - 3), ValueError, "out of range: the network has 2 outputs"),
    (lambda net, X, y: net.gradients(X, np.full(len(X), np.nan)), TypeError, "integers"),
    (lambda net, X, y: net.fit(np.where(X > 0.5, np.inf, X), y), ValueError, "NaN"),
    (lambda net, X, y: net.loss(X, y[:-1]), ValueError, "rows"),
    (lambda net, X, y: net.loss(X, y + 5), ValueError, "out of range: the network has 2 outputs"),
    (lambda net, X, y: net.loss(X, y.astype(float)), TypeError, "integers"),
    (lambda net, X, y: net.loss(X, np.zeros((len(X), 4))), ValueError, "columns"),
    (lambda net, X, y: net.train_batch(X, y), ValueError, "exactly one"),
    (lambda net, X, y: net.train_batch(X, y, learning_rate=1.0, step=1.0), ValueError, "exactly one"),
    (lambda net, X, y: net.train_batch(X, y, learning_rate=-1.0), ValueError, "positive"),
    (lambda net, X, y: net.train_batch(X, y, step=float("nan")), ValueError, "positive"),
    (lambda net, X, y: net.fit(X, y, batch_size=0), ValueError, "batch_size"),
    (lambda net, X, y: net.fit(X, y, epochs=-1), ValueError, "epochs"),
    (lambda net, X, y: net.fit(X, y, learning_rate=0.5, step=0.1), ValueError, "not both"),
    (lambda net, X, y: net.fit(X, y, tol=-1.0), ValueError, "tol"),
    (lambda net, X, y: net.fit(X, y, validation_data=X), TypeError, "pair"),
    (lambda net, X, y: net.predict(np.ma.masked_greater(X, 0.5)), ValueError, "masked array with"),
    (lambda net, X, y: net.fit(X, np.ma.masked_equal(y, 1)), ValueError, r"Y\.filled"),
    (lambda net, X, y: net.fit(X, y, validation_data=(X, np.ma.masked_equal(y, 0))), ValueError, "Y_val is a masked"),
    (lambda net, X, y: net.fit(X, np.ma.masked_equal(y, 0), validation_fraction=0.5), ValueError, "Y is a masked"),
    (lambda net, X, y: net.accuracy(X, np.ma.masked_equal(y, 1)), ValueError, "masked entr"),
])
def test_bad_calls_raise_and_change_nothing(call, error, match):
    rng = np.random.default_rng(5)
    net = fastnn.Network([3, 4, 2], seed=0)
    X, y = rng.random((6, 3)), rng.integers(0, 2, 6)
    assert_raises_and_unchanged(net, lambda: call(net, X, y), error, match)


def test_masked_arrays():
    """numpy's conversion of a masked array drops the mask and keeps the values under it, so a
    masked entry would be trained on or predicted from silently: refused; without masked entries
    a masked array is its data."""
    rng = np.random.default_rng(8)
    net = fastnn.Network([3, 4, 2], seed=0)
    X, y = rng.random((6, 3)), np.array([0, 1, 0, 1, 1, 0])
    whole = np.ma.masked_array(X, mask=np.zeros_like(X, dtype=bool))
    assert np.array_equal(net.predict(whole), net.predict(X))
    assert net.accuracy(np.ma.masked_array(X), np.ma.masked_array(y)) == net.accuracy(X, y)
    one = np.ma.masked_array(X, mask=np.zeros_like(X, dtype=bool))
    one[2, 1] = np.ma.masked
    with pytest.raises(ValueError, match=r"X is a masked array with 1 masked entry; .*X\.filled\(value\)"):
        net.predict(one)
    with pytest.raises(ValueError, match="labels is a masked array with 2 masked entries"):
        fastnn.one_hot(np.ma.masked_less(np.arange(4), 2), 4)
    with pytest.raises(ValueError, match="X is a masked array"):
        next(fastnn.minibatches(one, y, 2))
    batches = list(fastnn.minibatches(whole, np.ma.masked_array(y), 3, seed=1))
    assert all(type(a) is np.ndarray and type(b) is np.ndarray for a, b in batches)


def test_pandas_frames_of_numbers_and_booleans():
    """A DataFrame with a boolean column beside float ones, or pandas' nullable Float64 / Int64 /
    boolean columns, is an object array to numpy ("X must hold real numbers" was raised): it is
    taken as float64, and its missing values are refused as NaN. Strings stay refused."""
    pd = require("pandas")
    net = fastnn.Network([3, 4, 2], seed=0)
    plain = np.array([[1.0, 0.5, 1.0], [0.0, 1.5, 2.0], [1.0, 2.5, 3.0]])
    expected = net.predict(plain)
    frames = [
        pd.DataFrame({"a": [True, False, True], "b": [0.5, 1.5, 2.5], "c": [1.0, 2.0, 3.0]}),
        pd.DataFrame({"a": pd.array([1, 0, 1], dtype="Int64"), "b": pd.array([0.5, 1.5, 2.5], dtype="Float64"),
                      "c": pd.array([1, 2, 3], dtype="Int64")}),
        pd.DataFrame({"a": pd.array([True, False, True], dtype="boolean"), "b": [0.5, 1.5, 2.5],
                      "c": [1, 2, 3]}),
    ]
    for frame in frames:
        np.testing.assert_array_equal(net.predict(frame), expected)
    Y = pd.DataFrame({"p": pd.array([1.0, 0.0, 1.0], dtype="Float64"), "q": [False, True, False]})
    assert net.loss(frames[1], Y) == net.loss(plain, Y.to_numpy(dtype=float))
    missing = frames[1].copy()
    missing.loc[1, "b"] = pd.NA
    assert_raises_and_unchanged(net, lambda: net.fit(missing, [0, 1, 0], epochs=1), ValueError, "NaN")
    Y.loc[2, "p"] = pd.NA
    assert_raises_and_unchanged(net, lambda: net.fit(plain, Y, epochs=1), ValueError, "NaN")
    text = pd.DataFrame({"a": ["1", "0", "1"], "b": [0.5, 1.5, 2.5], "c": [1.0, 2.0, 3.0]})
    with pytest.raises(TypeError, match="real numbers"):
        net.predict(text)


@pytest.mark.parametrize("call", [
    lambda net, X, Y: net.fit(X, Y, epochs=1),
    lambda net, X, Y: net.train_batch(X, Y, learning_rate=0.1),
    lambda net, X, Y: net.loss(X, Y),
    lambda net, X, Y: net.gradients(X, Y),
])
def test_poisson_refuses_negative_targets(call):
    """loss="poisson" (half the Poisson deviance y log(y / a) - y + a) is defined for y >= 0."""
    rng = np.random.default_rng(6)
    net = fastnn.Network([3, 4, 2], output_activation="exp", loss="poisson", seed=0)
    X, Y = rng.random((6, 3)), rng.poisson(2.0, (6, 2)).astype(float)
    Y[3, 1] = -1
    assert_raises_and_unchanged(net, lambda: call(net, X, Y), ValueError, "negative values")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_found_anywhere(dtype, bad):
    """The compiled finiteness check sees a bad value at any position (block loop and tail)."""
    net = fastnn.Network([7, 2], dtype=dtype, seed=0)
    X = np.ones((5, 7), dtype=dtype)
    assert net.predict(X).shape == (5, 2)
    for position in range(X.size):
        Xbad = X.copy()
        Xbad.flat[position] = bad
        with pytest.raises(ValueError, match="NaN or infinity"):
            net.predict(Xbad)
    Y = np.zeros((5, 2), dtype=dtype)
    Y[4, 1] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.loss(X, Y)


def test_values_beyond_float32_range_are_named_as_such():
    net = fastnn.Network([2, 2], dtype="float32", seed=0)
    with pytest.raises(ValueError, match="beyond float32's range"):
        net.predict(np.array([[1e300, 0.0]]))
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.predict(np.array([[np.inf, 0.0]]))
    assert np.isfinite(fastnn.Network([2, 2], dtype="float64").predict(np.array([[1e300, 0.0]]))).all()

    with pytest.raises(ValueError, match=r"largest magnitude 1e\+300\); scale the data or use dtype='float64'"):
        net.predict(np.array([[-1e300, 0.0]]))


@pytest.mark.skipif(np.finfo(np.longdouble).max <= np.finfo(np.float64).max,
                    reason="np.longdouble has no range beyond float64's on this platform")
def test_longdouble_values_beyond_float64_range_are_named_with_their_magnitude():
    # a finite long double that float64 cannot hold: its own magnitude in the message (formatted as a
    # Python float it was inf), and no advice to use float64, the network's dtype already
    net = fastnn.Network([2, 2], dtype="float64", seed=0)
    before = [W.copy() for W in net.weights]
    X = np.array([[1.0, 0.0], [np.longdouble("-3e400"), 0.0]], dtype=np.longdouble)
    for call in (lambda: net.predict(X), lambda: net.fit(X, np.array([0, 1]), epochs=1)):
        with pytest.raises(ValueError, match=r"beyond float64's range \(largest magnitude 3e\+400\); scale the data$"):
            call()
    assert all(np.array_equal(W, B) for W, B in zip(net.weights, before))

def test_read_only_memmap_is_accepted_unchanged(tmp_path):
    rng = np.random.default_rng(7)
    X = rng.random((12, 5))
    path = tmp_path / "x.dat"
    X.tofile(path)
    mm = np.memmap(path, dtype=np.float64, mode="r", shape=(12, 5))
    net = fastnn.Network([5, 4, 2], seed=0)
    np.testing.assert_array_equal(net.predict(mm), net.predict(X))
    net.fit(mm, rng.integers(0, 2, 12), epochs=1)
    np.testing.assert_array_equal(np.asarray(mm), X)


def test_flags_must_be_bools_and_change_nothing():
    """shuffle=None used to mean row order and verbose="no" to print: each flag takes a bool."""
    rng = np.random.default_rng(9)
    X, labels = rng.random((20, 3)), rng.integers(0, 2, 20)
    net = fastnn.Network([3, 4, 2], seed=0)
    for name, bad in (("shuffle", None), ("shuffle", "no"), ("verbose", "no"), ("verbose", None),
                      ("verbose", 0.5), ("early_stopping", "yes"), ("early_stopping", None)):
        assert_raises_and_unchanged(net, lambda: net.fit(X, labels, epochs=1, **{name: bad}),
                                    TypeError, f"{name} must be True or False")
    assert_raises_and_unchanged(net, lambda: net.partial_fit(X, labels, shuffle=None),
                                TypeError, "shuffle must be True or False")
    # scikit-learn's verbose=0 / 1 keep their meaning
    quiet = fastnn.Network([3, 4, 2], seed=0)
    quiet.fit(X, labels, epochs=2, verbose=0)
    net.fit(X, labels, epochs=2, verbose=False)
    assert all(np.array_equal(a, b) for a, b in zip(quiet.weights, net.weights))


@pytest.mark.parametrize("where", ["weights", "biases"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_parameters_are_refused_by_every_method(tmp_path, where, bad):
    """A NaN or infinity written into the writable views used to pass silently: the loss came out
    NaN, accuracy counted NaN outputs, a -inf sigmoid bias gave finite predictions, fit blamed the
    learning rate ("diverged"), and save wrote a file that load refuses."""
    rng = np.random.default_rng(3)
    X, labels = rng.random((12, 4)), rng.integers(0, 3, 12)
    net = fastnn.Network([4, 5, 3], seed=0)
    getattr(net, where)[1][2, ...].flat[0] = bad
    name = "weights[1][2, 0]" if where == "weights" else "biases[1][2]"
    before = net._theta.copy()
    calls = [lambda: net.predict(X), lambda: net.loss(X, labels), lambda: net.gradients(X, labels),
             lambda: net.accuracy(X, labels), lambda: net.fit(X, labels, epochs=1),
             lambda: net.partial_fit(X, labels, learning_rate=1.0),
             lambda: net.train_batch(X, labels, learning_rate=1.0),
             lambda: net.save(tmp_path / "m.fastnn")]
    for call in calls:
        with pytest.raises(ValueError, match=re.escape(f"NaN or infinity ({name} = {bad})")):
            call()
        assert np.array_equal(net._theta, before, equal_nan=True)
    assert os.listdir(tmp_path) == []


def test_overflow_advice_fits_the_dtype():
    """predict and accuracy raise on an overflowed forward pass; only float32 is told to use float64."""
    net = fastnn.Network([1, 2], activation="identity", output_activation="identity", seed=0)
    net.weights[0][...] = 1e300
    for call in (lambda: net.predict(np.array([[1e300]])), lambda: net.accuracy(np.array([[1e300]]), [0])):
        with pytest.raises(FloatingPointError, match="overflowed") as info:
            call()
        assert "dtype=" not in str(info.value)
    small = fastnn.Network([1, 1], activation="identity", output_activation="identity", dtype="float32", seed=0)
    small.weights[0][...] = 10.0
    with pytest.raises(FloatingPointError, match="use dtype='float64'"):
        small.predict(np.array([[1e38]]))
