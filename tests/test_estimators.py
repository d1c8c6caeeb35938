"""fastnn.MLPClassifier / MLPRegressor: scikit-learn's estimator checks, step-for-step agreement
with scikit-learn's own MLP, and use inside Pipeline, GridSearchCV, cross_val_score, pickle and joblib."""
import inspect
import io
import pickle
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

from conftest import require

require("sklearn")

from sklearn.datasets import load_iris, make_multilabel_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkClassifier, MLPRegressor as SkRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastnn  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _with_checks(estimators):
    """parametrize_with_checks, its cases as a list: scikit-learn 1.6 gives pytest a generator,
    which pytest 9 deprecates and pytest 10 refuses."""
    mark = parametrize_with_checks(estimators)
    return pytest.mark.parametrize(mark.args[0], list(mark.args[1]), **mark.kwargs)


@_with_checks([fastnn.MLPClassifier(), fastnn.MLPRegressor()])
def test_sklearn_estimator_checks(estimator, check):
    """Every check of sklearn.utils.estimator_checks.check_estimator (its pandas checks need pandas,
    which the test extra installs). Skipped by scikit-learn itself: array-API input (SCIPY_ARRAY_API
    unset), decision_function (these estimators have none, like scikit-learn's MLP)."""
    check(estimator)


def _params(est):
    return est.coefs_ + est.intercepts_


def _fit_both(fast_cls, sk_cls, X, y, sample_weight=None, **kw):
    return _fit_one(fast_cls, X, y, sample_weight, **kw), _fit_one(sk_cls, X, y, sample_weight, **kw)


