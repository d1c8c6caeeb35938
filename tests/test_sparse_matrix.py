"""A scipy sparse X: fit trains from its lists of nonzeros (_core.list_csr, train_epoch's
lists_only) and predict makes it dense a block of rows at a time, so X is never made dense whole;
the results are those of X.toarray(), bit for bit."""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from scipy import sparse  # noqa: E402  (scikit-learn needs scipy)

import fastnn  # noqa: E402
from fastnn import _core, estimators  # noqa: E402

OPENMP = fastnn.build_info()["openmp"]


def _data(n=500, d=120, seed=0, dense_rows=0.25, density=0.03):
    """A quarter of the rows dense, the rest about 3% nonzeros: under list_csr's density limit as a
    whole (0.265 < 0.3), while a batch of 10 rows with 4 or more dense ones is over it."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, d)) * (rng.random((n, d)) < density)
    X[rng.random(n) < dense_rows] = rng.random(d) + 0.01
    X[3] = 0                                                    # a row with no nonzero
    y = rng.integers(0, 3, n)
    return X, y


def _params(est):
    return est.coefs_ + est.intercepts_


def _same(a, b):
    return len(a) == len(b) and all(p.dtype == q.dtype and np.array_equal(p, q) for p, q in zip(a, b))


@pytest.fixture
def lists_used(monkeypatch):
    """The lists list_csr made in the fits since (None when it refused), in order."""
    made = []
    real = _core.list_csr

    def spy(*args):
        out = real(*args)
        made.append(out)
        return out

    monkeypatch.setattr(estimators._core, "list_csr", spy)
    return made


CASES = [
    dict(),
    dict(batch_size=10),
    dict(solver="sgd", batch_size=17, learning_rate_init=0.05),
    dict(solver="sgd", momentum=0.0, batch_size=300, learning_rate_init=0.1),   # batches over one chunk
    dict(early_stopping=True, batch_size=10),
    dict(hidden_layer_sizes=(40, 20)),
    dict(hidden_layer_sizes=(5,), batch_size=10),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()) or "defaults")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_a_sparse_fit_equals_the_dense_fit_bit_for_bit(lists_used, case, dtype, n_threads, fmt):
    """From the lists alone (layer 0 taking them even in batches over the density limit, where the
    dense X's fit takes the dense kernels), on 1-3 threads (the two-thread paths of one and two
    hidden layers), the same weights, loss curve and predictions as the dense X's fit."""
    X, y = _data()
    kw = dict(dict(hidden_layer_sizes=(40,), max_iter=3, random_state=0, dtype=dtype, n_threads=n_threads), **case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # not converged in 3 epochs
        before = _core._sparse_chunks()[0]
        dense = fastnn.MLPClassifier(**kw).fit(X, y)
        on_lists = [_core._sparse_chunks()[0] - before]
        assert lists_used == []
        Xs = sparse.csr_matrix(X) if fmt == "csr" else sparse.csc_matrix(X)
        before = _core._sparse_chunks()[0]
        fit = fastnn.MLPClassifier(**kw).fit(Xs, y)
        on_lists.append(_core._sparse_chunks()[0] - before)
    # the fit's lists (then, with early stopping, each epoch's validation predictions')
    assert len(lists_used) == (1 + fit.n_iter_ if case.get("early_stopping") else 1) and lists_used[0] is not None
    # chunks that layer 0 took on the lists: with batches of 10, some are over the density limit and
    # the dense X's fit takes the dense kernels there (seen: 94 of 150 chunks on the lists, against 150)
    assert on_lists[0] < on_lists[1] if case.get("batch_size") == 10 else on_lists[0] <= on_lists[1]
    assert _same(_params(dense), _params(fit))
    assert dense.loss_curve_ == fit.loss_curve_ and dense.n_iter_ == fit.n_iter_
    if case.get("early_stopping"):
        assert dense.validation_scores_ == fit.validation_scores_
    assert np.array_equal(dense.predict_proba(X), fit.predict_proba(Xs))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sample_weights_partial_fit_and_the_regressor_on_a_sparse_x(lists_used, dtype):
    X, y = _data(seed=1)
    w = np.random.default_rng(2).uniform(0.0, 2.0, len(y))
    Xs = sparse.csr_matrix(X)
    kw = dict(hidden_layer_sizes=(33,), max_iter=2, random_state=1, dtype=dtype, batch_size=25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pairs = [(fastnn.MLPClassifier(**kw).fit(X, y, sample_weight=w),
                  fastnn.MLPClassifier(**kw).fit(Xs, y, sample_weight=w)),
                 (fastnn.MLPRegressor(**kw).fit(X, y / 3.0), fastnn.MLPRegressor(**kw).fit(Xs, y / 3.0))]
        a, b = fastnn.MLPClassifier(**kw), fastnn.MLPClassifier(**kw)
        for _ in range(2):
            a.partial_fit(X, y, classes=[0, 1, 2])
            b.partial_fit(Xs, y, classes=[0, 1, 2])
        pairs.append((a, b))
    assert len(lists_used) == 4 and all(made is not None for made in lists_used)     # the four fits'
    for dense, fit in pairs:
        assert _same(_params(dense), _params(fit))
        assert dense.loss_curve_ == fit.loss_curve_
        assert np.array_equal(dense.predict(X), fit.predict(Xs))


def test_packed_lists_of_a_sparse_x(lists_used):
    """Values that take at most 256 bit patterns (pixels / 255) are packed as list_nonzeros packs a
    dense X's (on a build with their kernels); the fit is the dense X's, bit for bit."""
    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, (400, 784)) * (rng.random((400, 784)) < 0.15) / 255.0
    y = rng.integers(0, 10, 400)
    kw = dict(hidden_layer_sizes=(100,), max_iter=2, random_state=0, n_threads=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = fastnn.MLPClassifier(**kw).fit(X, y)
        fit = fastnn.MLPClassifier(**kw).fit(sparse.csr_matrix(X), y)
    starts, idx, val, table = lists_used[0]
    assert (table is not None) == _core._packed_available()
    if table is not None:
        assert idx.dtype == np.uint16 and val.dtype == np.uint8
    assert _same(_params(dense), _params(fit))


def test_a_sparse_x_not_in_canonical_form_is_left_as_it_was(lists_used):
    """Repeated entries (added up, as toarray does), unsorted indices and stored zeros: the fit is
    that of X.toarray(), and the caller's matrix is not changed."""
    X, y = _data(seed=4)
    rows, cols = np.nonzero(X)
    vals = X[rows, cols]
    # each entry split in two halves (repeats), plus three stored zeros; each row's in shuffled order
    r = np.concatenate([rows, rows, [0, 7, 9]])
    c = np.concatenate([cols, cols, [1, 2, 3]])
    v = np.concatenate([vals / 2, vals - vals / 2, [0.0, 0.0, 0.0]])
    perm = np.random.default_rng(5).permutation(len(v))
    r, c, v = r[perm], c[perm], v[perm]
    by_row = np.argsort(r, kind="stable")
    r, c, v = r[by_row], c[by_row], v[by_row]
    Xs = sparse.csr_matrix((v, c, np.searchsorted(r, np.arange(X.shape[0] + 1))), shape=X.shape)
    assert not Xs.has_canonical_format and np.array_equal(Xs.toarray(), X)
    before = (Xs.data.copy(), Xs.indices.copy(), Xs.indptr.copy())
    kw = dict(hidden_layer_sizes=(20,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = fastnn.MLPClassifier(**kw).fit(Xs.toarray(), y)
        fit = fastnn.MLPClassifier(**kw).fit(Xs, y)
    assert lists_used[0] is not None
    assert _same(_params(dense), _params(fit))
    assert all(np.array_equal(p, q) for p, q in zip(before, (Xs.data, Xs.indices, Xs.indptr)))


def test_a_dense_sparse_matrix_is_fitted_as_dense(lists_used):
    """Over the density limit list_csr lists nothing (as list_nonzeros): X is made dense, as before."""
    X, y = _data(dense_rows=0.6)
    kw = dict(hidden_layer_sizes=(20,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = fastnn.MLPClassifier(**kw).fit(X, y)
        fit = fastnn.MLPClassifier(**kw).fit(sparse.csr_matrix(X), y)
    assert lists_used == [None]
    assert _same(_params(dense), _params(fit))


def _spy_predictions(monkeypatch):
    """The shapes of the arrays given to Network.predict, and the lists_only flags given to
    _core.evaluate, since the call."""
    shapes, lists_only = [], []
    predict, evaluate = fastnn.Network.predict, _core.evaluate

    def spy_predict(self, A):
        shapes.append(np.shape(A))
        return predict(self, A)

    def spy_evaluate(*args):
        lists_only.append(bool(args[-1]) if len(args) == 15 else False)
        return evaluate(*args)

    monkeypatch.setattr(fastnn.Network, "predict", spy_predict)
    monkeypatch.setattr(_core, "evaluate", spy_evaluate)
    return shapes, lists_only


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_predict_reads_a_sparse_x_from_its_lists(monkeypatch, n_threads, dtype):
    """Under the density limit, the forward pass reads the lists (list_csr; evaluate's lists_only):
    no row is made dense, and the outputs are the dense X's, bit for bit (600 rows: chunks of 256
    rows, on two threads one region taking whole chunks)."""
    X, y = _data(n=600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = fastnn.MLPClassifier(hidden_layer_sizes=(20,), max_iter=2, random_state=0, dtype=dtype,
                                   n_threads=n_threads).fit(X, y)
    whole = est.predict_proba(X)
    shapes, lists_only = _spy_predictions(monkeypatch)
    assert np.array_equal(est.predict_proba(sparse.csr_matrix(X)), whole)
    assert np.array_equal(est.predict(sparse.csc_matrix(X)), est.predict(X))
    assert shapes == [(600, 120)] and lists_only == [True, True, False]   # the dense X's predict last
    assert est.score(sparse.csr_matrix(X), y) == est.score(X, y)


def test_predict_makes_a_sparse_x_over_the_density_limit_dense_a_block_at_a_time(monkeypatch):
    X, y = _data(n=300, dense_rows=0.6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = fastnn.MLPClassifier(hidden_layer_sizes=(20,), max_iter=2, random_state=0).fit(X, y)
    whole = est.predict_proba(X)
    shapes, lists_only = _spy_predictions(monkeypatch)
    monkeypatch.setattr(estimators, "_PREDICT_BLOCK_BYTES", 7 * X.shape[1] * 8)
    assert np.array_equal(est.predict_proba(sparse.csr_matrix(X)), whole)
    assert shapes == [(7, X.shape[1])] * 42 + [(6, X.shape[1])] and not any(lists_only)


def test_predict_on_all_zero_rows_and_on_no_nonzero_at_all():
    """Rows without a nonzero (bias only), also a whole X without one: fit and predict from lists
    of no nonzero, as the dense zeros."""
    X, y = _data(n=260)
    X[:200] = 0
    Z = np.zeros_like(X)
    for A in (X, Z):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dense = fastnn.MLPRegressor(hidden_layer_sizes=(20,), max_iter=2, random_state=0).fit(A, y)
            fit = fastnn.MLPRegressor(hidden_layer_sizes=(20,), max_iter=2, random_state=0).fit(sparse.csr_matrix(A), y)
        assert _same(_params(dense), _params(fit))
        assert np.array_equal(dense.predict(A), fit.predict(sparse.csr_matrix(A)))


def _csr(X):
    S = sparse.csr_matrix(X)
    return S.indptr, S.indices, S.data


def test_list_csr_lists_what_list_nonzeros_lists():
    X, _ = _data()
    for dtype in (np.float64, np.float32):
        A = X.astype(dtype)
        listed, made = _core.list_csr(*_csr(A), A.shape[1], 40), _core.list_nonzeros(A, 40)
        assert made[3] is None and listed[3] is None           # values of many bit patterns: not packed
        for p, q in zip(listed[:3], made[:3]):
            assert p.dtype == q.dtype and np.array_equal(p, q)
        assert _core.list_csr(*_csr(np.ones((4, 5), dtype)), 5, 40) is None     # over the density limit
        assert _core.list_nonzeros(np.ones((4, 5), dtype), 40) is None


@pytest.mark.parametrize("bad, message", [
    (lambda p, i, d: (p, i[::-1].copy(), d), "ascending without repeats"),
    (lambda p, i, d: (p, np.where(np.arange(len(i)) == 1, i[0], i), d), "ascending without repeats"),
    (lambda p, i, d: (p, i, np.where(np.arange(len(d)) == 2, 0.0, d)), "no zeros"),
    (lambda p, i, d: (p, i + 1, d), r"indices must be in \[0, 6\)"),
    (lambda p, i, d: (p, i - 1, d), r"indices must be in \[0, 6\)"),
    (lambda p, i, d: (p[::-1].copy(), i, d), "indptr must start at 0"),
    (lambda p, i, d: (p[:-1], i, d), "indptr must start at 0"),
    (lambda p, i, d: (p, i, d.astype(np.int64)), "float32 or float64"),
    (lambda p, i, d: (p, i.astype(float), d), "integer arrays"),
])
def test_list_csr_refuses_lists_that_are_not_canonical(bad, message):
    """Anything but canonical CSR would list other sums than the dense X's (or read past W)."""
    X = np.zeros((3, 6))
    X[0, [1, 4]] = [0.5, 0.25]
    X[2, [0, 2, 5]] = [1.0, 2.0, 3.0]
    assert _core.list_csr(*_csr(X), 6, 64) is not None
    with pytest.raises(ValueError, match=message):
        _core.list_csr(*bad(*_csr(X)), 6, 64)


def test_train_epoch_lists_only_needs_lists_and_an_empty_x():
    net = fastnn.Network([6, 32, 2], seed=0)
    X = np.zeros((3, 6))
    X[0, 1] = 1.0
    listed = _core.list_csr(*_csr(X), 6, 32)
    assert listed is not None
    args = lambda X_, listed_: (net._theta, net._sizes_arr, net._offsets, net._acts, net._loss_code, X_,  # noqa: E731
                                np.zeros((3, 2)), np.arange(3, dtype=np.intp), 3, 0, 0.1, False, 0.0, 0.0, 0.9,
                                0.999, 1e-8, 0, np.zeros(1), np.zeros(1), np.zeros(1), 1, False, listed_)
    with pytest.raises(ValueError, match="lists_only needs listed"):
        _core.train_epoch(*args(X, listed), lists_only=True)
    with pytest.raises(ValueError, match="lists_only needs listed"):
        _core.train_epoch(*args(np.zeros((3, 0)), None), lists_only=True)
    theta = net._theta.copy()
    _core.train_epoch(*args(np.zeros((3, 0)), listed), lists_only=True)
    assert not np.array_equal(theta, net._theta)


def test_asynchronous_batches_from_the_lists_alone():
    """Hogwild batches (train_epoch's asynchronous, each thread whole batches) read the lists too."""
    X, y = _data(n=400, dense_rows=0.15)
    listed = _core.list_csr(*_csr(X), X.shape[1], 40)
    assert listed is not None
    for n_threads in (1, 2):
        nets = [fastnn.Network([X.shape[1], 40, 3], seed=0, n_threads=n_threads) for _ in range(2)]
        order = np.random.default_rng(0).permutation(len(X))
        Y = np.eye(3)[y]
        for net, (X_, listed_, only) in zip(nets, [(X, _core.list_nonzeros(X, 40), False),
                                                   (np.zeros((len(X), 0)), listed, True)]):
            _core.train_epoch(net._theta, net._sizes_arr, net._offsets, net._acts, net._loss_code, X_, Y,
                              order, 10, 0, 0.5, False, 0.0, 0.0, 0.9, 0.999, 1e-8, 0, np.zeros(1), np.zeros(1),
                              np.zeros(1), n_threads, True, listed_, lists_only=only)
        assert np.isfinite(nets[1]._theta).all() and not np.array_equal(nets[1]._theta, fastnn.Network(
            [X.shape[1], 40, 3], seed=0)._theta)
        if n_threads == 1 or not OPENMP:        # one thread: the batches in order, the same weights
            assert np.array_equal(nets[0]._theta, nets[1]._theta)


CHILD = r"""
import json, warnings
import numpy as np
from scipy import sparse
import fastnn
rng = np.random.default_rng(0)
n, d, k = 2000, 100_000, 20
cols = np.sort(rng.choice(d, size=(n, k)), axis=1)
X = sparse.csr_matrix((rng.random(n * k) + 0.01, cols.ravel(), np.arange(0, n * k + 1, k)), shape=(n, d))
X.sum_duplicates()
y = rng.integers(0, 3, n)


def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024


with open("/proc/self/clear_refs", "w") as f:
    f.write("5")                                        # reset the peak to the current RSS
before = status("VmRSS")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    est = fastnn.MLPClassifier(hidden_layer_sizes=(20,), max_iter=2, random_state=0).fit(X, y)
proba = est.predict_proba(X)
print(json.dumps({"dense_bytes": n * d * 8, "peak": status("VmHWM") - before,
                  "finite": bool(np.isfinite(proba).all())}))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc to reset peak RSS")
def test_a_sparse_fit_and_predict_never_make_x_dense():
    """2,000 rows of 100,000 features, 20 nonzeros each (X dense: 1.6 GB): fit and predict_proba
    add under a quarter of that to the peak memory (seen: 283 MB; the weights, their packed copy,
    Adam's two moments and the copies each epoch keeps to restore them take about 200 MB). Before
    list_csr, fit made X dense whole."""
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    assert r["finite"]
    assert r["peak"] < 0.25 * r["dense_bytes"], r


def test_network_refuses_a_sparse_x_clearly():
    """fastnn.Network's methods take dense arrays: a sparse X gets an error that says so (it was
    "X must hold real numbers, got dtype object") and where a sparse X is taken."""
    X = sparse.csr_matrix(np.eye(4, 6))
    net = fastnn.Network([6, 5, 2], seed=0)
    theta = net._theta.copy()
    for call in (lambda: net.fit(X, np.zeros(4, dtype=int), epochs=1, learning_rate=0.1), lambda: net.predict(X),
                 lambda: net.loss(X, np.zeros(4, dtype=int))):
        with pytest.raises(TypeError, match=r"X is a sparse matrix: fastnn.Network takes dense arrays \(X.toarray"):
            call()
    assert np.array_equal(theta, net._theta)
