"""The Network class: a fully-connected sigmoid network trained by mini-batch gradient descent.

Python here validates and prepares; the numeric work is done by the compiled
kernels in ``fastnn._core``, one nogil call per epoch (``train_epoch``) or per
evaluation (``evaluate``).
"""
from __future__ import annotations

import math
import os
import threading
import time
from typing import Any, Sequence

import numpy as np

from . import _core
from .data import _array, _check_batch_size, _check_label_range, _one_hot, _rng, epoch_order
from .history import History, _n_epochs
from ._typing import (Activation, ArrayLike, Callback, DTypeLike, FloatArray, Init, Loss, LRSchedule,
                      OptimizerName, OutputActivation, PathLike, Seed)
from .optim import Optimizer, Schedule, learning_rate as _learning_rate
from .progress import Progress

__all__ = ["Network"]

_DTYPES = {"float32": np.float32, "float64": np.float64}
_INITS = ("normal", "scaled", "glorot", "he")
_HIDDEN = ("sigmoid", "tanh", "relu", "identity")
_OUTPUT = _HIDDEN + ("softmax", "exp")
_LOSSES = ("quadratic", "cross_entropy", "poisson")
_CONFIG_KEYS = ("sizes", "activation", "output_activation", "loss", "init", "dtype")


def _choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(repr, choices))}")
    return value


def _offsets(sizes):
    """Offsets of W[l] and b[l] in the flat parameter vector.

    Returns (n_params, offsets) where offsets = [w_off (L), b_off (L)] as one
    intp array, the layout the kernels read.
    """
    w_off, b_off = [], []
    p = 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        w_off.append(p)
        p += n_out * n_in
        b_off.append(p)
        p += n_out
    # (p is a Python integer: a count past numpy's index range would overflow the intp array below)
    if p > np.iinfo(np.intp).max // 8:
        raise ValueError(f"sizes {list(sizes)} make {p} parameters: the array is too big for numpy")
    return p, np.array(w_off + b_off, dtype=np.intp)


def _finite(a):
    """True when the C-contiguous float array a holds no NaN or infinity."""
    return _core.all_finite(a.reshape(-1))


def _available_cores():
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _check_flush_available(flush):
    """Refuse flush_subnormals=True where the build cannot set the CPU's modes (ValueError)."""
    if flush and not _core._flush_available():
        raise ValueError("flush_subnormals=True needs an x86 CPU (its MXCSR flush-to-zero and "
                         "denormals-are-zero modes); this build has no such modes")


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _int_at_least(name, value, lowest):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= {lowest}, got {value!r}")
    if value < lowest:
        raise ValueError(f"{name} must be an integer >= {lowest}, got {value}")
    return int(value)