def _fit_one(cls, X, y, sample_weight=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(**kw).fit(X, y, **({} if sample_weight is None else dict(sample_weight=sample_weight)))


def _assert_same_run(fast, sk, loss_rtol=1e-12):
    assert fast.n_iter_ == sk.n_iter_ and fast.t_ == sk.t_
    assert fast.out_activation_ == sk.out_activation_ and fast.n_outputs_ == sk.n_outputs_
    for p, q in zip(_params(fast), _params(sk)):
        assert p.shape == q.shape and p.dtype == q.dtype
        np.testing.assert_allclose(p, q, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fast.loss_curve_, sk.loss_curve_, rtol=loss_rtol)
    if sk.validation_scores_ is None:
        assert fast.validation_scores_ is None
        np.testing.assert_allclose(fast.best_loss_, sk.best_loss_, rtol=loss_rtol)
    else:
        np.testing.assert_allclose(fast.validation_scores_, sk.validation_scores_, rtol=1e-12)
        assert fast.best_validation_score_ == pytest.approx(sk.best_validation_score_, rel=1e-12)


# scikit-learn's MLP takes sample_weight from 1.7 on
needs_sklearn_weights = pytest.mark.skipif("sample_weight" not in inspect.signature(SkClassifier.fit).parameters,
                                           reason="this scikit-learn's MLP takes no sample_weight (1.7 and later do)")
WEIGHTED = [False, pytest.param(True, marks=needs_sklearn_weights)]


def _weights(n, seed=0):
    """Weights in [0, 3), about a tenth of them 0."""
    rng = np.random.default_rng(seed)
    w = rng.random(n) * 3
    w[rng.random(n) < 0.1] = 0
    return w


SOLVERS = [dict(solver="adam"), dict(solver="sgd"), dict(solver="sgd", nesterovs_momentum=False),
           dict(solver="sgd", momentum=0.0), dict(solver="sgd", learning_rate="invscaling", power_t=0.3),
           dict(solver="sgd", learning_rate="adaptive", n_iter_no_change=1, tol=10.0),
           dict(solver="sgd", momentum=1.0), dict(solver="sgd", momentum=1.0, nesterovs_momentum=False),
           dict(solver="adam", n_iter_no_change=np.inf, tol=10.0)]


def test_epoch_shuffles_are_sklearns():
    """fit's shuffle of the sample order, without sklearn.utils.shuffle's argument checks, draws
    the same permutations from the same RandomState, epoch after epoch."""
    from sklearn.utils import check_random_state, shuffle
    from fastnn.estimators import _shuffled
    for seed in range(3):
        ours, theirs = check_random_state(seed), check_random_state(seed)
        idx, ref = np.arange(257, dtype=np.intp), np.arange(257, dtype=np.intp)
        for _ in range(4):
            idx, ref = _shuffled(idx, ours), shuffle(ref, random_state=theirs)
            assert np.array_equal(idx, ref) and idx.dtype == ref.dtype


@pytest.mark.parametrize("weighted", WEIGHTED, ids=["", "weighted"])
@pytest.mark.parametrize("settings", SOLVERS, ids=lambda s: "-".join(map(str, s.values())))
@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel"])
def test_classifier_follows_sklearn_step_for_step(settings, target, weighted):
    """Same random_state, float64: the same initial weights, shuffles and updates as
    scikit-learn's MLPClassifier, so every parameter agrees to 1e-10 after several epochs. With
    sample weights (about a tenth 0) too: each sample's delta and loss scaled by its weight, each
    batch's gradient divided by its summed weight."""
    X, y = load_iris(return_X_y=True)
    if target == "binary":
        y = (y == 2).astype(int)
    elif target == "multilabel":
        X, y = make_multilabel_classification(150, 6, n_classes=3, random_state=0)
    kw = dict(hidden_layer_sizes=(7, 5), activation="tanh", random_state=3, max_iter=6, batch_size=30,
              learning_rate_init=0.02, alpha=0.0, **settings)
    w = _weights(len(y)) if weighted else None
    _assert_same_run(*_fit_both(fastnn.MLPClassifier, SkClassifier, X, y, sample_weight=w, **kw))


def _sklearn_has_poisson():
    """Whether this scikit-learn's MLPRegressor takes loss="poisson" (1.7 and later)."""
    try:
        SkRegressor(loss="poisson")._validate_params()
    except (TypeError, ValueError):
        return False
    return True


POISSON = pytest.param("poisson", marks=pytest.mark.skipif(
    not _sklearn_has_poisson(), reason="this scikit-learn's MLPRegressor has no loss='poisson' (1.7 and later have)"))


@pytest.mark.parametrize("weighted", WEIGHTED, ids=["", "weighted"])
@pytest.mark.parametrize("n_targets", [1, 3])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("loss", ["squared_error", POISSON])
def test_regressor_follows_sklearn_step_for_step(loss, solver, n_targets, weighted):
    """Squared error (identity outputs), and the half Poisson deviance with exp outputs on counts."""
    X, y = make_regression(200, 5, n_targets=n_targets, random_state=0)
    if loss == "poisson":
        y = np.random.default_rng(0).poisson(np.exp(np.clip(y / 100, -3, 3)))
    else:
        y = y / 100
    kw = dict(hidden_layer_sizes=(20,), activation="logistic", solver=solver, random_state=0, max_iter=5,
              batch_size=50, learning_rate_init=0.01, alpha=0.0)
    if loss == "poisson":
        kw["loss"] = loss       # (scikit-learn before 1.7 has no loss parameter)
    w = _weights(200, 1) if weighted else None
    fast, sk = _fit_both(fastnn.MLPRegressor, SkRegressor, X, y, sample_weight=w, **kw)
    _assert_same_run(fast, sk)
    assert fast.out_activation_ == ("exp" if loss == "poisson" else "identity")
    np.testing.assert_allclose(fast.predict(X), sk.predict(X), rtol=1e-10)


def _random_configuration(rng):
    """A target type and scikit-learn parameters drawn from what fastnn supports (float64; batches
    of 7 rows or more and at most 12 epochs, where two correct float64 implementations stay within
    1e-9 of each other: with batches of 1 over many epochs rounding differences grow until fits part,
    scikit-learn's own too, from a change of one ulp in X)."""
    kind = str(rng.choice(["binary", "multiclass", "multilabel", "regression", "regression3"]))
    kw = dict(hidden_layer_sizes=[(), (5,), (7, 3), 4][int(rng.integers(0, 4))],
              activation=str(rng.choice(["relu", "tanh", "logistic", "identity"])),
              solver=str(rng.choice(["adam", "sgd"])), alpha=float(rng.choice([0.0, 1e-4, 0.1])),
              batch_size=["auto", 7, 32][int(rng.integers(0, 3))], learning_rate_init=float(rng.choice([1e-3, 1e-2])),
              max_iter=int(rng.integers(1, 13)), shuffle=bool(rng.random() < 0.8),
              early_stopping=bool(rng.random() < 0.3), n_iter_no_change=int(rng.integers(1, 4)),
              tol=float(rng.choice([1e-4, 1e-2])), random_state=int(rng.integers(0, 100)))
    if kw["solver"] == "sgd":
        kw.update(learning_rate=str(rng.choice(["constant", "invscaling", "adaptive"])),
                  momentum=float(rng.choice([0.0, 0.5, 0.9])), nesterovs_momentum=bool(rng.random() < 0.5))
    else:
        kw.update(beta_1=float(rng.choice([0.9, 0.5])), epsilon=float(rng.choice([1e-8, 1e-3])))
    return kind, kw


@pytest.mark.filterwarnings("ignore:Got `batch_size` less than 1 or larger than sample size")
@pytest.mark.parametrize("seed", range(4))
def test_random_configurations_follow_sklearn(seed):
    """Twenty random configurations per seed (_random_configuration: target type, architecture,
    activation, solver and its settings, alpha, batch size, epochs, shuffle, early stopping,
    tolerances), sometimes with sample weights and sparse X, each fitted by fastnn and by
    scikit-learn: the same epochs, weights within 1e-9, loss curves and validation scores within
    1e-9, and the same predictions. (Such a search found the clipped log loss and the per-batch L2
    term; 150 seeds passed before these four were kept.)"""
    from scipy import sparse
    from sklearn.datasets import make_classification
    rng = np.random.default_rng(seed)
    for case in range(20):
        kind, kw = _random_configuration(rng)
        n, d = int(rng.integers(20, 120)), int(rng.integers(1, 8))
        if kind == "binary":
            X, y = make_classification(n, d + 2, n_informative=2, n_redundant=0, random_state=case)
        elif kind == "multiclass":
            X, y = make_classification(n, d + 3, n_informative=3, n_redundant=0, n_classes=3, random_state=case)
        elif kind == "multilabel":
            X, y = make_multilabel_classification(n, d + 2, n_classes=3, random_state=case)
        else:
            X, y = make_regression(n, d, n_targets=1 if kind == "regression" else 3, random_state=case)
            y = y / 50
        if rng.random() < 0.2:
            X = X.copy()
            X[np.abs(X) < 0.7] = 0
            X = sparse.csr_matrix(X)
        w = rng.uniform(0.1, 2.0, n) if (rng.random() < 0.2 and "sample_weight" in
                                         inspect.signature(SkClassifier.fit).parameters) else None
        fast_cls, sk_cls = ((fastnn.MLPRegressor, SkRegressor) if kind.startswith("regression")
                            else (fastnn.MLPClassifier, SkClassifier))
        try:
            sk = _fit_one(sk_cls, X, y, w, **kw)
        except ValueError:     # e.g. an early-stopping split too small for scikit-learn too
            with pytest.raises(ValueError):
                _fit_one(fast_cls, X, y, w, **kw)
            continue
        fast = _fit_one(fast_cls, X, y, w, **kw)
        where = f"case {case}: {kind}, {kw}, weighted={w is not None}, sparse={sparse.issparse(X)}"
        assert fast.n_iter_ == sk.n_iter_ and fast.t_ == sk.t_, where
        for p, q in zip(_params(fast), _params(sk)):
            np.testing.assert_allclose(p, q, rtol=1e-9, atol=1e-9, err_msg=where)
        np.testing.assert_allclose(fast.loss_curve_, sk.loss_curve_, rtol=1e-9, atol=1e-12, err_msg=where)
        if sk.validation_scores_ is not None:
            np.testing.assert_allclose(fast.validation_scores_, sk.validation_scores_, rtol=1e-9, err_msg=where)
        if fast_cls is fastnn.MLPClassifier:
            np.testing.assert_allclose(fast.predict_proba(X), sk.predict_proba(X), rtol=1e-9, atol=1e-9, err_msg=where)
            assert np.array_equal(fast.predict(X), sk.predict(X)), where
        else:
            np.testing.assert_allclose(fast.predict(X), sk.predict(X), rtol=1e-9, atol=1e-9, err_msg=where)


@pytest.mark.parametrize("batch_size", [20, 25])
def test_divergence_raises_a_value_error_and_keeps_the_last_finite_epoch(batch_size):
    """A fit that diverges raises a ValueError, the type scikit-learn's MLP raises for non-finite
    weights, that is also a FloatingPointError (fastnn.Network's): as soon as the loss or the
    weights are non-finite (scikit-learn returns a fit whose last loss is infinite while its weights
    are finite), with the parameters of the last finite epoch restored, those of a fit stopped
    there. Batches of 25 of 60 rows: an epoch in two calls, the last batch of 10 in its own."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = 1e3 * X[:, 0]
    kw = dict(solver="sgd", learning_rate_init=1.0, random_state=0, batch_size=batch_size)
    est = fastnn.MLPRegressor(max_iter=12, **kw)
    with pytest.raises(ValueError, match="non-finite") as info:
        est.fit(X, y)
    assert isinstance(info.value, FloatingPointError)
    assert 1 <= est.n_iter_ < 12 and len(est.loss_curve_) == est.n_iter_
    stopped = _fit_one(fastnn.MLPRegressor, X, y, max_iter=est.n_iter_, **kw)
    assert all(np.array_equal(p, q) for p, q in zip(_params(est), _params(stopped)))
    assert all(np.isfinite(p).all() for p in _params(est))


def test_divergence_in_an_epochs_last_call_restores_the_whole_epoch(monkeypatch):
    """An epoch whose last batch is smaller runs as two compiled calls; should the second diverge,
    fit restores the parameters from before the epoch, not only from before that call (simulated:
    the second call returns a NaN loss, as a diverged one does)."""
    from fastnn import _core
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 3)), rng.standard_normal(60)
    est = _fit_one(fastnn.MLPRegressor, X, y, max_iter=2, batch_size=25, random_state=0, warm_start=True)
    before = [p.copy() for p in _params(est)]
    train_epoch, calls = _core.train_epoch, []

    def second_call_diverges(*args):
        order = args[7]
        calls.append(order.shape[0])
        loss, t = train_epoch(*args)
        return (np.nan if len(calls) == 2 else loss), t

    monkeypatch.setattr(_core, "train_epoch", second_call_diverges)
    with pytest.raises(ValueError, match="non-finite"):
        est.fit(X, y)
    assert calls == [50, 10] and est.n_iter_ == 0
    assert all(np.array_equal(p, q) for p, q in zip(_params(est), before))


def test_poisson_refuses_negative_targets_and_changes_nothing():
    """scikit-learn fits negative y with loss="poisson" to a NaN loss; fastnn refuses it."""
    X, y = load_iris(return_X_y=True)
    est = fastnn.MLPRegressor(loss="poisson", hidden_layer_sizes=(5,), random_state=0, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    before = [p.copy() for p in _params(est)]
    for call in (lambda: est.fit(X[:, :3], y - 1), lambda: est.partial_fit(X, y - 1)):
        with pytest.raises(ValueError, match="y >= 0"):
            call()
    assert all(np.array_equal(p, q) for p, q in zip(before, _params(est))) and est.n_features_in_ == 4


@pytest.mark.parametrize("weighted", WEIGHTED, ids=["", "weighted"])
@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel"])
def test_saturated_losses_are_sklearns(target, weighted, monkeypatch):
    """Large unscaled inputs (the digits' pixels times 4, 0-64) drive outputs past scikit-learn's
    clip of the probabilities to [eps, 1 - eps]: loss_curve_ and best_loss_ are still
    scikit-learn's clipped log loss, and the steps are unchanged. The network's own, exact
    cross-entropy reports losses 10-40% higher in the first epoch here."""
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = X * 4
    if target == "binary":
        y = (y == 0).astype(int)
    elif target == "multilabel":
        y = np.stack([y % 2 == 0, y < 5, y == 0], axis=1).astype(int)
    kw = dict(hidden_layer_sizes=(20,), random_state=0, max_iter=8, learning_rate_init=0.01, alpha=0.0)
    w = _weights(len(y)) if weighted else None
    fast, sk = _fit_both(fastnn.MLPClassifier, SkClassifier, X, y, sample_weight=w, **kw)
    _assert_same_run(fast, sk)
    monkeypatch.setattr(fastnn._core, "SKLEARN_LOG_LOSS", fastnn._core.LOSSES["cross_entropy"])
    exact = _fit_one(fastnn.MLPClassifier, X, y, w, **kw)
    assert np.max(np.abs(np.array(exact.loss_curve_) / sk.loss_curve_ - 1)) > 1e-2


def test_early_stopping_and_l2_follow_sklearn():
    """alpha > 0 (the L2 term of the reported loss at each batch's weights before its step, as
    scikit-learn's), early stopping with its stratified split, and the restore of the best
    weights."""
    X, y = load_iris(return_X_y=True)
    kw = dict(hidden_layer_sizes=(10,), random_state=1, max_iter=40, batch_size=25, alpha=0.01,
              learning_rate_init=0.01, early_stopping=True, validation_fraction=0.2, n_iter_no_change=3)
    fast, sk = _fit_both(fastnn.MLPClassifier, SkClassifier, X, y, **kw)
    _assert_same_run(fast, sk)
    assert fast.best_loss_ is None


def test_l2_term_decides_the_stop_as_sklearns():
    """A fit whose stop turns on the L2 term's share of the loss (alpha=0.1, batches of 7, tol=1e-4):
    scikit-learn stops after 38 epochs, and so does fastnn, the loss curves agreeing to 1e-12. With
    the term taken at the epoch's end weights, or interpolated between its start and end, fastnn
    stopped after 36."""
    X, y = make_regression(112, 1, n_targets=3, random_state=46)
    kw = dict(random_state=42, max_iter=52, hidden_layer_sizes=4, activation="logistic", alpha=0.1,
              batch_size=7, learning_rate_init=0.01, n_iter_no_change=3, tol=1e-4)
    fast, sk = _fit_both(fastnn.MLPRegressor, SkRegressor, X, y / 50, **kw)
    assert sk.n_iter_ == 38
    _assert_same_run(fast, sk)


def test_warm_refit_without_improvement_keeps_the_best_weights():
    """early_stopping with warm_start: a refit whose epochs never beat the earlier best validation
    score ends with the weights that scored it, the earlier fit's, as best_validation_score_ says;
    the refit's epochs, scores and counts are scikit-learn's. (scikit-learn returns the refit's
    last weights there: after its first fit, coefs_ is the same list of arrays it keeps as the
    best, and the refit trains those arrays in place. fastnn differs on purpose; README says so.)"""
    from sklearn.datasets import make_classification
    X, y = make_classification(80, 5, n_informative=2, n_redundant=0, random_state=71)
    kw = dict(random_state=21, hidden_layer_sizes=(6,), max_iter=28, solver="sgd", batch_size=5,
              learning_rate_init=0.01, early_stopping=True, n_iter_no_change=3, tol=0.01, warm_start=True)
    fast, sk = _fit_both(fastnn.MLPClassifier, SkClassifier, X, y, **kw)
    best = [p.copy() for p in _params(fast)]
    for est in (fast, sk):
        est.set_params(max_iter=3).fit(X, y)
    assert fast.n_iter_ == sk.n_iter_ == 1 and fast.t_ == sk.t_
    np.testing.assert_array_equal(fast.validation_scores_, sk.validation_scores_)
    assert fast.best_validation_score_ == sk.best_validation_score_ == max(fast.validation_scores_[:-1])
    assert all(np.array_equal(p, q) for p, q in zip(_params(fast), best))


@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_partial_fit_and_warm_start_follow_sklearn(alpha):
    X, y = load_iris(return_X_y=True)
    kw = dict(hidden_layer_sizes=(8,), random_state=2, batch_size=16, alpha=alpha)
    fast, sk = fastnn.MLPClassifier(**kw), SkClassifier(**kw)
    for start in range(0, 150, 50):
        for est in (fast, sk):
            est.partial_fit(X[start:start + 50], y[start:start + 50], classes=np.unique(y))
    _assert_same_run(fast, sk)
    for est in (fast, sk):
        est.set_params(warm_start=True, max_iter=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
    _assert_same_run(fast, sk)


@pytest.mark.parametrize("change", [dict(solver="sgd"), dict(solver="adam"), dict(learning_rate_init=0.1),
                                    dict(beta_1=0.5, epsilon=1e-3), dict(learning_rate="invscaling", power_t=0.2),
                                    dict(momentum=0.1, nesterovs_momentum=False), dict(alpha=0.5, batch_size=7)],
                         ids=lambda c: "-".join(c))
@pytest.mark.parametrize("start", ["adam", "sgd"])
def test_partial_fit_keeps_its_optimizer_as_sklearn(start, change):
    """partial_fit goes on with the optimizer of the first call (or of the last fit), its settings
    included, as scikit-learn keeps its optimizer object: a solver, learning rate, schedule,
    momentum or Adam setting changed by set_params in between takes effect at the next fit (alpha
    and batch_size at once). Weights and losses agree with scikit-learn's through both, and after
    a warm-start fit with the new settings."""
    X, y = load_iris(return_X_y=True)
    kw = dict(hidden_layer_sizes=(5,), random_state=0, solver=start, max_iter=3, warm_start=True)
    fast, sk = fastnn.MLPClassifier(**kw), SkClassifier(**kw)
    for est in (fast, sk):
        est.partial_fit(X, y, classes=np.unique(y))
        est.set_params(**change)
        est.partial_fit(X, y)
        est.partial_fit(X, y)
    _assert_same_run(fast, sk)
    for est in (fast, sk):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
    _assert_same_run(fast, sk)


def test_partial_fit_needs_classes_first():
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        fastnn.MLPClassifier().partial_fit(np.zeros((2, 3)), [0, 1])


def test_predictions_and_probabilities():
    X, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = fastnn.MLPClassifier(hidden_layer_sizes=(16,), random_state=0, max_iter=300).fit(X, labels)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    p = clf.predict_proba(X)
    assert p.shape == (150, 3) and np.allclose(p.sum(axis=1), 1)
    assert np.array_equal(clf.predict(X), clf.classes_[p.argmax(axis=1)])
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(p))
    assert clf.score(X, labels) > 0.9
    binary = fastnn.MLPClassifier(random_state=0, max_iter=50).fit(X, y == 0)
    assert binary.predict_proba(X).shape == (150, 2) and binary.predict(X).dtype == bool


def test_float32_is_kept_and_dtype_can_be_chosen():
    X, y = load_iris(return_X_y=True)
    assert fastnn.MLPClassifier(max_iter=2).fit(X.astype(np.float32), y).coefs_[0].dtype == np.float32
    assert fastnn.MLPClassifier(max_iter=2, dtype="float32").fit(X, y).coefs_[0].dtype == np.float32
    assert fastnn.MLPClassifier(max_iter=2).fit(X, y).coefs_[0].dtype == np.float64
    with pytest.raises(ValueError, match="dtype"):
        fastnn.MLPClassifier(dtype="int8").fit(X, y)


@pytest.mark.parametrize("where", ["X", "sparse X", "y", "sample_weight"])
def test_float32_refuses_values_beyond_its_range_and_changes_nothing(where):
    """float64 data cast to dtype="float32" used to overflow to inf and end in a divergence
    error that blamed the learning rate."""
    X, y = load_iris(return_X_y=True)
    w = np.ones(len(y))
    if where in ("X", "sparse X"):
        X = X.copy()
        X[3, 1] = 1e39
    elif where == "y":
        y = y * 1e39
    else:
        w[5] = 1e39
    if where == "sparse X":
        from scipy import sparse
        X = sparse.csr_matrix(X)
    est = (fastnn.MLPRegressor if where == "y" else fastnn.MLPClassifier)(dtype="float32", max_iter=2)
    name = "X" if "X" in where else where
    first = {} if where == "y" else {"classes": np.unique(y)}
    for call in (lambda: est.fit(X, y, sample_weight=w), lambda: est.partial_fit(X, y, sample_weight=w, **first)):
        with pytest.raises(ValueError, match=f"{name} holds values beyond float32's range"):
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)      # no overflow warning on the way
                call()
        assert not hasattr(est, "coefs_")


def test_fit_calls_no_blas_routine(monkeypatch):
    """fit computes ||W||^2 without BLAS: a BLAS call leaves OpenBLAS's worker threads spinning
    for a while after it, on the two cores the next epoch's kernel runs on (measured: a float64
    MNIST epoch took 147 ms with np.vdot there and 68 ms without)."""
    def blas(*args, **kwargs):
        raise AssertionError("a BLAS routine was called during fit")

    X, y = load_iris(return_X_y=True)
    reference = fastnn.MLPClassifier(random_state=0, max_iter=5).fit(X, y)
    for name in ("dot", "vdot", "inner", "matmul", "tensordot"):
        monkeypatch.setattr(np, name, blas)
    clf = fastnn.MLPClassifier(random_state=0, max_iter=5).fit(X, y)
    assert clf.loss_curve_ == reference.loss_curve_ and clf.n_iter_ == 5


def test_coefs_edits_are_used_by_predict():
    X, y = load_iris(return_X_y=True)
    clf = fastnn.MLPClassifier(hidden_layer_sizes=(4,), random_state=0, max_iter=20).fit(X, y)
    before = clf.predict_proba(X)
    clf.coefs_[1][...] = 0          # in place: a view of the network
    clf.intercepts_[1][...] = [0, 0, 5]
    assert np.all(clf.predict(X) == 2)
    clf.coefs_ = [np.ones_like(c) for c in clf.coefs_]   # replaced arrays are copied in
    clf.intercepts_ = [np.zeros_like(b) for b in clf.intercepts_]
    assert np.allclose(clf.predict_proba(X), 1 / 3)
    assert not np.allclose(before, clf.predict_proba(X))
    clf.coefs_ = [np.ones((2, 2))] + clf.coefs_[1:]
    with pytest.raises(ValueError, match=r"coefs_\[0\] has shape"):
        clf.predict(X)


@pytest.mark.parametrize("params, match", [
    (dict(solver="lbfgs"), "lbfgs' is not supported"),
    (dict(solver="newton"), "solver"),
    (dict(activation="softmax"), "activation"),
    (dict(hidden_layer_sizes=(10, 0)), "hidden_layer_sizes must be > 0"),
    (dict(batch_size=0), "batch_size"),
    (dict(momentum=1.5), "momentum"),
    (dict(learning_rate_init=0.0), "learning_rate_init"),
    (dict(learning_rate="optimal"), "learning_rate"),
    (dict(max_iter=0), "max_iter"),
    (dict(hidden_layer_sizes=(2.5,)), "hidden_layer_sizes must be integers"),
])
def test_unsupported_or_bad_parameters_raise_clearly(params, match):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=match):
        fastnn.MLPClassifier(**params).fit(X, y)
    if params.get("hidden_layer_sizes") == (2.5,):
        # scikit-learn raises a TypeError for a float size: the exception is that too
        with pytest.raises(TypeError, match=match):
            fastnn.MLPClassifier(**params).fit(X, y)
    with pytest.raises(ValueError, match="'squared_error', 'poisson'"):
        fastnn.MLPRegressor(loss="huber").fit(X, y)


_INF = float("inf")
# values of the constructor's parameters, at and beyond the ends of their ranges, of other types,
# and numpy scalars: what scikit-learn's checks take and refuse
PROBES = {
    "hidden_layer_sizes": [5, (5,), [5, 3], np.array([5]), np.int64(4), (0,), (), (5, -1), 5.0, "5",
                           True, (True,), (4, np.True_)],
    "activation": ["identity", "logistic", "tanh", "relu", "softmax", "ReLU"],
    "solver": ["sgd", "adam", "SGD"],
    "alpha": [0, 0.0, 1e3, np.float32(0.1), True, -1e-9, _INF, float("nan"), "0.1"],
    "batch_size": ["auto", 1, 10**6, np.int64(5), True, 0, 1.5, "Auto"],
    "learning_rate": ["constant", "invscaling", "adaptive", "optimal"],
    "learning_rate_init": [1e-9, 1.0, 0, -1, _INF],
    "power_t": [0, 0.5, -1e-9, _INF],
    "max_iter": [1, np.int64(3), True, 0, 1.0],
    "shuffle": [True, False, np.bool_(True), 0, 1, "yes"],
    "random_state": [None, 0, 2**32 - 1, np.random.RandomState(0), True, 2**32, -1, 1.5, np.random.default_rng(0)],
    "tol": [0, 1e-4, -1e-9, _INF],
    "verbose": [0, False, True, np.bool_(False), 2, -1, 0.0],
    "warm_start": [True, np.bool_(False), 0],
    "nesterovs_momentum": [False, np.bool_(True), 1],
    "early_stopping": [True, np.bool_(False), 1],
    "momentum": [0, 0.5, 1, 1.0, 1.0000001, -0.1],
    "validation_fraction": [0, 0.5, 0.999, 1, -0.1],
    "beta_1": [0, 0.9, 1, -0.1],
    "beta_2": [0, 0.999, 1],
    "epsilon": [1e-8, 0, -1, _INF],
    "n_iter_no_change": [1, 3.0, _INF, np.float32(_INF), 0, 2.5],
    "max_fun": [1, 0, 1.5],
}


def _fits(cls, X, y, **kw):
    """True when cls(**kw).fit(X, y) succeeds, else the type of what it raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cls(**kw).fit(X, y)
        except (ValueError, TypeError) as exc:
            return type(exc)
    return True


@pytest.mark.parametrize("fast_cls, sk_cls", [(fastnn.MLPClassifier, SkClassifier),
                                              (fastnn.MLPRegressor, SkRegressor)], ids=["classifier", "regressor"])
def test_parameters_are_accepted_and_refused_as_sklearn_does(fast_cls, sk_cls):
    """Each value of PROBES (and of the regressor's loss, where scikit-learn has it): fastnn's fit
    succeeds exactly when scikit-learn's does, and refuses a value with the same exception
    (scikit-learn's InvalidParameterError, a ValueError and a TypeError, naming the estimator's
    class), or, where scikit-learn's is a bare TypeError (a bool or float layer width), with an
    error that is a TypeError too. solver="lbfgs" is the one value refused on purpose."""
    X = np.random.default_rng(0).normal(size=(30, 3))
    y = np.arange(30) % 2 if fast_cls is fastnn.MLPClassifier else np.abs(X.sum(axis=1))   # poisson: y >= 0
    probes = dict(PROBES)
    if fast_cls is fastnn.MLPRegressor and _sklearn_has_poisson():
        probes["loss"] = ["squared_error", "poisson", "huber", "Poisson"]
    outcomes, differ = [], []
    for name, values in probes.items():
        for value in values:
            kw = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
            kw[name] = value
            fast, sk = _fits(fast_cls, X, y, **kw), _fits(sk_cls, X, y, **kw)
            outcomes.append(sk)
            # (where scikit-learn raises a bare TypeError, fastnn's error is a TypeError too)
            if fast != sk and not (sk is TypeError and fast is not True and issubclass(fast, TypeError)):
                differ.append((name, value, fast, sk))
    assert differ == []
    refused = [o for o in outcomes if o is not True]
    assert len(outcomes) - len(refused) > 60 and len(refused) > 40      # the probes reach both sides
    assert _fits(fast_cls, X, y, solver="lbfgs") is ValueError and _fits(sk_cls, X, y, solver="lbfgs") is True
    with pytest.raises(ValueError, match=f"The 'max_iter' parameter of {fast_cls.__name__} must be"):
        fast_cls(max_iter=0).fit(X, y)


def _refused_calls(est, X, y):
    """Calls on a fitted estimator that must be refused: bad data or parameters found at any
    point before the first epoch (after the input checks, the network or the split included)."""
    classifier = isinstance(est, fastnn.MLPClassifier)
    yield lambda: est.fit(X[:, :3], X[:, 0] + 0.5 if classifier else np.array(["a"] * len(y)))
    yield lambda: est.set_params(early_stopping=True, validation_fraction=0.1).fit(X[:5], y[:5])
    yield lambda: est.set_params(random_state=np.random.default_rng(0)).fit(X[:, :3], y)
    yield lambda: est.set_params(early_stopping=True).partial_fit(X, y)
    yield lambda: est.set_params(warm_start=True).fit(X[:, :3], y)
    yield lambda: est.set_params(max_iter=0).partial_fit(X, y)
    # masked entries (scikit-learn uses the values under the mask)
    yield lambda: est.fit(np.ma.masked_greater(X, 7.0), y)
    yield lambda: est.partial_fit(X, np.ma.masked_equal(y, y[0]))
    yield lambda: est.set_params(warm_start=True).fit(X, y, sample_weight=np.ma.masked_array(
        np.ones(len(y)), mask=np.arange(len(y)) == 3))


@pytest.mark.parametrize("cls", [fastnn.MLPClassifier, fastnn.MLPRegressor])
def test_a_refused_call_changes_nothing(cls):
    """After each refused call the estimator pickles to the same bytes as before it (every
    attribute, the network's parameters and the optimizer state) and predicts the same."""
    X, y = load_iris(return_X_y=True)
    if cls is fastnn.MLPRegressor:
        y = X[:, 3].copy()
    params = dict(hidden_layer_sizes=(5,), random_state=0, max_iter=5)
    est = cls(**params).fit(X, y)
    before, predicted = pickle.dumps(est), est.predict(X)
    for n, call in enumerate(_refused_calls(est, X, y)):
        with pytest.raises(ValueError):
            call()
        est.set_params(**{**est.get_params(), **params, "early_stopping": False, "warm_start": False})
        assert pickle.dumps(est) == before, n
        np.testing.assert_array_equal(est.predict(X), predicted)
    assert n == 8
    with pytest.raises(ValueError, match=r"X is a masked array with 1 masked entry; .*X\.filled"):
        est.predict(np.ma.masked_array(X, mask=(X == X.max())))
    unmasked = np.ma.masked_array(X, mask=np.zeros_like(X, dtype=bool))
    np.testing.assert_array_equal(est.predict(unmasked), predicted)
    with pytest.raises(ValueError, match="y is a masked array with 1 masked entry"):
        est.score(X, np.ma.masked_array(y, mask=np.arange(len(y)) == 0))
    with pytest.raises(ValueError, match="sample_weight is a masked array"):
        est.score(X, y, sample_weight=np.ma.masked_less(np.arange(len(y)), 1))
    assert est.score(unmasked, np.ma.masked_array(y)) == est.score(X, y)
    fresh = cls(early_stopping=True)
    with pytest.raises(ValueError, match="early_stopping"):
        fresh.partial_fit(X, y, **({"classes": [0, 1, 2]} if cls is fastnn.MLPClassifier else {}))
    assert vars(fresh) == vars(cls(early_stopping=True))      # no classes_, n_features_in_ or network


def test_pipeline_grid_search_cross_val_pickle_joblib():
    joblib = require("joblib")
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), fastnn.MLPClassifier(random_state=0, max_iter=100))
    search = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(5,), (20,)],
                                 "mlpclassifier__alpha": [1e-4, 1e-2]}, cv=3).fit(X, y)
    assert search.best_score_ > 0.85
    assert len(search.cv_results_["mean_test_score"]) == 4
    scores = cross_val_score(fastnn.MLPRegressor(random_state=0, max_iter=50), X[:, :3], X[:, 3], cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    model = search.best_estimator_
    expected = model.predict_proba(X)
    for restored in (pickle.loads(pickle.dumps(model)), _joblib_roundtrip(joblib, model)):
        np.testing.assert_array_equal(restored.predict_proba(X), expected)
        mlp = restored[-1]
        assert all(np.shares_memory(c, mlp._net._theta) for c in mlp.coefs_)  # views again


def _joblib_roundtrip(joblib, model):
    buf = io.BytesIO()
    joblib.dump(model, buf)
    buf.seek(0)
    return joblib.load(buf)


def test_pandas_input_as_sklearn_takes_it():
    """A DataFrame X and a Series y: the same feature names, classes and fit as scikit-learn's, and
    the same refusal of reordered columns and warning for unnamed X at predict time."""
    pd = require("pandas")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((90, 4)), columns=["width", "height", "depth", "mass"])
    labels = pd.Series(np.array(["small", "medium", "large"])[rng.integers(0, 3, 90)], name="size")
    target = pd.Series(X.to_numpy() @ [1.0, -2.0, 0.5, 3.0], name="value")
    kw = dict(hidden_layer_sizes=(6,), max_iter=8, random_state=0)
    for fast, sk, y in ((fastnn.MLPClassifier(**kw), SkClassifier(**kw), labels),
                        (fastnn.MLPRegressor(**kw), SkRegressor(**kw), target)):
        fast.fit(X, y)
        sk.fit(X, y)
        assert list(fast.feature_names_in_) == ["width", "height", "depth", "mass"]
        assert list(fast.feature_names_in_) == list(sk.feature_names_in_)
        if hasattr(sk, "classes_"):
            assert list(fast.classes_) == list(sk.classes_) == ["large", "medium", "small"]
            np.testing.assert_allclose(fast.predict_proba(X), sk.predict_proba(X), rtol=0, atol=1e-10)
            assert list(fast.predict(X)) == list(sk.predict(X))
        else:
            np.testing.assert_allclose(fast.predict(X), sk.predict(X), rtol=1e-10, atol=1e-10)
        for est in (fast, sk):
            with pytest.raises(ValueError, match="feature names"):
                est.predict(X[["height", "width", "depth", "mass"]])
            with pytest.warns(UserWarning, match="does not have valid feature names"):
                est.predict(X.to_numpy())


