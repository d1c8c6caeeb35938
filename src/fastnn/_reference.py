"""A plain-numpy implementation of SEED.md and its extensions: the oracle the kernels are tested against.

Matrix form over a mini-batch X (m, n_in), rows are samples; every function
takes and returns plain lists of arrays, with no compiled code. It is also
the "numpy trainer" that bench/ measures fastnn against. ``act`` names the
hidden activation, ``out`` the output activation and ``loss`` the loss, as
in fastnn.Network; the defaults are SEED.md's sigmoid layers and quadratic loss.
"""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def activate(name, z):
    if name == "sigmoid":
        return sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "identity":
        return z
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if name == "exp":
        return np.exp(z)
    raise ValueError(name)


def derivative(name, z, a):
    """f'(z) for the elementwise activations."""
    if name == "sigmoid":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a * a
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "exp":
        return a
    return np.ones_like(z)


def forward(weights, biases, X, act="sigmoid", out=None):
    """Forward propagation; returns (zs, activations) with activations[0] = X."""
    out = act if out is None else out
    a = X
    zs, activations = [], [X]
    for l, (W, b) in enumerate(zip(weights, biases)):
        z = a @ W.T + b
        a = activate(out if l == len(weights) - 1 else act, z)
        zs.append(z)
        activations.append(a)
    return zs, activations


def _sample_losses(z, a, Y, out, loss):
    if loss == "quadratic":
        return 0.5 * np.sum((Y - a) ** 2, axis=1)
    z = z.astype(np.float64)
    if loss == "poisson":         # half Poisson deviance y log(y / a) - y + a, log a = z (0 log 0 = 0)
        Y = Y.astype(np.float64)
        ylogy = Y * np.log(np.where(Y > 0, Y, 1.0))
        return np.sum(ylogy - Y * z - Y + np.exp(z), axis=1)
    if out == "sigmoid":          # binary cross-entropy per output, from z
        return np.sum(np.logaddexp(0, z) - Y * z, axis=1)
    lse = np.logaddexp.reduce(z, axis=1, keepdims=True)   # categorical, from z
    return np.sum(Y * (lse - z), axis=1)


def loss(weights, biases, X, Y, act="sigmoid", out=None, loss="quadratic"):
    """Mean over rows of the per-sample loss."""
    out = act if out is None else out
    zs, activations = forward(weights, biases, X, act, out)
    return float(np.mean(_sample_losses(zs[-1], activations[-1], Y, out, loss)))


def backprop(weights, biases, X, Y, act="sigmoid", out=None, loss="quadratic"):
    """Gradient of loss(): (nabla_w, nabla_b), the mean over the rows of X."""
    out = act if out is None else out
    zs, activations = forward(weights, biases, X, act, out)
    m = X.shape[0]
    a = activations[-1]
    if loss == "poisson":
        delta = a - Y                                         # exp outputs: the log link
    elif loss == "cross_entropy":
        delta = a * Y.sum(axis=1, keepdims=True) - Y          # sigmoid: a - y; softmax: a sum(y) - y
        if out == "sigmoid":
            delta = a - Y
    elif out == "softmax":
        g = a - Y                                             # J^T g with J = diag(a) - a a^T
        delta = a * (g - np.sum(g * a, axis=1, keepdims=True))
    else:
        delta = (a - Y) * derivative(out, zs[-1], a)          # delta[L] = (a - y) * f'(z[L])
    nabla_w = [None] * len(weights)
    nabla_b = [None] * len(weights)
    for l in range(len(weights) - 1, -1, -1):
        nabla_w[l] = delta.T @ activations[l] / m     # dLoss/dw[l]_jk = delta_j a[l-1]_k
        nabla_b[l] = delta.sum(axis=0) / m            # dLoss/db[l]_j = delta_j
        if l > 0:
            delta = (delta @ weights[l]) * derivative(act, zs[l - 1], activations[l])
    return nabla_w, nabla_b


def train_batch(weights, biases, X, Y, learning_rate=None, step=None, **model):
    """Update weights and biases in place from one mini-batch, as Network.train_batch."""
    nabla_w, nabla_b = backprop(weights, biases, X, Y, **model)
    if step is not None:
        norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in nabla_w + nabla_b))
        if norm == 0:
            return
        scale = step / norm
    else:
        scale = learning_rate
    for p, g in zip(weights + biases, nabla_w + nabla_b):
        p -= scale * g          # a Python float keeps the array's dtype (NEP 50)


class Optimizer:
    """The optimizers of Network.fit in plain numpy, one step per call of :meth:`step`."""

    def __init__(self, name="sgd", learning_rate=0.1, momentum=0.9, l2=0.0, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, step=None):
        self.name, self.eta, self.mu, self.l2 = name, learning_rate, momentum, l2
        self.b1, self.b2, self.eps, self.normalized_step = beta_1, beta_2, epsilon, step
        self.state, self.t = None, 0

    def step(self, weights, biases, nabla_w, nabla_b):
        """Update weights and biases in place from the batch-mean gradients."""
        params = weights + biases
        grads = [g + self.l2 * W for g, W in zip(nabla_w, weights)] + list(nabla_b)
        eta = self.eta
        if self.normalized_step is not None:
            norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads))
            if norm == 0:
                return
            grads = [g / norm for g in grads]
            eta = self.normalized_step
        if self.state is None:
            self.state = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
        self.t += 1
        for p, g, (s1, s2) in zip(params, grads, self.state):
            if self.name == "sgd":
                p -= eta * g
            elif self.name == "momentum":
                s1[...] = self.mu * s1 - eta * g
                p += s1
            elif self.name == "nesterov":
                s1[...] = self.mu * s1 - eta * g
                p += self.mu * s1 - eta * g
            else:
                s1[...] = self.b1 * s1 + (1 - self.b1) * g
                s2[...] = self.b2 * s2 + (1 - self.b2) * g * g
                lr_t = eta * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
                p -= lr_t * s1 / (np.sqrt(s2) + self.eps)
