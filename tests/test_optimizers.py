"""Optimizers, weight decay and schedules against fastnn._reference; fit's stopping and callbacks."""
import numpy as np
import pytest

import fastnn
from fastnn import _reference as ref
from conftest import assert_raises_and_unchanged

TOL = {"float64": 1e-10, "float32": 1e-4}

SETTINGS = [
    dict(optimizer="sgd", learning_rate=0.5, l2=0.01),
    dict(optimizer="momentum", learning_rate=0.1, momentum=0.9),
    dict(optimizer="momentum", learning_rate=0.1, momentum=0.5, l2=0.001),
    dict(optimizer="nesterov", learning_rate=0.1, momentum=0.9),
    dict(optimizer="momentum", nesterov=True, learning_rate=0.05, momentum=0.8, l2=0.01),
    dict(optimizer="adam", learning_rate=0.01),
    dict(optimizer="adam", learning_rate=0.003, beta_1=0.8, beta_2=0.99, epsilon=1e-6, l2=0.001),
    dict(optimizer="sgd", step=0.05, l2=0.01),
    dict(optimizer="momentum", step=0.05, momentum=0.9),
]


def _reference_optimizer(settings):
    name = "nesterov" if settings.get("nesterov") else settings["optimizer"]
    kw = {k: v for k, v in settings.items() if k not in ("optimizer", "nesterov")}
    return ref.Optimizer(name, **kw)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", [7, 300])      # one chunk (fused step) and several chunks
@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_optimizers_agree_with_numpy(dtype, batch, settings):
    rng = np.random.default_rng(7)
    model = dict(activation="tanh", output_activation="softmax", loss="cross_entropy")
    sizes = [13, 40, 5]
    n = 4 * batch + 3
    X = rng.random((n, 13)).astype(dtype)
    labels = rng.integers(0, 5, size=n)
    Y = fastnn.one_hot(labels, 5, dtype=dtype)
    net = fastnn.Network(sizes, init="glorot", dtype=dtype, seed=2, **model)
    weights, biases = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    opt = _reference_optimizer(settings)
    for start in range(0, n, batch):
        net.train_batch(X[start:start + batch], labels[start:start + batch], **settings)
        gw, gb = ref.backprop(weights, biases, X[start:start + batch], Y[start:start + batch],
                              act="tanh", out="softmax", loss="cross_entropy")
        opt.step(weights, biases, gw, gb)
    diff = max(np.abs(a - b).max() for a, b in zip(net.weights + net.biases, weights + biases))
    assert diff <= TOL[dtype]
    moved = max(np.abs(a - b).max() for a, b in zip(
        net.weights, fastnn.Network(sizes, init="glorot", dtype=dtype, seed=2, **model).weights))
    assert moved > 1e-3


def test_fit_equals_train_batch_loop_for_every_optimizer():
    rng = np.random.default_rng(8)
    X, labels = rng.random((95, 6)), rng.integers(0, 3, 95)
    for settings in SETTINGS:
        a = fastnn.Network([6, 9, 3], activation="relu", output_activation="softmax", loss="cross_entropy",
                           init="he", seed=1)
        b = fastnn.Network([6, 9, 3], activation="relu", output_activation="softmax", loss="cross_entropy",
                           init="he", seed=1)
        a.fit(X, labels, epochs=2, batch_size=10, shuffle=False, **settings)
        for _ in range(2):
            for start in range(0, 95, 10):
                b.train_batch(X[start:start + 10], labels[start:start + 10], **settings)
        for p, q in zip(a.weights + a.biases, b.weights + b.biases):
            assert np.array_equal(p, q), settings


def test_partial_fit_continues_the_optimizer_state():
    rng = np.random.default_rng(9)
    X, labels = rng.random((80, 5)), rng.integers(0, 2, 80)
    a = fastnn.Network([5, 7, 2], seed=3)
    b = fastnn.Network([5, 7, 2], seed=3)
    a.fit(X, labels, epochs=1, batch_size=8, optimizer="adam", learning_rate=0.01, shuffle=False)
    a.partial_fit(X, labels, batch_size=8, optimizer="adam", learning_rate=0.01, shuffle=False)
    b.partial_fit(X[:40], labels[:40], batch_size=8, optimizer="adam", learning_rate=0.01, shuffle=False)
    b.partial_fit(X[40:], labels[40:], batch_size=8, optimizer="adam", learning_rate=0.01, shuffle=False)
    b.partial_fit(X, labels, batch_size=8, optimizer="adam", learning_rate=0.01, shuffle=False)
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        assert np.array_equal(p, q)
    # a fresh fit starts the state anew: different from continuing it
    c = fastnn.Network([5, 7, 2], seed=3)
    c.fit(X, labels, epochs=1, batch_size=8, optimizer="adam", learning_rate=0.01, shuffle=False)
    c.fit(X, labels, epochs=1, batch_size=8, optimizer="adam", learning_rate=0.01, shuffle=False)
    assert not np.array_equal(c.weights[0], a.weights[0])