def test_import_fastnn_works_without_sklearn():
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "import fastnn\n"
            "net = fastnn.Network([2, 2])\n"
            "try:\n"
            "    fastnn.MLPClassifier\n"
            "except ImportError as e:\n"
            "    print('ImportError:', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "fastnn[sklearn]" in out


def test_mnist_digits_match_sklearn_in_the_first_epochs(mnist):
    """Default parameters on real digits: fastnn's fit is scikit-learn's fit (3 epochs here; the
    whole comparison with speed is bench/sklearn_mnist.py)."""
    X, y = mnist
    X = X[:3000].astype(np.float64)
    fast, sk = _fit_both(fastnn.MLPClassifier, SkClassifier, X, y[:3000], random_state=0, max_iter=3)
    _assert_same_run(fast, sk, loss_rtol=1e-6)
    assert np.mean(fast.predict(X) == sk.predict(X)) == 1.0


# ---- sample weights -------------------------------------------------------------------------

@needs_sklearn_weights
@pytest.mark.parametrize("cls, sk_cls", [(fastnn.MLPClassifier, SkClassifier), (fastnn.MLPRegressor, SkRegressor)])
def test_weighted_early_stopping_l2_and_last_batch_follow_sklearn(cls, sk_cls):
    """alpha > 0 (its term divided by each batch's summed weight), a last batch smaller than the
    others, the early-stopping split of the weights with X and y, and the weighted validation
    score (accuracy or R^2)."""
    X, y = load_iris(return_X_y=True)
    if cls is fastnn.MLPRegressor:
        X, y = X[:, :3], X[:, 3]
    kw = dict(hidden_layer_sizes=(10,), random_state=1, max_iter=40, batch_size=32, alpha=0.01,
              learning_rate_init=0.01, early_stopping=True, validation_fraction=0.2, n_iter_no_change=3)
    fast, sk = _fit_both(cls, sk_cls, X, y, sample_weight=_weights(150, 2), **kw)
    _assert_same_run(fast, sk)
    assert len(fast.validation_scores_) > 3


