"""Layer 0 computed from the nonzero inputs only (MNIST-like data is mostly zeros).

Skipping x == 0 drops only terms 0 * w from sums that keep their order, so every result must be
bit-identical to the dense kernels'. The tests force each path -- dense (density limit 0), the
nonzero lists (limit 1, union ratio 0), and for small training chunks the forward and gradient over
the columns some row uses (limit 1, union ratio huge; larger chunks then take the lists) -- in both
dtypes, compare, and check that the path really ran.
"""
import textwrap
import threading

import numpy as np
import pytest

import fastnn
from fastnn import _core, _reference


MODES = ["dense", "lists", "union"]
# a build without OpenMP (FASTNN_OPENMP=0, or a compiler without it) runs every call on one thread,
# whatever n_threads says: its two-thread paths are never taken
OPENMP = fastnn.build_info()["openmp"]
NO_TEAM = "this build has no OpenMP: every call runs on one thread, and the two-thread paths are never taken"


@pytest.fixture
def sparse_mode():
    """set(mode): layer 0 uses, for every chunk, the dense kernels ("dense" or False), the nonzero
    lists ("lists"), or in training, for chunks of up to 64 KiB, the union of the chunk's columns
    (forward and gradient, no lists; larger chunks take the lists) ("union"; True: the default union
    ratio); restored after."""
    old = _core._set_sparse(0.0, 0.0, 0)
    old_ratio = _core._set_sparse_union(0.0)

    def set_mode(mode):
        limit = 0.0 if mode in ("dense", False) else 1.0
        _core._set_sparse(limit, limit, 0)
        _core._set_sparse_union({"union": 1e9, True: old_ratio}.get(mode, 0.0))

    yield set_mode
    _core._set_sparse(*old)
    _core._set_sparse_union(old_ratio)


def _ran(before):
    """(whether chunks ran on the lists, whether by the union) since _core._sparse_chunks() was `before`."""
    now = _core._sparse_chunks()
    return now[0] > before[0], now[1] > before[1]


def _digits(n, seed=0):
    """Noise-free generated digits (about 80% zeros), plus an all-zero row and an all-nonzero row."""
    X, labels = fastnn.make_digits(n, seed=seed, noise=0.0)
    X[1] = 0
    X[2] = np.linspace(0.1, 1.0, X.shape[1])
    assert 0.05 < np.count_nonzero(X) / X.size < 0.4
    return X, labels


