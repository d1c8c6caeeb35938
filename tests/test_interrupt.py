"""Ctrl-C during a long fit: a prompt KeyboardInterrupt and a consistent, usable network."""
import os
import signal
import threading
import time

import numpy as np
import pytest

import fastnn


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="needs POSIX signals")
@pytest.mark.parametrize("asynchronous", [False, True])
def test_ctrl_c_stops_fit_promptly_and_leaves_a_usable_network(asynchronous):
    rng = np.random.default_rng(0)
    X = rng.random((200000, 200)).astype(np.float32)      # one epoch takes well over a second
    labels = rng.integers(0, 10, 200000)
    net = fastnn.Network([200, 100, 10], dtype="float32", seed=0, n_threads=2)
    before = net.weights[0].copy()
    sent = {}

    def interrupt():
        sent["t"] = time.perf_counter()
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(0.5, interrupt)
    timer.start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, labels, epochs=50, batch_size=10, asynchronous=asynchronous)
    latency = time.perf_counter() - sent["t"]
    assert time.perf_counter() - t0 < 5, "fit did not stop"
    assert latency < 0.25, f"KeyboardInterrupt came {latency:.3f} s after the signal"
    assert not np.array_equal(net.weights[0], before)            # the completed batches were kept
    assert all(np.isfinite(p).all() for p in net.weights + net.biases)
    assert np.isfinite(net.predict(X[:100])).all()
    net.fit(X[:1000], labels[:1000], epochs=1)                  # and it trains on
