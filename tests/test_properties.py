"""Property-based: any shape, dtype, layout and values give right-shaped in-range outputs or a documented error."""
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is part of the 'test' extra")
from hypothesis import given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import fastnn  # noqa: E402

ACTS = ["sigmoid", "tanh", "relu", "identity"]
OUTS = {"sigmoid": (0, 1), "tanh": (-1, 1), "softmax": (0, 1)}

floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                   st.floats(-1e3, 1e3, width=64))


@st.composite
def inputs(draw):
    n_in = draw(st.integers(1, 6))
    n_rows = draw(st.integers(0, 7))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int64, np.int8, np.bool_]))
    shape = draw(st.sampled_from([(n_rows, n_in), (n_rows, n_in + 1), (n_in,), (n_rows, n_in, 1)]))
    if dtype in (np.float32, np.float64):
        elements = floats if dtype == np.float64 else st.floats(allow_nan=True, allow_infinity=True, width=32)
    elif dtype == np.bool_:
        elements = st.booleans()
    else:
        elements = st.integers(-100, 100)
    X = draw(hnp.arrays(dtype, shape, elements=elements))
    layout = draw(st.sampled_from(["C", "F", "strided", "readonly"]))
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "strided" and X.ndim == 2:
        X = np.repeat(X, 2, axis=1)[:, ::2]
    elif layout == "readonly":
        X.setflags(write=False)
    return n_in, X


@settings(max_examples=300, deadline=None)
@given(inputs(), st.sampled_from(ACTS), st.sampled_from(list(OUTS)), st.integers(1, 5),
       st.sampled_from(["float32", "float64"]))
def test_predict_shapes_ranges_or_documented_errors(data, act, out, n_out, dtype):
    n_in, X = data
    net = fastnn.Network([n_in, 4, n_out], activation=act, output_activation=out, dtype=dtype, seed=0)
    before = net._theta.copy()
    X_before = X.copy()
    try:
        a = net.predict(X)
    except (ValueError, TypeError, FloatingPointError) as exc:    # FloatingPointError: overflow
        assert str(exc)                              # a message that says something
        assert np.array_equal(net._theta, before)
    else:
        assert a.shape == (X.shape[0], n_out) and a.dtype == np.dtype(dtype)
        lo, hi = OUTS[out]
        assert np.isfinite(a).all() and (a >= lo).all() and (a <= hi).all()
    np.testing.assert_array_equal(X, X_before)       # the caller's array is untouched


@settings(max_examples=150, deadline=None)
@given(inputs(), st.integers(1, 4), st.sampled_from(["sgd", "adam"]),
       st.one_of(st.integers(-2, 12), st.just(2.5)),
       st.lists(st.integers(-2, 5), min_size=0, max_size=9))
def test_fit_trains_or_raises_documented_errors(data, n_out, optimizer, batch_size, labels):
    n_in, X = data
    net = fastnn.Network([n_in, 3, n_out], output_activation="softmax", loss="cross_entropy", seed=0)
    before = net._theta.copy()
    y = np.array(labels, dtype=np.int64)
    try:
        net.fit(X, y, epochs=2, batch_size=batch_size, optimizer=optimizer)
    except (ValueError, TypeError, FloatingPointError) as exc:
        assert str(exc)
        if not isinstance(exc, FloatingPointError):
            assert np.array_equal(net._theta, before)
    assert np.isfinite(net._theta).all()
