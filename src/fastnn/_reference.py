"""A plain-numpy implementation of SEED.md: the oracle the kernels are tested against.

Matrix form over a mini-batch X (m, n_in), rows are samples; every function
takes and returns plain lists of arrays, with no compiled code. It is also
the "numpy trainer" that bench/ measures fastnn against.
"""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def forward(weights, biases, X):
    """Forward propagation; returns (zs, activations) with activations[0] = X."""
    a = X
    zs, activations = [], [X]
    for W, b in zip(weights, biases):
        z = a @ W.T + b
        a = sigmoid(z)
        zs.append(z)
        activations.append(a)
    return zs, activations


def loss(weights, biases, X, Y):
    """Mean over rows of 1/2 ||y - a[L]||^2."""
    a = forward(weights, biases, X)[1][-1]
    return 0.5 * np.sum((Y - a) ** 2) / X.shape[0]


def backprop(weights, biases, X, Y):
    """Gradient of loss(): (nabla_w, nabla_b), the mean over the rows of X."""
    zs, activations = forward(weights, biases, X)
    m = X.shape[0]
    a = activations[-1]
    delta = (a - Y) * a * (1 - a)                      # delta[L] = (a - y) * sigma'(z[L])
    nabla_w = [None] * len(weights)
    nabla_b = [None] * len(weights)
    for l in range(len(weights) - 1, -1, -1):
        nabla_w[l] = delta.T @ activations[l] / m     # dLoss/dw[l]_jk = delta_j a[l-1]_k
        nabla_b[l] = delta.sum(axis=0) / m            # dLoss/db[l]_j = delta_j
        if l > 0:
            a_prev = activations[l]
            delta = (delta @ weights[l]) * a_prev * (1 - a_prev)
    return nabla_w, nabla_b


def train_batch(weights, biases, X, Y, learning_rate=None, step=None):
    """Update weights and biases in place from one mini-batch, as Network.train_batch."""
    nabla_w, nabla_b = backprop(weights, biases, X, Y)
    if step is not None:
        norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in nabla_w + nabla_b))
        if norm == 0:
            return
        scale = step / norm
    else:
        scale = learning_rate
    for p, g in zip(weights + biases, nabla_w + nabla_b):
        p -= scale * g          # a Python float keeps the array's dtype (NEP 50)
