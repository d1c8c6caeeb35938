"""Optimizer configuration and state, learning-rate schedules.

The numeric work of every optimizer happens in the compiled epoch
(``fastnn._core.train_epoch``); this module validates the settings and holds
the state (velocity, Adam moments, step count) between calls, in the packed
layout the kernels use.
"""
import math

import numpy as np

from . import _core

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")
SCHEDULES = ("constant", "invscaling", "adaptive")
DEFAULT_LEARNING_RATE = {"sgd": 3.0, "momentum": 0.3, "nesterov": 0.3, "adam": 0.001}


def _number(name, value, low, high, low_open=False, high_open=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    ok = math.isfinite(value) and (value > low if low_open else value >= low) and (
        value < high if high_open else value <= high)
    if not ok:
        lo, hi = ("(" if low_open else "[") + f"{low:g}", f"{high:g}" + (")" if high_open else "]")
        raise ValueError(f"{name} must lie in {lo}, {hi}, got {value}")
    return value


class Optimizer:
    """Settings and state of one optimizer run; ``key`` tells whether a new call may continue it."""

    def __init__(self, net, optimizer="sgd", *, momentum=0.9, nesterov=False, l2=0.0,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, normalized=False):
        if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(map(repr, OPTIMIZERS))}")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False, got {nesterov!r}")
        self.name = "nesterov" if optimizer == "momentum" and nesterov else optimizer
        self.momentum = _number("momentum", momentum, 0, 1)
        self.l2 = _number("l2", l2, 0, math.inf, high_open=True)
        self.beta_1 = _number("beta_1", beta_1, 0, 1, high_open=True)
        self.beta_2 = _number("beta_2", beta_2, 0, 1, high_open=True)
        self.epsilon = _number("epsilon", epsilon, 0, math.inf, low_open=True, high_open=True)
        self.normalized = bool(normalized)
        if self.normalized and self.name == "adam":
            raise ValueError("step= (the normalized step) is not meaningful with optimizer='adam': Adam already "
                             "scales each parameter's step by its gradient history; give learning_rate= instead")
        self.code = _core.OPTIMIZERS[self.name]
        size = _core.packed_size(net._sizes_arr)
        dummy = np.zeros(1, dtype=net.dtype)
        # cache-line aligned, like the kernels' packed parameters they are stepped with
        self.v = _core.aligned(size, net.dtype, zero=True) if self.name in ("momentum", "nesterov") else dummy
        self.m1 = _core.aligned(size, net.dtype, zero=True) if self.name == "adam" else dummy
        self.m2 = _core.aligned(size, net.dtype, zero=True) if self.name == "adam" else dummy
        self.t = 0
        self.key = (self.name, self.momentum, self.l2, self.beta_1, self.beta_2, self.epsilon,
                    self.normalized, net.dtype.name, net.sizes)

    def snapshot(self):
        return self.v.copy(), self.m1.copy(), self.m2.copy(), self.t

    def state(self):
        """Settings and state as plain values and arrays (for pickling the network): ``from_state``
        makes an optimizer that continues exactly where this one is."""
        v, m1, m2, t = self.snapshot()
        return {"name": self.name, "momentum": self.momentum, "l2": self.l2, "beta_1": self.beta_1,
                "beta_2": self.beta_2, "epsilon": self.epsilon, "normalized": self.normalized,
                "t": t, "v": v, "m1": m1, "m2": m2}

    @classmethod
    def from_state(cls, net, state):
        opt = cls(net, state["name"], momentum=state["momentum"], l2=state["l2"], beta_1=state["beta_1"],
                  beta_2=state["beta_2"], epsilon=state["epsilon"], normalized=state["normalized"])
        opt.restore((state["v"], state["m1"], state["m2"], int(state["t"])))
        return opt

    def restore(self, snapshot):
        v, m1, m2, self.t = snapshot
        self.v[...], self.m1[...], self.m2[...] = v, m1, m2


def learning_rate(name, step, learning_rate):
    """The rate the kernels use for optimizer ``name``, from fit's learning_rate= / step=."""
    if step is not None and learning_rate is not None:
        raise ValueError("give exactly one of learning_rate= (w -= eta * grad) or step= "
                         "(w -= eps * grad / ||grad||), not both")
    if step is not None:
        return _positive("step", step)
    if learning_rate is None:
        return DEFAULT_LEARNING_RATE[name]
    return _positive("learning_rate", learning_rate)


def _positive(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


class Schedule:
    """The learning rate epoch by epoch: constant, invscaling (eta / epoch**power_t) or adaptive.

    adaptive keeps eta while the monitored loss falls by more than ``tol``
    (1e-4 when tol is None); after two epochs in a row that do not, it divides
    eta by 5 (as scikit-learn's MLP does).
    """

    def __init__(self, kind, eta, power_t=0.5, tol=None):
        if not isinstance(kind, str) or kind not in SCHEDULES:
            raise ValueError(f"unknown lr_schedule {kind!r}; choose one of {', '.join(map(repr, SCHEDULES))}")
        self.kind, self.eta0, self.eta = kind, eta, eta
        self.power_t = _number("power_t", power_t, 0, math.inf, high_open=True)
        self.tol = 1e-4 if tol is None else tol
        self.best, self.stale = math.inf, 0

    def rate(self, epoch):
        """The rate for epoch ``epoch`` (1-based)."""
        if self.kind == "invscaling":
            return self.eta0 / epoch ** self.power_t
        return self.eta

    def observe(self, monitored):
        """Feed the epoch's monitored loss (adaptive only)."""
        if self.kind != "adaptive":
            return
        self.stale = self.stale + 1 if monitored > self.best - self.tol else 0
        self.best = min(self.best, monitored)
        if self.stale >= 2:
            self.eta /= 5
            self.stale = 0
