"""Training behaviour: XOR, early stopping, history, divergence, mini-batches, real digits."""
import numpy as np
import pytest

import fastnn

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_LABELS = np.array([0, 1, 1, 0])


def test_xor_is_learned():
    net = fastnn.Network([2, 4, 2], seed=0)
    history = net.fit(XOR_X, XOR_LABELS, epochs=3000, batch_size=4, learning_rate=3.0)
    assert net.accuracy(XOR_X, XOR_LABELS) == 1.0
    assert history.train_loss[-1] < 0.1 * history.train_loss[0]
    assert net.loss(XOR_X, XOR_LABELS) < 0.01


def test_early_stop_on_plateau_records_why():
    rng = np.random.default_rng(0)
    X, labels = rng.random((40, 3)), rng.integers(0, 2, 40)
    net = fastnn.Network([3, 2], seed=0)
    # a learning rate this small moves the loss by far less than tol each epoch: a plateau
    history = net.fit(X, labels, epochs=100, batch_size=8, learning_rate=1e-9, tol=1e-4, patience=3)
    assert history.stop_reason == "tol"
    assert len(history) == 4          # the first epoch sets the best loss, then 3 without improvement
    assert "tol=0.0001" in history.message and "3 epochs" in history.message
    assert len(history.seconds) == 4 and all(s > 0 for s in history.seconds)


def test_no_early_stop_while_the_loss_falls():
    net = fastnn.Network([2, 4, 2], seed=0)
    history = net.fit(XOR_X, XOR_LABELS, epochs=20, batch_size=2, learning_rate=3.0, tol=1e-12, patience=5)
    assert history.stop_reason == "max_epochs" and len(history) == 20


def test_validation_history():
    rng = np.random.default_rng(1)
    X, labels = rng.random((60, 5)), rng.integers(0, 3, 60)
    net = fastnn.Network([5, 6, 3], seed=0)
    history = net.fit(X[:40], labels[:40], epochs=4, validation_data=(X[40:], labels[40:]))
    assert len(history.val_loss) == 4 and len(history.val_accuracy) == 4
    assert history.val_loss[-1] == pytest.approx(net.loss(X[40:], labels[40:]), rel=1e-12)
    assert history.val_accuracy[-1] == net.accuracy(X[40:], labels[40:])
    d = history.to_dict()
    assert d["train_loss"] == history.train_loss and d["stop_reason"] == "max_epochs"


def test_validation_loss_is_monitored_for_tol():
    rng = np.random.default_rng(2)
    X, labels = rng.random((60, 5)), rng.integers(0, 3, 60)
    net = fastnn.Network([5, 6, 3], seed=0)
    history = net.fit(X[:40], labels[:40], epochs=50, learning_rate=1e-9, tol=1e-3, patience=2,
                      validation_data=(X[40:], labels[40:]))
    assert history.stop_reason == "tol" and "validation loss" in history.message


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_divergence_restores_parameters_and_raises(dtype):
    # a linear output cannot saturate: with a learning rate far too large the error grows
    # exponentially until the loss and the parameters overflow, in either dtype
    rng = np.random.default_rng(3)
    X = rng.random((20, 6))
    Y = rng.random((20, 2))
    net = fastnn.Network([6, 3, 2], output_activation="identity", dtype=dtype, seed=0)
    net.fit(X, Y, epochs=1, learning_rate=0.1)           # an ordinary epoch first
    finite_states = [net._theta.copy()]                   # the parameters after each completed epoch
    with pytest.raises(FloatingPointError, match="diverged"):
        net.fit(X, Y, epochs=50, batch_size=2, learning_rate=50.0,
                callbacks=[lambda n, info: finite_states.append(n._theta.copy())])
    # the network holds the last finite parameters: those from before the epoch that diverged
    assert np.array_equal(net._theta, finite_states[-1])
    assert np.isfinite(net._theta).all()
    assert np.isfinite(net.predict(X)).all()
    net.fit(X, Y, epochs=1, learning_rate=0.1)           # and it trains on


