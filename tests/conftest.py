"""Shared fixtures: the real MNIST digits from ../shared/data/mnist (relative to the repo root)."""
import os

import numpy as np
import pytest

import fastnn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_DIR = os.path.join(os.path.dirname(REPO), "shared", "data", "mnist")


@pytest.fixture(scope="session")
def mnist():
    """(X float32 (24345, 784), labels (24345,)) or a skip; in CI (CI=true) a missing folder fails."""
    if not os.path.isdir(MNIST_DIR):
        message = f"MNIST digits not found at {MNIST_DIR} (../shared/data/mnist beside the checkout)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but " + message)
        pytest.skip(message)
    return fastnn.load_mnist(MNIST_DIR)


def assert_raises_and_unchanged(net, call, error, match):
    """call() raises ``error`` matching ``match`` and leaves every parameter of net as it was."""
    before = [p.copy() for p in net.weights + net.biases]
    with pytest.raises(error, match=match):
        call()
    for p, q in zip(net.weights + net.biases, before):
        assert np.array_equal(p, q)


def require(module):
    """Import an optional dependency, or skip; in CI (CI=true), where .ci/run installs it, fail."""
    try:
        return __import__(module)
    except ImportError:
        message = f"{module} is not installed (the test extra installs it: pip install '.[test]')"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but " + message)
        pytest.skip(message, allow_module_level=True)     # also when called at a module's top