def test_l2_shrinks_weights_not_biases():
    rng = np.random.default_rng(10)
    X, labels = rng.random((50, 4)), rng.integers(0, 2, 50)
    plain = fastnn.Network([4, 6, 2], seed=0)
    decayed = fastnn.Network([4, 6, 2], seed=0)
    plain.fit(X, labels, epochs=20, learning_rate=0.5)
    decayed.fit(X, labels, epochs=20, learning_rate=0.5, l2=0.5)
    assert sum(np.sum(W ** 2) for W in decayed.weights) < 0.5 * sum(np.sum(W ** 2) for W in plain.weights)
    # with a zero data gradient, one sgd step scales the weights by (1 - eta * l2) and leaves biases
    net = fastnn.Network([2, 2], output_activation="identity", activation="identity", seed=0)
    before_w, before_b = net.weights[0].copy(), net.biases[0].copy()
    X0 = np.zeros((3, 2))
    net.train_batch(X0, np.tile(net.biases[0], (3, 1)), learning_rate=0.1, l2=0.2)
    np.testing.assert_allclose(net.weights[0], before_w * (1 - 0.1 * 0.2), rtol=1e-15)
    np.testing.assert_array_equal(net.biases[0], before_b)


def test_schedules():
    rng = np.random.default_rng(11)
    X, labels = rng.random((40, 3)), rng.integers(0, 2, 40)
    net = fastnn.Network([3, 4, 2], seed=0)
    h = net.fit(X, labels, epochs=4, learning_rate=2.0, lr_schedule="invscaling", power_t=0.5)
    np.testing.assert_allclose(h.learning_rate, [2.0 / np.sqrt(e) for e in (1, 2, 3, 4)])
    h = net.fit(X, labels, epochs=3, learning_rate=2.0)
    assert h.learning_rate == [2.0, 2.0, 2.0]
    # adaptive: a learning rate too small to move the loss is divided by 5 every two stale epochs
    h = net.fit(X, labels, epochs=6, learning_rate=1e-9, lr_schedule="adaptive", tol=1e-3)
    np.testing.assert_allclose(h.learning_rate, [1e-9, 1e-9, 1e-9, 2e-10, 2e-10, 4e-11])


def test_adaptive_keeps_the_rate_while_the_loss_falls():
    net = fastnn.Network([2, 4, 2], seed=0)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    h = net.fit(X, [0, 1, 1, 0], epochs=10, batch_size=4, learning_rate=3.0, lr_schedule="adaptive", tol=1e-12)
    assert h.learning_rate == [3.0] * 10


def test_early_stopping_restores_the_best_epoch():
    rng = np.random.default_rng(12)
    X = rng.standard_normal((120, 10))
    labels = rng.integers(0, 2, 120)           # noise: a big network overfits, validation loss rises
    net = fastnn.Network([10, 64, 2], activation="relu", output_activation="softmax", loss="cross_entropy",
                         init="he", seed=0)
    h = net.fit(X, labels, epochs=200, batch_size=8, optimizer="adam", learning_rate=0.01,
                early_stopping=True, validation_fraction=0.25, patience=5)
    assert h.stop_reason == "early_stopping" and len(h) < 200
    assert h.best_epoch == int(np.argmin(h.val_loss)) + 1
    assert h.best_epoch <= len(h) - 5
    assert "kept the parameters of epoch" in h.message
    assert len(h.val_accuracy) == len(h)


def test_early_stopping_without_restore_keeps_the_last_parameters():
    rng = np.random.default_rng(12)
    X, labels = rng.standard_normal((120, 10)), rng.integers(0, 2, 120)
    kw = dict(activation="relu", output_activation="softmax", loss="cross_entropy", init="he", seed=0)
    fit_kw = dict(epochs=200, batch_size=8, optimizer="adam", learning_rate=0.01, early_stopping=True,
                  validation_fraction=0.25, patience=5)
    a, b = fastnn.Network([10, 64, 2], **kw), fastnn.Network([10, 64, 2], **kw)
    ha = a.fit(X, labels, restore_best=True, **fit_kw)
    hb = b.fit(X, labels, restore_best=False, **fit_kw)
    assert len(ha) == len(hb) and hb.best_epoch is None
    assert not np.array_equal(a.weights[0], b.weights[0])