def test_verbose_prints_only_when_asked(capsys):
    net = fastnn.Network([2, 2, 2], seed=0)
    net.fit(XOR_X, XOR_LABELS, epochs=2)
    assert capsys.readouterr().out == ""
    net.fit(XOR_X, XOR_LABELS, epochs=2, verbose=True)
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "epoch 2/2" in out


def test_minibatches_cover_every_sample_once():
    X = np.arange(53 * 2).reshape(53, 2)
    Y = np.arange(53)
    batches = list(fastnn.minibatches(X, Y, 10, seed=0))
    assert [len(b[0]) for b in batches] == [10, 10, 10, 10, 10, 3]
    seen = np.concatenate([yb for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(53))
    assert not np.array_equal(seen, np.arange(53)), "not shuffled"
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)      # rows stay paired


def test_minibatches_reproducible_and_reordered_across_epochs():
    X, Y = np.arange(40).reshape(20, 2), np.arange(20)
    first = [yb.tolist() for _, yb in fastnn.minibatches(X, Y, 4, seed=1)]
    again = [yb.tolist() for _, yb in fastnn.minibatches(X, Y, 4, seed=1)]
    assert first == again
    rng = np.random.default_rng(1)
    epoch1 = np.concatenate([yb for _, yb in fastnn.minibatches(X, Y, 4, seed=rng)])
    epoch2 = np.concatenate([yb for _, yb in fastnn.minibatches(X, Y, 4, seed=rng)])
    assert sorted(epoch1) == sorted(epoch2) and not np.array_equal(epoch1, epoch2)
    with pytest.raises(ValueError, match="rows"):
        list(fastnn.minibatches(X, Y[:-1], 4))
    with pytest.raises(ValueError, match="batch_size"):
        list(fastnn.minibatches(X, Y, 0))


def test_train_batch_over_minibatches_learns():
    rng = np.random.default_rng(4)
    X = rng.random((200, 2))
    labels = (X[:, 0] > X[:, 1]).astype(int)
    net = fastnn.Network([2, 6, 2], seed=0)
    gen = np.random.default_rng(0)
    for _ in range(60):
        for xb, yb in fastnn.minibatches(X, labels, 10, seed=gen):
            net.train_batch(xb, yb, learning_rate=3.0)
    assert net.accuracy(X, labels) > 0.95


def test_mnist_seed_network_reaches_90_percent(mnist):
    """[784, 30, 10] float32, eta 3.0, batches of 10, 3 epochs on 20,000 real digits."""
    X, labels = mnist
    net = fastnn.Network([784, 30, 10], dtype="float32", seed=0)
    net.fit(X[:20000], labels[:20000], epochs=3, batch_size=10, learning_rate=3.0)
    accuracy = net.accuracy(X[20000:], labels[20000:])
    assert len(X) - 20000 == 4345
    assert accuracy >= 0.90, f"held-out accuracy {accuracy:.4f}"


def test_seed_recipe_still_reaches_93_percent(mnist):
    """SEED.md's recipe, 30 epochs on 20,000 digits: about 93% on the other 4,345 (no regression)."""
    from fastnn import recipes
    X, labels = mnist
    net = fastnn.Network(**recipes.SEED["network"], seed=0)
    net.fit(X[:20000], labels[:20000], **recipes.SEED["fit"])
    assert net.accuracy(X[20000:], labels[20000:]) >= 0.925


def test_best_recipe_beats_the_seed_recipe(mnist):
    """The README's best recipe against SEED.md's, both trained on 20,000 digits, scored on 4,345."""
    from fastnn import recipes
    X, labels = mnist
    scores = {}
    for name in ("SEED", "MNIST_BEST"):
        net = recipes.train(getattr(recipes, name), X[:20000], labels[:20000], seed=0)
        scores[name] = net.accuracy(X[20000:], labels[20000:])
    assert scores["MNIST_BEST"] >= 0.97, scores
    assert scores["MNIST_BEST"] > scores["SEED"] + 0.03, scores