def _chunk_sizes(n, batch_size, chunk=256):
    """The sizes of the chunks an epoch of n rows in batches of batch_size computes."""
    sizes = set()
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        sizes.update([chunk] * (m // chunk) + ([m % chunk] if m % chunk else []))
    return sizes


def _same(a, b):
    return all(np.array_equal(p, q) for p, q in zip(a, b))


FITS = [
    dict(batch_size=10, learning_rate=3.0),
    dict(batch_size=1, learning_rate=0.5),
    dict(batch_size=7, optimizer="adam", l2=1e-3),
    dict(batch_size=33, optimizer="nesterov", learning_rate=0.1, l2=1e-4),
    dict(batch_size=300, optimizer="momentum", step=0.2),      # batches over one chunk, normalized step
]


@pytest.mark.parametrize("fit", FITS, ids=lambda f: "-".join(f"{k}={v}" for k, v in f.items()))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_training_is_bit_identical_to_the_dense_kernels(sparse_mode, dtype, fit, n_threads):
    X, labels = _digits(620)
    nets = []
    for mode in MODES:
        sparse_mode(mode)
        before = _core._sparse_chunks()
        net = fastnn.Network([784, 40, 10], dtype=dtype, seed=3, n_threads=n_threads)
        net.fit(X, labels, epochs=2, **fit)
        # the union is tried for chunks (of at most 256 rows of a batch) of at most 64 KiB
        small = min(_chunk_sizes(len(X), fit["batch_size"])) * X.shape[1] * np.dtype(dtype).itemsize <= 65536
        assert _ran(before) == (mode != "dense", mode == "union" and small)
        nets.append(net)
    dense = nets[0]
    for net in nets[1:]:
        assert _same(dense.weights + dense.biases, net.weights + net.biases)


@pytest.mark.parametrize("sizes", [[784, 1, 10], [784, 20, 10], [784, 100, 10], [784, 300, 10], [784, 10]],
                         ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("n_threads", [2, 3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_threads_share_layer_0_bit_identically(sparse_mode, dtype, n_threads, sizes):
    """On several threads the lists' forward pass and gradient give each thread a share of every
    row's vectors of outputs (a vector's rows split where the share ends mid-vector; softmax on
    layer 0 by whole rows): the same weights as the dense kernels on one thread, from layers of
    one vector or fewer vectors than threads to more than one kernel call per row. With AVX2 and no
    AVX-512, layer 0's last line is then half padding for 1, 20, 100 and 300 outputs (float64, 8 a
    line) and 1, 20 and 100 (float32, 16 a line): the two-row and two-input kernels leave that half
    out (_half_line)."""
    X, labels = _digits(400, seed=11)
    nets = []
    for mode, threads in (("dense", 1), ("lists", n_threads)):
        sparse_mode(mode)
        before = _core._sparse_chunks()
        net = fastnn.Network(sizes, dtype=dtype, seed=3, n_threads=threads)
        net.fit(X, labels, epochs=2, batch_size=200, optimizer="adam", learning_rate=0.01, l2=1e-3)
        assert _ran(before) == (mode == "lists", False)
        nets.append(net)
    assert _same(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases)
    assert np.array_equal(nets[0].predict(X), nets[1].predict(X))


OVERLAP_FITS = [
    dict(optimizer="adam", learning_rate=0.01, l2=1e-3),
    dict(optimizer="momentum", step=0.2),    # normalized: the summed gradient, then the step
]


@pytest.fixture
def local_path():
    """Sets whether one-hidden-layer chunks on two threads may take _loss_grad_local (each thread its
    own columns of layer 0, in rows of its own) instead of _loss_grad_overlap (_set_local); restores it.
    The tests that use it are about those two-thread paths: without OpenMP they are skipped."""
    if not OPENMP:
        pytest.skip(NO_TEAM)
    old = _core._set_local(1)
    yield _core._set_local
    _core._set_local(old)


@pytest.fixture
def near():
    """Sets how _loss_grad_local's threads run (_set_near: 1 as on near cores, one shared sort of
    layer 0's entries and blocks of each other's gradient taken; 0 as on far ones, each its own
    sort and only its own panels; -1 by the threads' round trip); restores it."""
    old = _core._set_near(-1)
    yield _core._set_near
    _core._set_near(old)


@pytest.fixture
def claim_rotation():
    """Sets _core's claim rotation (_set_claim_rotation) for a test; restores it afterwards."""
    old = _core._set_claim_rotation(0)
    yield _core._set_claim_rotation
    _core._set_claim_rotation(old)


@pytest.fixture
def forward_flag():
    """Sets whether thread 1 goes on to the sort without a barrier after layer 0's forward pass
    (_set_forward_flag); restores it."""
    old = _core._set_forward_flag(1)
    yield _core._set_forward_flag
    _core._set_forward_flag(old)


@pytest.mark.parametrize("flag", [0, 1], ids=["barrier", "flag"])
@pytest.mark.parametrize("rotation", [0, 1], ids=["own-blocks-first", "others-blocks-first"])
@pytest.mark.parametrize("fit", OVERLAP_FITS, ids=lambda f: f["optimizer"])
@pytest.mark.parametrize("sizes", [[784, 100, 10], [784, 64, 32, 10]], ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("n_threads", [2, 3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_overlapped_chunks_are_bit_identical(sparse_mode, local_path, claim_rotation, forward_flag, dtype, n_threads,
                                             sizes, fit, rotation, flag):
    """With small later layers, one thread runs them forward and back while the others sort layer
    0's entries by input (_loss_grad_overlap): the same weights, and the same summed gradients
    (gradients()), as the dense kernels on one thread, and the overlapped path really ran. With
    rotation 1 each thread first sums the blocks of another thread's panels (_claimed_sums), from
    the back of that thread's range, so blocks really are summed by threads that do not own them;
    and on two threads, thread 0 places the last half of the sort's rows from the back, thread 1
    the others from the front (_claimed_rows). With flag on two threads (rotation 0), thread 1 goes
    on from its share of layer 0's forward pass to the sort without waiting for thread 0's, which
    waits for it instead (_set_forward_flag). (One hidden layer on two threads would take
    _loss_grad_local: here it is off.)"""
    X, labels = _digits(400, seed=12)
    Y = fastnn.one_hot(labels, 10)
    results = []
    local_path(0)
    claim_rotation(rotation)
    forward_flag(flag)
    for mode, threads in (("dense", 1), ("lists", n_threads)):
        sparse_mode(mode)
        before, claimed, flagged = _core._overlap_chunks(), _core._claimed_blocks(), _core._flagged_chunks()
        net = fastnn.Network(sizes, dtype=dtype, seed=3, n_threads=threads)
        net.fit(X, labels, epochs=2, batch_size=200, **fit)
        nabla_w, nabla_b = net.gradients(X, Y)
        assert (_core._overlap_chunks() > before) == (mode == "lists")
        assert (_core._flagged_chunks() > flagged) == (mode == "lists" and flag and threads == 2 and not rotation)
        if rotation and mode == "lists" and (-(-sizes[1] // 32) >= n_threads or n_threads == 2):  # panels of 32
            assert _core._claimed_blocks() > claimed
        results.append((net.weights + net.biases, nabla_w + nabla_b))
    assert _same(results[0][0], results[1][0])
    assert _same(results[0][1], results[1][1])


@pytest.mark.parametrize("local", [0, 1], ids=["overlap", "local"])
def test_overlapped_fits_at_once_match_serial_fits(sparse_mode, local_path, forward_flag, local):
    """Four fits at once from Python threads, each on two OpenMP threads (eight threads: more
    than a 2-core machine has cores): a thread of each fit waits for the other's flag (fastnn_wait,
    which gives up its core after a short spin, so that a thread it waits for can run) and gets the
    same weights as the same fits one after the other, on _loss_grad_overlap (thread 0 waits for
    thread 1's forward pass) and on _loss_grad_local (each waits for the other's layer 1 and
    delta)."""
    sparse_mode("lists")
    local_path(local)
    forward_flag(1)
    X, labels = _digits(400, seed=16)

    def fit(seed):
        net = fastnn.Network([784, 100, 10], seed=seed, n_threads=2)
        net.fit(X, labels, epochs=2, batch_size=200, optimizer="adam", learning_rate=0.01)
        return net.weights + net.biases

    serial = [fit(seed) for seed in range(4)]
    flagged, local_chunks = _core._flagged_chunks(), _core._local_chunks()
    together = [None] * 4

    def work(seed):
        together[seed] = fit(seed)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if local:
        assert _core._local_chunks() >= local_chunks + 4 * 2 * 2
    else:
        assert _core._flagged_chunks() >= flagged + 4 * 2 * 2
    for a, b in zip(serial, together):
        assert _same(a, b)


LOCAL_NETS = [
    dict(sizes=[784, 100, 10]),                                  # MNIST's: thread 1 has 36 real columns of 64
    dict(sizes=[784, 64, 10]),                                   # two panels, one per thread, all real
    dict(sizes=[784, 120, 3], activation="sigmoid"),             # sigmoid's derivative from a
    dict(sizes=[784, 100, 4], output_activation="identity", loss="quadratic"),
    dict(sizes=[784, 100, 3], output_activation="exp", loss="poisson"),    # the log link
    # scikit-learn's defaults (the estimators' MNIST fit): relu's derivative from z, softmax and cross-entropy
    dict(sizes=[784, 100, 10], activation="relu", output_activation="softmax", loss="cross_entropy", init="he"),
    dict(sizes=[784, 128, 10], activation="tanh"),                 # four full panels; tanh's derivative from a
]


LOCAL_FITS = [
    dict(batch_size=200, optimizer="adam", l2=1e-3),
    dict(batch_size=100, optimizer="nesterov", learning_rate=0.1, l2=1e-4),
    dict(batch_size=300, optimizer="momentum", step=0.2),      # batches over one chunk, normalized step
]


@pytest.mark.parametrize("cores", ["far", "near"])
@pytest.mark.parametrize("fit", LOCAL_FITS, ids=lambda f: "-".join(f"{k}={v}" for k, v in f.items()))
@pytest.mark.parametrize("spec", LOCAL_NETS, ids=lambda n: "-".join(map(str, n["sizes"])) + "".join(
    f"-{v}" for k, v in n.items() if k != "sizes"))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_local_chunks_are_bit_identical(sparse_mode, local_path, near, dtype, spec, fit, cores):
    """One hidden layer on two threads with the lists (_loss_grad_local): each thread its own columns
    of layer 0 in rows of its own, layer 1's sums handed from thread 0 to thread 1 and continued
    (_rows with cont); as on far cores, the entries sorted by each thread into its own workspace
    and each thread summing only its own panels (no block taken from the other), or as on near
    ones, sorted by both, blocks of rows from both ends, into one, and blocks of the other's
    panels claimed once its delta is done. The same weights and predictions as the dense kernels
    on one thread, with Adam, Nesterov and the normalized step (batches over one chunk of 256: the
    summed gradient), for a layer 0 of 64 to 128 columns (sigmoid, relu or tanh), and the local path
    really ran, as asked (and the overlapped path did not)."""
    X, labels = _digits(620, seed=17)
    sizes = spec["sizes"]
    options = {k: v for k, v in spec.items() if k != "sizes"}
    if options.get("loss") == "quadratic":
        labels = fastnn.one_hot(labels % sizes[-1], sizes[-1]).astype(dtype)
    else:
        labels = labels % sizes[-1]
    nets = []
    near(1 if cores == "near" else 0)
    for mode, threads in (("dense", 1), ("lists", 2)):
        sparse_mode(mode)
        local_path(1)
        before, overlapped, as_near = _core._local_chunks(), _core._overlap_chunks(), _core._near_chunks()
        claimed = _core._claimed_blocks()
        net = fastnn.Network(sizes, dtype=dtype, seed=5, n_threads=threads, **options)
        net.fit(X, labels, epochs=2, **fit)
        assert (_core._local_chunks() > before) == (mode == "lists")
        assert (_core._near_chunks() > as_near) == (mode == "lists" and cores == "near")
        if cores == "far":
            assert _core._claimed_blocks() == claimed
        assert _core._overlap_chunks() == overlapped
        nets.append(net)
    assert _same(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases)
    assert np.array_equal(nets[0].predict(X), nets[1].predict(X))


@pytest.mark.parametrize("pairs_on", [1, 0], ids=["pairs", "rows"])
@pytest.mark.parametrize("batch_size", [77, 200])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_local_layer1_as_rows_come(sparse_mode, local_path, near, pairs, dtype, batch_size, pairs_on):
    """As on near cores, thread 1 computes layer 1 (z1 over both threads' blocks of a0, a1, delta1)
    for the rows thread 0's forward pass has published as done, pair by pair in layer 0's order,
    and the batch's loss over all its rows in order afterwards (_layer1_rows): the same weights and
    loss curve as the dense kernels on one thread, with batches of an odd size (77: a pair's rows
    and the last row alone; the last batch of 4), and with rows taken one at a time (no pairs:
    thread 0 publishes only at the end)."""
    pytest.importorskip("sklearn")
    X, labels = _digits(620, seed=23)
    X = X.astype(dtype)
    fits = []
    for mode, threads in (("dense", 1), ("lists", 2)):
        sparse_mode(mode)
        local_path(1)
        near(1)
        pairs(pairs_on)
        as_near = _core._near_chunks()
        est = fastnn.MLPClassifier(batch_size=batch_size, max_iter=3, random_state=0, n_threads=threads)
        with pytest.warns(Warning):     # 3 epochs: not converged
            est.fit(X, labels)
        assert (_core._near_chunks() > as_near) == (mode == "lists" and OPENMP)
        fits.append(est)
    assert _same(fits[0].coefs_ + fits[0].intercepts_, fits[1].coefs_ + fits[1].intercepts_)
    assert fits[1].loss_curve_ == fits[0].loss_curve_


@pytest.fixture
def queue():
    """Sets whether layer 0's float64 Adam steps are queued into the gradient kernel (_set_queue);
    restores it."""
    old = _core._set_queue(1)
    yield _core._set_queue
    _core._set_queue(old)


@pytest.mark.parametrize("rotation", [0, 1])
@pytest.mark.parametrize("cores", ["far", "near"])
@pytest.mark.parametrize("sizes", [[784, 100, 10], [783, 100, 10], [784, 64, 10]], ids=lambda s: "-".join(map(str, s)))
def test_queued_adam_steps_are_bit_identical(sparse_mode, local_path, near, claim_rotation, queue, sizes, cores,
                                              rotation):
    """Layer 0's float64 Adam steps run among the next pairs of inputs' multiply-adds
    (fastnn_column2_queue_d, from _claimed_sums) give the same weights and predictions, bit for bit,
    as steps run right after each pair's sums, and as the dense kernels on one thread; also with an
    odd count of inputs (the last of 783 on its own, not queued), and with most blocks summed by
    the other thread. Each chunk queues one step for each vector of 8 real columns of each paired
    input: 13 vectors for 100 columns (panels of 32 with 32, 32, 32 and 4 real), 8 for 64."""
    X, labels = _digits(600, seed=29)
    X = X[:, :sizes[0]]
    near(1 if cores == "near" else 0)
    claim_rotation(rotation)
    local_path(1)
    runs = []
    for mode, threads, queued in (("dense", 1, 0), ("lists", 2, 0), ("lists", 2, 1)):
        sparse_mode(mode)
        queue(queued)
        jobs, chunks = _core._queued_jobs(), _core._local_chunks()
        net = fastnn.Network(sizes, dtype="float64", seed=7, n_threads=threads)
        net.fit(X, labels, epochs=2, batch_size=200, optimizer="adam", learning_rate=0.01, l2=1e-3)
        jobs, chunks = _core._queued_jobs() - jobs, _core._local_chunks() - chunks
        assert chunks == (6 if mode == "lists" else 0)
        if queued and _core._queue_available():
            vectors = 13 if sizes[1] == 100 else 8
            assert jobs == chunks * (sizes[0] // 2 * 2) * vectors
        else:
            assert jobs == 0
        runs.append((net.weights + net.biases, net.predict(X)))
    for weights, predictions in runs[1:]:
        assert _same(runs[0][0], weights)
        assert np.array_equal(runs[0][1], predictions)


def _padding_columns(sizes, state):
    """(the entries of a packed optimizer state for padding columns, those for real ones), over
    every layer's weights (panels of JB columns, _core._packed_layout) and biases."""
    sizes = np.asarray(sizes, dtype=np.intp)
    L = len(sizes) - 1
    layout, size, _ = _core._packed_layout(sizes)
    jb = _core._packed_layout(np.array([1, 1], dtype=np.intp))[0][0]     # JB: 1 output padded to a panel
    assert state.shape == (size,)
    pad, real = [], []
    for l in range(L):
        n_in, n_out, ld, wt, bt = sizes[l], sizes[l + 1], layout[l], layout[L + l], layout[2 * L + l]
        WT = state[wt:wt + n_in * ld].reshape(ld // jb, n_in, jb).transpose(1, 0, 2).reshape(n_in, ld)
        pad += [WT[:, n_out:].ravel(), state[bt + n_out:bt + ld]]
        real += [WT[:, :n_out].ravel(), state[bt:bt + n_out]]
    return np.concatenate(pad), np.concatenate(real)


@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_optimizer_state_of_padding_stays_zero(sparse_mode, local_path, dtype, optimizer):
    """The optimizer step skips the padding columns of each panel (_epilogue_width): that changes
    nothing only because their parameters and optimizer state stay exactly 0. After fits on the
    dense kernels (one thread) and on the lists (two threads, _loss_grad_local) with weight decay,
    the state is 0 on every padding column of every layer (100 and 10 outputs in panels of 32)
    and not on the real ones, and the two fits agree."""
    X, labels = _digits(620, seed=21)
    sizes = [784, 100, 10]
    fits = []
    for mode, threads in (("dense", 1), ("lists", 2)):
        sparse_mode(mode)
        local_path(1)
        net = fastnn.Network(sizes, dtype=dtype, seed=3, n_threads=threads)
        net.fit(X, labels, epochs=2, batch_size=200, optimizer=optimizer, learning_rate=0.01, l2=1e-3)
        states = [net._opt.m1, net._opt.m2] if optimizer == "adam" else [net._opt.v]
        for state in states:
            pad, real = _padding_columns(sizes, state)
            assert pad.size > 0 and not np.any(pad)
            assert np.count_nonzero(real) > 0.9 * real.size
        fits.append(net.weights + net.biases)
    assert _same(*fits)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_near_cores_by_the_round_trip(sparse_mode, local_path, near, dtype):
    """By default (-1) the first chunk of each train_epoch call that takes _loss_grad_local times
    the two threads' round trip, and they run as on near cores when it is short (NEAR_NS in
    _core.pyx): whichever it picks, the weights are the dense kernels' on one thread, bit for bit.
    Modes other than -1, 0 and 1 are refused."""
    X, labels = _digits(620, seed=23)
    nets = []
    for mode, threads in (("dense", 1), ("lists", 2)):
        sparse_mode(mode)
        local_path(1)
        near(-1)
        before = _core._local_chunks()
        net = fastnn.Network([784, 100, 10], dtype=dtype, seed=2, n_threads=threads)
        net.fit(X, labels, epochs=3, batch_size=200, optimizer="adam", learning_rate=0.01, l2=1e-4)
        assert (_core._local_chunks() > before) == (mode == "lists")
        nets.append(net.weights + net.biases)
    assert _same(*nets)
    with pytest.raises(ValueError, match="-1, 0 or 1"):
        _core._set_near(2)
    assert _core._set_near(1) == -1


@pytest.fixture
def pairs():
    """Sets whether layer 0's forward pass takes rows two at a time and its gradient sums inputs two
    at a time (_set_pairs); restores it."""
    old = _core._set_pairs(1)
    yield _core._set_pairs
    _core._set_pairs(old)


@pytest.mark.parametrize("on", [0, 1], ids=["single", "pairs"])
@pytest.mark.parametrize("sizes", [[784, 100, 10], [784, 10], [783, 300, 10]], ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pairs_are_bit_identical(sparse_mode, pairs, dtype, n_threads, sizes, on):
    """Layer 0's forward pass from the lists two rows at a time (fastnn_row2_*; with an odd batch
    the last row on its own) and its gradient two inputs at a time (fastnn_column2_*; with an odd
    count of inputs, or of a thread's inputs, the last on its own; 300 outputs: several groups of
    panels): the same weights, gradients and predictions as the dense kernels on one thread (also
    a softmax layer 0, which needs whole rows)."""
    X, labels = _digits(266, seed=14)
    X = X[:, :sizes[0]]
    Y = fastnn.one_hot(labels, 10)
    results = []
    pairs(on)
    for mode, threads in (("dense", 1), ("lists", n_threads)):
        sparse_mode(mode)
        before = _core._sparse_chunks()
        net = fastnn.Network(sizes, dtype=dtype, seed=5, n_threads=threads)
        net.fit(X, labels, epochs=2, batch_size=133, optimizer="adam", learning_rate=0.01)
        assert (_core._sparse_chunks() > before) == (mode == "lists")
        nabla_w, nabla_b = net.gradients(X[:133], Y[:133])
        results.append((net.weights + net.biases, nabla_w + nabla_b, net.predict(X)))
    assert _same(results[0][0], results[1][0])
    assert _same(results[0][1], results[1][1])
    assert np.array_equal(results[0][2], results[1][2])


@pytest.fixture
def narrow():
    """Sets whether the row kernel skips the padded columns of a block (_set_narrow); restores it."""
    old = _core._set_narrow(1)
    yield _core._set_narrow
    _core._set_narrow(old)


@pytest.mark.parametrize("sizes", [[784, 100, 10], [50, 20, 3], [30, 41, 17], [20, 64, 32]],
                         ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("mode", ["dense", "lists"])
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_narrow_blocks_are_bit_identical(sparse_mode, narrow, dtype, n_threads, mode, sizes):
    """The row kernel on a block of JB columns whose last ones are padding computes only the vectors
    with a real column (fastnn_narrow_*: 1, 2 or 3 of 4 float64 vectors, 1 of 2 float32 ones): in the
    forward pass, the gradient (with Adam's step) and back-propagation, the same weights, gradients
    and predictions as the whole block. 20-64-32 has no padding (the whole-block kernel either way).
    With AVX2 and no AVX-512, float64 blocks whose last vector has real columns in its first half only
    (10, 3 and 17 outputs, 41's second block of 9) take the halves kernel (_halves_calls)."""
    rng = np.random.default_rng(15)
    X = rng.random((150, sizes[0])) * (rng.random((150, sizes[0])) < 0.3)
    labels = rng.integers(0, sizes[-1], 150)
    Y = fastnn.one_hot(labels, sizes[-1])
    sparse_mode(mode)
    results = []
    for on in (0, 1):
        narrow(on)
        halves = _core._halves_calls()
        net = fastnn.Network(sizes, dtype=dtype, seed=6, n_threads=n_threads)
        net.fit(X, labels, epochs=2, batch_size=50, optimizer="adam", learning_rate=0.01)
        nabla_w, nabla_b = net.gradients(X[:50], Y[:50])
        results.append((net.weights + net.biases, nabla_w + nabla_b, net.predict(X)))
        took_halves = on and dtype == "float64" and sizes[-1] != 32 and _core._halves_available()
        assert (_core._halves_calls() > halves) == bool(took_halves)
    assert _same(results[0][0], results[1][0])
    assert _same(results[0][1], results[1][1])
    assert np.array_equal(results[0][2], results[1][2])
    assert not np.allclose(results[1][0][0], fastnn.Network(sizes, dtype=dtype, seed=6).weights[0])


def test_overlap_only_where_it_gains(sparse_mode):
    """Not on one thread, not without later layers, and not where a later layer is large enough for
    threads of its own."""
    sparse_mode("lists")
    X, labels = _digits(400, seed=13)
    for sizes, threads in (([784, 100, 10], 1), ([784, 10], 2), ([784, 300, 10], 2)):
        before = _core._overlap_chunks()
        fastnn.Network(sizes, seed=3, n_threads=threads).fit(X, labels, epochs=1, batch_size=200)
        assert _core._overlap_chunks() == before, sizes


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_union_gradient_on_two_threads_is_bit_identical(sparse_mode, dtype, optimizer):
    """A layer 0 wide enough for the union forward and gradient to split their panels across threads."""
    X, labels = _digits(200, seed=10)
    nets = []
    for mode in ("dense", "union"):
        sparse_mode(mode)
        before = _core._sparse_chunks()
        net = fastnn.Network([784, 300, 10], dtype=dtype, seed=3, n_threads=2)
        net.fit(X, labels, epochs=1, batch_size=8, optimizer=optimizer, learning_rate=0.1)
        assert _ran(before) == (mode == "union", mode == "union")
        nets.append(net)
    assert _same(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_union_forward_row_blocks_are_bit_identical(sparse_mode, dtype):
    """Batches of every size the union path takes (up to 64 KiB: 20 rows of float32, 10 of float64),
    so that the forward's row blocks (10, 8, 5, 4, 2, 1 rows) each run, alone and after others."""
    X, labels = _digits(96, seed=11)
    most = 65536 // (X.shape[1] * np.dtype(dtype).itemsize)
    for batch_size in range(1, most + 1):
        nets = []
        for mode in ("dense", "union"):
            sparse_mode(mode)
            before = _core._sparse_chunks()
            net = fastnn.Network([784, 40, 10], dtype=dtype, seed=6, n_threads=1)
            net.fit(X, labels, epochs=1, batch_size=batch_size, learning_rate=1.0)
            assert _ran(before) == (mode == "union", mode == "union")
            nets.append(net)
        assert _same(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases), batch_size


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_predict_loss_gradients_are_bit_identical(sparse_mode, dtype, n_threads):
    X, labels = _digits(1100, seed=1)     # several chunks, so predict runs chunk-parallel on 2 threads
    net = fastnn.Network([784, 70, 33, 10], activation="relu", output_activation="softmax",
                         loss="cross_entropy", init="he", dtype=dtype, seed=2, n_threads=n_threads)
    results = []
    for on in (False, True):
        sparse_mode(on)
        before = _core._sparse_chunks()
        out = net.predict(X)
        loss = net.loss(X, labels)
        nabla_w, nabla_b = net.gradients(X[:300], labels[:300])
        assert _ran(before) == (on, False)
        results.append((out, loss, nabla_w, nabla_b))
    (out0, loss0, w0, b0), (out1, loss1, w1, b1) = results
    assert np.array_equal(out0, out1)
    assert loss0 == loss1
    assert _same(w0 + b0, w1 + b1)


@pytest.mark.parametrize("width", [1, 31, 33, 100])
def test_sparse_gradient_matches_the_numpy_oracle(sparse_mode, width):
    """The sparse path against SEED.md's plain-numpy back-propagation, layer widths around the tile size."""
    sparse_mode("lists")
    X, labels = _digits(45, seed=4)
    Y = fastnn.one_hot(labels, 10)
    net = fastnn.Network([784, width, 10], dtype="float64", seed=5)
    nabla_w, nabla_b = net.gradients(X, Y)
    ref_w, ref_b = _reference.backprop(net.weights, net.biases, X, Y)
    for g, r in zip(nabla_w + nabla_b, ref_w + ref_b):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("mode", ["lists", "union"])
@pytest.mark.parametrize("width", [1, 31, 33, 100])
def test_sparse_training_step_matches_the_numpy_oracle(sparse_mode, mode, width):
    """One SGD step on a batch through each sparse path (the gradient fused into the step) against
    SEED.md's plain-numpy step, layer widths around the tile size."""
    sparse_mode(mode)
    X, labels = _digits(8, seed=9)     # 8 rows of float64: 50 KiB, small enough for the union
    Y = fastnn.one_hot(labels, 10)
    net = fastnn.Network([784, width, 10], dtype="float64", seed=5)
    weights, biases = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    _reference.train_batch(weights, biases, X, Y, learning_rate=0.5)
    before = _core._sparse_chunks()
    net.train_batch(X, Y, learning_rate=0.5)
    assert _ran(before) == (True, mode == "union")
    for p, e in zip(net.weights + net.biases, weights + biases):
        np.testing.assert_allclose(p, e, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("mode", ["lists", "union"])
def test_untouched_inputs_still_take_their_optimizer_step(sparse_mode, mode):
    """Inputs that are zero in every sample get a zero gradient, but momentum and L2 still move
    their weights (and plain SGD leaves them exactly as they were)."""
    X, labels = _digits(50, seed=6)
    X[:, :5] = 0
    for optimizer, moves in (("momentum", True), ("sgd", False)):
        sparse_mode(mode)
        net = fastnn.Network([784, 20, 10], dtype="float64", seed=7)
        w0 = net.weights[0][:, :5].copy()
        net.fit(X, labels, epochs=2, batch_size=10, optimizer=optimizer, learning_rate=0.1,
                l2=1e-2 if moves else 0.0)
        assert (not np.array_equal(net.weights[0][:, :5], w0)) == moves


def test_default_policy():
    """By default: used for mostly-zero inputs; in predict when layer 0 has more than one panel of
    32 outputs, in training from one panel on."""
    X, labels = _digits(300, seed=8)
    dense_X = np.random.default_rng(0).random(X.shape)
    for sizes, data, used in (([784, 100, 10], X, True), ([784, 30, 10], X, False),
                              ([784, 100, 10], dense_X, False)):
        for dtype in ("float32", "float64"):
            before = _core._sparse_chunks()
            fastnn.Network(sizes, dtype=dtype, seed=0).predict(data)
            assert _ran(before)[0] == used, (sizes, dtype)
    for sizes, data, used in (([784, 30, 10], X, True), ([784, 100, 10], X, True), ([784, 30, 10], dense_X, False)):
        for dtype in ("float32", "float64"):
            before = _core._sparse_chunks()
            fastnn.Network(sizes, dtype=dtype, seed=0).fit(data, labels, epochs=1, batch_size=10)
            assert _ran(before)[0] == used, (sizes, dtype)


def test_union_policy():
    """Layer 0 goes by the union of a batch's columns when their count times the batch size is
    at most sparse_union_ratio (default 3) times the batch's nonzeros: these digits' batches of 10
    have 4 to 6 times, MNIST's 2.5."""
    X, labels = _digits(300, seed=8)
    ratios = [np.count_nonzero(X[i:i + 10].any(axis=0)) * 10 / np.count_nonzero(X[i:i + 10])
              for i in range(0, 300, 10)]
    assert 3.5 < min(ratios) and max(ratios) < 7
    old = _core._set_sparse_union(3.0)
    try:
        for ratio, union in ((3.0, False), (7.0, True)):
            _core._set_sparse_union(ratio)
            before = _core._sparse_chunks()
            fastnn.Network([784, 30, 10], seed=0).fit(X, labels, epochs=1, batch_size=10)
            assert _ran(before) == (True, union), ratio
    finally:
        _core._set_sparse_union(old)


def _quantized(X):
    """X with its values rounded to multiples of 1/255, as 8-bit pixels scaled to [0, 1] are: at most
    256 distinct values, so list_nonzeros packs its lists."""
    return np.round(X * 255) / 255


@pytest.fixture
def packing():
    """Sets whether list_nonzeros may pack its lists (_core._set_packed) for one test."""
    old = _core._set_packed(1)
    yield _core._set_packed
    _core._set_packed(old)


def _bits(a):
    """a's values as their bit patterns (NaN's included), to compare bit for bit."""
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_list_nonzeros_lists_every_row(dtype, n_threads, packed, packing):
    """X's nonzeros listed once for a fit: row r's are starts[r]:starts[r + 1], columns ascending
    (NaN counts as nonzero, -0.0 as zero), values X[r, idx] bit for bit; rows of every count 0 ...
    n_in. With at most 256 distinct values (and AVX-512, or AVX2 and FMA) the lists are packed: 16-bit columns and
    8-bit codes into a table of 256 values; else (or with packing switched off) int columns and the
    values themselves."""
    packing(packed)
    X, _ = _digits(50)
    X = _quantized(X).astype(dtype)
    X[3, 5], X[4, 7], X[5, :] = np.nan, -0.0, 0      # X[1] is all zeros and X[2] all nonzero
    X[6, 9] = np.float32(1 / 3)                       # a value no other nonzero has
    starts, idx, val, table = _core.list_nonzeros(X, 100, n_threads)
    assert starts.shape == (51,) and starts[0] == 0
    if packed and _core._packed_available():
        assert idx.dtype == np.uint16 and val.dtype == np.uint8 and table.shape == (256,) and table.dtype == X.dtype
        values = table[val]
    else:
        assert idx.dtype == np.intc and val.dtype == X.dtype and table is None
        values = val
    for r in range(50):
        cols = np.flatnonzero(X[r] != 0)
        assert np.array_equal(idx[starts[r]:starts[r + 1]], cols), r
        assert np.array_equal(_bits(values[starts[r]:starts[r + 1]]), _bits(X[r, cols])), r
    assert starts[2] - starts[1] == 0 and starts[3] - starts[2] == 784 and 5 in idx[starts[3]:starts[4]]
    assert 7 not in idx[starts[4]:starts[5]]


@pytest.mark.skipif(not _core._packed_available(),
                    reason="this build has no packed lists' kernels (neither AVX-512 nor AVX2 and FMA)")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_list_nonzeros_packs_at_most_256_values(dtype, packing):
    """Packed with 256 distinct nonzero values (in any rows, any thread's), not with 257, nor with
    more than 65,536 columns (16-bit columns)."""
    rng = np.random.default_rng(0)
    for distinct, n_in, n, packs in ((256, 784, 300, True), (257, 784, 300, False), (4, 65537, 20, False)):
        X = np.zeros((n, n_in), dtype=dtype)
        values = (np.arange(1, distinct + 1) / 1000).astype(dtype)
        for r in range(n):
            cols = rng.choice(n_in, 50, replace=False)
            X[r, cols] = values[rng.integers(0, distinct, 50)]
        X[rng.integers(0, n, distinct), rng.integers(0, n_in, distinct)] = values   # each at least once
        starts, idx, val, table = _core.list_nonzeros(X, 100, 2)
        assert (table is not None) == packs, distinct
        got = table[val] if packs else val
        assert np.array_equal(got, X[X != 0]), distinct


def test_list_nonzeros_only_where_layer_0_skips_zeros():
    """None (nothing listed): for X over the density limit (30% nonzero by default), when skipping
    zeros is switched off (limit 0), when the lists would take over half of X's bytes (float32:
    over 25% nonzero, here with the limit raised to 100%), and for an empty X."""
    X, _ = _digits(50)
    rng = np.random.default_rng(0)
    assert _core.list_nonzeros(X, 100) is not None and _core.list_nonzeros(X, 1) is not None
    assert _core.list_nonzeros(rng.random(X.shape), 100) is None
    assert _core.list_nonzeros(np.zeros((0, 784)), 100) is None
    old = _core._set_sparse(0.0, 0.0, 0)
    try:
        assert _core.list_nonzeros(X, 100) is None
        _core._set_sparse(1.0, 1.0, 0)
        half = np.where(rng.random(X.shape) < 0.28, 1.0, 0.0).astype(np.float32)
        assert _core.list_nonzeros(half, 100) is None and _core.list_nonzeros(half.astype(np.float64), 100)
        assert _core.list_nonzeros(X, 100) is not None
    finally:
        _core._set_sparse(*old)


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("cores", ["far", "near", "one"])
@pytest.mark.parametrize("hidden", [40, 100])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch_size", [200, 256, 10])
def test_estimator_fit_from_the_listed_X_is_bit_identical(dtype, batch_size, hidden, cores, packed, near,
                                                          monkeypatch):
    """MLPClassifier.fit takes each batch's lists from X's nonzeros listed once, packed or not
    (batches of 200 and 256, on _loss_grad_local, near and far, or on one thread), or goes by the
    union (batches of 10): the fitted network is the same, bit for bit, as when every batch is
    listed from its rows of X; and the listed X was used. Packed lists sort into packed entries,
    each with its sample's row in 8 bits (256: a whole chunk, rows 0 ... 255); the lists of single
    batches are never packed, so their entries are the full ones."""
    pytest.importorskip("sklearn")
    X, labels = _digits(620)
    X = (_quantized(X) if packed else X).astype(dtype)
    fits, made = [], []
    real = _core.list_nonzeros
    monkeypatch.setattr(_core, "list_nonzeros", lambda *a: made.append(real(*a)) or made[-1])
    near(1 if cores == "near" else 0)
    for list_once in (True, False):
        monkeypatch.setattr(fastnn.MLPClassifier, "_list_once", list_once)
        est = fastnn.MLPClassifier(hidden_layer_sizes=(hidden,), batch_size=batch_size, max_iter=3,
                                   random_state=0, n_threads=1 if cores == "one" else 2)
        local = _core._local_chunks()
        with pytest.warns(Warning):     # 3 epochs: not converged
            est.fit(X, labels)
        assert (_core._local_chunks() > local) == (batch_size != 10 and cores != "one" and OPENMP)
        fits.append(est)
    assert len(made) == 1 and made[0] is not None
    assert (made[0][3] is not None) == (packed and _core._packed_available())
    assert _same(fits[0].coefs_ + fits[0].intercepts_, fits[1].coefs_ + fits[1].intercepts_)
    assert fits[0].loss_curve_ == fits[1].loss_curve_


def test_train_epoch_refuses_lists_of_another_X():
    X, labels = _digits(40)
    net = fastnn.Network([784, 40, 10], dtype=X.dtype, seed=0)
    Y = np.eye(10, dtype=X.dtype)[labels]
    opt, _ = net._optimizer("sgd", 1.0, None, fresh=True)
    for X_listed in (X, _quantized(X)):
        other = _core.list_nonzeros(X_listed[:39], 40)
        with pytest.raises(ValueError, match="listed does not match X"):
            net._run_epoch(X, Y, np.arange(40), 10, opt, 0.1, listed=other)
        listed = _core.list_nonzeros(X_listed, 40)
        for bad in (listed[:3], listed[:3] + (np.zeros(255, X.dtype),), (listed[0], listed[1], listed[2][:-1], listed[3]),
                    (listed[0], listed[1].astype(np.int64)) + listed[2:]):
            with pytest.raises(ValueError, match="listed does not match X"):
                net._run_epoch(X, Y, np.arange(40), 10, opt, 0.1, listed=bad)


def _on_a_team_of_one(tmp_path, body):
    """Runs body (Python source, with np, fastnn, _core and test_sparse's _digits imported) in a fresh
    process whose OpenMP regions get one thread (OMP_THREAD_LIMIT=1); it must print nothing and end."""
    if not OPENMP:
        pytest.skip(NO_TEAM)
    import os
    import subprocess
    import sys
    script = tmp_path / "team_of_one.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})\n"
        "import numpy as np, fastnn\n"
        "from fastnn import _core\n"
        "from test_sparse import _digits\n"
        + textwrap.dedent(body) + "print('ok')\n")
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_local_chunks_on_a_team_of_one_thread(tmp_path):
    """When the parallel region gets one thread (OMP_THREAD_LIMIT=1, in a fresh process),
    _loss_grad_local runs the chunk as on one thread, in the usual rows: the same weights as the
    dense kernels."""
    _on_a_team_of_one(tmp_path, """
        X, labels = _digits(400, seed=19)
        nets = []
        for limit, threads in ((0.0, 1), (1.0, 2)):
            _core._set_sparse(limit, limit, 0)
            _core._set_sparse_union(0.0)
            before = _core._local_chunks()
            net = fastnn.Network([784, 100, 10], seed=3, n_threads=threads)
            net.fit(X, labels, epochs=2, batch_size=200, optimizer='adam', learning_rate=0.01)
            assert (_core._local_chunks() > before) == (threads == 2)
            nets.append(net.weights + net.biases)
        assert all(np.array_equal(p, q) for p, q in zip(*nets))
        """)


def test_overlapped_chunks_on_a_team_smaller_than_asked_for(tmp_path):
    """When the parallel region gets fewer threads than n_threads (OMP_THREAD_LIMIT=1, in a fresh
    process; also OMP_DYNAMIC or a region inside another), _loss_grad_overlap computes the chunk on
    thread 0 as on one thread: the same weights as the dense kernels. (Each thread used to do only
    its own share, so the missing threads' columns, sort and sums went undone.)"""
    _on_a_team_of_one(tmp_path, """
        X, labels = _digits(400, seed=23)
        for sizes, threads in (([784, 100, 10], 3), ([784, 64, 32, 10], 2), ([784, 64, 32, 10], 3)):
            nets = []
            for limit, n in ((0.0, 1), (1.0, threads)):
                _core._set_sparse(limit, limit, 0)
                _core._set_sparse_union(0.0)
                before = _core._overlap_chunks()
                net = fastnn.Network(sizes, seed=3, n_threads=n)
                net.fit(X, labels, epochs=2, batch_size=200, optimizer='adam', learning_rate=0.01, l2=1e-3)
                assert (_core._overlap_chunks() > before) == (n > 1), (sizes, n)
                nets.append(net.weights + net.biases)
            assert all(np.array_equal(p, q) for p, q in zip(*nets)), (sizes, threads)
        """)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch_size, hidden", [(200, (100,)), (300, (100,)), (10, (40,)), (200, (64, 20))])
def test_weighted_estimator_fits_are_bit_identical_on_every_path(sparse_mode, near, dtype, batch_size, hidden):
    """MLPClassifier.fit with sample weights (a tenth 0, and the first batch all 0, which is skipped):
    the same network, bit for bit, from the dense kernels on one thread, the lists on one thread,
    and the default paths on two threads with the cores taken as near and as far
    (_loss_grad_local for one hidden layer, which ran; batches of 300: two chunks and the summed
    gradient; batches of 10: the union)."""
    pytest.importorskip("sklearn")
    X, labels = _digits(620, seed=5)
    X = X.astype(dtype)
    rng = np.random.default_rng(1)
    w = rng.random(620) * 2
    w[rng.random(620) < 0.1] = 0
    w[:batch_size] = 0      # the first batch (in order: shuffle=False)
    fits = []
    for mode, threads, cores in (("dense", 1, 0), ("lists", 1, 0), (True, 2, 1), (True, 2, 0)):
        sparse_mode(mode)
        near(cores)
        local = _core._local_chunks()
        est = fastnn.MLPClassifier(hidden_layer_sizes=hidden, batch_size=batch_size, max_iter=3, alpha=1e-3,
                                   random_state=0, n_threads=threads, shuffle=False)
        with pytest.warns(Warning):     # 3 epochs: not converged
            est.fit(X, labels, sample_weight=w)
        assert (_core._local_chunks() > local) == (threads == 2 and hidden == (100,) and OPENMP)
        assert est._net._opt.t == 3 * (-(-620 // batch_size) - 1)     # Adam's steps: the first batch skipped
        fits.append(est)
    for other in fits[1:]:
        assert _same(fits[0].coefs_ + fits[0].intercepts_, other.coefs_ + other.intercepts_)
        assert other.loss_curve_ == fits[0].loss_curve_


def _penalty_epoch(net, X, Y, order, batch_size, sw, per_batch):
    """An Adam epoch of net (l2 = 1e-3) over X[order]: (train_epoch's penalty, the network) from one
    call, or (per_batch) one call per batch with ||W||^2 taken in numpy before each, times the
    batch's size over its summed weight (scikit-learn's L2 term of its loss, over 0.5 * alpha)."""
    from fastnn.optim import Optimizer
    opt = Optimizer(net, "adam", l2=1e-3)
    if not per_batch:
        penalty = np.zeros(1)
        net._run_epoch(X, Y, order, batch_size, opt, 0.001, sample_weight=sw, penalty=penalty)
        return float(penalty[0]), net
    total = 0.0
    for b0 in range(0, order.shape[0], batch_size):
        rows = order[b0:b0 + batch_size]
        S = rows.shape[0] if sw is None else float(np.sum(sw[rows], dtype=np.float64))
        total += sum(float(np.sum(W.astype(np.float64) ** 2)) for W in net.weights) * rows.shape[0] / S
        net._run_epoch(X, Y, rows, batch_size, opt, 0.001, sample_weight=sw)
    return total, net


@pytest.mark.parametrize("weighted", [False, True], ids=["", "weighted"])
@pytest.mark.parametrize("batch_size", [200, 300])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_penalty_is_each_batchs_squared_norm(sparse_mode, local_path, near, dtype, batch_size, weighted):
    """train_epoch's penalty (MLPClassifier's L2 term of loss_, as scikit-learn's): each batch adds
    ||W||^2 of the weights before its step, times its size over its summed weight. Against the
    same epoch one batch per call with ||W||^2 in numpy before each: within 1e-13, and the same
    weights. The penalty is the same, bit for bit, with the dense kernels on one thread, with the
    lists on one, and on two threads by _loss_grad_local (each thread its panels of layer 0 and
    its rows of layer 1; near or far cores): batches of 200 (the step fused into the gradient)
    and 300 (over one chunk: the summed gradient, then the step)."""
    X, labels = _digits(620, seed=3)
    X = X.astype(dtype)
    Y = fastnn.one_hot(labels % 10, 10).astype(dtype)
    order = np.random.default_rng(0).permutation(620).astype(np.intp)
    sw = np.random.default_rng(1).uniform(0.2, 3.0, 620).astype(dtype) if weighted else None

    def net(threads):
        return fastnn.Network([784, 100, 10], activation="relu", output_activation="softmax",
                              loss="cross_entropy", dtype=dtype, seed=5, n_threads=threads)

    sparse_mode("dense")
    expected, reference = _penalty_epoch(net(1), X, Y, order, batch_size, sw, per_batch=True)
    results = []
    for mode, threads, cores in (("dense", 1, 0), ("lists", 1, 0), ("lists", 2, 0), ("lists", 2, 1)):
        sparse_mode(mode)
        local_path(1)
        near(cores)
        before = _core._local_chunks()
        results.append(_penalty_epoch(net(threads), X, Y, order, batch_size, sw, per_batch=False))
        assert (_core._local_chunks() > before) == (threads == 2)
    for penalty, fitted in results:
        assert penalty == results[0][0]
        assert _same(fitted.weights + fitted.biases, reference.weights + reference.biases)
    assert results[0][0] == pytest.approx(expected, rel=1e-13, abs=0)


@pytest.fixture
def offset_limit():
    """Sets _core's offset_limit (_set_offset_limit: the largest offset i * ld, an int, that a training
    chunk's unpacked entries hold; it caps a chunk's rows at offset_limit // ld); restores it."""
    old = _core._set_offset_limit(2 ** 31 - 1)
    yield _core._set_offset_limit
    _core._set_offset_limit(old)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_chunks_shrink_so_the_entries_int_offsets_cannot_overflow(sparse_mode, offset_limit, dtype, n_threads):
    """A layer 0 wider than 2**31 / 256 units would give a 256-row chunk offsets i * ld beyond int's
    range in the sort's unpacked entries: its training chunks are cut to offset_limit // ld rows.
    Here the limit is lowered to give chunks of one row and of a few rows: the lists (unpacked) and
    the dense kernels still agree bit for bit, the gradients match the plain numpy reference, and
    the weights match those of full chunks up to the order of the sums."""
    X, labels = _digits(300, seed=5)
    Y = fastnn.one_hot(labels, 10)
    old_packed = _core._set_packed(0)
    try:
        full = fastnn.Network([784, 40, 10], dtype=dtype, seed=3, n_threads=n_threads)
        sparse_mode("lists")
        full.fit(X, labels, epochs=2, batch_size=70, optimizer="adam", learning_rate=0.01, l2=1e-3)
        for limit in (1, 200):
            nets = []
            for mode in ("dense", "lists"):
                offset_limit(limit)
                sparse_mode(mode)
                before = _core._sparse_chunks()
                net = fastnn.Network([784, 40, 10], dtype=dtype, seed=3, n_threads=n_threads)
                nabla_w, nabla_b = net.gradients(X, Y)      # (the mean over the rows)
                grad_chunks = _core._sparse_chunks()[0] - before[0]
                net.fit(X, labels, epochs=2, batch_size=70, optimizer="adam", learning_rate=0.01, l2=1e-3)
                assert _ran(before) == (mode == "lists", False)
                if mode == "lists":
                    # the chunks' rows r, from the 300 rows' chunks in gradients(): 1 for limit 1,
                    # several (limit // ld) for limit 200; then the epochs' chunks of batches 70, ..., 20
                    r = next(r for r in range(1, 257) if -(-300 // r) == grad_chunks)
                    assert r == 1 if limit == 1 else 1 < r < 70
                    fit_chunks = _core._sparse_chunks()[0] - before[0] - grad_chunks
                    assert fit_chunks == 2 * (4 * -(-70 // r) + -(-20 // r))
                nets.append((net, nabla_w + nabla_b))
            (dense, g_dense), (lists, g_lists) = nets
            assert _same(dense.weights + dense.biases, lists.weights + lists.biases)
            assert _same(g_dense, g_lists)
            init = fastnn.Network([784, 40, 10], dtype=dtype, seed=3)
            ref_w, ref_b = _reference.backprop([W.astype(np.float64) for W in init.weights],
                                               [b.astype(np.float64) for b in init.biases], X, Y,
                                               act=init.activation, out=init.output_activation, loss=init.loss_name)
            tol = dict(rtol=1e-4, atol=1e-6) if dtype == "float32" else dict(rtol=1e-10, atol=1e-13)
            for g, r in zip(g_lists, list(ref_w) + list(ref_b)):
                np.testing.assert_allclose(g, r, **tol)
            for p, q in zip(lists.weights + lists.biases, full.weights + full.biases):
                np.testing.assert_allclose(p, q, **tol)
    finally:
        _core._set_packed(old_packed)
