"""Compiled kernels of fastnn: forward propagation, back-propagation, update.

Conventions (SEED.md): layer l maps n_in = sizes[l] inputs to n_out =
sizes[l+1] outputs with weights W (n_out, n_in) and biases b (n_out,).
Rows are samples: for a chunk of m samples

    z[l] = a[l-1] @ W[l].T + b[l]           (m, n_out)
    a[l] = sigma(z[l])                      (m, n_out)
    delta[L] = (a[L] - y) * sigma'(z[L])
    delta[l] = (delta[l+1] @ W[l+1]) * sigma'(z[l])
    nabla_b[l] = delta[l].sum(0),  nabla_w[l] = delta[l].T @ a[l-1]

with sigma'(z) = a (1 - a). All parameters live in ONE flat vector theta,
laid out layer by layer as [W[1].ravel(), b[1], W[2].ravel(), b[2], ...];
gradients use the same layout. The Python layer validates everything; the
kernels trust their inputs (bounds checks are off) and never raise inside
nogil.

Every entry point runs its whole job in one ``with nogil`` block. Work is
done in chunks of at most ``CHUNK`` rows so that scratch memory does not grow
with the data.
"""
from cython cimport floating
from libc.math cimport exp, expf, sqrt

import numpy as np

ctypedef Py_ssize_t intp

cdef enum:
    LANES = 16    # independent partial sums of a dot product (a power of 2)
    ROW_LANES = 64  # columns of a gradient row held in registers across a chunk
    CHUNK = 256   # rows per forward/backward chunk


cdef struct Layout:
    intp L            # number of weight layers
    const intp* sizes  # L + 1 layer widths
    const intp* w_off  # offset of W[l] in theta, l = 0..L-1
    const intp* b_off  # offset of b[l] in theta
    const intp* u_off  # offset of layer l's units in the per-chunk z/a/delta buffers (times rows)


cdef inline floating _sigmoid(floating z) noexcept nogil:
    cdef floating one = 1
    if floating is float:
        return one / (one + expf(-z))
    else:
        return one / (one + exp(-z))


