"""scikit-learn estimators: ``fastnn.MLPClassifier`` and ``fastnn.MLPRegressor``.

Drop-in replacements for ``sklearn.neural_network.MLPClassifier`` and
``MLPRegressor`` (solvers "sgd" and "adam"): the same parameters, fitted
attributes and methods, trained by fastnn's compiled epoch. Change the import,
keep the code::

    # from sklearn.neural_network import MLPClassifier
    from fastnn import MLPClassifier

The training loop follows scikit-learn's step by step: Glorot-uniform
initialisation drawn from ``random_state`` in scikit-learn's order, the same
per-epoch shuffle and early-stopping split, the same optimizer updates
(momentum, Nesterov, Adam, L2 penalty ``alpha``), learning-rate schedules and
stopping rules. With the same ``random_state`` a float64 fit starts from the
same weights and visits the mini-batches in the same order as scikit-learn.

Requires scikit-learn (``pip install "fastnn[sklearn]"``); ``import fastnn``
works without it and imports this module on first use of either class.
"""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Literal, Sequence, TypeVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data

from . import _core
from ._typing import ArrayLike, DTypeLike
from .data import _check_unmasked
from .network import Network, _check_flush_available

_Estimator = TypeVar("_Estimator", bound="_BaseMLP")

__all__ = ["MLPClassifier", "MLPRegressor"]

# scikit-learn's activation names -> fastnn's
_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_SKLEARN_ACTIVATIONS = {ours: theirs for theirs, ours in _ACTIVATIONS.items()}
_OUT_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "softmax": "softmax", "exp": "exp"}
# the output activation's loss in fastnn's terms (scikit-learn: squared_error, log_loss, poisson)
_LOSSES = {"identity": "quadratic", "logistic": "cross_entropy", "softmax": "cross_entropy", "exp": "poisson"}


try:
    # what scikit-learn's own parameter checks raise: a ValueError and a TypeError both
    from sklearn.utils._param_validation import InvalidParameterError as _InvalidParameterError
except ImportError:     # (a private module: should a later scikit-learn move it)
    class _InvalidParameterError(ValueError, TypeError):  # type: ignore[no-redef]
        """A parameter value the estimator refuses."""


class _Diverged(FloatingPointError, ValueError):
    """fit and partial_fit diverged: a ValueError, as scikit-learn's MLP raises for non-finite
    weights, and a FloatingPointError, as fastnn.Network raises."""


def _check(est, name, value, ok, expected):
    """Refuse est's parameter name = value unless ok, as scikit-learn words it: "The 'name'
    parameter of MLPClassifier must be ... Got value instead." (expected: "must be ...")."""
    if not ok:
        raise _InvalidParameterError(f"The '{name}' parameter of {type(est).__name__} {expected}. "
                                     f"Got {value!r} instead.")


# scikit-learn's parameter checks (sklearn.utils._param_validation): a number is any numbers.Real
# (True and False among them), an int any numbers.Integral, a bool only bool or numpy.bool_
def _is_real(v):
    return isinstance(v, numbers.Real)


def _is_int(v):
    return isinstance(v, numbers.Integral)


def _is_bool(v):
    return isinstance(v, (bool, np.bool_))


def _shuffled(idx, random_state):
    """idx in the order sklearn.utils.shuffle(idx, random_state=random_state) gives it, from the same
    draws (a RandomState shuffle of arange(n)), without its argument checks: about 1 ms a call, which
    was 3% of an MNIST epoch."""
    perm = np.arange(idx.shape[0])
    random_state.shuffle(perm)
    return idx[perm]


def _refuse_masked_entries(**arrays):
    """ValueError for a numpy masked array with masked entries: scikit-learn's checks, like
    np.asarray, drop the mask and use the values under it."""
    for name, A in arrays.items():
        _check_unmasked(A, name)


def _checked_weights(sample_weight, X):
    """sample_weight as a float array (n_samples,) (a scalar: the same for every sample), checked:
    finite, >= 0 and not all 0."""
    sw = _check_sample_weight(sample_weight, X)     # its shape; NaN and infinity are refused too
    if np.any(sw < 0):
        raise ValueError("sample_weight must be >= 0; got a negative weight")
    if not np.any(sw):
        raise ValueError("sample_weight is 0 for every sample: there is nothing to fit")
    return sw


