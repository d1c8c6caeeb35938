"""Repeated calls leak nothing: tracemalloc, RSS, and reference counts of the inputs."""
import gc
import os
import sys
import tracemalloc

import numpy as np
import pytest

import fastnn


def _rss():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def test_repeated_calls_do_not_grow_memory(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((64, 20))
    labels = rng.integers(0, 3, 64)
    net = fastnn.Network([20, 16, 3], activation="relu", output_activation="softmax", loss="cross_entropy",
                         init="he", seed=0)
    path = tmp_path / "m.fastnn"

    def cycle():
        net.fit(X, labels, epochs=1, batch_size=16, optimizer="adam", learning_rate=1e-3)
        net.predict(X)
        net.gradients(X, labels)
        net.save(path)
        fastnn.load(path)
        with pytest.raises(ValueError):
            net.predict(X[:, :3])

    for _ in range(50):                       # warm up caches and allocator pools
        cycle()
    gc.collect()
    tracemalloc.start()
    rss0, traced0 = _rss(), tracemalloc.get_traced_memory()[0]
    for _ in range(1000):
        cycle()
    gc.collect()
    rss1, traced1 = _rss(), tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert traced1 - traced0 < 64 * 1024, f"traced memory grew by {traced1 - traced0} bytes"
    if rss0 is not None:
        assert rss1 - rss0 < 4 * 2 ** 20, f"RSS grew by {(rss1 - rss0) / 2 ** 20:.1f} MiB"


def test_reference_counts_of_inputs_unchanged():
    rng = np.random.default_rng(1)
    X = rng.random((30, 5))
    labels = rng.integers(0, 2, 30)
    Y = fastnn.one_hot(labels, 2)
    net = fastnn.Network([5, 4, 2], seed=0)
    before = [sys.getrefcount(a) for a in (X, labels, Y)]
    for _ in range(20):
        net.fit(X, labels, epochs=1, validation_data=(X, Y))
        net.predict(X)
        net.loss(X, Y)
        net.gradients(X, labels)
        net.train_batch(X, Y, learning_rate=1.0)
        for bad in (lambda: net.fit(X, labels[:-1]), lambda: net.loss(X, Y[:, :1]),
                    lambda: net.train_batch(X, labels + 5, learning_rate=1.0)):
            with pytest.raises(ValueError):
                bad()
    gc.collect()
    assert [sys.getrefcount(a) for a in (X, labels, Y)] == before