@needs_sklearn_weights
def test_weighted_partial_fit_follows_sklearn():
    X, y = load_iris(return_X_y=True)
    w = _weights(150, 3)
    kw = dict(hidden_layer_sizes=(8,), random_state=2, batch_size=16, alpha=0.0)
    fast, sk = fastnn.MLPClassifier(**kw), SkClassifier(**kw)
    fast_r, sk_r = fastnn.MLPRegressor(**kw), SkRegressor(**kw)
    for start in range(0, 150, 50):
        part = slice(start, start + 50)
        for est in (fast, sk):
            est.partial_fit(X[part], y[part], sample_weight=w[part], classes=np.unique(y))
        for est in (fast_r, sk_r):
            est.partial_fit(X[part, :3], X[part, 3], w[part])
    _assert_same_run(fast, sk)
    _assert_same_run(fast_r, sk_r)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unit_weights_are_no_weights_bit_for_bit(dtype):
    """Weights of 1 (an array, or the scalar 1): the same fit, bit for bit, as without them."""
    X, y = load_iris(return_X_y=True)
    X = X.astype(dtype)
    kw = dict(hidden_layer_sizes=(9,), random_state=0, max_iter=8, batch_size=40, alpha=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fits = [fastnn.MLPClassifier(**kw).fit(X, y, **fit_kw)
                for fit_kw in ({}, dict(sample_weight=np.ones(150)), dict(sample_weight=1))]
    for other in fits[1:]:
        assert all(np.array_equal(p, q) for p, q in zip(_params(fits[0]), _params(other)))
        assert other.loss_curve_ == fits[0].loss_curve_


def test_batches_of_weight_zero_are_skipped():
    """A mini-batch whose weights are all 0 takes no step (scikit-learn would divide by 0): with
    the batches in order, zero weights on the last 30 samples fit the same network, bit for bit,
    as the first 120 samples alone."""
    X, y = load_iris(return_X_y=True)
    w = np.ones(150)
    w[120:] = 0
    kw = dict(hidden_layer_sizes=(6,), random_state=4, max_iter=5, batch_size=30, shuffle=False, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = fastnn.MLPClassifier(**kw).fit(X, y, sample_weight=w)
        alone = fastnn.MLPClassifier(**kw).fit(X[:120], y[:120])
    assert all(np.array_equal(p, q) for p, q in zip(_params(weighted), _params(alone)))
    # the epoch's loss: the same batches' sum, over 150 samples instead of 120
    np.testing.assert_allclose(np.array(weighted.loss_curve_) * 150 / 120, alone.loss_curve_, rtol=1e-12)


@pytest.mark.parametrize("bad, match", [
    (-np.ones(150), "must be >= 0"),
    (np.full(150, np.nan), "NaN"),
    (np.r_[np.ones(149), np.inf], "infinity"),
    (np.ones(149), "shape"),
    (np.ones((150, 1)), "1D"),
    (np.zeros(150), "0 for every sample|non-zero"),   # scikit-learn 1.9 has its own message
])
def test_bad_weights_raise_and_change_nothing(bad, match):
    X, y = load_iris(return_X_y=True)
    for est, target in ((fastnn.MLPClassifier(hidden_layer_sizes=(5,), random_state=0, max_iter=30), y),
                        (fastnn.MLPRegressor(hidden_layer_sizes=(5,), random_state=0, max_iter=30), X[:, 0])):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, target)
        before = [p.copy() for p in _params(est)]
        state = (est.n_iter_, list(est.loss_curve_), est.n_features_in_)
        with pytest.raises(ValueError, match=match):
            est.fit(X[:, :3], target, sample_weight=bad)      # another width too: nothing may change
        with pytest.raises(ValueError, match=match):
            est.partial_fit(X, target, sample_weight=bad)
        assert all(np.array_equal(p, q) for p, q in zip(before, _params(est)))
        assert (est.n_iter_, list(est.loss_curve_), est.n_features_in_) == state
    fresh = fastnn.MLPClassifier()
    with pytest.raises(ValueError, match=match):
        fresh.partial_fit(X, y, sample_weight=bad, classes=[0, 1, 2])
    assert not hasattr(fresh, "classes_")


@needs_sklearn_weights
def test_weighted_mnist_digits_match_sklearn_in_the_first_epochs(mnist):
    """Default parameters on real digits with sample weights (the sparse path on two threads when
    there are two cores): scikit-learn's fit."""
    X, y = mnist
    X = X[:3000].astype(np.float64)
    fast, sk = _fit_both(fastnn.MLPClassifier, SkClassifier, X, y[:3000], sample_weight=_weights(3000, 4),
                         random_state=0, max_iter=2)
    _assert_same_run(fast, sk, loss_rtol=1e-6)


def test_search_passes_sample_weight_to_fit():
    """GridSearchCV.fit(X, y, sample_weight=w) hands the weights to every fit: its refit
    best_estimator_ is the direct weighted fit with the best parameters, bit for bit."""
    X, y = load_iris(return_X_y=True)
    w = _weights(150, 5)
    base = dict(hidden_layer_sizes=(6,), random_state=0, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(fastnn.MLPClassifier(**base), {"alpha": [1e-4, 1e-1]}, cv=3).fit(X, y, sample_weight=w)
        direct = fastnn.MLPClassifier(**base, **search.best_params_).fit(X, y, sample_weight=w)
        unweighted = fastnn.MLPClassifier(**base, **search.best_params_).fit(X, y)
    assert all(np.array_equal(p, q) for p, q in zip(_params(search.best_estimator_), _params(direct)))
    assert not np.array_equal(_params(direct)[0], _params(unweighted)[0])


def test_non_finite_coefs_are_refused_in_their_own_names():
    X, y = load_iris(return_X_y=True)
    clf = fastnn.MLPClassifier(hidden_layer_sizes=(4,), random_state=0, max_iter=5).fit(X, y)
    clf.coefs_[0][3, 1] = np.nan                  # in place, (n_in, n_out) as scikit-learn lays it out
    for call in (lambda: clf.predict(X), lambda: clf.partial_fit(X, y),
                 lambda: clf.set_params(warm_start=True).fit(X, y)):
        with pytest.raises(ValueError, match=re.escape("coefs_[0][3, 1] = nan")):
            call()
    clf.coefs_[0][3, 1] = 0.0
    theta = clf._net._theta.copy()
    clf.intercepts_ = [clf.intercepts_[0], np.array([0.0, np.inf, 0.0])]   # replaced: refused before copying
    with pytest.raises(ValueError, match=re.escape("intercepts_[1] must hold finite")):
        clf.predict(X)
    assert np.array_equal(clf._net._theta, theta)


def test_set_params_between_fits_is_not_silently_ignored():
    """With warm_start or partial_fit the network is kept; an activation or dtype changed since it
    was made used to be ignored without a word (scikit-learn trains the old weights with the new
    activation), and n_threads kept its first value. Now the first two are refused before
    anything changes, and n_threads takes effect at once."""
    X, y = load_iris(return_X_y=True)
    for change in (dict(activation="tanh"), dict(dtype="float32")):
        for call in ("warm", "partial"):
            clf = fastnn.MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0,
                                       warm_start=call == "warm").fit(X, y)
            coefs = [c.copy() for c in clf.coefs_]
            n_iter = clf.n_iter_
            clf.set_params(**change)
            name, value = next(iter(change.items()))
            with pytest.raises(ValueError, match=f"made with {name}=.*but {name} is now '{value}'"):
                clf.fit(X, y) if call == "warm" else clf.partial_fit(X, y)
            assert clf.n_iter_ == n_iter and all(np.array_equal(a, b) for a, b in zip(coefs, clf.coefs_))
            clf.set_params(warm_start=False).fit(X, y)     # a fresh fit makes a network with it
            assert clf._net.activation == {"tanh": "tanh"}.get(clf.activation, "relu")
            assert clf.coefs_[0].dtype == np.dtype(clf.dtype or "float64")
    reg = fastnn.MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0, loss="poisson").fit(X, y)
    with pytest.raises(ValueError, match="made with loss='poisson', but loss is now 'squared_error'"):
        reg.set_params(loss="squared_error").partial_fit(X, y)
    assert reg.out_activation_ == "exp"
    clf = fastnn.MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0, n_threads=2).fit(X, y)
    clf.set_params(n_threads=1)
    clf.predict(X)
    assert clf._net.n_threads == 1
    clf.set_params(n_threads=2).partial_fit(X, y)
    assert clf._net.n_threads == 2


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_partial_fit_continues_after_pickle_as_in_scikit_learn(solver):
    """scikit-learn pickles its optimizer, so partial_fit after a pickle continues bit for bit; fastnn's
    estimators dropped the Adam moments and momentum velocities there."""
    X, y = load_iris(return_X_y=True)
    clf = fastnn.MLPClassifier(hidden_layer_sizes=(5,), solver=solver, random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    restored = pickle.loads(pickle.dumps(clf))
    for _ in range(3):
        clf.partial_fit(X, y)
        restored.partial_fit(X, y)
    assert clf.loss_curve_ == restored.loss_curve_
    assert all(np.array_equal(a, b) for a, b in zip(clf.coefs_ + clf.intercepts_,
                                                    restored.coefs_ + restored.intercepts_))
