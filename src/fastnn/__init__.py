"""fastnn: fully-connected neural networks trained by mini-batch SGD in compiled Cython kernels.

    >>> import fastnn
    >>> net = fastnn.Network([784, 30, 10], dtype="float32", seed=0)
    >>> history = net.fit(X, labels, epochs=30, batch_size=10, learning_rate=3.0)
    >>> net.predict(X_new)          # (n, 10) output activations
"""
from .data import load_mnist, make_digits, minibatches, one_hot
from .history import History
from .network import Network

__version__ = "0.1.0"

__all__ = ["Network", "History", "minibatches", "load_mnist", "make_digits", "one_hot", "__version__"]