cdef inline floating _dot(const floating* x, const floating* y, intp k) noexcept nogil:
    """x @ y for contiguous vectors of length k, summed in a fixed order.

    LANES independent partial sums (several vector registers once the compiler
    vectorizes) hide the FMA latency; then blocks of 8, a fixed pairwise fold
    of the lanes, and a scalar tail. No reassociation is left to the compiler.
    """
    cdef floating acc[LANES]
    cdef floating s
    cdef intp blk, p, k_main = k - k % LANES, k8
    cdef int u, half
    for u in range(LANES):
        acc[u] = 0
    # acc[u] += x[p + u] * y[p + u]  (LANES independent partial sums)
    for blk in range(k_main // LANES):
        p = blk * LANES
        for u in range(LANES):
            acc[u] = acc[u] + x[p + u] * y[p + u]
    # acc[:8] += x[p:p+8] * y[p:p+8] for the remaining whole blocks of 8
    k8 = k_main + (k - k_main) // 8 * 8
    for blk in range((k8 - k_main) // 8):
        p = k_main + blk * 8
        for u in range(8):
            acc[u] = acc[u] + x[p + u] * y[p + u]
    # fold: acc[:half] += acc[half:2*half], half = LANES/2 ... 1
    half = LANES // 2
    while half >= 1:
        for u in range(half):
            acc[u] = acc[u] + acc[u + half]
        half = half // 2
    s = acc[0]
    for p in range(k8, k):
        s = s + x[p] * y[p]
    return s


cdef void _forward_layer(intp m, intp n_out, intp n_in, const floating* a_prev,
                         const floating* W, const floating* b,
                         floating* z, floating* a) noexcept nogil:
    """z = a_prev @ W.T + b; a = sigma(z).  a_prev (m, n_in), W (n_out, n_in), z, a (m, n_out)."""
    cdef intp i, j
    cdef floating zij
    for i in range(m):
        # z[i] = W @ a_prev[i] + b ; a[i] = sigma(z[i])
        for j in range(n_out):
            zij = _dot(a_prev + i * n_in, W + j * n_in, n_in) + b[j]
            z[i * n_out + j] = zij
            a[i * n_out + j] = _sigmoid(zij)


cdef void _backprop_delta(intp m, intp n_out, intp n_in, const floating* delta,
                          const floating* W, const floating* a_prev,
                          floating* delta_prev) noexcept nogil:
    """delta_prev = (delta @ W) * a_prev * (1 - a_prev).  delta (m, n_out), W (n_out, n_in)."""
    cdef intp i, j, p
    cdef floating d, one = 1
    cdef floating* row
    cdef const floating* arow
    for i in range(m):
        row = delta_prev + i * n_in
        arow = a_prev + i * n_in
        for p in range(n_in):
            row[p] = 0
        for j in range(n_out):
            d = delta[i * n_out + j]
            # delta_prev[i] += delta[i, j] * W[j]
            for p in range(n_in):
                row[p] = row[p] + d * W[j * n_in + p]
        # delta_prev[i] *= sigma'(z_prev[i]) = a_prev[i] * (1 - a_prev[i])
        for p in range(n_in):
            row[p] = row[p] * (arow[p] * (one - arow[p]))


cdef inline void _nabla_row(intp m, intp n_out, intp n_in, const floating* delta,
                            const floating* a_prev, floating* target, intp j, intp p0,
                            floating alpha, bint overwrite) noexcept nogil:
    """target[j, p0:p0+ROW_LANES] (+)= alpha * delta[:, j] @ a_prev[:, p0:p0+ROW_LANES].

    One accumulator array (several vector registers once vectorized) holds the
    slice of row j across all m samples; it is written to memory once.
    """
    cdef floating acc[ROW_LANES]
    cdef floating d
    cdef const floating* arow
    cdef floating* row = target + j * n_in + p0
    cdef intp i
    cdef int u
    for u in range(ROW_LANES):
        acc[u] = 0
    for i in range(m):
        d = delta[i * n_out + j]
        arow = a_prev + i * n_in + p0
        # acc += delta[i, j] * a_prev[i, p0:p0+ROW_LANES]
        for u in range(ROW_LANES):
            acc[u] = acc[u] + d * arow[u]
    if overwrite:
        for u in range(ROW_LANES):
            row[u] = alpha * acc[u]
    else:
        for u in range(ROW_LANES):
            row[u] = row[u] + alpha * acc[u]


cdef void _nabla_edge(intp m, intp n_out, intp n_in, const floating* delta,
                      const floating* a_prev, floating* target, intp j, intp p0, intp p1,
                      floating alpha, bint overwrite) noexcept nogil:
    """target[j, p0:p1] (+)= alpha * delta[:, j] @ a_prev[:, p0:p1], for columns left over by _nabla_row."""
    cdef intp i, p
    cdef floating d
    cdef floating* row = target + j * n_in
    cdef const floating* arow
    if overwrite:
        for p in range(p0, p1):
            row[p] = 0
    for i in range(m):
        d = alpha * delta[i * n_out + j]
        arow = a_prev + i * n_in
        # target[j, p0:p1] += alpha * delta[i, j] * a_prev[i, p0:p1]
        for p in range(p0, p1):
            row[p] = row[p] + d * arow[p]


cdef void _accumulate_nabla(intp m, intp n_out, intp n_in, const floating* delta,
                            const floating* a_prev, floating* w_target, floating* b_target,
                            floating alpha, bint overwrite) noexcept nogil:
    """w_target (+)= alpha * delta.T @ a_prev ; b_target (+)= alpha * delta.sum(0).

    With alpha = 1 the targets are nabla_w (n_out, n_in) and nabla_b (n_out,)
    summed over the m rows; with alpha = -eta/m and the targets W and b, this
    is the fused SGD update W -= eta * nabla_w, b -= eta * nabla_b.
    """
    cdef intp i, j, blk
    cdef intp p_main = n_in - n_in % ROW_LANES
    cdef floating sb
    # row by row: slices of ROW_LANES columns in registers, then the leftover columns
    for j in range(n_out):
        for blk in range(p_main // ROW_LANES):
            _nabla_row(m, n_out, n_in, delta, a_prev, w_target, j, blk * ROW_LANES, alpha, overwrite)
        _nabla_edge(m, n_out, n_in, delta, a_prev, w_target, j, p_main, n_in, alpha, overwrite)
    for j in range(n_out):
        # b (+)= alpha * delta[:, j].sum()
        sb = 0
        for i in range(m):
            sb = sb + delta[i * n_out + j]
        b_target[j] = alpha * sb if overwrite else b_target[j] + alpha * sb


cdef void _forward(const Layout* net, const floating* theta, const floating* x, intp m,
                   floating* z, floating* a) noexcept nogil:
    """Forward propagation of m rows x (m, sizes[0]); stores z[l] and a[l] for every layer."""
    cdef intp l
    cdef const floating* a_prev = x
    for l in range(net.L):
        _forward_layer(m, net.sizes[l + 1], net.sizes[l], a_prev,
                       theta + net.w_off[l], theta + net.b_off[l],
                       z + m * net.u_off[l], a + m * net.u_off[l])
        a_prev = a + m * net.u_off[l]


cdef double _output_delta(intp count, const floating* aL, const floating* y,
                          floating* deltaL) noexcept nogil:
    """delta[L] = (a[L] - y) * a[L] * (1 - a[L]); returns sum of 1/2 (y - a[L])^2."""
    cdef intp i
    cdef floating diff, one = 1
    cdef double loss = 0
    for i in range(count):
        diff = aL[i] - y[i]
        loss += <double>diff * <double>diff
        deltaL[i] = diff * (aL[i] * (one - aL[i]))
    return 0.5 * loss


cdef double _loss_only(intp count, const floating* aL, const floating* y) noexcept nogil:
    """Sum over the chunk of 1/2 (y - a[L])^2, accumulated in double."""
    cdef intp i
    cdef double diff, loss = 0
    for i in range(count):
        diff = <double>aL[i] - <double>y[i]
        loss += diff * diff
    return 0.5 * loss


cdef double _loss_grad_chunk(const Layout* net, floating* theta,
                             const floating* x, const floating* y, intp m,
                             floating* target, floating alpha, bint overwrite,
                             floating* z, floating* a, floating* delta) noexcept nogil:
    """Forward and back-propagation of m rows x (m, sizes[0]) with targets y (m, sizes[-1]).

    target (+)= alpha * (sum over the m rows of the per-sample gradients), in
    theta's layout. target = a gradient buffer with alpha = 1 accumulates the
    gradient; target = theta with alpha = -eta/m is the fused SGD update
    (delta[l-1] is computed from W[l] before W[l] changes).
    Returns the summed loss of the m rows, measured before any update.
    """
    cdef intp l, L = net.L
    cdef intp nL = net.sizes[L]
    cdef const floating* a_prev
    cdef double loss
    _forward(net, theta, x, m, z, a)
    loss = _output_delta(m * nL, a + m * net.u_off[L - 1], y, delta + m * net.u_off[L - 1])
    for l in range(L - 1, -1, -1):
        a_prev = x if l == 0 else a + m * net.u_off[l - 1]
        if l > 0:
            _backprop_delta(m, net.sizes[l + 1], net.sizes[l], delta + m * net.u_off[l],
                            theta + net.w_off[l], a_prev, delta + m * net.u_off[l - 1])
        _accumulate_nabla(m, net.sizes[l + 1], net.sizes[l], delta + m * net.u_off[l], a_prev,
                          target + net.w_off[l], target + net.b_off[l], alpha, overwrite)
    return loss


cdef double _sum_squares(const floating* v, intp n) noexcept nogil:
    """v @ v accumulated in double."""
    cdef intp p
    cdef double s = 0
    for p in range(n):
        s += <double>v[p] * <double>v[p]
    return s


cdef void _update(floating* theta, const floating* grad, intp n_params, intp m,
                  double eta, double eps) noexcept nogil:
    """One gradient-descent step from grad = sum over the m samples of the batch.

    eta > 0:  theta -= eta * grad / m                      (learning rate)
    eps > 0:  theta -= eps * grad / ||grad||  (if grad != 0; the normalized step)
    """
    cdef intp p
    cdef double norm
    cdef floating c
    if eps > 0:
        norm = sqrt(_sum_squares(grad, n_params))
        if norm == 0:
            return
        c = <floating>(eps / norm)
    else:
        c = <floating>(eta / m)
    # theta -= c * grad
    for p in range(n_params):
        theta[p] = theta[p] - c * grad[p]


cdef void _gather(const floating* src, intp ncols, const intp* rows, intp m,
                  floating* dst) noexcept nogil:
    """dst = src[rows] for m rows of ncols columns."""
    cdef intp i, p
    cdef const floating* s
    for i in range(m):
        s = src + rows[i] * ncols
        for p in range(ncols):
            dst[i * ncols + p] = s[p]


cdef Layout _layout(const intp[::1] sizes, const intp[::1] offsets):
    """Layout view of the arrays made by the Python layer (see fastnn.network._offsets)."""
    cdef Layout net
    cdef intp L = sizes.shape[0] - 1
    net.L = L
    net.sizes = &sizes[0]
    net.w_off = &offsets[0]
    net.b_off = &offsets[L]
    net.u_off = &offsets[2 * L]
    return net


def _units(const intp[::1] sizes):
    return int(np.sum(sizes[1:]))


def evaluate(floating[::1] theta, const intp[::1] sizes, const intp[::1] offsets,
             const floating[:, ::1] X, const floating[:, ::1] Y, floating[:, ::1] out,
             floating[::1] grad, bint want_out, bint want_loss, bint want_grad):
    """Forward (and optionally backward) pass over all rows of X, in chunks, without the GIL.

    theta (P,), X (n, sizes[0]). When want_out: out (n, sizes[-1]) receives a[L].
    When want_loss: Y (n, sizes[-1]) are the targets and the summed loss is
    returned. When want_grad: grad (P,) receives the SUM over rows of the
    per-sample gradients (the caller divides by n).
    """
    cdef Layout net = _layout(sizes, offsets)
    cdef intp n = X.shape[0], nL = sizes[net.L]
    cdef intp rows = min(n, <intp>CHUNK)
    cdef intp units = _units(sizes)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] z = np.empty(rows * units, dtype=dtype)
    cdef floating[::1] a = np.empty(rows * units, dtype=dtype)
    cdef floating[::1] delta = np.empty(rows * units if want_grad else 1, dtype=dtype)
    cdef const floating* yp = NULL
    cdef floating* gp = NULL
    cdef floating* outp = NULL
    cdef intp c0, m, p
    cdef double loss = 0
    cdef const floating* aL
    if want_loss:
        yp = &Y[0, 0]
    if want_grad:
        gp = &grad[0]
    if want_out:
        outp = &out[0, 0]
    with nogil:
        c0 = 0
        while c0 < n:
            m = min(rows, n - c0)
            if want_grad:
                loss += _loss_grad_chunk(&net, &theta[0], &X[c0, 0], yp + c0 * nL, m,
                                         gp, 1, c0 == 0, &z[0], &a[0], &delta[0])
            else:
                _forward(&net, &theta[0], &X[c0, 0], m, &z[0], &a[0])
                if want_loss:
                    loss += _loss_only(m * nL, &a[0] + m * net.u_off[net.L - 1], yp + c0 * nL)
            if want_out:
                aL = &a[0] + m * net.u_off[net.L - 1]
                # out[c0:c0+m] = a[L]
                for p in range(m * nL):
                    outp[c0 * nL + p] = aL[p]
            c0 += m
    return loss


def train_epoch(floating[::1] theta, const intp[::1] sizes, const intp[::1] offsets,
                const floating[:, ::1] X, const floating[:, ::1] Y, const intp[::1] order,
                intp batch_size, double eta, double eps):
    """One epoch of mini-batch gradient descent, entirely without the GIL.

    Mini-batches are consecutive slices of ``order`` (a permutation of row
    indices, or any index list) of ``batch_size`` rows; the last may be
    smaller. For each: gather its rows, forward, back-propagate, update theta
    in place with the learning rate ``eta`` (if eps == 0) or the normalized
    step ``eps``. Returns the summed per-sample loss, each measured before
    its own batch's update.
    """
    cdef Layout net = _layout(sizes, offsets)
    cdef intp n = order.shape[0], n0 = sizes[0], nL = sizes[net.L]
    cdef intp P = theta.shape[0]
    cdef intp rows = min(batch_size, <intp>CHUNK)
    cdef intp units = _units(sizes)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] z = np.empty(rows * units, dtype=dtype)
    cdef floating[::1] a = np.empty(rows * units, dtype=dtype)
    cdef floating[::1] delta = np.empty(rows * units, dtype=dtype)
    cdef floating[::1] xb = np.empty(rows * n0, dtype=dtype)
    cdef floating[::1] yb = np.empty(rows * nL, dtype=dtype)
    cdef floating[::1] grad = np.empty(P, dtype=dtype)
    cdef intp start, m, c0, mc
    cdef double loss = 0
    with nogil:
        start = 0
        while start < n:
            m = min(batch_size, n - start)
            if m <= rows and eps == 0:
                # the whole batch in one chunk: theta -= eta/m * grad, fused into back-propagation
                _gather(&X[0, 0], n0, &order[start], m, &xb[0])
                _gather(&Y[0, 0], nL, &order[start], m, &yb[0])
                loss += _loss_grad_chunk(&net, &theta[0], &xb[0], &yb[0], m,
                                         &theta[0], <floating>(-eta / m), False, &z[0], &a[0], &delta[0])
            else:
                # grad = sum of per-sample gradients over the batch, chunk by chunk; then the update
                c0 = 0
                while c0 < m:
                    mc = min(rows, m - c0)
                    # xb, yb = X[order[start+c0 : ...]], Y[...]
                    _gather(&X[0, 0], n0, &order[start + c0], mc, &xb[0])
                    _gather(&Y[0, 0], nL, &order[start + c0], mc, &yb[0])
                    loss += _loss_grad_chunk(&net, &theta[0], &xb[0], &yb[0], mc,
                                             &grad[0], 1, c0 == 0, &z[0], &a[0], &delta[0])
                    c0 += mc
                _update(&theta[0], &grad[0], P, m, eta, eps)
            start += m
    return loss


def all_finite(const floating[::1] v):
    """True when no element of v is NaN or infinite (no temporary array, no GIL)."""
    cdef intp blk, p, n = v.shape[0], n_main = n - n % LANES
    cdef floating acc[LANES]
    cdef floating tail = 0
    cdef int u
    with nogil:
        for u in range(LANES):
            acc[u] = 0
        # acc[u] += v[p+u] - v[p+u]: stays 0 for finite entries, NaN once one is NaN or +-inf
        for blk in range(n_main // LANES):
            p = blk * LANES
            for u in range(LANES):
                acc[u] = acc[u] + (v[p + u] - v[p + u])
        for p in range(n_main, n):
            tail = tail + (v[p] - v[p])
        for u in range(LANES):
            tail = tail + acc[u]
    return tail == 0