class Network:
    """A fully-connected feed-forward network trained by mini-batch gradient descent.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output, e.g. ``[784, 30, 10]``: at least
        two entries, each >= 1.
    activation : {"sigmoid", "tanh", "relu", "identity"}
        Activation of the hidden layers.
    output_activation : {"sigmoid", "tanh", "relu", "identity", "softmax", "exp"} or None
        Activation of the output layer; None means the same as ``activation``.
    loss : {"quadratic", "cross_entropy", "poisson"}
        "quadratic": 1/2 ||y - a||^2 per sample (SEED.md). "cross_entropy":
        binary cross-entropy summed over the outputs with sigmoid outputs,
        categorical cross-entropy with softmax outputs; it needs one of those
        two output activations and is computed from z, so it stays finite.
        "poisson": half the Poisson deviance, y log(y / a) - y + a summed over
        the outputs, for counts or rates y >= 0; it needs output_activation
        "exp" (a = exp(z), the log link) and is computed from z.
    init : {"normal", "scaled", "glorot", "he"}
        "normal": weights and biases from N(0, 1) (as SEED.md); "scaled":
        weights N(0, 1/n_in), biases N(0, 1); "glorot": weights uniform on
        +-sqrt(6 / (n_in + n_out)), biases 0; "he": weights N(0, 2/n_in), biases 0.
    dtype : {"float32", "float64"}
        Floating type of parameters and computation.
    seed : int, numpy.random.Generator or None
        Seeds the initial parameters and the shuffling in :meth:`fit`: the same
        seed, data and arguments give bit-identical weights on the same machine.
    n_threads : int or None
        OpenMP threads for the large matrix products (None: every available
        core). Results are the same for any value, except in fit's opt-in
        ``asynchronous`` mode, where the threads take whole mini-batches.
    flush_subnormals : bool
        Opt-in, default False (exact IEEE arithmetic). True: while training, every
        result below the dtype's smallest normal number (2.2e-308 in float64,
        1.2e-38 in float32) is computed as 0, as is every such operand (the CPU's
        flush-to-zero and denormals-are-zero modes, x86 only). Adam's L2 steps take
        the weights of inputs that are always 0 down to those numbers (float32: in
        about 20 epochs of MNIST; float64: after about 150), and on CPUs that handle
        them slowly (Intel's) every later epoch is slower: float32 MNIST epochs took
        half as long again. Results then differ from the exact ones only through
        such tiny numbers. Predictions and evaluations always compute exactly.

    Attributes
    ----------
    sizes : tuple of int
    dtype : numpy.dtype
    weights : list of ndarray, shapes (sizes[l+1], sizes[l])
    biases : list of ndarray, shapes (sizes[l+1],)
        Writable views into the network's one flat parameter vector: writing
        into them changes the network.

    Conventions
    -----------
    X has shape (n_samples, sizes[0]), one row per sample. Targets Y have
    shape (n_samples, sizes[-1]), or are 1-D integer labels in
    [0, sizes[-1]) that are one-hot encoded.
    """

    def __init__(self, sizes: Sequence[int], *, activation: Activation = "sigmoid",
                 output_activation: OutputActivation | None = None, loss: Loss = "quadratic",
                 init: Init = "normal", dtype: DTypeLike = "float64", seed: Seed = None,
                 n_threads: int | None = None, flush_subnormals: bool = False) -> None:
        self._build(sizes, activation, output_activation, loss, init, dtype)
        self.n_threads = n_threads
        self.flush_subnormals = flush_subnormals
        self._rng = _rng(seed)
        for W, b in zip(self.weights, self.biases):
            # drawn in float64 so float32 and float64 networks start from the same values
            n_out, n_in = W.shape
            if init in ("normal", "scaled"):
                scale = 1.0 if init == "normal" else 1.0 / math.sqrt(n_in)
                W[...] = scale * self._rng.standard_normal(W.shape)
                b[...] = self._rng.standard_normal(b.shape)
            elif init == "glorot":
                bound = math.sqrt(6.0 / (n_in + n_out))
                W[...] = self._rng.uniform(-bound, bound, W.shape)
                b[...] = 0
            else:
                W[...] = math.sqrt(2.0 / n_in) * self._rng.standard_normal(W.shape)
                b[...] = 0

    def _build(self, sizes, activation, output_activation, loss, init, dtype):
        """Validate the architecture and set up everything but the parameter values."""
        self._sizes = self._check_sizes(sizes)
        self._dtype = self._check_dtype(dtype)
        self._activation = _choice("activation", activation, _HIDDEN)
        self._output_activation = _choice(
            "output_activation", activation if output_activation is None else output_activation, _OUTPUT)
        self._loss = _choice("loss", loss, _LOSSES)
        if self._loss == "cross_entropy" and self._output_activation not in ("sigmoid", "softmax"):
            raise ValueError("loss='cross_entropy' needs output_activation 'sigmoid' (binary, per output) "
                             f"or 'softmax' (categorical), got {self._output_activation!r}")
        if self._loss == "poisson" and self._output_activation != "exp":
            raise ValueError("loss='poisson' needs output_activation 'exp' (its log link), "
                             f"got {self._output_activation!r}")
        self._init = _choice("init", init, _INITS)
        n_params, self._offsets = _offsets(self._sizes)
        self._sizes_arr = np.array(self._sizes, dtype=np.intp)
        L = len(self._sizes) - 1
        self._acts = np.array([_core.ACTIVATIONS[self._activation]] * (L - 1)
                              + [_core.ACTIVATIONS[self._output_activation]], dtype=np.intp)
        self._loss_code = _core.LOSSES[self._loss]
        self._theta = np.empty(n_params, dtype=self._dtype)
        self._opt = None
        # held while a compiled epoch writes the parameters; evaluations copy them under it
        self._lock = threading.Lock()
        self.n_threads = None
        self.flush_subnormals = False

    def _config(self):
        """The arguments of _build that recreate this architecture (see _CONFIG_KEYS)."""
        return {"sizes": list(self._sizes), "activation": self._activation,
                "output_activation": self._output_activation, "loss": self._loss,
                "init": self._init, "dtype": self._dtype.name}

    # -- files, pickling, copying ------------------------------------------
    def save(self, path: PathLike) -> str:
        """Save the architecture and parameters to ``path`` in fastnn's model file format.

        The format is documented in :mod:`fastnn.modelfile`: versioned, no pickle, and
        written atomically (a temporary file, fsync, rename), so a crash never leaves
        a half-written model. Optimizer state and the shuffling generator are not saved.
        Raises OSError naming the path when it cannot be written. Returns ``path`` (as a str).
        """
        from . import modelfile
        return modelfile.save(self, path)

    @classmethod
    def load(cls, path: PathLike, *, seed: Seed = None) -> Network:
        """The network saved in ``path`` (see :func:`fastnn.load`)."""
        from . import modelfile
        path = os.fsdecode(path)
        header, theta = modelfile.read(path)
        net = cls.__new__(cls)
        try:
            net._build(**{key: header[key] for key in _CONFIG_KEYS})
        except (TypeError, ValueError) as exc:
            raise modelfile.ModelFileError(f"{path}: not a valid fastnn model file: {exc}") from None
        net._theta[...] = theta
        net._rng = _rng(seed)
        if not _finite(net._theta):
            raise modelfile.ModelFileError(f"{path}: not a valid fastnn model file: parameters hold NaN or infinity")
        return net

    def __getstate__(self):
        # the optimizer's state too (velocity, Adam moments, step count), so that partial_fit and
        # train_batch continue after a pickle or copy exactly as without one
        with self._lock:
            return {"config": self._config(), "theta": self._theta.copy(),
                    "rng": self._rng.bit_generator.state,
                    "optimizer": None if self._opt is None else self._opt.state(),
                    "n_threads": self._n_threads_asked,     # None: every core of the machine unpickling
                    "flush_subnormals": self._flush_subnormals}

    def __setstate__(self, state):
        self._build(**state["config"])
        self._theta[...] = state["theta"]
        self._rng = np.random.default_rng()
        self._rng.bit_generator.state = state["rng"]
        # (both absent from pickles of fastnn before 2026-12-05)
        if state.get("optimizer") is not None:
            self._opt = Optimizer.from_state(self, state["optimizer"])
        self.n_threads = state.get("n_threads")
        self.flush_subnormals = state.get("flush_subnormals", False)

    def __copy__(self):
        """An independent network with the same architecture, parameters, generator state,
        optimizer state, n_threads and flush_subnormals."""
        new = self.__class__.__new__(self.__class__)
        new.__setstate__(self.__getstate__())
        return new

    def __deepcopy__(self, memo):
        return self.__copy__()

    # -- validation helpers -------------------------------------------------
    @staticmethod
    def _check_sizes(sizes):
        try:
            sizes = list(sizes)
        except TypeError:
            raise TypeError(f"sizes must be a sequence of layer widths, got {sizes!r}") from None
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least 2 layer widths (input and output), got {sizes}")
        for s in sizes:
            if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
                raise TypeError(f"layer widths must be integers, got {s!r} in {sizes}")
            if s < 1:
                raise ValueError(f"layer widths must be >= 1, got {s} in {sizes}")
        return tuple(int(s) for s in sizes)

    @staticmethod
    def _check_dtype(dtype):
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = None
        if name not in _DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; choose 'float32' or 'float64'")
        return np.dtype(name)

    def _as_X(self, X, name="X"):
        """X as a C-contiguous array of the network's dtype, shape (n, sizes[0]); no copy when already so."""
        if hasattr(X, "toarray") and not isinstance(X, np.ndarray):
            raise TypeError(f"{name} is a sparse matrix: fastnn.Network takes dense arrays ({name}.toarray()); "
                            "fastnn.MLPClassifier and MLPRegressor train from a sparse X without making it dense")
        X = _array(X, name)
        if X.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
        if X.ndim != 2:
            hint = " (reshape your data: X.reshape(1, -1) for one sample)" if X.ndim == 1 else ""
            raise ValueError(f"{name} must be 2-D of shape (n_samples, {self._sizes[0]}), got shape {X.shape}{hint}")
        if X.shape[0] == 0:
            raise ValueError(f"{name} has no rows")
        if X.shape[1] != self._sizes[0]:
            raise ValueError(f"{name} has {X.shape[1]} features but the network takes {self._sizes[0]}")
        return self._as_finite(X, name)

    def _as_finite(self, A, name):
        """A as a C-contiguous array of the network's dtype with only finite values (no copy when already so)."""
        with np.errstate(over="ignore", invalid="ignore"):
            converted = np.ascontiguousarray(A, dtype=self._dtype)
        if not _finite(converted):
            if A.dtype.kind == "f" and np.isfinite(A).all():
                # (a longdouble beyond float64's range: formatted as itself, not as a Python float's inf)
                largest = np.format_float_scientific(np.abs(A).max(), precision=2, trim="-")
                fix = "scale the data" + (" or use dtype='float64'" if self._dtype != np.float64 else "")
                raise ValueError(f"{name} holds values beyond {self._dtype.name}'s range (largest "
                                 f"magnitude {largest}); {fix}")
            raise ValueError(f"{name} contains NaN or infinity")
        return converted

    def _as_Y(self, Y, n, name="Y"):
        """Targets as a C-contiguous (n, sizes[-1]) array of the network's dtype."""
        n_out = self._sizes[-1]
        Y = _array(Y, name)
        if Y.ndim == 1:
            Y = _one_hot(Y, n_out, self._dtype, self._labels_range())
        elif Y.ndim == 2:
            if Y.dtype.kind not in "biuf":
                raise TypeError(f"{name} must hold real numbers, got dtype {Y.dtype}")
            if Y.shape[1] != n_out:
                raise ValueError(f"{name} has {Y.shape[1]} columns but the network has {n_out} outputs")
            Y = self._as_finite(Y, name)
        else:
            raise ValueError(f"{name} must be 1-D labels or 2-D targets (n_samples, {n_out}), got shape {Y.shape}")
        if Y.shape[0] != n:
            raise ValueError(f"X has {n} rows but {name} has {Y.shape[0]}")
        if self._loss == "poisson" and np.any(Y < 0):
            raise ValueError(f"{name} has negative values: loss='poisson' needs targets >= 0")
        return Y

    def _labels_range(self):
        """Where a label's range comes from, for its error message."""
        return f"the network has {self._sizes[-1]} outputs, so "

    def _as_labels(self, labels, n):
        labels = _array(labels, "labels")
        if labels.ndim == 2 and labels.shape[1] == self._sizes[-1]:
            labels = labels.argmax(axis=1)
        if labels.ndim != 1 or labels.shape[0] != n:
            raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
        if labels.size and not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
        _check_label_range(labels, self._sizes[-1], self._labels_range())
        return labels

    # -- parameters ---------------------------------------------------------
    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer widths from input to output."""
        return self._sizes

    @property
    def dtype(self) -> np.dtype[Any]:
        """numpy dtype of the parameters and computation."""
        return self._dtype

    @property
    def n_params(self) -> int:
        """Total number of weights and biases."""
        return self._theta.shape[0]

    def _views(self, buf):
        L = len(self._sizes) - 1
        ws, bs = [], []
        for l in range(L):
            n_in, n_out = self._sizes[l], self._sizes[l + 1]
            w0, b0 = self._offsets[l], self._offsets[L + l]
            ws.append(buf[w0:w0 + n_out * n_in].reshape(n_out, n_in))
            bs.append(buf[b0:b0 + n_out])
        return ws, bs

    @property
    def weights(self) -> list[FloatArray]:
        """List of weight matrices W[l], shape (sizes[l+1], sizes[l]); writable views."""
        return self._views(self._theta)[0]

    @property
    def biases(self) -> list[FloatArray]:
        """List of bias vectors b[l], shape (sizes[l+1],); writable views."""
        return self._views(self._theta)[1]

    @property
    def n_threads(self) -> int:
        """Threads the kernels may use for large products (settable; None means every available core).

        Results do not depend on it (each output is computed by one thread in a fixed order),
        except in fit's opt-in ``asynchronous`` mode.
        """
        return self._n_threads

    @n_threads.setter
    def n_threads(self, value: int | None) -> None:
        if value is None:
            self._n_threads, self._n_threads_asked = _available_cores(), None
            return
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"n_threads must be a positive integer or None, got {value!r}")
        self._n_threads = self._n_threads_asked = int(value)

    @property
    def flush_subnormals(self) -> bool:
        """Whether training computes numbers below the smallest normal one as 0 (settable; see the
        class's ``flush_subnormals``). Not saved in model files: a loaded network computes exactly."""
        return self._flush_subnormals

    @flush_subnormals.setter
    def flush_subnormals(self, value: bool) -> None:
        _check_bool("flush_subnormals", value)
        _check_flush_available(value)
        self._flush_subnormals = bool(value)

    @property
    def activation(self) -> str:
        """Activation of the hidden layers."""
        return self._activation

    @property
    def output_activation(self) -> str:
        """Activation of the output layer."""
        return self._output_activation

    @property
    def loss_name(self) -> str:
        """The loss: "quadratic", "cross_entropy" or "poisson"."""
        return self._loss

    def __repr__(self) -> str:
        return (f"Network(sizes={list(self._sizes)}, activation={self._activation!r}, "
                f"output_activation={self._output_activation!r}, loss={self._loss!r}, "
                f"init={self._init!r}, dtype={self._dtype.name!r})")

    # -- evaluation ---------------------------------------------------------
    def _snapshot(self):
        """A copy of the parameters taken while no compiled epoch is writing them."""
        with self._lock:
            return self._theta.copy()

    def _evaluate(self, X, Y=None, *, want_out=False, want_grad=False, listed=None):
        n = X.shape[0]
        empty = np.empty((1, 1), dtype=self._dtype)
        out = np.empty((n, self._sizes[-1]), dtype=self._dtype) if want_out else empty
        grad = np.zeros_like(self._theta) if want_grad else np.empty(1, dtype=self._dtype)
        theta = self._snapshot()
        self._check_parameters(theta)
        loss = _core.evaluate(theta, self._sizes_arr, self._offsets, self._acts, self._loss_code, X,
                              empty if Y is None else Y, out, grad,
                              want_out, Y is not None, want_grad, self._n_threads, listed, listed is not None)
        return loss, (out if want_out else None), (grad if want_grad else None)

    def _bad_parameter(self, theta=None):
        """None when every parameter in theta (default: the network's) is finite, else where the
        first that is not lies: ("weights", l, (i, j), value) or ("biases", l, (i,), value)."""
        theta = self._theta if theta is None else theta
        if _finite(theta):
            return None
        k = int(np.flatnonzero(~np.isfinite(theta))[0])
        L = len(self._sizes) - 1
        for l in range(L):
            w0, b0 = int(self._offsets[l]), int(self._offsets[L + l])
            if w0 <= k < b0:
                return "weights", l, divmod(k - w0, self._sizes[l]), theta[k]
            if b0 <= k < b0 + self._sizes[l + 1]:
                return "biases", l, (k - b0,), theta[k]
        raise AssertionError(f"parameter {k} is in no layer")   # (the offsets cover theta)

    def _check_parameters(self, theta=None):
        """Raise ValueError when a parameter is NaN or infinite (set through the writable views)."""
        bad = self._bad_parameter(theta)
        if bad is not None:
            name, l, index, value = bad
            raise ValueError(
                f"the network's parameters hold NaN or infinity ({name}[{l}][{', '.join(map(str, index))}] "
                f"= {value}): weights and biases are writable views, and a value written into them "
                "must be finite")

    def _forward(self, X, listed=None):
        """a[L] (n, sizes[-1]) for a validated X; FloatingPointError rather than NaN or infinity
        when the forward pass overflows (X and the parameters being finite, as checked).
        ``listed``: a sparse X's lists (``_core.list_csr``, finite values of the network's dtype)
        instead, X then an empty (n, 0) array: X is never made dense."""
        out = self._evaluate(X, want_out=True, listed=listed)[1]
        if not _finite(out):
            hint = ", or use dtype='float64'" if self._dtype == np.float32 else ""
            values = X if listed is None else (listed[2] if listed[3] is None else listed[3])
            raise FloatingPointError(
                f"the forward pass overflowed to NaN or infinity (largest input magnitude {np.abs(values).max():.3g} "
                f"is too large for {self._dtype.name} with these weights); scale X to a small range "
                f"such as [0, 1]{hint}")
        return out

    def predict(self, X: ArrayLike) -> FloatArray:
        """Output activations a[L] of the network.

        X : array-like, shape (n, sizes[0]). Returns ndarray, shape (n, sizes[-1]).
        Raises FloatingPointError rather than return NaN or infinity when the
        forward pass overflows (inputs too large for the dtype), and ValueError
        when a parameter is NaN or infinite (as every method does).
        """
        return self._forward(self._as_X(X))

    def loss(self, X: ArrayLike, Y: ArrayLike) -> float:
        """Mean over samples of the loss: 1/2 ||y - a[L]||^2 (quadratic), the cross-entropy or
        half the Poisson deviance.

        X : (n, sizes[0]); Y : (n, sizes[-1]) targets or (n,) integer labels.
        """
        X = self._as_X(X)
        Y = self._as_Y(Y, X.shape[0])
        return self._evaluate(X, Y)[0] / X.shape[0]

    def gradients(self, X: ArrayLike, Y: ArrayLike) -> tuple[list[FloatArray], list[FloatArray]]:
        """Gradient of :meth:`loss` by back-propagation.

        Returns (nabla_w, nabla_b): lists of new arrays shaped like
        ``weights`` (sizes[l+1], sizes[l]) and ``biases`` (sizes[l+1],).
        """
        X = self._as_X(X)
        Y = self._as_Y(Y, X.shape[0])
        grad = self._evaluate(X, Y, want_grad=True)[2]
        grad /= X.shape[0]
        return self._views(grad)

    def accuracy(self, X: ArrayLike, labels: ArrayLike) -> float:
        """Fraction of rows whose largest output is at index ``labels[i]``.

        labels : (n,) integer labels (or (n, sizes[-1]) one-hot rows).
        """
        X = self._as_X(X)
        labels = self._as_labels(labels, X.shape[0])
        return float(np.mean(self._forward(X).argmax(axis=1) == labels))

    # -- training -----------------------------------------------------------
    def _optimizer(self, optimizer, learning_rate, step, *, fresh, **settings):
        """(Optimizer, eta) for these settings: the network's current optimizer when it matches
        (its state continues), else a new one; eta from learning_rate= / step= or the default.
        The caller makes it the network's (self._opt) once every argument is validated."""
        opt = Optimizer(self, optimizer, normalized=step is not None, **settings)
        eta = _learning_rate(opt.name, step, learning_rate)
        if fresh or self._opt is None or self._opt.key != opt.key:
            return opt, eta
        return self._opt, eta

    def _run_epoch(self, X, Y, order, batch_size, opt, eta, progress=None, asynchronous=False, listed=None,
                   sample_weight=None, loss_code=None, penalty=None, alpha=None, lists_only=False):
        """One compiled epoch; on a non-finite result restores the parameters and optimizer state and raises.

        ``listed``: X's nonzeros from ``_core.list_nonzeros(X, ...)`` (made once for many epochs), or None.
        ``lists_only``: X is an empty (n, 0) array and ``listed`` (``_core.list_csr``, a sparse
        matrix's) holds its rows (``_core.train_epoch``).
        ``sample_weight``: None, or a weight >= 0 (X's dtype) for each row of X (``_core.train_epoch``).
        ``loss_code``: the loss the epoch reports, if not the network's (``_core.SKLEARN_LOG_LOSS``
        for a cross-entropy network: the same steps, scikit-learn's clipped loss).
        ``penalty``: None, or a float64 array of one element to which each batch adds ||W||^2
        before its step, times its size over its summed weight (``_core.train_epoch``).
        ``alpha``: None (every batch steps with ``opt.l2``), or scikit-learn's L2 coefficient: a
        batch of m rows steps with l2 = alpha / m, so a last smaller batch runs in a compiled call
        of its own (the epoch's restore point still the one from before the epoch).

        With a live ``progress`` display the epoch runs as several compiled calls, each a
        whole number of mini-batches taking about ``progress.interval`` seconds; the result
        is bit-identical to one call (each call continues the last one's loss sum).
        """
        saved, saved_state = self._theta.copy(), opt.snapshot()
        self._check_parameters(saved)    # a NaN written into the weights is not a divergence
        n, loss, start = order.shape[0], 0.0, 0
        # order[:n_full]: the batches of batch_size rows; the rest, one smaller batch (with alpha, its own call)
        n_full = n if alpha is None else n // batch_size * batch_size
        batches = n  # the first slice: everything when not live
        if progress is not None and progress.live:
            batches = max(1, 2048 // batch_size)     # a first slice to measure the speed
        # the lock for the whole epoch, over all its calls: predictions from other threads see whole epochs
        with self._lock:
            while start < n:
                m = batch_size if start < n_full else n - n_full
                stop = min(n_full if start < n_full else n, start + batches * m)
                l2 = opt.l2 if alpha is None else alpha / m
                t0 = time.perf_counter()
                flushed = _core._enter_flush(self._n_threads) if self._flush_subnormals else None
                try:
                    loss, opt.t = _core.train_epoch(
                        self._theta, self._sizes_arr, self._offsets, self._acts,
                        self._loss_code if loss_code is None else loss_code, X, Y, order[start:stop],
                        m, opt.code, eta, opt.normalized, l2, opt.momentum, opt.beta_1, opt.beta_2,
                        opt.epsilon, opt.t, opt.v, opt.m1, opt.m2, self._n_threads, asynchronous, listed, loss,
                        sample_weight, penalty, lists_only)
                except BaseException:
                    # interrupted (Ctrl-C) between mini-batches: the parameters hold every completed
                    # batch; should those have diverged, go back to the start of the epoch
                    if not _finite(self._theta):
                        self._theta[...] = saved
                        opt.restore(saved_state)
                    raise
                finally:
                    if flushed is not None:
                        _core._leave_flush(flushed)
                start = stop
                if progress is not None and progress.live and start < n:
                    progress.update(start)
                    per_batch = (time.perf_counter() - t0) / max(1, batches)
                    batches = max(1, int(progress.interval / max(per_batch, 1e-9)))
        if not (math.isfinite(loss) and _finite(self._theta)):
            with self._lock:
                self._theta[...] = saved
            opt.restore(saved_state)
            raise FloatingPointError(
                "training diverged: the loss or the parameters became NaN or infinite; "
                "the parameters from before this epoch were restored. "
                "Try a smaller learning_rate or step, or scale X to a small range such as [0, 1].")
        return loss

    def train_batch(self, X: ArrayLike, Y: ArrayLike, *, learning_rate: float | None = None,
                    step: float | None = None, optimizer: OptimizerName = "sgd", momentum: float = 0.9,
                    nesterov: bool = False, l2: float = 0.0, beta_1: float = 0.9, beta_2: float = 0.999,
                    epsilon: float = 1e-8) -> float:
        """One optimizer step from the mini-batch (X, Y).

        With the default optimizer="sgd": ``learning_rate=eta`` gives w <- w - eta * grad and
        ``step=eps`` gives w <- w - eps * grad / ||grad||, with grad the gradient of :meth:`loss`
        on this batch (plus l2 * w for the weights) and ||grad|| its norm over all weights and
        biases together (no update when grad == 0). Give exactly one of the two for sgd. The other
        optimizers are those of :meth:`fit`; their state (velocity, Adam moments) is kept between
        calls with the same settings, so a loop of train_batch calls trains as fit does.

        X : (m, sizes[0]); Y : (m, sizes[-1]) or (m,) labels.
        Returns the batch's mean loss measured before the update.
        """
        if optimizer == "sgd" and learning_rate is None and step is None:
            raise ValueError("give exactly one of learning_rate= (w -= eta * grad) "
                             "or step= (w -= eps * grad / ||grad||)")
        opt, eta = self._optimizer(optimizer, learning_rate, step, fresh=False, momentum=momentum,
                                   nesterov=nesterov, l2=l2, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
        X = self._as_X(X)
        Y = self._as_Y(Y, X.shape[0])
        order = np.arange(X.shape[0], dtype=np.intp)
        self._opt = opt
        return self._run_epoch(X, Y, order, X.shape[0], opt, eta) / X.shape[0]

    def _validation_set(self, validation_data, validation_fraction, early_stopping, X, Y, Y_raw):
        """(X_train, Y_train, val) with val = (X_val, Y_val, labels or None) or None; ``Y_raw``: the
        targets as given, as an array (1-D labels, or the 2-D targets before ``_as_Y``)."""
        if validation_data is not None and validation_fraction is not None:
            raise ValueError("give validation_data or validation_fraction, not both")
        if validation_fraction is None and validation_data is None and early_stopping:
            validation_fraction = 0.1
        if validation_fraction is not None:
            if isinstance(validation_fraction, (bool, np.bool_)) or not isinstance(
                    validation_fraction, (float, int, np.floating, np.integer)) or not 0 < validation_fraction < 1:
                raise ValueError(f"validation_fraction must lie in (0, 1), got {validation_fraction!r}")
            n = X.shape[0]
            n_val = int(round(validation_fraction * n))
            if n_val < 1 or n_val >= n:
                raise ValueError(f"validation_fraction={validation_fraction} of {n} samples leaves "
                                 f"{n_val} for validation and {n - n_val} for training; both need at least 1")
            order = self._rng.permutation(n)
            val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
            labels = Y_raw[val_idx] if Y_raw.ndim == 1 else None
            Xv, Yv = X[val_idx], Y[val_idx]
            if labels is None and self._one_hot_rows(Yv):
                labels = Yv.argmax(axis=1)
            return np.ascontiguousarray(X[train_idx]), np.ascontiguousarray(Y[train_idx]), (Xv, Yv, labels)
        if validation_data is None:
            return X, Y, None
        try:
            Xv, Yv = validation_data
        except (TypeError, ValueError):
            raise TypeError("validation_data must be a pair (X_val, Y_val)") from None
        Xv = self._as_X(Xv, "X_val")
        Yv_arr = _array(Yv, "Y_val")
        Yv = self._as_Y(Yv_arr, Xv.shape[0], "Y_val")
        labels = Yv_arr if Yv_arr.ndim == 1 else (Yv.argmax(axis=1) if self._one_hot_rows(Yv) else None)
        return X, Y, (Xv, Yv, labels)

    @staticmethod
    def _one_hot_rows(Y):
        return bool(np.all((Y == 0) | (Y == 1)) and np.all(Y.sum(axis=1) == 1))

    def fit(self, X: ArrayLike, Y: ArrayLike, *, epochs: int = 30, batch_size: int = 10,
            learning_rate: float | None = None, step: float | None = None, optimizer: OptimizerName = "sgd",
            momentum: float = 0.9, nesterov: bool = False, l2: float = 0.0, beta_1: float = 0.9,
            beta_2: float = 0.999, epsilon: float = 1e-8, lr_schedule: LRSchedule = "constant",
            power_t: float = 0.5, shuffle: bool = True, tol: float | None = None, patience: int = 5,
            validation_data: tuple[ArrayLike, ArrayLike] | None = None,
            validation_fraction: float | None = None, early_stopping: bool = False,
            restore_best: bool = True, callbacks: Callback | Sequence[Callback] | None = None,
            verbose: bool = False, asynchronous: bool = False) -> History:
        """Train by mini-batch gradient descent; returns a :class:`History`.

        Each epoch draws mini-batches of ``batch_size`` rows in a fresh shuffled
        order (or in row order with ``shuffle=False``) until every sample has been
        used once; the last batch holds the remainder. Everything below runs in
        the compiled epoch; Python acts only between epochs.

        Parameters
        ----------
        X : (n, sizes[0]);  Y : (n, sizes[-1]) targets or (n,) integer labels.
        epochs : int >= 0
        batch_size : int >= 1
        learning_rate : float or None
            eta. None: 3.0 for "sgd" (SEED.md), 0.3 for "momentum"/"nesterov", 0.001 for "adam".
        step : float or None
            eps of the normalized step: the gradient is scaled to unit norm (over all
            weights and biases together) before the optimizer uses it with rate eps.
            Not with "adam". Give learning_rate or step, not both.
        optimizer : {"sgd", "momentum", "nesterov", "adam"}
            sgd: w -= eta g. momentum: v = mu v - eta g, w += v. nesterov: v = mu v - eta g,
            w += mu v - eta g. adam: bias-corrected moments with beta_1, beta_2, epsilon.
        momentum : float in [0, 1]
            mu of "momentum" and "nesterov".
        nesterov : bool
            With optimizer="momentum", use Nesterov's momentum (the same as "nesterov").
        l2 : float >= 0
            Weight decay: the objective gains l2/2 * sum ||W||^2 over the weights (not the
            biases), so each weight's gradient gains l2 * w.
        beta_1, beta_2, epsilon : float
            Adam's moment decay rates and the term that keeps its division finite.
        lr_schedule : {"constant", "invscaling", "adaptive"}
            constant: eta every epoch. invscaling: eta / epoch**power_t. adaptive: eta is
            divided by 5 after two epochs in a row in which the monitored loss did not fall
            by more than tol (1e-4 when tol is None).
        power_t : float >= 0
            Exponent of "invscaling".
        shuffle : bool
        tol : float or None
            Stop once the monitored loss (validation loss when there is validation data,
            else training loss) has not fallen below its best value by more than ``tol``
            for ``patience`` epochs in a row. None: no such stop (but see early_stopping).
        patience : int >= 1
        validation_data : (X_val, Y_val) or None
            Evaluated after every epoch (loss, and accuracy for class labels).
        validation_fraction : float in (0, 1) or None
            Hold out this fraction of (X, Y), drawn at random, as validation data instead.
        early_stopping : bool
            Monitor the validation loss (holding out validation_fraction, 0.1 by default,
            when no validation data is given) and stop as ``tol`` describes, with
            tol = 1e-4 when None.
        restore_best : bool
            With early_stopping, end with the parameters of the epoch that had the lowest
            validation loss (History.best_epoch).
        callbacks : list of callables or None
            Each is called after every epoch as ``callback(network, info)`` with info a dict
            of that epoch's figures (epoch, train_loss, val_loss, val_accuracy,
            learning_rate, seconds). Returning True stops training after that epoch (the
            callbacks after it in the list still see the epoch).
        verbose : bool (or 0 / 1)
            Show progress on stdout: on a terminal a line that updates within each epoch
            (samples done, samples/s, time left), elsewhere one line per epoch.
        asynchronous : bool
            Hogwild training, for batches too small to split across threads: with
            n_threads > 1, each thread takes whole mini-batches, the next one not yet taken,
            and updates the shared parameters (and optimizer state) without locks. Each
            batch then reads parameters that other threads' batches may be changing, so the
            result depends on timing and is not reproducible, and training is less stable
            (at the seed's learning rate 3.0 a run can stall; see README). False (default): the batches
            run in turn, each split across the threads where it is large enough, and the
            result is the same for any n_threads. With n_threads=1 both are the same.
        """
        opt, eta = self._optimizer(optimizer, learning_rate, step, fresh=True, momentum=momentum,
                                   nesterov=nesterov, l2=l2, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
        epochs = _int_at_least("epochs", epochs, 0)
        batch_size = _check_batch_size(batch_size)
        asynchronous = _check_bool("asynchronous", asynchronous)
        shuffle = _check_bool("shuffle", shuffle)
        if isinstance(verbose, (int, np.integer)) and verbose >= 0:   # bool, or 0 / 1 as in scikit-learn
            verbose = bool(verbose)
        verbose = _check_bool("verbose", verbose)
        early_stopping = _check_bool("early_stopping", early_stopping)
        patience = _int_at_least("patience", patience, 1)
        if tol is not None:
            tol = float(tol)
            if not (math.isfinite(tol) and tol >= 0):
                raise ValueError(f"tol must be a finite number >= 0 or None, got {tol}")
        if early_stopping and tol is None:
            tol = 1e-4
        schedule = Schedule(lr_schedule, eta, power_t, tol)
        if callbacks is None:
            hooks: list[Callback] = []
        elif callable(callbacks):
            hooks = [callbacks]
        else:
            try:
                hooks = list(callbacks)
            except TypeError:
                raise TypeError(f"callbacks must be a callable or a list of callables, got {callbacks!r}") from None
        if not all(callable(c) for c in hooks):
            raise TypeError("callbacks must be a callable or a list of callables")
        X = self._as_X(X)
        Y_raw = _array(Y, "Y")      # (converted once: _as_Y and the validation split's labels read it)
        Y = self._as_Y(Y_raw, X.shape[0])
        X, Y, val = self._validation_set(validation_data, validation_fraction, early_stopping, X, Y, Y_raw)
        self._opt = opt

        history = History()
        progress = Progress(epochs, X.shape[0]) if verbose else None
        best, stale = math.inf, 0
        best_theta = None
        n = X.shape[0]
        history.stop_reason = "max_epochs"
        history.message = f"completed {_n_epochs(epochs)}"
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            rate = schedule.rate(epoch)
            order = epoch_order(self._rng, n, shuffle)
            if progress is not None:
                progress.start_epoch(epoch)
            train_loss = self._run_epoch(X, Y, order, batch_size, opt, rate, progress, asynchronous) / n
            history.train_loss.append(train_loss)
            history.learning_rate.append(rate)
            info = {"epoch": epoch, "train_loss": train_loss, "val_loss": None, "val_accuracy": None,
                    "learning_rate": rate}
            line = f"epoch {epoch}/{epochs}  loss {train_loss:.6f}"
            monitored = train_loss
            if val is not None:
                Xv, Yv, labels = val
                vloss, out, _ = self._evaluate(Xv, Yv, want_out=labels is not None)
                vloss /= Xv.shape[0]
                history.val_loss.append(vloss)
                info["val_loss"] = vloss
                line += f"  val_loss {vloss:.6f}"
                if labels is not None:
                    acc = float(np.mean(out.argmax(axis=1) == labels))
                    history.val_accuracy.append(acc)
                    info["val_accuracy"] = acc
                    line += f"  val_acc {acc:.4f}"
                monitored = vloss
            seconds = time.perf_counter() - t0
            history.seconds.append(seconds)
            info["seconds"] = seconds
            if progress is not None:
                progress.end_epoch(f"{line}  lr {rate:.4g}  {seconds:.2f}s  ({n / seconds:,.0f} samples/s)")
            schedule.observe(monitored)
            if early_stopping and restore_best and monitored < best:
                best_theta, history.best_epoch = self._theta.copy(), epoch
            if tol is not None:
                stale = stale + 1 if monitored > best - tol else 0
            best = min(best, monitored)
            stops = [bool(callback(self, dict(info))) for callback in hooks]   # every callback sees every epoch
            if any(stops):
                history.stop_reason = "callback"
                history.message = f"stopped after epoch {epoch}: a callback returned True"
                break
            if tol is not None and stale >= patience:
                history.stop_reason = "early_stopping" if early_stopping else "tol"
                history.message = (
                    f"stopped after epoch {epoch}: the {'validation' if val else 'training'} loss "
                    f"did not fall by more than tol={tol:g} for {_n_epochs(patience)} in a row")
                break
        if best_theta is not None:
            with self._lock:
                self._theta[...] = best_theta
            history.message += f"; kept the parameters of epoch {history.best_epoch} (lowest validation loss)"
        if progress is not None:
            progress.message(history.message)
        return history

    def partial_fit(self, X: ArrayLike, Y: ArrayLike, *, batch_size: int = 10,
                    learning_rate: float | None = None, step: float | None = None,
                    optimizer: OptimizerName = "sgd", momentum: float = 0.9, nesterov: bool = False,
                    l2: float = 0.0, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
                    shuffle: bool = True, asynchronous: bool = False) -> float:
        """One pass over (X, Y) in shuffled mini-batches, continuing the optimizer's state.

        For data that arrives in parts: successive calls with the same settings keep the
        velocity / Adam moments and step count, as one long fit would. The settings mean
        what they mean in :meth:`fit`. Returns the mean training loss of the pass.
        """
        opt, eta = self._optimizer(optimizer, learning_rate, step, fresh=False, momentum=momentum,
                                   nesterov=nesterov, l2=l2, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
        batch_size = _check_batch_size(batch_size)
        asynchronous = _check_bool("asynchronous", asynchronous)
        shuffle = _check_bool("shuffle", shuffle)
        X = self._as_X(X)
        Y = self._as_Y(Y, X.shape[0])
        order = epoch_order(self._rng, X.shape[0], shuffle)
        self._opt = opt
        return self._run_epoch(X, Y, order, batch_size, opt, eta, asynchronous=asynchronous) / X.shape[0]