def test_validation_fraction_holds_out_samples():
    rng = np.random.default_rng(13)
    X, labels = rng.random((100, 4)), rng.integers(0, 3, 100)
    net = fastnn.Network([4, 5, 3], seed=0)
    h = net.fit(X, labels, epochs=2, validation_fraction=0.2)
    assert len(h.val_loss) == 2 and len(h.val_accuracy) == 2
    with pytest.raises(ValueError, match="not both"):
        net.fit(X, labels, validation_fraction=0.2, validation_data=(X, labels))
    with pytest.raises(ValueError, match="validation_fraction"):
        net.fit(X, labels, validation_fraction=1.5)


def test_callbacks_see_each_epoch_and_can_stop():
    rng = np.random.default_rng(14)
    X, labels = rng.random((30, 3)), rng.integers(0, 2, 30)
    seen = []

    def record(net, info):
        seen.append(info)
        return info["epoch"] == 3

    net = fastnn.Network([3, 2], seed=0)
    h = net.fit(X, labels, epochs=10, callbacks=[record])
    assert [i["epoch"] for i in seen] == [1, 2, 3]
    assert h.stop_reason == "callback" and len(h) == 3
    assert seen[0]["train_loss"] == h.train_loss[0] and seen[0]["learning_rate"] == 3.0
    # a callback that stops does not hide the epoch from the callbacks after it
    logged = []
    h = fastnn.Network([3, 2], seed=0).fit(X, labels, epochs=10, callbacks=[
        lambda net, info: info["epoch"] == 2, lambda net, info: logged.append(info["epoch"])])
    assert logged == [1, 2] and h.stop_reason == "callback" and len(h) == 2
    with pytest.raises(TypeError, match="callable"):
        net.fit(X, labels, callbacks=[1])
    with pytest.raises(TypeError, match="callables, got 3"):     # not a list at all
        net.fit(X, labels, callbacks=3)


@pytest.mark.parametrize("call,error,match", [
    (lambda net, X, y: net.fit(X, y, optimizer="rmsprop"), ValueError, "'sgd', 'momentum', 'nesterov', 'adam'"),
    (lambda net, X, y: net.fit(X, y, optimizer="adam", step=0.1), ValueError, "not meaningful"),
    (lambda net, X, y: net.fit(X, y, momentum=1.5, optimizer="momentum"), ValueError, "momentum"),
    (lambda net, X, y: net.fit(X, y, l2=-1.0), ValueError, "l2"),
    (lambda net, X, y: net.fit(X, y, lr_schedule="cosine"), ValueError, "'constant', 'invscaling', 'adaptive'"),
    (lambda net, X, y: net.fit(X, y, beta_2=1.0, optimizer="adam"), ValueError, "beta_2"),
    (lambda net, X, y: net.partial_fit(X, y, batch_size=0), ValueError, "batch_size"),
    (lambda net, X, y: net.partial_fit(X[:, :1], y), ValueError, "features"),
])
def test_bad_training_settings_raise_and_change_nothing(call, error, match):
    rng = np.random.default_rng(15)
    net = fastnn.Network([3, 4, 2], seed=0)
    X, y = rng.random((6, 3)), rng.integers(0, 2, 6)
    assert_raises_and_unchanged(net, lambda: call(net, X, y), error, match)


OUTPUT_LOSS = [("sigmoid", "quadratic"), ("tanh", "quadratic"), ("relu", "quadratic"), ("identity", "quadratic"),
               ("softmax", "quadratic"), ("sigmoid", "cross_entropy"), ("softmax", "cross_entropy")]
OPTIMIZER_RATES = {"sgd": 0.1, "momentum": 0.02, "nesterov": 0.02, "adam": 0.003}


@pytest.mark.parametrize("optimizer", list(OPTIMIZER_RATES))
@pytest.mark.parametrize("out,loss", OUTPUT_LOSS)
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "identity"])
def test_every_activation_loss_and_optimizer_agrees_with_numpy(act, out, loss, optimizer):
    """An epoch of train_batch steps against the numpy oracle, float64, every combination."""
    rng = np.random.default_rng(17)
    X = rng.random((41, 6))
    labels = rng.integers(0, 4, size=41)
    Y = fastnn.one_hot(labels, 4)
    net = fastnn.Network([6, 9, 4], activation=act, output_activation=out, loss=loss, init="glorot", seed=5)
    weights, biases = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    settings = dict(optimizer=optimizer, learning_rate=OPTIMIZER_RATES[optimizer], l2=1e-3)
    opt = ref.Optimizer(optimizer, learning_rate=settings["learning_rate"], l2=1e-3)
    for start in range(0, 41, 5):
        net.train_batch(X[start:start + 5], labels[start:start + 5], **settings)
        gw, gb = ref.backprop(weights, biases, X[start:start + 5], Y[start:start + 5], act=act, out=out, loss=loss)
        opt.step(weights, biases, gw, gb)
    diff = max(np.abs(a - b).max() for a, b in zip(net.weights + net.biases, weights + biases))
    assert diff <= 1e-10