def _as_dtype(net, A, name):
    """A (checked finite) as a C-contiguous array of the network's dtype: a clear error, not an
    infinity, for a value beyond float32's range."""
    if A.dtype == net.dtype:
        return np.ascontiguousarray(A)
    return net._as_finite(A, name)


def _is_sparse(X):
    return hasattr(X, "toarray")


# a sparse X over list_csr's density limit is made dense this many bytes of rows at a time to predict
_PREDICT_BLOCK_BYTES = 1 << 24


def _predict(net, X):
    """net.predict(X) (n, n_outputs), X validated. A sparse X is never made dense whole: the forward
    pass reads its lists of nonzeros (_core.list_csr) or, over the density limit, makes a block of
    rows dense at a time (at most _PREDICT_BLOCK_BYTES). Each row's outputs are the same, bit for bit."""
    if not _is_sparse(X):
        return net.predict(X)
    X = _canonical_csr(net, X)
    n, d = X.shape
    listed = _core.list_csr(X.indptr, X.indices, X.data, d, net.sizes[1]) if n > 0 else None
    if listed is not None:
        return net._forward(np.empty((n, 0), dtype=net.dtype), listed=listed)
    block = max(1, _PREDICT_BLOCK_BYTES // max(1, d * X.dtype.itemsize))
    if n <= block:
        return net.predict(X.toarray())
    out = np.empty((n, net.sizes[-1]), dtype=net.dtype)
    for start in range(0, n, block):
        out[start:start + block] = net.predict(X[start:start + block].toarray())
    return out


def _canonical_csr(net, X):
    """A sparse X as CSR in canonical form (each row's indices ascending without repeats, no stored
    zeros) with data of the network's dtype, checked finite: X itself when it is all that already,
    else a new matrix (the caller's is never changed). Its dense form is X.toarray()'s."""
    X = X.tocsr()
    if not X.has_canonical_format or not np.all(X.data != 0):
        X = X.copy()
        X.sum_duplicates()          # adds up repeats (as toarray does) and sorts each row's indices
        X.eliminate_zeros()
    if X.dtype != net.dtype or not np.isfinite(X.data).all():
        X = type(X)((net._as_finite(X.data, "X"), X.indices, X.indptr), shape=X.shape)
    return X


class _BaseMLP(BaseEstimator):
    """The training loop shared by MLPClassifier and MLPRegressor."""

    # fit lists a sparse X's nonzeros once for all its epochs (_core.list_nonzeros); the results
    # are the same, bit for bit, as without (tests switch it off to compare)
    _list_once = True

    def __init__(self, hidden_layer_sizes: int | Sequence[int] = (100,),
                 activation: Literal["identity", "logistic", "tanh", "relu"] = "relu", *,
                 solver: Literal["sgd", "adam"] = "adam", alpha: float = 0.0001,
                 batch_size: int | Literal["auto"] = "auto",
                 learning_rate: Literal["constant", "invscaling", "adaptive"] = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200,
                 shuffle: bool = True, random_state: int | np.random.RandomState | None = None,
                 tol: float = 1e-4, verbose: bool = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int | float = 10, max_fun: int = 15000,
                 n_threads: int | None = None, dtype: DTypeLike | None = None,
                 flush_subnormals: bool = False) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.n_threads = n_threads
        self.dtype = dtype
        self.flush_subnormals = flush_subnormals

    # ---- parameters -------------------------------------------------------------------------

    def _check_params(self):
        """Validate the constructor parameters (in fit, as scikit-learn does).

        Returns (hidden layer sizes, dtype name or None)."""
        if self.solver == "lbfgs":
            raise ValueError("solver='lbfgs' is not supported by fastnn (its kernels train by mini-batch "
                             "gradient descent); use solver='adam' or solver='sgd'")
        _check(self, "solver", self.solver, self.solver in ("sgd", "adam"), "must be a str among {'adam', 'sgd'}")
        _check(self, "activation", self.activation, self.activation in _ACTIVATIONS,
               "must be a str among {'identity', 'logistic', 'relu', 'tanh'}")
        sizes = self.hidden_layer_sizes
        array_like = hasattr(sizes, "__iter__") and not isinstance(sizes, str)
        _check(self, "hidden_layer_sizes", sizes, array_like or (_is_int(sizes) and sizes >= 1),
               "must be an array-like or an int in the range [1, inf)")
        sizes = list(sizes) if array_like else [sizes]
        if not all(_is_int(s) and not _is_bool(s) for s in sizes):
            # (scikit-learn fails there with a TypeError: this is both; a bool is no width, as in Network)
            raise _InvalidParameterError(f"hidden_layer_sizes must be integers, got {self.hidden_layer_sizes!r}")
        if any(s <= 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        for name, low in (("alpha", 0.0), ("power_t", 0.0), ("tol", 0.0)):
            v = getattr(self, name)
            _check(self, name, v, _is_real(v) and v >= low and math.isfinite(v), f"must be a float in [{low}, inf)")
        for name in ("learning_rate_init", "epsilon"):
            v = getattr(self, name)
            _check(self, name, v, _is_real(v) and v > 0 and math.isfinite(v), "must be a float in (0.0, inf)")
        for name in ("max_iter", "max_fun"):
            v = getattr(self, name)
            _check(self, name, v, _is_int(v) and v >= 1, "must be an int in the range [1, inf)")
        # inf: never stop for want of improvement (scikit-learn's Options(Real, {inf}))
        _check(self, "n_iter_no_change", self.n_iter_no_change,
               (_is_int(self.n_iter_no_change) and self.n_iter_no_change >= 1)
               or (_is_real(self.n_iter_no_change) and self.n_iter_no_change == math.inf),
               "must be an int in the range [1, inf) or inf")
        _check(self, "batch_size", self.batch_size,
               self.batch_size == "auto" or (_is_int(self.batch_size) and self.batch_size >= 1),
               "must be an int in the range [1, inf) or a str among {'auto'}")
        _check(self, "learning_rate", self.learning_rate, self.learning_rate in ("constant", "invscaling", "adaptive"),
               "must be a str among {'adaptive', 'constant', 'invscaling'}")
        _check(self, "momentum", self.momentum, _is_real(self.momentum) and 0 <= self.momentum <= 1,
               "must be a float in the range [0, 1]")
        for name in ("beta_1", "beta_2"):
            v = getattr(self, name)
            _check(self, name, v, _is_real(v) and 0 <= v < 1, "must be a float in the range [0, 1)")
        _check(self, "validation_fraction", self.validation_fraction,
               _is_real(self.validation_fraction) and 0 <= self.validation_fraction < 1,
               "must be a float in the range [0, 1)")
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
            v = getattr(self, name)
            _check(self, name, v, _is_bool(v), "must be an instance of 'bool'")
        _check(self, "verbose", self.verbose, _is_bool(self.verbose) or (_is_int(self.verbose) and self.verbose >= 0),
               "must be an int in the range [0, inf) or a bool")
        rs = self.random_state
        _check(self, "random_state", rs, rs is None or isinstance(rs, np.random.RandomState)
               or (_is_int(rs) and 0 <= rs <= 2**32 - 1),
               "must be an int in the range [0, 4294967295], an instance of 'numpy.random.RandomState' "
               "or None")
        try:
            dtype = None if self.dtype is None else np.dtype(self.dtype).name
        except TypeError:
            dtype = "invalid"
        _check(self, "dtype", self.dtype, dtype in (None, "float32", "float64"), "must be None, 'float32' or 'float64'")
        t = self.n_threads
        _check(self, "n_threads", t, t is None or (_is_int(t) and not _is_bool(t) and t >= 1),
               "must be None or an int in the range [1, inf)")
        f = self.flush_subnormals
        _check(self, "flush_subnormals", f, _is_bool(f), "must be True or False")
        _check_flush_available(f)
        return [int(s) for s in sizes], dtype

    # ---- the network ------------------------------------------------------------------------

    def _initialize(self, Y, layer_units, dtype):
        """A fresh network with scikit-learn's Glorot-uniform start, drawn from self._random_state."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._out_activation()
        net = Network(layer_units, activation=_ACTIVATIONS[self.activation],
                      output_activation=_OUT_ACTIVATIONS[self.out_activation_], loss=_LOSSES[self.out_activation_],
                      dtype=np.dtype(dtype).name, n_threads=self.n_threads,
                      flush_subnormals=self.flush_subnormals)
        factor = 2.0 if self.activation == "logistic" else 6.0
        for W, b, fan_in, fan_out in zip(net.weights, net.biases, layer_units[:-1], layer_units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            W[...] = self._random_state.uniform(-bound, bound, (fan_in, fan_out)).T
            b[...] = self._random_state.uniform(-bound, bound, fan_out)
        self._net = net
        self._bind()
        self._solver_state = None
        self._best_theta = net._theta.copy()
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _bind(self):
        """coefs_ (n_in, n_out) and intercepts_ (n_out,) as views of the network's parameters."""
        self.coefs_ = [W.T for W in self._net.weights]
        self.intercepts_ = list(self._net.biases)

    def _synced_net(self):
        """The network, after copying in any coefs_/intercepts_ the user replaced by other arrays
        (edits in place need nothing: coefs_ and intercepts_ are views of the network), with the
        estimator's current n_threads (a runtime setting, whatever it was when the network was made)."""
        net = self._net
        theta = net._theta
        pairs = [(self.coefs_, [W.T for W in net.weights], "coefs_"), (self.intercepts_, net.biases, "intercepts_")]
        replaced = []
        for given, views, name in pairs:
            if len(given) != len(views):
                raise ValueError(f"{name} has {len(given)} arrays, expected {len(views)}")
            for i, (new, view) in enumerate(zip(given, views)):
                if not (isinstance(new, np.ndarray) and np.shares_memory(new, theta)):
                    new = np.asarray(new)
                    if new.shape != view.shape:
                        raise ValueError(f"{name}[{i}] has shape {new.shape}, expected {view.shape}")
                    if new.dtype.kind not in "biuf" or not np.all(np.isfinite(new)):
                        raise ValueError(f"{name}[{i}] must hold finite real numbers")
                    replaced.append((view, new))
        with net._lock:     # (between a concurrent fit's epochs, as predict's snapshot is taken)
            bad = net._bad_parameter()     # a NaN or infinity written into the views in place
        if bad is not None:
            kind, l, index, value = bad
            where = f"coefs_[{l}][{index[1]}, {index[0]}]" if kind == "weights" else f"intercepts_[{l}][{index[0]}]"
            raise ValueError(f"{where} = {value}: coefs_ and intercepts_ must hold finite numbers")
        if replaced:
            with net._lock:
                for view, new in replaced:
                    view[...] = new
            self._bind()
        net.n_threads = self.n_threads
        net.flush_subnormals = self.flush_subnormals
        return net

    def __setstate__(self, state):
        # (absent from pickles of fastnn before flush_subnormals: those trained exactly)
        state = {"flush_subnormals": False, **state}
        super().__setstate__(state)
        if "_net" in self.__dict__:
            self._synced_net()   # unpickled coefs_ are copies: make them views again

    # ---- training ---------------------------------------------------------------------------

    def _optimizer_settings(self):
        """(fastnn optimizer name, settings) for scikit-learn's solver and momentum settings."""
        if self.solver == "adam":
            return "adam", dict(beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon)
        name = "sgd" if self.momentum == 0 else ("nesterov" if self.nesterovs_momentum else "momentum")
        return name, dict(momentum=self.momentum)

    def _fit(self, X, y, incremental, sample_weight=None, first=None):
        """Fit (incremental: one epoch, continuing). Everything that can refuse the call runs before
        the first epoch (the caller's own `first` step, then _prepare), and a refused call leaves
        the estimator as it was: its attributes are put back to those at the start."""
        saved = dict(self.__dict__)
        try:
            if first is not None:
                first()
            run = self._prepare(X, y, incremental, sample_weight)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        self._epochs(*run)
        return self

    def _prepare(self, X, y, incremental, sample_weight):
        """Checks and the network, data, validation split, batches and optimizer of a fit; they
        change only attributes of the estimator (which _fit puts back on an error), apart from the
        network's optimizer, set last."""
        hidden, dtype = self._check_params()
        _refuse_masked_entries(X=X, y=y, sample_weight=sample_weight)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if sample_weight is not None:
            sample_weight = _checked_weights(sample_weight, X)
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        layer_units = [X.shape[1]] + hidden + [Y.shape[1]]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y, layer_units, dtype or X.dtype)
        elif list(self._net.sizes) != layer_units:
            raise ValueError(f"the network has layer sizes {list(self._net.sizes)}, but this data and "
                             f"hidden_layer_sizes need {layer_units}; fit afresh (warm_start=False)")
        else:
            # a parameter changed with set_params since the network was made would otherwise be ignored
            for name, made in self._made_with().items():
                value = dtype if name == "dtype" else getattr(self, name)
                if value is not None and value != made:
                    raise ValueError(f"the network was made with {name}={made!r}, but {name} is now "
                                     f"{value!r}; fit afresh (warm_start=False) for a network with it")
        net = self._synced_net()
        # already checked finite; a conversion (float64 data, dtype="float32") must not overflow to inf
        X = _canonical_csr(net, X) if _is_sparse(X) else _as_dtype(net, X, "X")
        Y = _as_dtype(net, Y, "y")
        if sample_weight is not None:
            sample_weight = _as_dtype(net, sample_weight, "sample_weight")
        if not incremental or self._solver_state is None:
            # the optimizer and its settings, kept for the partial_fit calls that follow, as
            # scikit-learn keeps its optimizer object (set_params changes them at the next fit)
            self._solver_state = {"rate": float(self.learning_rate_init), "fresh": True, "solver": self.solver,
                                  "schedule": self.learning_rate, "rate_init": float(self.learning_rate_init),
                                  "power_t": self.power_t, "optimizer": self._optimizer_settings()}
        state = self._solver_state
        name, settings = state["optimizer"]
        sw = sample_weight
        X_val = y_val = sw_val = None
        if self.early_stopping:
            stratify = Y if (self._is_classifier() and self.n_outputs_ == 1) else None
            # with weights the same split (train_test_split draws one permutation for all its arrays)
            arrays = (X, Y) if sw is None else (X, Y, sw)
            split = train_test_split(*arrays, random_state=self._random_state,
                                     test_size=self.validation_fraction, stratify=stratify)
            X, X_val, Y, y_val = split[:4]
            if sw is not None:
                sw, sw_val = split[4:]
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                                 "or the size of your dataset.")
            Y = np.ascontiguousarray(Y)
            if not _is_sparse(X):
                X, X_val = np.ascontiguousarray(X), np.ascontiguousarray(X_val)
            if self._is_classifier():
                y_val = self._label_binarizer.inverse_transform(y_val)
        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n))
        # a sparse matrix X: the epochs read its rows' lists (lists_only), X is never made dense, unless
        # layer 0 would not skip its zeros (list_csr: None), as with a dense X of the same density
        listed, lists_only = None, False
        if _is_sparse(X):
            listed = _core.list_csr(X.indptr, X.indices, X.data, X.shape[1], net.sizes[1])
            if listed is None:
                X = X.toarray()
            else:
                X, lists_only = np.empty((X.shape[0], 0), dtype=net.dtype), True
        # a dense X that is mostly zeros (MNIST-like): its nonzeros listed once for all the epochs, so
        # that each batch reads its rows' lists in place instead of scanning its rows (None: dense, or
        # one epoch)
        if listed is None and self._list_once and not incremental and self.max_iter > 1:
            listed = _core.list_nonzeros(X, net.sizes[1], net.n_threads)
        opt, _ = net._optimizer(name, 1.0, None, fresh=state.pop("fresh", False), **settings)
        net._opt = opt
        return net, opt, X, Y, sw, (X_val, y_val, sw_val), batch_size, listed, lists_only, incremental

    def _made_with(self):
        """The parameters the fitted network was made with, that a warm start cannot change."""
        return {"activation": _SKLEARN_ACTIVATIONS[self._net.activation], "dtype": self._net.dtype.name}

    def _epochs(self, net, opt, X, Y, sw, val, batch_size, listed, lists_only, incremental):
        """The epochs of a fit prepared by _prepare, with scikit-learn's stopping rules."""
        state = self._solver_state
        # scikit-learn reports the squared error averaged over the k outputs (its gradient is that
        # of the sum over outputs, as fastnn's is)
        k = self.n_outputs_ if self.out_activation_ == "identity" else 1
        # classifiers report scikit-learn's log loss, from the probabilities clipped to [eps, 1 - eps]
        # (the same steps: only the loss differs from the network's, where an output saturates)
        loss_code = _core.SKLEARN_LOG_LOSS if self._is_classifier() else None
        n = X.shape[0]
        sample_idx = np.arange(n, dtype=np.intp)
        sgd_schedule = state["schedule"] if state["solver"] == "sgd" else None
        adaptive = sgd_schedule == "adaptive"
        # ||W||^2 before each batch's step, times its size over its summed weight, added by the
        # compiled epoch (alpha > 0): scikit-learn's L2 term of the epoch's loss, 0.5 * alpha times it
        penalty = np.zeros(1) if self.alpha > 0 else None
        self.n_iter_ = 0
        try:
            for _ in range(self.max_iter):
                if self.shuffle:
                    sample_idx = _shuffled(sample_idx, self._random_state)
                if penalty is not None:
                    penalty[0] = 0.0
                try:
                    # scikit-learn adds alpha * W / m to the mean gradient of each batch of m rows
                    # (alpha=: _run_epoch runs a last smaller batch with its own l2); a diverged
                    # epoch is restored whole
                    summed = net._run_epoch(X, Y, sample_idx, batch_size, opt, state["rate"], listed=listed,
                                            sample_weight=sw, loss_code=loss_code, penalty=penalty,
                                            alpha=float(self.alpha), lists_only=lists_only)
                except FloatingPointError as exc:
                    raise _Diverged(
                        f"Solver produced non-finite parameter weights or loss in epoch {self.n_iter_ + 1}. "
                        "The input data may contain large values and need to be preprocessed (or the "
                        "learning rate may be too large); the parameters from before that epoch were "
                        "restored.") from exc
                # the mean batch loss over the epoch, in scikit-learn's units, with its L2 term
                # 0.5 * alpha * ||W||^2 / (summed weight) of each batch (at the batch's weights before its
                # step) times its size
                self.loss_ = summed / n / k
                if penalty is not None:
                    self.loss_ += 0.5 * float(self.alpha) * float(penalty[0]) / n
                self.n_iter_ += 1
                self.t_ += n
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                self._update_no_improvement_count(net, *val)
                if sgd_schedule == "invscaling":
                    state["rate"] = state["rate_init"] / (self.t_ + 1) ** state["power_t"]
                if self._no_improvement_count > self.n_iter_no_change:
                    what = "Validation score" if self.early_stopping else "Training loss"
                    msg = (f"{what} did not improve more than tol={self.tol:f} for "
                           f"{self.n_iter_no_change} consecutive epochs.")
                    if adaptive and state["rate"] > 1e-6:
                        state["rate"] /= 5.0
                        self._no_improvement_count = 0
                        if self.verbose:
                            print(msg + " Setting learning rate to %f" % state["rate"])
                    else:
                        if self.verbose:
                            print(msg + (" Learning rate too small." if adaptive else "") + " Stopping.")
                        break
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the optimization "
                                  "hasn't converged yet." % self.max_iter, ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        if self.early_stopping:
            with net._lock:
                net._theta[...] = self._best_theta

    def _update_no_improvement_count(self, net, X_val, y_val, sw_val=None):
        if self.early_stopping:
            score = self._score_arrays(X_val, y_val, sw_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_theta = net._theta.copy()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    # ---- prediction -------------------------------------------------------------------------

    def _forward(self, X):
        """Output activations (n, n_outputs_) for validated input."""
        check_is_fitted(self)
        _refuse_masked_entries(X=X)
        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32), reset=False)
        return _predict(self._synced_net(), X)

    def fit(self: _Estimator, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> _Estimator:
        """Fit the model to data matrix X and target(s) y.

        X : {array-like, sparse matrix} of shape (n_samples, n_features) (a sparse X is never made
        dense whole: the epochs read its lists of nonzeros, unless it is over 30% nonzero).
        y : (n_samples,) or (n_samples, n_outputs).
        sample_weight : (n_samples,) or a scalar, each >= 0, or None (all 1). As in
        scikit-learn, each sample's loss and gradient are scaled by its weight and each
        mini-batch's gradient (with its L2 term) is divided by the batch's summed weight instead
        of its size; a mini-batch whose weights sum to 0 is skipped (scikit-learn divides by 0).
        With early_stopping the validation score is weighted too.
        Returns self.
        """
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class _CheckedScore:
    """score as scikit-learn's mixins compute it, after refusing masked entries in y and
    sample_weight (X's are refused by predict)."""

    def score(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Accuracy (classifier) or R^2 (regressor) of the predictions for X (n_samples,
        n_features) against y (n_samples,) or (n_samples, n_outputs), as in scikit-learn."""
        _refuse_masked_entries(y=y, sample_weight=sample_weight)
        # (the next class in the estimator's MRO: ClassifierMixin or RegressorMixin)
        return super().score(X, y, sample_weight=sample_weight)  # type: ignore[misc]


class MLPClassifier(_CheckedScore, ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by fastnn: scikit-learn's ``MLPClassifier``
    (solvers "sgd" and "adam") with the same parameters, attributes and methods.

    The output layer is a logistic unit per label for binary and multilabel targets and a
    softmax for multiclass targets; the loss is the log-loss. See
    ``sklearn.neural_network.MLPClassifier`` for the meaning of each parameter. Differences:

    - solver="lbfgs" is not supported (a ValueError says so); ``max_fun`` is accepted and unused.
    - sample weights must be >= 0. A mini-batch whose sample weights are all 0 is skipped (no
      optimizer step), where scikit-learn divides by 0.
    - a numpy masked array with masked entries (X, y or sample_weight) is refused with a
      ValueError; scikit-learn uses the values under the mask.
    - a sparse X is never made dense (fit and predict read its lists of nonzeros; over 30% nonzero,
      fit makes it dense and predict a block of rows at a time), with the results of X.toarray(),
      bit for bit.
    - fastnn only: ``n_threads``, threads for the kernels (None: every core); ``dtype``, None to
      compute in X's dtype as scikit-learn does (float32 or float64), or "float32" / "float64"
      (float32 fitted 1.2x to 2.2x as fast as float64 in runs of bench/sklearn_mnist.py on AMD
      hosts; on an Intel host about as fast, slowed by subnormal numbers, and 1.5x as fast with
      flush_subnormals=True, bench/subnormals.py);
      ``flush_subnormals`` (default False), True to train with numbers below the smallest normal
      one computed as 0 (see ``fastnn.Network``): faster on CPUs that handle them slowly.
    - on mostly-zero X, fit lists X's nonzeros once for all its epochs (3 bytes per nonzero when
      they take at most 256 distinct values, else 8 in float32 and 12 in float64; at most half of
      X's size); the result is the same, bit for bit.
    - a fit that diverges raises at once (a ValueError that is also a FloatingPointError) and
      keeps the last finite epoch's weights; scikit-learn raises at the end, for non-finite weights.
    - with early_stopping and warm_start, a refit that never beats the earlier best validation
      score keeps the weights that scored it; scikit-learn returns the refit's last weights.

    Fitted attributes: classes_, coefs_ (list of (n_in, n_out)), intercepts_, loss_,
    loss_curve_, best_loss_, validation_scores_, best_validation_score_, n_iter_, t_,
    n_layers_, n_outputs_, n_features_in_, out_activation_.
    """

    def _is_classifier(self):
        return True

    def _out_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the "
                                     f"previous call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        return X, self._label_binarizer.transform(y).astype(bool)

    def _score_arrays(self, X, y, sample_weight=None):
        return accuracy_score(y, self._labels(_predict(self._net, X)), sample_weight=sample_weight)

    def _labels(self, out):
        if self.n_outputs_ == 1:
            out = out.ravel()
        return self._label_binarizer.inverse_transform(out)

    def partial_fit(self: _Estimator, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None,
                    classes: ArrayLike | None = None) -> _Estimator:
        """One pass over (X, y) in mini-batches, continuing the optimizer state.

        sample_weight : as in :meth:`fit`. classes : array of shape (n_classes,), required on
        the first call (all classes that will ever appear). Returns self.
        """
        def first_call_classes():
            # undone with the rest when the call is refused
            if _check_partial_fit_first_call(self, classes):
                self._label_binarizer = LabelBinarizer()
                if type_of_target(y).startswith("multilabel"):
                    self._label_binarizer.fit(y)
                else:
                    self._label_binarizer.fit(classes)

        return self._fit(X, y, incremental=True, sample_weight=sample_weight, first=first_call_classes)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted classes: (n_samples,) labels, or (n_samples, n_classes) for multilabel y."""
        return self._labels(self._forward(X))

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Probabilities (n_samples, n_classes), columns ordered as classes_."""
        out = self._forward(X)
        if self.n_outputs_ == 1:
            p = out.ravel()
            return np.vstack([1 - p, p]).T
        return out

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """log(predict_proba(X)), (n_samples, n_classes)."""
        p = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(p, out=p)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(_CheckedScore, RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by fastnn: scikit-learn's ``MLPRegressor``
    (solvers "sgd" and "adam") with the same parameters, attributes and methods.
    loss="squared_error": identity output layer, half squared error averaged over samples and
    outputs. loss="poisson": exp output layer (the log link), half Poisson deviance averaged
    over samples and summed over outputs, for targets y >= 0 (negative ones are refused).

    Differences from scikit-learn are those listed on :class:`MLPClassifier`.
    """

    def __init__(self, loss: Literal["squared_error", "poisson"] = "squared_error",
                 hidden_layer_sizes: int | Sequence[int] = (100,),
                 activation: Literal["identity", "logistic", "tanh", "relu"] = "relu", *,
                 solver: Literal["sgd", "adam"] = "adam", alpha: float = 0.0001,
                 batch_size: int | Literal["auto"] = "auto",
                 learning_rate: Literal["constant", "invscaling", "adaptive"] = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200,
                 shuffle: bool = True, random_state: int | np.random.RandomState | None = None,
                 tol: float = 1e-4, verbose: bool = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int | float = 10, max_fun: int = 15000,
                 n_threads: int | None = None, dtype: DTypeLike | None = None,
                 flush_subnormals: bool = False) -> None:
        super().__init__(hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
                         alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
                         learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
                         shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
                         warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
                         early_stopping=early_stopping, validation_fraction=validation_fraction,
                         beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
                         max_fun=max_fun, n_threads=n_threads, dtype=dtype, flush_subnormals=flush_subnormals)
        self.loss = loss

    def _check_params(self):
        _check(self, "loss", self.loss, self.loss in ("squared_error", "poisson"),
               "must be a str among {'squared_error', 'poisson'}")
        return super()._check_params()

    def _is_classifier(self):
        return False

    def _out_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _made_with(self):
        return dict(super()._made_with(), loss="poisson" if self.out_activation_ == "exp" else "squared_error")

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs targets y >= 0; y has negative values")
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _score_arrays(self, X, y, sample_weight=None):
        out = _predict(self._net, X)
        return r2_score(y, out.ravel() if out.shape[1] == 1 else out, sample_weight=sample_weight)

    def partial_fit(self: _Estimator, X: ArrayLike, y: ArrayLike,
                    sample_weight: ArrayLike | None = None) -> _Estimator:
        """One pass over (X, y) in mini-batches, continuing the optimizer state; sample_weight as
        in :meth:`fit`. Returns self."""
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predictions: (n_samples,) for one target, else (n_samples, n_outputs)."""
        out = self._forward(X)
        return out.ravel() if out.shape[1] == 1 else out
