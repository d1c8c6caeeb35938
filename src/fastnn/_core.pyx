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
gradients returned to Python use the same layout.

Inside an entry point the parameters are used in a packed working copy:
each W[l] transposed, WT[l] (n_in, ld) with ld = n_out rounded up to a
multiple of JB and the extra columns zero, stored as ld/JB contiguous panels
of JB columns (so a block of columns streams from memory in order),
followed by b[l] padded to ld.
With outputs along the rows, z = a @ WT and nabla_WT = a.T @ delta are both
"broadcast one scalar, multiply a contiguous row" loops, which the compiler
vectorizes and keeps in registers (see ``_rows``) without -ffast-math. The
copy is made once per call (once per epoch in training) and written back.
Padded columns of delta are kept at zero, so padded columns of WT stay zero.

The Python layer validates everything; the kernels trust their inputs
(bounds checks are off) and never raise inside nogil. Every entry point runs
its whole job in one ``with nogil`` block, in chunks of at most CHUNK rows.
"""
from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.string cimport memcpy, memset
from libc.time cimport clock, clock_t, CLOCKS_PER_SEC
from libc.float cimport DBL_EPSILON, FLT_EPSILON
from libc.limits cimport INT_MAX
from libc.math cimport INFINITY, NAN, exp, expf, fabs, log, log1p, pow, sqrt, sqrtf, tanh, tanhf


import numpy as np

ctypedef Py_ssize_t intp

cdef extern from "Python.h":
    int PyErr_CheckSignals() except -1

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define fastnn_prefetch(addr) __builtin_prefetch(addr)
    #define fastnn_fetch_add(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
    #elif defined(_MSC_VER)
    #include <intrin.h>
    #define fastnn_prefetch(addr) ((void)0)
    #define fastnn_fetch_add(p, v) _InterlockedExchangeAdd64((volatile __int64*)(p), (__int64)(v))
    #else
    #error "fastnn needs GCC, Clang or MSVC (atomic fetch-and-add)"
    #endif
    /* A range of blocks b0 <= b < b1 that threads claim one at a time, its owner from the front and
       other threads from the back: *r packs b0 (low 32 bits) and b1 (high 32 bits). Returns the
       block claimed, or -1 when none is left. */
    static long long fastnn_range(long long b0, long long b1) { return (b1 << 32) | b0; }
    static int fastnn_claim(long long* r, int from_back) {
        long long old, new_;
        int b0, b1;
    #if defined(_MSC_VER) && !defined(__clang__)
        old = *(volatile long long*)r;
    #else
        old = __atomic_load_n(r, __ATOMIC_RELAXED);
    #endif
        for (;;) {
            b0 = (int)(old & 0xffffffff);
            b1 = (int)(old >> 32);
            if (b0 >= b1) return -1;
            new_ = from_back ? fastnn_range(b0, b1 - 1) : fastnn_range(b0 + 1, b1);
    #if defined(_MSC_VER) && !defined(__clang__)
            {
                long long seen = _InterlockedCompareExchange64((volatile __int64*)r, new_, old);
                if (seen == old) break;
                old = seen;
            }
    #else
            if (__atomic_compare_exchange_n(r, &old, new_, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) break;
    #endif
        }
        return from_back ? b1 - 1 : b0;
    }
    /* *r = v, seen by a thread whose fastnn_claim on r then reads v after every write this thread
       made before it */
    static void fastnn_publish(long long* r, long long v) {
    #if defined(_MSC_VER) && !defined(__clang__)
        _InterlockedExchange64((volatile __int64*)r, v);
    #else
        __atomic_store_n(r, v, __ATOMIC_RELEASE);
    #endif
    }
    /* waits until *r != 0 (set by fastnn_publish on another thread), then sees every write that
       thread made before it. It spins for a while, then gives up its core between checks
       (sched_yield / SwitchToThread): with more threads than cores (say two fits at once), the
       thread it waits for may need this core to run. */
    #ifdef _WIN32
    #ifndef WIN32_LEAN_AND_MEAN
    #define WIN32_LEAN_AND_MEAN
    #endif
    #ifndef NOMINMAX
    #define NOMINMAX
    #endif
    #include <windows.h>
    #define fastnn_yield() ((void)SwitchToThread())
    #else
    #include <sched.h>
    #define fastnn_yield() ((void)sched_yield())
    #endif
    #if defined(_MSC_VER) && !defined(__clang__)
    #define fastnn_acquire(r) (*(volatile long long*)(r))
    #else
    #define fastnn_acquire(r) __atomic_load_n((r), __ATOMIC_ACQUIRE)
    #endif
    #if defined(_MSC_VER) && !defined(__clang__) && (defined(_M_X64) || defined(_M_IX86))
    #define fastnn_pause() _mm_pause()
    #elif (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    #define fastnn_pause() __builtin_ia32_pause()
    #else
    #define fastnn_pause() ((void)0)
    #endif
    /* whether *r != 0 (set by fastnn_publish on another thread); if so, every write that thread
       made before it is seen */
    static int fastnn_is_set(long long* r) { return fastnn_acquire(r) != 0; }
    static void fastnn_wait(long long* r) {
        int spins = 0;
        while (fastnn_acquire(r) == 0) {
            if (++spins < 256) fastnn_pause(); else fastnn_yield();
        }
    }
    /* waits until *r == v (a ping-pong of one cache line, _round_trip): spins without pausing, then
       after 4096 checks gives up its core between checks (the other thread may need this core) */
    static void fastnn_wait_for(long long* r, long long v) {
        int spins = 0;
        while (fastnn_acquire(r) != v) {
            if (++spins >= 4096) fastnn_yield();
        }
    }
    /* the number of threads of the enclosing parallel region (1 without OpenMP) */
    #ifdef _OPENMP
    #include <omp.h>
    static int fastnn_team(void) { return omp_get_num_threads(); }
    #else
    static int fastnn_team(void) { return 1; }
    #endif
    /* GNU libgomp's worker threads do not survive fork(): in the child, the calling thread's pool
       still lists the parent's workers, so its next parallel region of two or more threads waits
       for them forever. Releasing the pool before the fork (OpenMP 5.0's omp_pause_resource_all,
       in libgomp since GCC 10; it frees only the calling thread's pool, and refuses inside a
       region) lets the next region in either process start new workers. Returns 0 when nothing
       is left to hang a child: released, no OpenMP, or a runtime that restarts itself in a child
       (LLVM's and Intel's register their own fork handlers); -1 when the pool could not be
       released (an older libgomp). */
    #if defined(_OPENMP) && defined(__GNUC__) && !defined(__clang__) && !defined(__INTEL_COMPILER)
    #if __GNUC__ >= 10
    static int fastnn_release_threads(void) { return omp_pause_resource_all(omp_pause_hard) == 0 ? 0 : -1; }
    #else
    static int fastnn_release_threads(void) { return -1; }
    #endif
    #else
    static int fastnn_release_threads(void) { return 0; }
    #endif
    /* every thread of the enclosing parallel region waits here for the others (an orphaned OpenMP
       barrier; nothing without OpenMP, where regions have one thread) */
    static void fastnn_barrier(void) {
    #ifdef _OPENMP
        _Pragma("omp barrier")
    #endif
    }
    #include <stdint.h>
    #include <string.h>
    /* *p = v unless *p already holds v bit for bit (then nothing is stored: a cache line that
       another core also holds stays shared instead of being taken from it) */
    static inline void fastnn_put_d(double* p, double v) {
        uint64_t old_bits, new_bits;
        memcpy(&old_bits, p, sizeof old_bits);
        memcpy(&new_bits, &v, sizeof new_bits);
        if (old_bits != new_bits) *p = v;
    }
    static inline void fastnn_put_f(float* p, float v) {
        uint32_t old_bits, new_bits;
        memcpy(&old_bits, p, sizeof old_bits);
        memcpy(&new_bits, &v, sizeof new_bits);
        if (old_bits != new_bits) *p = v;
    }
    /* takes the cache line that holds *p for this core, its value unchanged (what it holds stored
       back): a line that another core has read since this one wrote it is taken from that core now
       instead of at a later store */
    static inline void fastnn_take_line(void* p) { volatile char* q = (volatile char*)p; *q = *q; }
    """
    void fastnn_barrier() noexcept nogil
    void fastnn_prefetch(const void* addr) noexcept nogil
    void fastnn_put_d(double* p, double v) noexcept nogil
    void fastnn_put_f(float* p, float v) noexcept nogil
    void fastnn_take_line(void* p) noexcept nogil
    # *p += v atomically; returns the old *p
    Py_ssize_t fastnn_fetch_add(Py_ssize_t* p, Py_ssize_t v) noexcept nogil
    long long fastnn_range(long long b0, long long b1) noexcept nogil
    int fastnn_claim(long long* r, int from_back) noexcept nogil
    int fastnn_is_set(long long* r) noexcept nogil
    # *r as fastnn_publish set it on another thread (every write made before it then seen)
    long long fastnn_acquire(long long* r) noexcept nogil
    void fastnn_pause() noexcept nogil
    void fastnn_publish(long long* r, long long v) noexcept nogil
    void fastnn_wait(long long* r) noexcept nogil
    void fastnn_wait_for(long long* r, long long v) noexcept nogil
    int fastnn_team() noexcept nogil
    int fastnn_release_threads() noexcept nogil

cdef extern from *:
    """
    #include <stdint.h>
    #if defined(_MSC_VER)
    #define FASTNN_RESTRICT __restrict
    #else
    #define FASTNN_RESTRICT restrict
    #endif
    /* e^x without a libm call or a branch, so that a loop of it vectorizes (libm's exp does not
       without -ffast-math). Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, and the degree-13
       Taylor polynomial of e^r (truncation error < 1e-17 relative): within 1 ulp of libm's exp.
       Saturates like exp: +inf above 709.8, 0 below -745.2; NaN stays NaN. */
    static inline double fastnn_exp(double x) {
        const double log2e = 1.4426950408889634, shifter = 6755399441055744.0;  /* 1.5 * 2^52 */
        const double ln2_hi = 0.693147180369123816490, ln2_lo = 1.90821492927058770002e-10;
        double t, n, r, p;
        int64_t k, k1;
        union { int64_t i; double d; } s1, s2;
        x = x > 709.8 ? 709.8 : x;
        x = x < -745.2 ? -745.2 : x;
        t = x * log2e + shifter;       /* n = round(x / ln2) */
        n = t - shifter;
        r = (x - n * ln2_hi) - n * ln2_lo;
        p = 1.0 / 6227020800.0;
        p = p * r + 1.0 / 479001600.0;
        p = p * r + 1.0 / 39916800.0;
        p = p * r + 1.0 / 3628800.0;
        p = p * r + 1.0 / 362880.0;
        p = p * r + 1.0 / 40320.0;
        p = p * r + 1.0 / 5040.0;
        p = p * r + 1.0 / 720.0;
        p = p * r + 1.0 / 120.0;
        p = p * r + 1.0 / 24.0;
        p = p * r + 1.0 / 6.0;
        p = p * r + 0.5;
        p = p * r + 1.0;
        p = p * r + 1.0;
        /* p * 2^n as p * 2^(n/2) * 2^(n - n/2): each factor a normal double for |n| <= 1075 */
        k = (int64_t)n;
        k1 = k >> 1;
        s1.i = (k1 + 1023) << 52;
        s2.i = (k - k1 + 1023) << 52;
        return p * s1.d * s2.d;
    }

    /* a = 1 / (1 + e^-z) for n values. float: e^-z in double, rounded to float (as expf rounds),
       then the same float operations as 1 / (1 + expf(-z)); blocks of 32 through a double
       buffer, so that each of the three loops vectorizes. */
    static void fastnn_sigmoid_f(const float* FASTNN_RESTRICT z, float* FASTNN_RESTRICT a, Py_ssize_t n) {
        double t[32];
        Py_ssize_t j0, m;
        int u;
        for (j0 = 0; j0 < n; j0 += 32) {
            m = n - j0 < 32 ? n - j0 : 32;
            for (u = 0; u < m; u++) t[u] = -(double)z[j0 + u];
            for (u = 0; u < m; u++) t[u] = fastnn_exp(t[u]);
            for (u = 0; u < m; u++) a[j0 + u] = 1.0f / (1.0f + (float)t[u]);
        }
    }

    static void fastnn_sigmoid_d(const double* FASTNN_RESTRICT z, double* FASTNN_RESTRICT a, Py_ssize_t n) {
        Py_ssize_t j;
        for (j = 0; j < n; j++) a[j] = 1.0 / (1.0 + fastnn_exp(-z[j]));
    }

    /* e = e^(z - mx) for n values (softmax). float: z - mx in float (as expf(z - mx) takes it),
       e^ in double rounded to float, in blocks of 32 through a double buffer (each loop vectorizes). */
    static void fastnn_exp_shifted_f(const float* FASTNN_RESTRICT z, float mx, float* FASTNN_RESTRICT e,
                                     Py_ssize_t n) {
        double t[32];
        Py_ssize_t j0, m;
        int u;
        for (j0 = 0; j0 < n; j0 += 32) {
            m = n - j0 < 32 ? n - j0 : 32;
            for (u = 0; u < m; u++) t[u] = (double)(z[j0 + u] - mx);
            for (u = 0; u < m; u++) t[u] = fastnn_exp(t[u]);
            for (u = 0; u < m; u++) e[j0 + u] = (float)t[u];
        }
    }

    static void fastnn_exp_shifted_d(const double* FASTNN_RESTRICT z, double mx, double* FASTNN_RESTRICT e,
                                     Py_ssize_t n) {
        Py_ssize_t j;
        for (j = 0; j < n; j++) e[j] = fastnn_exp(z[j] - mx);
    }

    /* sum over j ascending of e^(z[j] - mx), in double (the softmax loss's logsumexp); the
       exponentials in blocks of 32 (vectorized), then summed in order. */
    #define FASTNN_SUM_EXP(z, mx, n) do {                                                          \
        double t_[32], se_ = 0;                                                                  \
        Py_ssize_t j0_, m_;                                                                      \
        int u_;                                                                                  \
        for (j0_ = 0; j0_ < n; j0_ += 32) {                                                      \
            m_ = n - j0_ < 32 ? n - j0_ : 32;                                                    \
            for (u_ = 0; u_ < m_; u_++) t_[u_] = fastnn_exp((double)z[j0_ + u_] - mx);           \
            for (u_ = 0; u_ < m_; u_++) se_ += t_[u_];                                           \
        }                                                                                        \
        return se_;                                                                              \
    } while (0)
    static double fastnn_sum_exp_f(const float* z, double mx, Py_ssize_t n) { FASTNN_SUM_EXP(z, mx, n); }
    static double fastnn_sum_exp_d(const double* z, double mx, Py_ssize_t n) { FASTNN_SUM_EXP(z, mx, n); }
    """
    void fastnn_sigmoid_f(const float* z, float* a, Py_ssize_t n) noexcept nogil
    void fastnn_sigmoid_d(const double* z, double* a, Py_ssize_t n) noexcept nogil
    void fastnn_exp_shifted_f(const float* z, float mx, float* e, Py_ssize_t n) noexcept nogil
    void fastnn_exp_shifted_d(const double* z, double mx, double* e, Py_ssize_t n) noexcept nogil
    double fastnn_sum_exp_f(const float* z, double mx, Py_ssize_t n) noexcept nogil
    double fastnn_sum_exp_d(const double* z, double mx, Py_ssize_t n) noexcept nogil

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* FASTNN_COMPRESS: AVX-512 (F and VL), whose compress instructions list a row's nonzeros.
       FASTNN_LINES: the kernels that keep their sums in registers, over vectors of one cache line
       (64 bytes: 16 floats, 8 doubles), each sum a chain of fused multiply-adds in a fixed order.
       With AVX-512 a line is one register; with AVX2 and FMA (no AVX-512) two, each operation done
       on both halves: the same operations on every element, so the same results bit for bit. */
    #if defined(__AVX512F__) && defined(__AVX512VL__)
    #include <immintrin.h>
    #define FASTNN_COMPRESS 1
    #define FASTNN_LINES 1
    #define FASTNN_VF __m512
    #define FASTNN_VD __m512d
    #define FASTNN_SET1F _mm512_set1_ps
    #define FASTNN_SET1D _mm512_set1_pd
    #define FASTNN_LOADF _mm512_loadu_ps
    #define FASTNN_LOADD _mm512_loadu_pd
    #define FASTNN_STOREF _mm512_storeu_ps
    #define FASTNN_STORED _mm512_storeu_pd
    #define FASTNN_ZEROF _mm512_setzero_ps
    #define FASTNN_ZEROD _mm512_setzero_pd
    #define FASTNN_FMAF _mm512_fmadd_ps
    #define FASTNN_FMAD _mm512_fmadd_pd
    #define FASTNN_MULD _mm512_mul_pd
    #define FASTNN_ADDD _mm512_add_pd
    #define FASTNN_SUBD _mm512_sub_pd
    #define FASTNN_DIVD _mm512_div_pd
    #define FASTNN_SQRTD _mm512_sqrt_pd
    /* the register kernels below in one pass: up to 16 lines of sums (32 registers) */
    #define FASTNN_PASS1 16
    #define FASTNN_PASS2 8
    #define FASTNN_NARROW_MAXR(nv) 8
    #define FASTNN_PASSES(CASES, M, nv, MAXP) do { if ((nv) > 0) CASES(M, nv, 0); } while (0)
    /* (a line is one register here: the half-line kernels are AVX2's only) */
    #define FASTNN_PASSES_HALF(CASES, M, MH, nv, MAXP, half) FASTNN_PASSES(CASES, M, nv, MAXP)
    #define FASTNN_STORE_HALFF FASTNN_STOREF
    #define FASTNN_STORE_HALFD FASTNN_STORED
    #elif defined(__AVX2__) && defined(__FMA__)
    #include <immintrin.h>
    #define FASTNN_LINES 1
    typedef struct { __m256 lo, hi; } fastnn_line_f;
    typedef struct { __m256d lo, hi; } fastnn_line_d;
    #define FASTNN_VF fastnn_line_f
    #define FASTNN_VD fastnn_line_d
    /* op on both halves: a = op(b) (FASTNN_LINE1), op(b, c) (FASTNN_LINE2), op(b, c, d) (FASTNN_LINE3) */
    #define FASTNN_LINE1(T, name, op) static inline T name(T b) { T a; a.lo = op(b.lo); a.hi = op(b.hi); return a; }
    #define FASTNN_LINE2(T, name, op) static inline T name(T b, T c) {                           \
        T a; a.lo = op(b.lo, c.lo); a.hi = op(b.hi, c.hi); return a; }
    #define FASTNN_LINE3(T, name, op) static inline T name(T b, T c, T d) {                      \
        T a; a.lo = op(b.lo, c.lo, d.lo); a.hi = op(b.hi, c.hi, d.hi); return a; }
    static inline fastnn_line_f FASTNN_SET1F(float x) { fastnn_line_f a; a.lo = a.hi = _mm256_set1_ps(x); return a; }
    static inline fastnn_line_d FASTNN_SET1D(double x) { fastnn_line_d a; a.lo = a.hi = _mm256_set1_pd(x); return a; }
    static inline fastnn_line_f FASTNN_ZEROF(void) { return FASTNN_SET1F(0.0f); }
    static inline fastnn_line_d FASTNN_ZEROD(void) { return FASTNN_SET1D(0.0); }
    static inline fastnn_line_f FASTNN_LOADF(const float* p) {
        fastnn_line_f a; a.lo = _mm256_loadu_ps(p); a.hi = _mm256_loadu_ps(p + 8); return a; }
    static inline fastnn_line_d FASTNN_LOADD(const double* p) {
        fastnn_line_d a; a.lo = _mm256_loadu_pd(p); a.hi = _mm256_loadu_pd(p + 4); return a; }
    static inline void FASTNN_STOREF(float* p, fastnn_line_f a) {
        _mm256_storeu_ps(p, a.lo); _mm256_storeu_ps(p + 8, a.hi); }
    static inline void FASTNN_STORED(double* p, fastnn_line_d a) {
        _mm256_storeu_pd(p, a.lo); _mm256_storeu_pd(p + 4, a.hi); }
    FASTNN_LINE3(fastnn_line_f, FASTNN_FMAF, _mm256_fmadd_ps)
    FASTNN_LINE3(fastnn_line_d, FASTNN_FMAD, _mm256_fmadd_pd)
    FASTNN_LINE2(fastnn_line_d, FASTNN_MULD, _mm256_mul_pd)
    FASTNN_LINE2(fastnn_line_d, FASTNN_ADDD, _mm256_add_pd)
    FASTNN_LINE2(fastnn_line_d, FASTNN_SUBD, _mm256_sub_pd)
    FASTNN_LINE2(fastnn_line_d, FASTNN_DIVD, _mm256_div_pd)
    FASTNN_LINE1(fastnn_line_d, FASTNN_SQRTD, _mm256_sqrt_pd)
    /* AVX2 has 16 registers: the register kernels below take their lines in passes of at most
       FASTNN_PASS1 lines (one chain of sums: 12 registers) or FASTNN_PASS2 (two chains), the
       narrow blocks at most FASTNN_NARROW_MAXR(nv) rows of nv lines at a time. Each line's sums
       are the same in any pass, in the same order. */
    #define FASTNN_PASS1 6
    #define FASTNN_PASS2 3
    /* the first half of a line stored, 0 for the second (FASTNN_TWO_CHAINS_LAST) */
    static inline void FASTNN_STORE_HALFF(float* p, fastnn_line_f a) {
        _mm256_storeu_ps(p, a.lo); _mm256_storeu_ps(p + 8, _mm256_setzero_ps()); }
    static inline void FASTNN_STORE_HALFD(double* p, fastnn_line_d a) {
        _mm256_storeu_pd(p, a.lo); _mm256_storeu_pd(p + 4, _mm256_setzero_pd()); }
    /* FASTNN_PASSES, the last pass by MH when half (the last line's second half all padding: its
       sums 0, not computed) */
    #define FASTNN_PASSES_HALF(CASES, M, MH, nv, MAXP, half) do {                                 \
        int f_, n_;                                                                              \
        for (f_ = 0; f_ < (nv); f_ += (MAXP)) {                                                  \
            n_ = (nv) - f_ < (MAXP) ? (nv) - f_ : (MAXP);                                        \
            if ((half) && f_ + n_ == (nv)) CASES(MH, n_, f_); else CASES(M, n_, f_);             \
        }                                                                                        \
    } while (0)
    #define FASTNN_NARROW_MAXR(nv) ((nv) == 1 ? 4 : ((nv) == 2 ? 2 : 1))
    #endif
    #ifdef FASTNN_LINES
    /* M(NV, F) over lines F ... F + NV - 1 of the nv lines, for passes of at most MAXP lines each
       (CASES: FASTNN_CASES_F or _D, which make NV a constant) */
    #ifndef FASTNN_PASSES
    #define FASTNN_PASSES(CASES, M, nv, MAXP) do {                                                \
        int f_;                                                                                  \
        for (f_ = 0; f_ < (nv); f_ += (MAXP))                                                    \
            CASES(M, ((nv) - f_ < (MAXP) ? (nv) - f_ : (MAXP)), f_);                              \
    } while (0)
    #endif
    #endif
    /* x * y + a for the kernels without FASTNN_LINES, fused where the target has a fast fused
       multiply-add (as the compiler contracts the dense kernels' sums there), else rounded twice
       (as they are then): written out, so that the vectorizer cannot round some products on their
       own and fuse others (seen with GCC 12 on AVX2 without these kernels: multiplies vectorized
       across a row's nonzeros, then added in order, unlike the dense kernel's fused sums). */
    static inline float fastnn_madd_f(float x, float y, float a) {
    #if defined(__FP_FAST_FMAF) && (defined(__GNUC__) || defined(__clang__))
        return __builtin_fmaf(x, y, a);
    #else
        return x * y + a;
    #endif
    }
    static inline double fastnn_madd_d(double x, double y, double a) {
    #if defined(__FP_FAST_FMA) && (defined(__GNUC__) || defined(__clang__))
        return __builtin_fma(x, y, a);
    #else
        return x * y + a;
    #endif
    }
    /* d[p] *= (z[p] > 0) for p < n: ReLU's derivative, 1 or 0 (0 for NaN), as a product, as the dense
       kernels take it (d * 0 keeps a negative d's sign and a NaN). Written with vector compares
       where AVX is there: GCC 12 made the plain loop a branch on each element (d * 1 left out)
       where it was inlined into _loss_grad_local, a misprediction on about every other one. */
    #if defined(__AVX__)
    #include <immintrin.h>
    #define FASTNN_RELU_VECTORS(VEC, STEP, SETZERO, SET1, LOAD, STORE, CMP, AND, MUL) do {           \
        VEC zero_ = SETZERO(), one_ = SET1(1);                                                  \
        for (; p + STEP <= n; p += STEP)                                                         \
            STORE(d + p, MUL(LOAD(d + p), AND(CMP(LOAD(z + p), zero_, _CMP_GT_OQ), one_)));       \
    } while (0)
    #else
    #define FASTNN_RELU_VECTORS(VEC, STEP, SETZERO, SET1, LOAD, STORE, CMP, AND, MUL) do { } while (0)
    #endif
    #define FASTNN_RELU_SCALE(T, name, VEC, STEP, SETZERO, SET1, LOAD, STORE, CMP, AND, MUL)                \
        static void name(Py_ssize_t n, const T* z, T* d) {                                       \
            Py_ssize_t p = 0;                                                                    \
            FASTNN_RELU_VECTORS(VEC, STEP, SETZERO, SET1, LOAD, STORE, CMP, AND, MUL);           \
            for (; p < n; p++) d[p] = d[p] * (T)(z[p] > 0);                                      \
        }
    FASTNN_RELU_SCALE(float, fastnn_relu_scale_f, __m256, 8, _mm256_setzero_ps, _mm256_set1_ps, _mm256_loadu_ps,
                      _mm256_storeu_ps, _mm256_cmp_ps, _mm256_and_ps, _mm256_mul_ps)
    FASTNN_RELU_SCALE(double, fastnn_relu_scale_d, __m256d, 4, _mm256_setzero_pd, _mm256_set1_pd, _mm256_loadu_pd,
                      _mm256_storeu_pd, _mm256_cmp_pd, _mm256_and_pd, _mm256_mul_pd)
    /* idx[0:nnz] = the k < n with row[k] != 0 (NaN counts as nonzero), ascending, and val[0:nnz]
       = row[idx]; returns nnz. May write up to 16 entries past the end: idx, val need n + 16.
       With AVX-512, 16 (float) or 8 (double) compares give a mask whose set lanes are
       compressed into idx and val. The rest (all of it without AVX-512) goes through
       FASTNN_NONZEROS_REST: blocks of 16 zeros are skipped by a vectorizable test, the
       others and the last < 16 entries are listed one by one without a branch. */
    #define FASTNN_NONZEROS_REST(row, n, idx, val, k, nnz) do {                                    \
        int u_, any_;                                                                            \
        for (; k + 16 <= n; k += 16) {                                                           \
            any_ = 0;                                                                            \
            for (u_ = 0; u_ < 16; u_++) any_ |= row[k + u_] != 0;                                \
            if (any_)                                                                            \
                for (u_ = 0; u_ < 16; u_++) {                                                    \
                    idx[nnz] = (int)(k + u_); val[nnz] = row[k + u_]; nnz += row[k + u_] != 0;   \
                }                                                                                \
        }                                                                                        \
        for (; k < n; k++) { idx[nnz] = (int)k; val[nnz] = row[k]; nnz += row[k] != 0; }          \
    } while (0)

    static Py_ssize_t fastnn_nonzeros_f(const float* row, Py_ssize_t n, int* idx, float* val) {
        Py_ssize_t k = 0, nnz = 0;
    #ifdef FASTNN_COMPRESS
        __m512i kv = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for (; k + 16 <= n; k += 16) {
            __m512 x = _mm512_loadu_ps(row + k);
            __mmask16 nz = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_NEQ_UQ);
            _mm512_storeu_si512((void*)(idx + nnz), _mm512_maskz_compress_epi32(nz, kv));
            _mm512_storeu_ps(val + nnz, _mm512_maskz_compress_ps(nz, x));
            nnz += __builtin_popcount((unsigned)nz);
            kv = _mm512_add_epi32(kv, _mm512_set1_epi32(16));
        }
    #endif
        FASTNN_NONZEROS_REST(row, n, idx, val, k, nnz);
        return nnz;
    }

    static Py_ssize_t fastnn_nonzeros_d(const double* row, Py_ssize_t n, int* idx, double* val) {
        Py_ssize_t k = 0, nnz = 0;
    #ifdef FASTNN_COMPRESS
        __m256i kv = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        for (; k + 8 <= n; k += 8) {
            __m512d x = _mm512_loadu_pd(row + k);
            __mmask8 nz = _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_NEQ_UQ);
            _mm256_storeu_si256((__m256i*)(idx + nnz), _mm256_maskz_compress_epi32(nz, kv));
            _mm512_storeu_pd(val + nnz, _mm512_maskz_compress_pd(nz, x));
            nnz += __builtin_popcount((unsigned)nz);
            kv = _mm256_add_epi32(kv, _mm256_set1_epi32(8));
        }
    #endif
        FASTNN_NONZEROS_REST(row, n, idx, val, k, nnz);
        return nnz;
    }

    #ifdef FASTNN_LINES
    /* M(NV, F) for NV = nv (1 ... 8 float vectors of 16, 1 ... 16 double vectors of 8: up to 128
       outputs), each a constant in its own copy of M's loops; F: the first line (FASTNN_PASSES) */
    #define FASTNN_CASES_F(M, nv, F) do {                                                                \
        switch (nv) {                                                                            \
            case 8: M(8, F); break;                                                         \
            case 7: M(7, F); break;                                                         \
            case 6: M(6, F); break;                                                         \
            case 5: M(5, F); break;                                                         \
            case 4: M(4, F); break;                                                         \
            case 3: M(3, F); break;                                                         \
            case 2: M(2, F); break;                                                         \
            default: M(1, F); break;                                                        \
        }                                                                                        \
    } while (0)
    #define FASTNN_CASES_D(M, nv, F) do {                                                                \
        switch (nv) {                                                                            \
            case 16: M(16, F); break;                                                               \
            case 15: M(15, F); break;                                                               \
            case 14: M(14, F); break;                                                               \
            case 13: M(13, F); break;                                                               \
            case 12: M(12, F); break;                                                               \
            case 11: M(11, F); break;                                                               \
            case 10: M(10, F); break;                                                               \
            case 9: M(9, F); break;                                                                 \
            default: FASTNN_CASES_F(M, nv, F); break;                                               \
        }                                                                                        \
    } while (0)
    #endif
    /* A row of layer 0 is cut into vectors of W outputs (W = 16 floats or 8 doubles, one cache line
       of 64 bytes): vector v is columns v * W ... v * W + W - 1. The kernels below compute nv vectors
       (nv <= 128 / W) with their sums in registers and set the next nv_total - nv vectors to 0 (the
       padding past the layer's width, whose sums are exactly 0). */

    /* acc[w * W + u] = the sum over e < n, in order and from 0, of x_e * d[s_e + w * W + u] for
       w < nv (u < W), then 0 up to nv_total * W: vectors of one input's row of layer 0's gradient
       x[:, k] @ delta, from its column's entries, each sum in the dense kernel's order. Entry e is
       the pair ent[2e] = x_e (its x[i, k]), ent[2e + 1] = s_e (int: the offset i * ld of its
       sample's row of delta; samples ascending): one stream for _sparse_sort to write, not two. */
    #define FASTNN_ENTRY_S(ent, e) (*(const int*)((ent) + 2 * (e) + 1))
    #define FASTNN_COLUMN_REST(MADD, W, ent, n, d, nv, nv_total, acc) do {                          \
        Py_ssize_t e_;                                                                           \
        int u_;                                                                                  \
        for (u_ = 0; u_ < nv_total * W; u_++) acc[u_] = 0;                                        \
        for (e_ = 0; e_ < n; e_++)                                                               \
            for (u_ = 0; u_ < nv * W; u_++)                                                       \
                acc[u_] = MADD(ent[2 * e_], d[FASTNN_ENTRY_S(ent, e_) + u_], acc[u_]);            \
    } while (0)
    #ifdef FASTNN_LINES
    /* NV registers of sums (NV a constant: the loops unroll and a_ stays in registers) over the n
       entries of ent into acc; entry e is x = X(e) at its sample's row P(e) of delta */
    #define FASTNN_COLUMN_REGS_AT(T, VEC, SET1, LOAD, FMA, STORE, ZERO, W, NV, F, X, P) do {         \
        VEC a_[NV], x_;                                                                          \
        const T* p_;                                                                             \
        Py_ssize_t e_;                                                                           \
        int w_;                                                                                  \
        for (w_ = 0; w_ < NV; w_++) a_[w_] = ZERO();                                             \
        for (e_ = 0; e_ < n; e_++) {                                                             \
            x_ = SET1(X(e_));                                                                    \
            p_ = P(e_);                                                                          \
            for (w_ = 0; w_ < NV; w_++) a_[w_] = FMA(x_, LOAD(p_ + ((F) + w_) * W), a_[w_]);     \
        }                                                                                        \
        for (w_ = 0; w_ < NV; w_++) STORE(acc + ((F) + w_) * W, a_[w_]);                         \
    } while (0)
    #define FASTNN_COL_X(e) ent[2 * (e)]
    #define FASTNN_COL_P(e) (d + FASTNN_ENTRY_S(ent, e))
    #define FASTNN_COLUMN_F(NV, F) FASTNN_COLUMN_REGS_AT(float, FASTNN_VF, FASTNN_SET1F, FASTNN_LOADF,   \
        FASTNN_FMAF, FASTNN_STOREF, FASTNN_ZEROF, 16, NV, F, FASTNN_COL_X, FASTNN_COL_P)
    #define FASTNN_COLUMN_D(NV, F) FASTNN_COLUMN_REGS_AT(double, FASTNN_VD, FASTNN_SET1D, FASTNN_LOADD,    \
        FASTNN_FMAD, FASTNN_STORED, FASTNN_ZEROD, 8, NV, F, FASTNN_COL_X, FASTNN_COL_P)
    #endif
    #ifdef FASTNN_LINES
    /* Two independent chains of multiply-adds at once, NV <= 8 vectors of W each: a_[w] = the sum over
       q < n1, in order and from 0, of X1(q) times the vector at P1(q) + O(w, W), stored at
       OUT1 + w * W; c_[w] the same over q < n2 with X2 and P2, at OUT2. The first min(n1, n2)
       entries of both go together (so a core keeps twice the multiply-adds, and the loads they
       wait for, in flight), then the rest of the longer list alone: each sum is the one-chain
       kernel's, in the same order. */
    #define FASTNN_TWO_CHAINS(T, VEC, SET1, LOAD, FMA, STORE, ZERO, W, NV, F, O, X1, P1, X2, P2, OUT1, OUT2) \
        FASTNN_TWO_CHAINS_HOOK(T, VEC, SET1, LOAD, FMA, STORE, ZERO, W, NV, F, O, X1, P1, X2, P2, OUT1, OUT2, (void)0)
    /* (with HOOK, a statement, run after each step of the two chains together) */
    #define FASTNN_TWO_CHAINS_HOOK(T, VEC, SET1, LOAD, FMA, STORE, ZERO, W, NV, F, O, X1, P1, X2, P2, OUT1, OUT2, \
                                   HOOK) FASTNN_TWO_CHAINS_LAST(T, VEC, SET1, LOAD, FMA, STORE, ZERO, W, NV, F, O, X1, \
                                   P1, X2, P2, OUT1, OUT2, HOOK, STORE)
    /* (with LAST, what stores the last line of sums: FASTNN_STORE_HALF* stores its first half and
       0 for the second, whose sums are then never computed: the compiler drops their loads and
       multiply-adds, nothing reading them) */
    #define FASTNN_TWO_CHAINS_LAST(T, VEC, SET1, LOAD, FMA, STORE, ZERO, W, NV, F, O, X1, P1, X2, P2, OUT1, OUT2, \
                                   HOOK, LAST) do {                                              \
        VEC a_[NV], c_[NV], x_, y_;                                                              \
        Py_ssize_t o_[NV], q_, n_ = n1 < n2 ? n1 : n2;                                           \
        const T* b_;                                                                             \
        const T* d_;                                                                             \
        int w_;                                                                                  \
        for (w_ = 0; w_ < NV; w_++) {                                                            \
            a_[w_] = ZERO();                                                                     \
            c_[w_] = ZERO();                                                                     \
            o_[w_] = O((F) + w_, W);                                                             \
        }                                                                                        \
        for (q_ = 0; q_ < n_; q_++) {                                                            \
            x_ = SET1(X1(q_));                                                                   \
            y_ = SET1(X2(q_));                                                                   \
            b_ = P1(q_);                                                                         \
            d_ = P2(q_);                                                                         \
            for (w_ = 0; w_ < NV; w_++) {                                                        \
                a_[w_] = FMA(x_, LOAD(b_ + o_[w_]), a_[w_]);                                     \
                c_[w_] = FMA(y_, LOAD(d_ + o_[w_]), c_[w_]);                                     \
            }                                                                                    \
            HOOK;                                                                                \
        }                                                                                        \
        for (q_ = n_; q_ < n1; q_++) {                                                           \
            x_ = SET1(X1(q_));                                                                   \
            b_ = P1(q_);                                                                         \
            for (w_ = 0; w_ < NV; w_++) a_[w_] = FMA(x_, LOAD(b_ + o_[w_]), a_[w_]);             \
        }                                                                                        \
        for (q_ = n_; q_ < n2; q_++) {                                                           \
            y_ = SET1(X2(q_));                                                                   \
            d_ = P2(q_);                                                                         \
            for (w_ = 0; w_ < NV; w_++) c_[w_] = FMA(y_, LOAD(d_ + o_[w_]), c_[w_]);             \
        }                                                                                        \
        for (w_ = 0; w_ < NV - 1; w_++) {                                                        \
            STORE(OUT1 + ((F) + w_) * W, a_[w_]);                                                \
            STORE(OUT2 + ((F) + w_) * W, c_[w_]);                                                \
        }                                                                                        \
        LAST(OUT1 + ((F) + NV - 1) * W, a_[NV - 1]);                                             \
        LAST(OUT2 + ((F) + NV - 1) * W, c_[NV - 1]);                                             \
    } while (0)
    /* Two inputs' columns at once (fastnn_column2_*: ent1, n1 and ent2, n2 into acc1 and acc2, each
       as FASTNN_COLUMN_REGS_AT sums it): entry q is x = ent[2q], at its sample's row of delta */
    #define FASTNN_COL_O(w, W) ((w) * (W))
    #define FASTNN_COL_X1(q) ent1[2 * (q)]
    #define FASTNN_COL_P1(q) (d + FASTNN_ENTRY_S(ent1, q))
    #define FASTNN_COL_X2(q) ent2[2 * (q)]
    #define FASTNN_COL_P2(q) (d + FASTNN_ENTRY_S(ent2, q))
    #define FASTNN_COLUMN2_F(NV, F) FASTNN_TWO_CHAINS(float, FASTNN_VF, FASTNN_SET1F, FASTNN_LOADF, FASTNN_FMAF,       \
        FASTNN_STOREF, FASTNN_ZEROF, 16, NV, F, FASTNN_COL_O, FASTNN_COL_X1, FASTNN_COL_P1, FASTNN_COL_X2,         \
        FASTNN_COL_P2, acc1, acc2)
    #define FASTNN_COLUMN2_D(NV, F) FASTNN_TWO_CHAINS(double, FASTNN_VD, FASTNN_SET1D, FASTNN_LOADD,    \
        FASTNN_FMAD, FASTNN_STORED, FASTNN_ZEROD, 8, NV, F, FASTNN_COL_O, FASTNN_COL_X1, FASTNN_COL_P1,             \
        FASTNN_COL_X2, FASTNN_COL_P2, acc1, acc2)
    #endif
    #define FASTNN_ZERO_REST(acc, from, to) do {                                              \
        int z_;                                                                                  \
        for (z_ = from; z_ < to; z_++) acc[z_] = 0;                                              \
    } while (0)
    static void fastnn_column_f(const float* FASTNN_RESTRICT ent, Py_ssize_t n,
                                const float* FASTNN_RESTRICT d, int nv, int nv_total,
                                float* FASTNN_RESTRICT acc) {
    #ifdef FASTNN_LINES
        FASTNN_PASSES(FASTNN_CASES_F, FASTNN_COLUMN_F, nv, FASTNN_PASS1);
        FASTNN_ZERO_REST(acc, nv * 16, nv_total * 16);
    #else
        FASTNN_COLUMN_REST(fastnn_madd_f, 16, ent, n, d, nv, nv_total, acc);
    #endif
    }
    static void fastnn_column_d(const double* FASTNN_RESTRICT ent, Py_ssize_t n,
                                const double* FASTNN_RESTRICT d, int nv, int nv_total,
                                double* FASTNN_RESTRICT acc) {
    #ifdef FASTNN_LINES
        FASTNN_PASSES(FASTNN_CASES_D, FASTNN_COLUMN_D, nv, FASTNN_PASS1);
        FASTNN_ZERO_REST(acc, nv * 8, nv_total * 8);
    #else
        FASTNN_COLUMN_REST(fastnn_madd_d, 8, ent, n, d, nv, nv_total, acc);
    #endif
    }
    static void fastnn_column2_f(const float* ent1, Py_ssize_t n1, const float* ent2, Py_ssize_t n2,
                                 const float* FASTNN_RESTRICT d, int nv, int nv_total, float* acc1, float* acc2) {
    #ifdef FASTNN_LINES
        FASTNN_PASSES(FASTNN_CASES_F, FASTNN_COLUMN2_F, nv, FASTNN_PASS2);
        FASTNN_ZERO_REST(acc1, nv * 16, nv_total * 16);
        FASTNN_ZERO_REST(acc2, nv * 16, nv_total * 16);
    #else
        fastnn_column_f(ent1, n1, d, nv, nv_total, acc1);
        fastnn_column_f(ent2, n2, d, nv, nv_total, acc2);
    #endif
    }
    static void fastnn_column2_d(const double* ent1, Py_ssize_t n1, const double* ent2, Py_ssize_t n2,
                                 const double* FASTNN_RESTRICT d, int nv, int nv_total, double* acc1,
                                 double* acc2) {
    #ifdef FASTNN_LINES
        FASTNN_PASSES(FASTNN_CASES_F, FASTNN_COLUMN2_D, nv, FASTNN_PASS2);    /* nv <= 8: the cases up to 8 */
        FASTNN_ZERO_REST(acc1, nv * 8, nv_total * 8);
        FASTNN_ZERO_REST(acc2, nv * 8, nv_total * 8);
    #else
        fastnn_column_d(ent1, n1, d, nv, nv_total, acc1);
        fastnn_column_d(ent2, n2, d, nv, nv_total, acc2);
    #endif
    }

    /* Adam's steps on layer 0's float64 weights, queued so that the gradient kernel runs them among
       its multiply-adds: their square roots and divisions (about 18 TSC cycles a vector here) then
       take the divider while the sums take the loads and multiply-adds. Job j (at j % FASTNN_QJOBS)
       is a vector of 8 parameters at C + off (m1, m2 at the same offsets) with their gradient
       summed over the batch at g; jobs head ... tail - 1 wait. The sums of a pair of inputs go to
       slot `pairs % FASTNN_QSLOTS` of acc (FASTNN_QSLOT doubles: two rows of up to 8 vectors);
       slot_end[s] is the tail after the jobs of the pair in slot s. With FASTNN_LINES only
       (fastnn_queue_ok); each job is _step's Adam step, operation for operation (the same
       multiply-adds: bit for bit). */
    #define FASTNN_QJOBS 1024
    #define FASTNN_QSLOTS 32
    #define FASTNN_QSLOT 128
    typedef struct {
        double* C;
        double* m1;
        double* m2;
        double inv_m, l2, gs, b1, c1, b2, c2, lr_t, eps;   /* c1 = 1 - b1, c2 = 1 - b2 */
        Py_ssize_t head, tail, pairs;
        Py_ssize_t slot_end[FASTNN_QSLOTS];
        Py_ssize_t off[FASTNN_QJOBS];
        const double* g[FASTNN_QJOBS];
        double acc[FASTNN_QSLOTS * FASTNN_QSLOT];
    } fastnn_queue_d;
    #ifdef FASTNN_LINES
    static const int fastnn_queue_ok = 1;
    #if defined(_MSC_VER)
    #define FASTNN_ALWAYS_INLINE __forceinline
    #else
    #define FASTNN_ALWAYS_INLINE inline __attribute__((always_inline))
    #endif
    /* job j: g = (acc / m + l2 * w) * gscale; m1 = b1 m1 + (1 - b1) g; m2 = b2 m2 + (1 - b2) g^2;
       w -= lr_t * m1 / (sqrt(m2) + eps)  (in line: a call would spill the kernel's sums) */
    static FASTNN_ALWAYS_INLINE void fastnn_job_d(const fastnn_queue_d* Q, Py_ssize_t j) {
        Py_ssize_t o = Q->off[j & (FASTNN_QJOBS - 1)];
        double* w = Q->C + o;
        double* m1 = Q->m1 + o;
        double* m2 = Q->m2 + o;
        FASTNN_VD wv = FASTNN_LOADD(w), g, m1v, m2v;
        g = FASTNN_MULD(FASTNN_FMAD(FASTNN_LOADD(Q->g[j & (FASTNN_QJOBS - 1)]), FASTNN_SET1D(Q->inv_m),
                                          FASTNN_MULD(FASTNN_SET1D(Q->l2), wv)), FASTNN_SET1D(Q->gs));
        m1v = FASTNN_FMAD(FASTNN_SET1D(Q->b1), FASTNN_LOADD(m1), FASTNN_MULD(FASTNN_SET1D(Q->c1), g));
        m2v = FASTNN_FMAD(FASTNN_SET1D(Q->b2), FASTNN_LOADD(m2),
                              FASTNN_MULD(FASTNN_SET1D(Q->c2), FASTNN_MULD(g, g)));
        FASTNN_STORED(m1, m1v);
        FASTNN_STORED(m2, m2v);
        FASTNN_STORED(w, FASTNN_SUBD(wv, FASTNN_DIVD(FASTNN_MULD(FASTNN_SET1D(Q->lr_t), m1v),
                                                            FASTNN_ADDD(FASTNN_SQRTD(m2v), FASTNN_SET1D(Q->eps)))));
    }
    /* the waiting jobs before `until` */
    static void fastnn_jobs_until_d(fastnn_queue_d* Q, Py_ssize_t until) {
        for (; Q->head < until; Q->head++) fastnn_job_d(Q, Q->head);
    }
    #define FASTNN_JOB_HOOK do { if (j_ < t_) { fastnn_job_d(Q, j_); j_++; } } while (0)
    #define FASTNN_COLUMN2_QUEUE_D(NV, F) FASTNN_TWO_CHAINS_HOOK(double, FASTNN_VD, FASTNN_SET1D, FASTNN_LOADD,    \
        FASTNN_FMAD, FASTNN_STORED, FASTNN_ZEROD, 8, NV, F, FASTNN_COL_O, FASTNN_COL_X1, FASTNN_COL_P1,             \
        FASTNN_COL_X2, FASTNN_COL_P2, acc1, acc2, FASTNN_JOB_HOOK)
    /* fastnn_column2_d, running Q's waiting jobs meanwhile: one after each pair of entries (measured:
       one after every other pair, 1.5% slower epochs) */
    static void fastnn_column2_queue_d(const double* ent1, Py_ssize_t n1, const double* ent2, Py_ssize_t n2,
                                       const double* FASTNN_RESTRICT d, int nv, int nv_total, double* acc1,
                                       double* acc2, fastnn_queue_d* Q) {
        Py_ssize_t j_ = Q->head, t_ = Q->tail;
        FASTNN_PASSES(FASTNN_CASES_F, FASTNN_COLUMN2_QUEUE_D, nv, FASTNN_PASS2);
        Q->head = j_;
        FASTNN_ZERO_REST(acc1, nv * 8, nv_total * 8);
        FASTNN_ZERO_REST(acc2, nv * 8, nv_total * 8);
    }
    /* The same sums from packed entries (the sort's, when the lists are packed: fastnn_packed_ok):
       entry q is 16 bits, (code << 8) | i, for x = tab[code] (the listed value, bit for bit) at
       sample i's row of delta, d + i * ld (i < CHUNK = 256). 2 bytes an entry instead of 8 (float)
       or 16 (double); the same sums in the same order as fastnn_column_* and fastnn_column2_*. */
    #define FASTNN_PE_X(q) tab[ent[q] >> 8]
    #define FASTNN_PE_P(q) (d + (Py_ssize_t)(ent[q] & 255) * ld)
    #define FASTNN_PE_X1(q) tab[ent1[q] >> 8]
    #define FASTNN_PE_P1(q) (d + (Py_ssize_t)(ent1[q] & 255) * ld)
    #define FASTNN_PE_X2(q) tab[ent2[q] >> 8]
    #define FASTNN_PE_P2(q) (d + (Py_ssize_t)(ent2[q] & 255) * ld)
    #define FASTNN_COLUMNP_F(NV, F) FASTNN_COLUMN_REGS_AT(float, FASTNN_VF, FASTNN_SET1F, FASTNN_LOADF,   \
        FASTNN_FMAF, FASTNN_STOREF, FASTNN_ZEROF, 16, NV, F, FASTNN_PE_X, FASTNN_PE_P)
    #define FASTNN_COLUMNP_D(NV, F) FASTNN_COLUMN_REGS_AT(double, FASTNN_VD, FASTNN_SET1D, FASTNN_LOADD,    \
        FASTNN_FMAD, FASTNN_STORED, FASTNN_ZEROD, 8, NV, F, FASTNN_PE_X, FASTNN_PE_P)
    /* (LAST: the last line's store, FASTNN_STORE_HALF* in the _H kernels, for FASTNN_PASSES_HALF) */
    #define FASTNN_COLUMN2P_F_LAST(NV, F, LAST) FASTNN_TWO_CHAINS_LAST(float, FASTNN_VF, FASTNN_SET1F, FASTNN_LOADF, \
        FASTNN_FMAF, FASTNN_STOREF, FASTNN_ZEROF, 16, NV, F, FASTNN_COL_O, FASTNN_PE_X1, FASTNN_PE_P1,             \
        FASTNN_PE_X2, FASTNN_PE_P2, acc1, acc2, (void)0, LAST)
    #define FASTNN_COLUMN2P_D_LAST(NV, F, HOOK, LAST) FASTNN_TWO_CHAINS_LAST(double, FASTNN_VD, FASTNN_SET1D,       \
        FASTNN_LOADD, FASTNN_FMAD, FASTNN_STORED, FASTNN_ZEROD, 8, NV, F, FASTNN_COL_O, FASTNN_PE_X1, FASTNN_PE_P1, \
        FASTNN_PE_X2, FASTNN_PE_P2, acc1, acc2, HOOK, LAST)
    #define FASTNN_COLUMN2P_F(NV, F) FASTNN_COLUMN2P_F_LAST(NV, F, FASTNN_STOREF)
    #define FASTNN_COLUMN2P_FH(NV, F) FASTNN_COLUMN2P_F_LAST(NV, F, FASTNN_STORE_HALFF)
    #define FASTNN_COLUMN2P_D(NV, F) FASTNN_COLUMN2P_D_LAST(NV, F, (void)0, FASTNN_STORED)
    #define FASTNN_COLUMN2P_DH(NV, F) FASTNN_COLUMN2P_D_LAST(NV, F, (void)0, FASTNN_STORE_HALFD)
    #define FASTNN_COLUMN2P_QUEUE_D(NV, F) FASTNN_COLUMN2P_D_LAST(NV, F, FASTNN_JOB_HOOK, FASTNN_STORED)
    #define FASTNN_COLUMN2P_QUEUE_DH(NV, F) FASTNN_COLUMN2P_D_LAST(NV, F, FASTNN_JOB_HOOK, FASTNN_STORE_HALFD)
    static void fastnn_columnp_f(const unsigned short* FASTNN_RESTRICT ent, Py_ssize_t n,
                                 const float* FASTNN_RESTRICT tab, const float* FASTNN_RESTRICT d, Py_ssize_t ld,
                                 int nv, int nv_total, float* FASTNN_RESTRICT acc) {
        FASTNN_PASSES(FASTNN_CASES_F, FASTNN_COLUMNP_F, nv, FASTNN_PASS1);
        FASTNN_ZERO_REST(acc, nv * 16, nv_total * 16);
    }
    static void fastnn_columnp_d(const unsigned short* FASTNN_RESTRICT ent, Py_ssize_t n,
                                 const double* FASTNN_RESTRICT tab, const double* FASTNN_RESTRICT d, Py_ssize_t ld,
                                 int nv, int nv_total, double* FASTNN_RESTRICT acc) {
        FASTNN_PASSES(FASTNN_CASES_D, FASTNN_COLUMNP_D, nv, FASTNN_PASS1);
        FASTNN_ZERO_REST(acc, nv * 8, nv_total * 8);
    }
    static void fastnn_column2p_f(const unsigned short* ent1, Py_ssize_t n1, const unsigned short* ent2,
                                  Py_ssize_t n2, const float* FASTNN_RESTRICT tab, const float* FASTNN_RESTRICT d,
                                  Py_ssize_t ld, int nv, int nv_total, int half, float* acc1, float* acc2) {
        FASTNN_PASSES_HALF(FASTNN_CASES_F, FASTNN_COLUMN2P_F, FASTNN_COLUMN2P_FH, nv, FASTNN_PASS2, half);
        FASTNN_ZERO_REST(acc1, nv * 16, nv_total * 16);
        FASTNN_ZERO_REST(acc2, nv * 16, nv_total * 16);
    }
    static void fastnn_column2p_d(const unsigned short* ent1, Py_ssize_t n1, const unsigned short* ent2,
                                  Py_ssize_t n2, const double* FASTNN_RESTRICT tab, const double* FASTNN_RESTRICT d,
                                  Py_ssize_t ld, int nv, int nv_total, int half, double* acc1, double* acc2) {
        FASTNN_PASSES_HALF(FASTNN_CASES_F, FASTNN_COLUMN2P_D, FASTNN_COLUMN2P_DH, nv, FASTNN_PASS2, half);  /* nv <= 8 */
        FASTNN_ZERO_REST(acc1, nv * 8, nv_total * 8);
        FASTNN_ZERO_REST(acc2, nv * 8, nv_total * 8);
    }
    static void fastnn_column2p_queue_d(const unsigned short* ent1, Py_ssize_t n1, const unsigned short* ent2,
                                        Py_ssize_t n2, const double* FASTNN_RESTRICT tab,
                                        const double* FASTNN_RESTRICT d, Py_ssize_t ld, int nv, int nv_total,
                                        int half, double* acc1, double* acc2, fastnn_queue_d* Q) {
        Py_ssize_t j_ = Q->head, t_ = Q->tail;
        FASTNN_PASSES_HALF(FASTNN_CASES_F, FASTNN_COLUMN2P_QUEUE_D, FASTNN_COLUMN2P_QUEUE_DH, nv, FASTNN_PASS2, half);
        Q->head = j_;
        FASTNN_ZERO_REST(acc1, nv * 8, nv_total * 8);
        FASTNN_ZERO_REST(acc2, nv * 8, nv_total * 8);
    }
    #else
    static const int fastnn_queue_ok = 0;      /* (never called) */
    static void fastnn_jobs_until_d(fastnn_queue_d* Q, Py_ssize_t until) {}
    static void fastnn_column2_queue_d(const double* ent1, Py_ssize_t n1, const double* ent2, Py_ssize_t n2,
                                       const double* d, int nv, int nv_total, double* acc1, double* acc2,
                                       fastnn_queue_d* Q) {}
    /* (the packed entries' kernels: never called without FASTNN_LINES, which packing needs) */
    static void fastnn_columnp_f(const unsigned short* ent, Py_ssize_t n, const float* tab, const float* d,
                                 Py_ssize_t ld, int nv, int nv_total, float* acc) {}
    static void fastnn_columnp_d(const unsigned short* ent, Py_ssize_t n, const double* tab, const double* d,
                                 Py_ssize_t ld, int nv, int nv_total, double* acc) {}
    static void fastnn_column2p_f(const unsigned short* ent1, Py_ssize_t n1, const unsigned short* ent2,
                                  Py_ssize_t n2, const float* tab, const float* d, Py_ssize_t ld, int nv,
                                  int nv_total, int half, float* acc1, float* acc2) {}
    static void fastnn_column2p_d(const unsigned short* ent1, Py_ssize_t n1, const unsigned short* ent2,
                                  Py_ssize_t n2, const double* tab, const double* d, Py_ssize_t ld, int nv,
                                  int nv_total, int half, double* acc1, double* acc2) {}
    static void fastnn_column2p_queue_d(const unsigned short* ent1, Py_ssize_t n1, const unsigned short* ent2,
                                        Py_ssize_t n2, const double* tab, const double* d, Py_ssize_t ld, int nv,
                                        int nv_total, int half, double* acc1, double* acc2, fastnn_queue_d* Q) {}
    #endif

    /* out[w * W + u] = the sum over q < n, in order and from 0, of val[q] * (column (v0 + w) * W + u
       of WT's row idx[q]) for w < nv (u < W), then 0 up to nv_total * W: vectors v0 ... of one row of
       layer 0's z = x @ WT, from the row's nonzeros (idx: their inputs k, ascending; val: x[i, k]),
       each sum in the dense kernel's order. WT is stored as panels of 32 columns, ps apart: column c
       of row k is at B[(c / 32) * ps + k * 32 + c % 32]. */
    #define FASTNN_ROW_REST(T, MADD, W, idx, val, n, B, ps, v0, nv, nv_total, out) do {             \
        T a_[W];                                                                                 \
        const T* b_;                                                                             \
        Py_ssize_t q_, c_;                                                                       \
        int w_, u_;                                                                              \
        for (w_ = 0; w_ < nv; w_++) {                                                            \
            c_ = (Py_ssize_t)(v0 + w_) * W;                                                      \
            b_ = B + (c_ / 32) * ps + c_ % 32;                                                   \
            for (u_ = 0; u_ < W; u_++) a_[u_] = 0;                                               \
            for (q_ = 0; q_ < n; q_++)                                                           \
                for (u_ = 0; u_ < W; u_++)                                                       \
                    a_[u_] = MADD(val[q_], b_[(Py_ssize_t)idx[q_] * 32 + u_], a_[u_]);           \
            for (u_ = 0; u_ < W; u_++) out[w_ * W + u_] = a_[u_];                                \
        }                                                                                        \
        FASTNN_ZERO_REST(out, nv * W, nv_total * W);                                             \
    } while (0)
    #ifdef FASTNN_LINES
    /* NV registers of sums (NV a constant: the loops unroll, a_ stays in registers); vector w is at
       o_[w] in a row of WT's panels */
    #define FASTNN_ROW_X(q) val[q]
    #define FASTNN_ROW_P(q) (B + (Py_ssize_t)idx[q] * 32)
    #define FASTNN_ROW_REGS(T, VEC, SET1, LOAD, FMA, STORE, ZERO, W, NV, F) \
        FASTNN_ROW_REGS_AT(T, VEC, SET1, LOAD, FMA, STORE, ZERO, W, NV, F, FASTNN_ROW_X, FASTNN_ROW_P)
    /* (entry q: x = X(q), at WT's row P(q)) */
    #define FASTNN_ROW_REGS_AT(T, VEC, SET1, LOAD, FMA, STORE, ZERO, W, NV, F, X, P) do {            \
        VEC a_[NV], x_;                                                                          \
        Py_ssize_t o_[NV];                                                                       \
        const T* b_;                                                                             \
        Py_ssize_t q_;                                                                           \
        int w_;                                                                                  \
        for (w_ = 0; w_ < NV; w_++) {                                                            \
            a_[w_] = ZERO();                                                                     \
            o_[w_] = (Py_ssize_t)((v0 + (F) + w_) * W / 32) * ps + (v0 + (F) + w_) * W % 32;     \
        }                                                                                        \
        for (q_ = 0; q_ < n; q_++) {                                                             \
            x_ = SET1(X(q_));                                                                    \
            b_ = P(q_);                                                                          \
            for (w_ = 0; w_ < NV; w_++)                                                          \
                a_[w_] = FMA(x_, LOAD(b_ + o_[w_]), a_[w_]);                                     \
        }                                                                                        \
        for (w_ = 0; w_ < NV; w_++) STORE(out + ((F) + w_) * W, a_[w_]);                         \
    } while (0)
    #define FASTNN_ROW_F(NV, F) FASTNN_ROW_REGS(float, FASTNN_VF, FASTNN_SET1F, FASTNN_LOADF, FASTNN_FMAF,       \
        FASTNN_STOREF, FASTNN_ZEROF, 16, NV, F)
    #define FASTNN_ROW_D(NV, F) FASTNN_ROW_REGS(double, FASTNN_VD, FASTNN_SET1D, FASTNN_LOADD, FASTNN_FMAD,        \
        FASTNN_STORED, FASTNN_ZEROD, 8, NV, F)
    #endif
    /* Two rows at once (fastnn_row2_*): out1 from row 1's nonzeros (idx1, val1, n1) and out2 from row
       2's, each exactly as fastnn_row_* computes it, with nv <= 8 vectors: entry q is x = val[q], at
       WT's row idx[q]; vector v0 + w is at its offset in WT's panels */
    #ifdef FASTNN_LINES
    #define FASTNN_ROW_O(w, W) ((Py_ssize_t)((v0 + (w)) * (W) / 32) * ps + (v0 + (w)) * (W) % 32)
    #define FASTNN_ROW_X1(q) val1[q]
    #define FASTNN_ROW_P1(q) (B + (Py_ssize_t)idx1[q] * 32)
    #define FASTNN_ROW_X2(q) val2[q]
    #define FASTNN_ROW_P2(q) (B + (Py_ssize_t)idx2[q] * 32)
    #define FASTNN_ROW2_F(NV, F) FASTNN_TWO_CHAINS(float, FASTNN_VF, FASTNN_SET1F, FASTNN_LOADF, FASTNN_FMAF,       \
        FASTNN_STOREF, FASTNN_ZEROF, 16, NV, F, FASTNN_ROW_O, FASTNN_ROW_X1, FASTNN_ROW_P1, FASTNN_ROW_X2,         \
        FASTNN_ROW_P2, out1, out2)
    #define FASTNN_ROW2_D(NV, F) FASTNN_TWO_CHAINS(double, FASTNN_VD, FASTNN_SET1D, FASTNN_LOADD, FASTNN_FMAD,        \
        FASTNN_STORED, FASTNN_ZEROD, 8, NV, F, FASTNN_ROW_O, FASTNN_ROW_X1, FASTNN_ROW_P1, FASTNN_ROW_X2,         \
        FASTNN_ROW_P2, out1, out2)
    #endif
    static void fastnn_row_f(const int* FASTNN_RESTRICT idx, const float* FASTNN_RESTRICT val, Py_ssize_t n,
                             const float* FASTNN_RESTRICT B, Py_ssize_t ps, int v0, int nv, int nv_total,
                             float* FASTNN_RESTRICT out) {
    #ifdef FASTNN_LINES
        FASTNN_PASSES(FASTNN_CASES_F, FASTNN_ROW_F, nv, FASTNN_PASS1);
        FASTNN_ZERO_REST(out, nv * 16, nv_total * 16);
    #else
        FASTNN_ROW_REST(float, fastnn_madd_f, 16, idx, val, n, B, ps, v0, nv, nv_total, out);
    #endif
    }
    static void fastnn_row_d(const int* FASTNN_RESTRICT idx, const double* FASTNN_RESTRICT val, Py_ssize_t n,
                             const double* FASTNN_RESTRICT B, Py_ssize_t ps, int v0, int nv, int nv_total,
                             double* FASTNN_RESTRICT out) {
    #ifdef FASTNN_LINES
        FASTNN_PASSES(FASTNN_CASES_D, FASTNN_ROW_D, nv, FASTNN_PASS1);
        FASTNN_ZERO_REST(out, nv * 8, nv_total * 8);
    #else
        FASTNN_ROW_REST(double, fastnn_madd_d, 8, idx, val, n, B, ps, v0, nv, nv_total, out);
    #endif
    }
    static void fastnn_row2_f(const int* idx1, const float* val1, Py_ssize_t n1, const int* idx2,
                              const float* val2, Py_ssize_t n2, const float* FASTNN_RESTRICT B, Py_ssize_t ps,
                              int v0, int nv, int nv_total, float* out1, float* out2) {
    #ifdef FASTNN_LINES
        FASTNN_PASSES(FASTNN_CASES_F, FASTNN_ROW2_F, nv, FASTNN_PASS2);
        FASTNN_ZERO_REST(out1, nv * 16, nv_total * 16);
        FASTNN_ZERO_REST(out2, nv * 16, nv_total * 16);
    #else
        fastnn_row_f(idx1, val1, n1, B, ps, v0, nv, nv_total, out1);
        fastnn_row_f(idx2, val2, n2, B, ps, v0, nv, nv_total, out2);
    #endif
    }
    static void fastnn_row2_d(const int* idx1, const double* val1, Py_ssize_t n1, const int* idx2,
                              const double* val2, Py_ssize_t n2, const double* FASTNN_RESTRICT B, Py_ssize_t ps,
                              int v0, int nv, int nv_total, double* out1, double* out2) {
    #ifdef FASTNN_LINES
        FASTNN_PASSES(FASTNN_CASES_F, FASTNN_ROW2_D, nv, FASTNN_PASS2);    /* nv <= 8: the cases up to 8 */
        FASTNN_ZERO_REST(out1, nv * 8, nv_total * 8);
        FASTNN_ZERO_REST(out2, nv * 8, nv_total * 8);
    #else
        fastnn_row_d(idx1, val1, n1, B, ps, v0, nv, nv_total, out1);
        fastnn_row_d(idx2, val2, n2, B, ps, v0, nv, nv_total, out2);
    #endif
    }
    /* The same rows from packed lists (list_nonzeros, with FASTNN_LINES only: fastnn_packed_ok): entry q
       is at WT's row col[q] (16 bits) with x = tab[code[q]] (8 bits), the listed value bit for bit;
       fastnn_rowp_* computes what fastnn_row_* does, fastnn_row2p_* what fastnn_row2_* does, the
       same sums in the same order. 3 bytes a nonzero instead of 8 (float) or 12 (double). */
    #ifdef FASTNN_LINES
    static const int fastnn_packed_ok = 1;
    #define FASTNN_PK_X1(q) tab[code1[q]]
    #define FASTNN_PK_P1(q) (B + (Py_ssize_t)col1[q] * 32)
    #define FASTNN_PK_X2(q) tab[code2[q]]
    #define FASTNN_PK_P2(q) (B + (Py_ssize_t)col2[q] * 32)
    #define FASTNN_ROWP_F(NV, F) FASTNN_ROW_REGS_AT(float, FASTNN_VF, FASTNN_SET1F, FASTNN_LOADF, FASTNN_FMAF,       \
        FASTNN_STOREF, FASTNN_ZEROF, 16, NV, F, FASTNN_PK_X1, FASTNN_PK_P1)
    #define FASTNN_ROWP_D(NV, F) FASTNN_ROW_REGS_AT(double, FASTNN_VD, FASTNN_SET1D, FASTNN_LOADD, FASTNN_FMAD,        \
        FASTNN_STORED, FASTNN_ZEROD, 8, NV, F, FASTNN_PK_X1, FASTNN_PK_P1)
    /* (LAST: the last line's store, FASTNN_STORE_HALF* in the _H kernels, for FASTNN_PASSES_HALF) */
    #define FASTNN_ROW2P_F_LAST(NV, F, LAST) FASTNN_TWO_CHAINS_LAST(float, FASTNN_VF, FASTNN_SET1F, FASTNN_LOADF,    \
        FASTNN_FMAF, FASTNN_STOREF, FASTNN_ZEROF, 16, NV, F, FASTNN_ROW_O, FASTNN_PK_X1, FASTNN_PK_P1,             \
        FASTNN_PK_X2, FASTNN_PK_P2, out1, out2, (void)0, LAST)
    #define FASTNN_ROW2P_D_LAST(NV, F, LAST) FASTNN_TWO_CHAINS_LAST(double, FASTNN_VD, FASTNN_SET1D, FASTNN_LOADD,   \
        FASTNN_FMAD, FASTNN_STORED, FASTNN_ZEROD, 8, NV, F, FASTNN_ROW_O, FASTNN_PK_X1, FASTNN_PK_P1,              \
        FASTNN_PK_X2, FASTNN_PK_P2, out1, out2, (void)0, LAST)
    #define FASTNN_ROW2P_F(NV, F) FASTNN_ROW2P_F_LAST(NV, F, FASTNN_STOREF)
    #define FASTNN_ROW2P_FH(NV, F) FASTNN_ROW2P_F_LAST(NV, F, FASTNN_STORE_HALFF)
    #define FASTNN_ROW2P_D(NV, F) FASTNN_ROW2P_D_LAST(NV, F, FASTNN_STORED)
    #define FASTNN_ROW2P_DH(NV, F) FASTNN_ROW2P_D_LAST(NV, F, FASTNN_STORE_HALFD)
    static void fastnn_rowp_f(const unsigned short* FASTNN_RESTRICT col1, const unsigned char* FASTNN_RESTRICT code1,
                              Py_ssize_t n, const float* FASTNN_RESTRICT tab, const float* FASTNN_RESTRICT B,
                              Py_ssize_t ps, int v0, int nv, int nv_total, float* FASTNN_RESTRICT out) {
        FASTNN_PASSES(FASTNN_CASES_F, FASTNN_ROWP_F, nv, FASTNN_PASS1);
        FASTNN_ZERO_REST(out, nv * 16, nv_total * 16);
    }
    static void fastnn_rowp_d(const unsigned short* FASTNN_RESTRICT col1, const unsigned char* FASTNN_RESTRICT code1,
                              Py_ssize_t n, const double* FASTNN_RESTRICT tab, const double* FASTNN_RESTRICT B,
                              Py_ssize_t ps, int v0, int nv, int nv_total, double* FASTNN_RESTRICT out) {
        FASTNN_PASSES(FASTNN_CASES_D, FASTNN_ROWP_D, nv, FASTNN_PASS1);
        FASTNN_ZERO_REST(out, nv * 8, nv_total * 8);
    }
    static void fastnn_row2p_f(const unsigned short* col1, const unsigned char* code1, Py_ssize_t n1,
                               const unsigned short* col2, const unsigned char* code2, Py_ssize_t n2,
                               const float* FASTNN_RESTRICT tab, const float* FASTNN_RESTRICT B, Py_ssize_t ps,
                               int v0, int nv, int nv_total, int half, float* out1, float* out2) {
        FASTNN_PASSES_HALF(FASTNN_CASES_F, FASTNN_ROW2P_F, FASTNN_ROW2P_FH, nv, FASTNN_PASS2, half);
        FASTNN_ZERO_REST(out1, nv * 16, nv_total * 16);
        FASTNN_ZERO_REST(out2, nv * 16, nv_total * 16);
    }
    static void fastnn_row2p_d(const unsigned short* col1, const unsigned char* code1, Py_ssize_t n1,
                               const unsigned short* col2, const unsigned char* code2, Py_ssize_t n2,
                               const double* FASTNN_RESTRICT tab, const double* FASTNN_RESTRICT B, Py_ssize_t ps,
                               int v0, int nv, int nv_total, int half, double* out1, double* out2) {
        FASTNN_PASSES_HALF(FASTNN_CASES_F, FASTNN_ROW2P_D, FASTNN_ROW2P_DH, nv, FASTNN_PASS2, half);  /* nv <= 8 */
        FASTNN_ZERO_REST(out1, nv * 8, nv_total * 8);
        FASTNN_ZERO_REST(out2, nv * 8, nv_total * 8);
    }
    #else
    static const int fastnn_packed_ok = 0;     /* (the packed kernels are never called) */
    static void fastnn_rowp_f(const unsigned short* col1, const unsigned char* code1, Py_ssize_t n,
                              const float* tab, const float* B, Py_ssize_t ps, int v0, int nv, int nv_total,
                              float* out) {}
    static void fastnn_rowp_d(const unsigned short* col1, const unsigned char* code1, Py_ssize_t n,
                              const double* tab, const double* B, Py_ssize_t ps, int v0, int nv, int nv_total,
                              double* out) {}
    static void fastnn_row2p_f(const unsigned short* col1, const unsigned char* code1, Py_ssize_t n1,
                               const unsigned short* col2, const unsigned char* code2, Py_ssize_t n2,
                               const float* tab, const float* B, Py_ssize_t ps, int v0, int nv, int nv_total,
                               int half, float* out1, float* out2) {}
    static void fastnn_row2p_d(const unsigned short* col1, const unsigned char* code1, Py_ssize_t n1,
                               const unsigned short* col2, const unsigned char* code2, Py_ssize_t n2,
                               const double* tab, const double* B, Py_ssize_t ps, int v0, int nv, int nv_total,
                               int half, double* out1, double* out2) {}
    #endif
    /* A palette of up to 256 values (list_nonzeros packs lists with it): bits[c] is the bit
       pattern of value c (a float's in the low 32 bits), in the order they were added; a table
       of 512 slots finds a pattern's code (open addressing, slot[h] -1 when empty). */
    typedef struct {
        uint64_t key[512];
        int slot[512];
        Py_ssize_t count;
        uint64_t bits[256];
    } fastnn_palette;
    static void fastnn_palette_init(fastnn_palette* P) {
        int h;
        for (h = 0; h < 512; h++) P->slot[h] = -1;
        P->count = 0;
    }
    /* the code of bit pattern b in P, added if new; -1 when P already holds 256 others */
    static inline int fastnn_palette_code(fastnn_palette* P, uint64_t b) {
        unsigned h = (unsigned)((b * 11400714819323198485ull) >> 55);
        while (P->slot[h] >= 0 && P->key[h] != b) h = (h + 1) & 511;
        if (P->slot[h] < 0) {
            if (P->count == 256) return -1;
            P->key[h] = b;
            P->slot[h] = (int)P->count;
            P->bits[P->count++] = b;
        }
        return P->slot[h];
    }
    /* code[q] = the code in P of val[q]'s bit pattern (U: its width), for q < n (P takes the new
       ones); returns 0, or -1 when P would need more than 256 */
    #define FASTNN_CODE(U) do {                                                                     \
        Py_ssize_t q_;                                                                           \
        U b_;                                                                                    \
        int c_;                                                                                  \
        for (q_ = 0; q_ < n; q_++) {                                                             \
            memcpy(&b_, val + q_, sizeof b_);                                                    \
            if ((c_ = fastnn_palette_code(P, b_)) < 0) return -1;                                \
            code[q_] = (unsigned char)c_;                                                        \
        }                                                                                        \
        return 0;                                                                                \
    } while (0)
    static int fastnn_code_f(fastnn_palette* P, const float* val, Py_ssize_t n, unsigned char* code) {
        FASTNN_CODE(uint32_t);
    }
    static int fastnn_code_d(fastnn_palette* P, const double* val, Py_ssize_t n, unsigned char* code) {
        FASTNN_CODE(uint64_t);
    }
    /* value c of P, bit for bit */
    static float fastnn_palette_f(const fastnn_palette* P, int c) {
        uint32_t b = (uint32_t)P->bits[c];
        float x;
        memcpy(&x, &b, sizeof x);
        return x;
    }
    static double fastnn_palette_d(const fastnn_palette* P, int c) {
        double x;
        memcpy(&x, &P->bits[c], sizeof x);
        return x;
    }
    /* The row kernel (_rows) for a block of 32 columns whose last ones are padding: acc[r * 32 + u]
       = the sum over k < K, in order and from 0, of x[r * xs_r + k * xs_k] * B[k * ldb + u] for
       r < R and u < NV * W (NV vectors of W columns, the sums in registers); the rest of each row
       of 32 sums 0 (B is 0 there). With cont, the sums go on from the values acc holds (a sum over
       earlier k continued: the same operations, in the same order, as one call over all the k).
       Returns 0, computing nothing, for an R or NV without a kernel (and without FASTNN_LINES: then
       _rows computes all 32 columns). */
    #ifdef FASTNN_LINES
    #define FASTNN_NARROW_REGS(T, VEC, SET1, LOAD, FMA, STORE, ZERO, W, R, NV) do {                   \
        VEC c_[(R) * (NV)], b_[NV], x_;                                                          \
        Py_ssize_t k_;                                                                           \
        int r_, w_;                                                                              \
        for (r_ = 0; r_ < (R) * (NV); r_++)                                                      \
            c_[r_] = cont ? LOAD(acc + (r_ / (NV)) * 32 + (r_ % (NV)) * W) : ZERO();             \
        for (k_ = 0; k_ < K; k_++) {                                                             \
            for (w_ = 0; w_ < NV; w_++) b_[w_] = LOAD(B + k_ * ldb + w_ * W);                   \
            for (r_ = 0; r_ < R; r_++) {                                                         \
                x_ = SET1(x[r_ * xs_r + k_ * xs_k]);                                             \
                for (w_ = 0; w_ < NV; w_++) c_[r_ * (NV) + w_] = FMA(x_, b_[w_], c_[r_ * (NV) + w_]); \
            }                                                                                    \
        }                                                                                        \
        for (r_ = 0; r_ < R; r_++) {                                                             \
            for (w_ = 0; w_ < NV; w_++) STORE(acc + r_ * 32 + w_ * W, c_[r_ * (NV) + w_]);       \
            for (w_ = (NV) * W; w_ < 32; w_++) acc[r_ * 32 + w_] = 0;                            \
        }                                                                                        \
        return 1;                                                                                \
    } while (0)
    #define FASTNN_NARROW_F(R, NV) FASTNN_NARROW_REGS(float, FASTNN_VF, FASTNN_SET1F, FASTNN_LOADF,   \
        FASTNN_FMAF, FASTNN_STOREF, FASTNN_ZEROF, 16, R, NV)
    #define FASTNN_NARROW_D(R, NV) FASTNN_NARROW_REGS(double, FASTNN_VD, FASTNN_SET1D, FASTNN_LOADD,    \
        FASTNN_FMAD, FASTNN_STORED, FASTNN_ZEROD, 8, R, NV)
    /* M(R, NV) for R = 1, 2, 4 or 8 (each M returns: no case falls through to the next) */
    #define FASTNN_NARROW_ROWS(M, R, NV) do {                                                         \
        switch (R) {                                                                             \
            case 8: M(8, NV);                                                                    \
            case 4: M(4, NV);                                                                    \
            case 2: M(2, NV);                                                                    \
            case 1: M(1, NV);                                                                    \
        }                                                                                        \
    } while (0)
    #endif
    #ifdef FASTNN_LINES
    /* R = 1, 2, 4 or 8 rows of the narrow block at once (their sums in registers) */
    static int fastnn_narrow_rows_f(int R, int nv, Py_ssize_t K, const float* x, Py_ssize_t xs_r,
                                    Py_ssize_t xs_k, const float* FASTNN_RESTRICT B, Py_ssize_t ldb,
                                    float* FASTNN_RESTRICT acc, int cont) {
        if (nv == 1) FASTNN_NARROW_ROWS(FASTNN_NARROW_F, R, 1);
        return 0;
    }
    static int fastnn_narrow_rows_d(int R, int nv, Py_ssize_t K, const double* x, Py_ssize_t xs_r,
                                    Py_ssize_t xs_k, const double* FASTNN_RESTRICT B, Py_ssize_t ldb,
                                    double* FASTNN_RESTRICT acc, int cont) {
        if (nv == 1) FASTNN_NARROW_ROWS(FASTNN_NARROW_D, R, 1);
        if (nv == 2) FASTNN_NARROW_ROWS(FASTNN_NARROW_D, R, 2);
        if (nv == 3) FASTNN_NARROW_ROWS(FASTNN_NARROW_D, R, 3);
        return 0;
    }
    /* the R rows in groups of at most FASTNN_NARROW_MAXR(nv) (R and the group sizes are powers of 2) */
    #define FASTNN_NARROW_GROUPS(ROWS) FASTNN_GROUPS_OF(ROWS, nv, FASTNN_NARROW_MAXR(nv), 1)
    /* (ROWS over n vectors, groups of at most MAXR rows; returns DONE) */
    #define FASTNN_GROUPS_OF(ROWS, n, MAXR, DONE) do {                                             \
        int r0_, g_;                                                                             \
        if (R != 1 && R != 2 && R != 4 && R != 8) return 0;   /* (no kernel: nothing written) */   \
        for (r0_ = 0; r0_ < R; r0_ += g_) {                                                      \
            g_ = R - r0_ < (MAXR) ? R - r0_ : (MAXR);                                            \
            ROWS(g_, n, K, x + r0_ * xs_r, xs_r, xs_k, B, ldb, acc + r0_ * 32, cont);            \
        }                                                                                        \
        return DONE;                                                                             \
    } while (0)
    #endif
    static int fastnn_narrow_f(int R, int nv, Py_ssize_t K, const float* x, Py_ssize_t xs_r, Py_ssize_t xs_k,
                               const float* FASTNN_RESTRICT B, Py_ssize_t ldb, float* FASTNN_RESTRICT acc,
                               int cont) {
    #ifdef FASTNN_LINES
        if (nv == 1) FASTNN_NARROW_GROUPS(fastnn_narrow_rows_f);
    #endif
        return 0;
    }
    /* With AVX2 (a line is two registers of 4 doubles): when the last line's upper half is all
       padding (nh, the halves of 4 columns with a real column, odd: 10 outputs take 3 halves, not 2
       lines' 4), only the nh halves, R <= FASTNN_HALVES_MAXR(nh) rows at a time: each real column's
       sum the same multiply-adds in the same order as in fastnn_narrow_rows_d, a quarter fewer of them
       for 10 outputs and 4 rows sharing each loaded row of B instead of 2. The columns past the nh
       halves are 0, as those past the nv lines are there. Returns 2 (it ran), or 0 for an nh or R
       without a kernel. In numpy: acc[r, :4 nh] = (acc[r, :4 nh] if cont else 0) + x[r] @ B[:, :4 nh];
       acc[r, 4 nh:] = 0. */
    #if defined(FASTNN_LINES) && !defined(FASTNN_COMPRESS)
    #define FASTNN_HALVES_MAXR(nh) ((nh) == 1 ? 8 : ((nh) == 3 ? 4 : 2))
    /* FASTNN_NARROW_REGS on vectors of 4 doubles (one AVX2 register) */
    #define FASTNN_HALVES_D(R, NH) FASTNN_NARROW_REGS(double, __m256d, _mm256_set1_pd, _mm256_loadu_pd,         \
        _mm256_fmadd_pd, _mm256_storeu_pd, _mm256_setzero_pd, 4, R, NH)
    static int fastnn_halves_rows_d(int R, int nh, Py_ssize_t K, const double* x, Py_ssize_t xs_r,
                                    Py_ssize_t xs_k, const double* FASTNN_RESTRICT B, Py_ssize_t ldb,
                                    double* FASTNN_RESTRICT acc, int cont) {
        if (nh == 1) FASTNN_NARROW_ROWS(FASTNN_HALVES_D, R, 1);
        if (nh == 3) FASTNN_NARROW_ROWS(FASTNN_HALVES_D, R, 3);
        if (nh == 5) FASTNN_NARROW_ROWS(FASTNN_HALVES_D, R, 5);
        return 0;
    }
    static const int fastnn_halves_ok = 1;
    #else
    static const int fastnn_halves_ok = 0;
    #endif
    static int fastnn_narrow_d(int R, int nv, int nh, Py_ssize_t K, const double* x, Py_ssize_t xs_r,
                               Py_ssize_t xs_k, const double* FASTNN_RESTRICT B, Py_ssize_t ldb,
                               double* FASTNN_RESTRICT acc, int cont) {
    #if defined(FASTNN_LINES) && !defined(FASTNN_COMPRESS)
        if ((nh == 1 || nh == 3 || nh == 5) && nh == 2 * nv - 1)
            FASTNN_GROUPS_OF(fastnn_halves_rows_d, nh, FASTNN_HALVES_MAXR(nh), 2);
    #endif
    #ifdef FASTNN_LINES
        if (nv >= 1 && nv <= 3) FASTNN_NARROW_GROUPS(fastnn_narrow_rows_d);
    #endif
        return 0;
    }
    """
    intp fastnn_nonzeros_f(const float* row, intp n, int* idx, float* val) noexcept nogil
    int fastnn_narrow_f(int R, int nv, intp K, const float* x, intp xs_r, intp xs_k, const float* B, intp ldb,
                        float* acc, int cont) noexcept nogil
    int fastnn_narrow_d(int R, int nv, int nh, intp K, const double* x, intp xs_r, intp xs_k, const double* B,
                        intp ldb, double* acc, int cont) noexcept nogil
    intp fastnn_nonzeros_d(const double* row, intp n, int* idx, double* val) noexcept nogil
    void fastnn_column_f(const float* ent, intp n, const float* d, int nv, int nv_total,
                         float* acc) noexcept nogil
    void fastnn_column_d(const double* ent, intp n, const double* d, int nv, int nv_total,
                         double* acc) noexcept nogil
    void fastnn_column2_f(const float* ent1, intp n1, const float* ent2, intp n2, const float* d, int nv,
                          int nv_total, float* acc1, float* acc2) noexcept nogil
    void fastnn_column2_d(const double* ent1, intp n1, const double* ent2, intp n2, const double* d, int nv,
                          int nv_total, double* acc1, double* acc2) noexcept nogil
    enum:
        FASTNN_QJOBS
        FASTNN_QSLOTS
        FASTNN_QSLOT
    ctypedef struct fastnn_queue_d:
        double* C
        double* m1
        double* m2
        double inv_m, l2, gs, b1, c1, b2, c2, lr_t, eps
        intp head, tail, pairs
        intp* slot_end
        intp* off
        const double** g
        double* acc
    const int fastnn_queue_ok
    const int fastnn_halves_ok
    void fastnn_jobs_until_d(fastnn_queue_d* Q, intp until) noexcept nogil
    void fastnn_column2_queue_d(const double* ent1, intp n1, const double* ent2, intp n2, const double* d, int nv,
                                int nv_total, double* acc1, double* acc2, fastnn_queue_d* Q) noexcept nogil
    void fastnn_columnp_f(const unsigned short* ent, intp n, const float* tab, const float* d, intp ld, int nv,
                          int nv_total, float* acc) noexcept nogil
    void fastnn_columnp_d(const unsigned short* ent, intp n, const double* tab, const double* d, intp ld, int nv,
                          int nv_total, double* acc) noexcept nogil
    void fastnn_column2p_f(const unsigned short* ent1, intp n1, const unsigned short* ent2, intp n2,
                           const float* tab, const float* d, intp ld, int nv, int nv_total, int half,
                           float* acc1, float* acc2) noexcept nogil
    void fastnn_column2p_d(const unsigned short* ent1, intp n1, const unsigned short* ent2, intp n2,
                           const double* tab, const double* d, intp ld, int nv, int nv_total, int half,
                           double* acc1, double* acc2) noexcept nogil
    void fastnn_column2p_queue_d(const unsigned short* ent1, intp n1, const unsigned short* ent2, intp n2,
                                 const double* tab, const double* d, intp ld, int nv, int nv_total, int half,
                                 double* acc1, double* acc2, fastnn_queue_d* Q) noexcept nogil
    void fastnn_relu_scale_f(intp n, const float* z, float* d) noexcept nogil
    void fastnn_relu_scale_d(intp n, const double* z, double* d) noexcept nogil
    void fastnn_row_f(const int* idx, const float* val, intp n, const float* B, intp ps, int v0, int nv,
                      int nv_total, float* out) noexcept nogil
    void fastnn_row_d(const int* idx, const double* val, intp n, const double* B, intp ps, int v0, int nv,
                      int nv_total, double* out) noexcept nogil
    void fastnn_row2_f(const int* idx1, const float* val1, intp n1, const int* idx2, const float* val2, intp n2,
                       const float* B, intp ps, int v0, int nv, int nv_total, float* out1, float* out2) noexcept nogil
    void fastnn_row2_d(const int* idx1, const double* val1, intp n1, const int* idx2, const double* val2,
                       intp n2, const double* B, intp ps, int v0, int nv, int nv_total, double* out1,
                       double* out2) noexcept nogil
    const int fastnn_packed_ok
    void fastnn_rowp_f(const unsigned short* col1, const unsigned char* code1, intp n, const float* tab,
                       const float* B, intp ps, int v0, int nv, int nv_total, float* out) noexcept nogil
    void fastnn_rowp_d(const unsigned short* col1, const unsigned char* code1, intp n, const double* tab,
                       const double* B, intp ps, int v0, int nv, int nv_total, double* out) noexcept nogil
    void fastnn_row2p_f(const unsigned short* col1, const unsigned char* code1, intp n1, const unsigned short* col2,
                        const unsigned char* code2, intp n2, const float* tab, const float* B, intp ps, int v0,
                        int nv, int nv_total, int half, float* out1, float* out2) noexcept nogil
    void fastnn_row2p_d(const unsigned short* col1, const unsigned char* code1, intp n1, const unsigned short* col2,
                        const unsigned char* code2, intp n2, const double* tab, const double* B, intp ps, int v0,
                        int nv, int nv_total, int half, double* out1, double* out2) noexcept nogil
    ctypedef struct fastnn_palette:
        intp count
        unsigned long long bits[256]
    void fastnn_palette_init(fastnn_palette* P) noexcept nogil
    int fastnn_palette_code(fastnn_palette* P, unsigned long long b) noexcept nogil
    int fastnn_code_f(fastnn_palette* P, const float* val, intp n, unsigned char* code) noexcept nogil
    int fastnn_code_d(fastnn_palette* P, const double* val, intp n, unsigned char* code) noexcept nogil
    float fastnn_palette_f(const fastnn_palette* P, int c) noexcept nogil
    double fastnn_palette_d(const fastnn_palette* P, int c) noexcept nogil

cdef extern from *:
    """
    /* Marks the k < n with row[k] != 0 (NaN counts as nonzero) in marks (bit k % 32 of marks[k / 32],
       or'ed in); returns how many there are. With AVX-512, 16 (float) or 8 (double) compares give a
       mask or'ed in whole; the rest (all of it without AVX-512) one entry at a time, without a branch. */
    #define FASTNN_MARK_REST(row, n, marks, k, nnz) do {                                              \
        unsigned bit_;                                                                           \
        for (; k < n; k++) {                                                                     \
            bit_ = row[k] != 0;                                                                  \
            marks[k >> 5] |= bit_ << (k & 31);                                                   \
            nnz += bit_;                                                                         \
        }                                                                                        \
    } while (0)

    static Py_ssize_t fastnn_mark_f(const float* row, Py_ssize_t n, unsigned* marks) {
        Py_ssize_t k = 0, nnz = 0;
    #ifdef FASTNN_COMPRESS
        __mmask16 nz;
        for (; k + 16 <= n; k += 16) {
            nz = _mm512_cmp_ps_mask(_mm512_loadu_ps(row + k), _mm512_setzero_ps(), _CMP_NEQ_UQ);
            marks[k >> 5] |= (unsigned)nz << (k & 31);
            nnz += __builtin_popcount((unsigned)nz);
        }
    #endif
        FASTNN_MARK_REST(row, n, marks, k, nnz);
        return nnz;
    }

    static Py_ssize_t fastnn_mark_d(const double* row, Py_ssize_t n, unsigned* marks) {
        Py_ssize_t k = 0, nnz = 0;
    #ifdef FASTNN_COMPRESS
        __mmask8 nz;
        for (; k + 8 <= n; k += 8) {
            nz = _mm512_cmp_pd_mask(_mm512_loadu_pd(row + k), _mm512_setzero_pd(), _CMP_NEQ_UQ);
            marks[k >> 5] |= (unsigned)nz << (k & 31);
            nnz += __builtin_popcount((unsigned)nz);
        }
    #endif
        FASTNN_MARK_REST(row, n, marks, k, nnz);
        return nnz;
    }

    /* union_k[0:return value] = the k < n marked in marks (bit k % 32 of marks[k / 32]), ascending.
       May write up to 16 entries past the end: union_k needs n + 16. With AVX-512, 16 marks at a
       time compressed. */
    static Py_ssize_t fastnn_marked(const unsigned* marks, Py_ssize_t n, int* union_k) {
        Py_ssize_t k = 0, nu = 0;
    #ifdef FASTNN_COMPRESS
        __m512i kv = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        __mmask16 half;
        for (; k < n; k += 16) {
            half = (__mmask16)(marks[k >> 5] >> (k & 31));
            _mm512_storeu_si512((void*)(union_k + nu), _mm512_maskz_compress_epi32(half, kv));
            nu += __builtin_popcount((unsigned)half);
            kv = _mm512_add_epi32(kv, _mm512_set1_epi32(16));
        }
    #else
        for (; k < n; k++) {
            union_k[nu] = (int)k;
            nu += (marks[k >> 5] >> (k & 31)) & 1u;
        }
    #endif
        return nu;
    }
    """
    intp fastnn_mark_f(const float* row, intp n, unsigned* marks) noexcept nogil
    intp fastnn_mark_d(const double* row, intp n, unsigned* marks) noexcept nogil
    intp fastnn_marked(const unsigned* marks, intp n, int* union_k) noexcept nogil


cdef enum:
    LANES = 16    # independent partial sums of a dot product (the fold in _dot assumes 16)
    JB = 32       # output columns of one block of the row kernel; packed widths are multiples of it
    RB = 8        # rows of one block of the row kernel (they share each load of B)
    CHUNK = 256   # rows per forward/backward chunk
    ROWS_BACKPROP = 16  # layers with more outputs than samples: from this many samples on, back-propagation transposes delta
    PARALLEL_WORK = 262144  # multiply-adds below which a product stays on one thread
    PARALLEL_ROWS = 4096    # activations below which a layer's activation stays on one thread
    PARALLEL_LIST = 65536   # inputs of a chunk below which listing its nonzeros stays on one thread
    PREFETCH_BYTES = 65536  # a next mini-batch's rows of X up to this size are prefetched
    CLAIM_INPUTS = 16   # inputs of one block of layer 0's gradient that a thread claims (_claimed_sums)
    CLAIM_THREADS = 64  # most threads of an overlapped batch (_overlapped), which claim blocks from each other
    CLAIM_LINE = 8      # long longs apart (a cache line) of the threads' ranges of blocks
    PLACE_ROWS = 8      # rows of one block of the sort's second pass that a thread claims (_claimed_rows)
    PROGRESS_PAIRS = 8  # pairs of rows of layer 0 between thread 0's publishing its progress (_sparse_rows)
    NEAR_NS = 200       # round trip (ns) under which _loss_grad_local takes two cores as near (near_mode)
    NEAR_TRIPS = 128    # round trips timed for it once per train_epoch call


cdef enum:
    SIGMOID = 0
    TANH = 1
    RELU = 2
    IDENTITY = 3
    SOFTMAX = 4        # output layer only
    EXP = 5            # output layer only (the log link of the Poisson loss)
    QUADRATIC = 0
    CROSS_ENTROPY = 1  # sigmoid (binary, per output) or softmax (categorical) outputs
    POISSON = 2        # half Poisson deviance, exp outputs
    LOG_LOSS = 3       # CROSS_ENTROPY as scikit-learn's MLP reports it (_output): its gradient, the
                       # loss from the outputs clipped to [eps, 1 - eps] (eps of the dtype)

cdef enum:
    SGD = 0
    MOMENTUM = 1
    NESTEROV = 2
    ADAM = 3
    OVERWRITE = 0      # epilogue of _rows: C = acc
    ACCUMULATE = 1     # C += acc
    STEP = 2           # an optimizer step on the parameters C from their summed gradient acc

# The codes the Python layer passes for activation, loss and optimizer names.
ACTIVATIONS = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "identity": IDENTITY, "softmax": SOFTMAX, "exp": EXP}
LOSSES = {"quadratic": QUADRATIC, "cross_entropy": CROSS_ENTROPY, "poisson": POISSON}
# the loss code of scikit-learn's log loss (fastnn.MLPClassifier's loss_; not a Network loss)
SKLEARN_LOG_LOSS = LOG_LOSS
OPTIMIZERS = {"sgd": SGD, "momentum": MOMENTUM, "nesterov": NESTEROV, "adam": ADAM}


cdef struct Step:
    intp kind       # SGD, MOMENTUM, NESTEROV or ADAM
    double inv_m    # 1/m: the gradient arrives summed over the m samples of the batch
    double gscale   # 1, or 1/||grad|| for the normalized step
    double eta      # learning rate (or the step eps of the normalized step)
    double mu       # momentum
    double b1, b2, eps, lr_t   # Adam: betas, epsilon, eta * sqrt(1 - b2^t) / (1 - b1^t)


cdef struct Net:
    intp L              # number of weight layers
    int n_threads       # OpenMP threads for the large products (1: all on the calling thread)
    const intp* act     # activation code of each layer (the last is the output activation)
    intp loss           # loss code
    const intp* sizes   # L + 1 layer widths
    const intp* w_off   # offset of W[l] in theta (row-major (n_out, n_in))
    const intp* b_off   # offset of b[l] in theta
    const intp* ld      # padded width of layer l's outputs (multiple of JB)
    const intp* wt_off  # offset of WT[l] (n_in, ld) in the packed copy
    const intp* bt_off  # offset of the padded b[l] in the packed copy
    const intp* u_off   # offset of layer l's units in a per-row unit buffer (z, a, delta)


cdef struct Ahead:
    # The next mini-batch's rows of X (small batches), prefetched a few cache lines at a time while this
    # one computes: all at once, the prefetches stall the core until the memory system takes them.
    const char* X
    const intp* rows
    intp m, row_bytes, lines    # its rows, the bytes of a row, cache lines per row
    intp i, line                # the next line to prefetch: line `line` of row rows[i]


cdef struct Sparse:
    # How layer 0 skips the zero inputs of a chunk x (m, n_in) (MNIST-like data is about 80% zeros).
    # Skipping x[i, k] == 0 drops only terms 0 * w from sums that keep their order, so the results
    # are the same, bit for bit, as the dense kernels'. Two ways:
    # - by the nonzeros of each row, listed (_list_nonzeros);
    # - (training, small chunks: _batch_inputs) by the columns some row uses, when their count times m
    #   is at most sparse_union_ratio times the nonzeros (MNIST, batches of 10: 382 columns of 784,
    #   2.5 times the 1,504 nonzeros): forward and gradient of layer 0 run the dense kernels' sums
    #   over those columns only (the others' terms are all 0 * w or 0 * delta), reading x's rows in
    #   place, and nothing is listed. Their regular loops beat the lists' there.
    bint on          # layer 0 skips x's zero inputs, by the lists below or by_union
    const int* lidx  # row i's nonzeros: columns k, ascending, at lidx + start[i] ...
    const void* lval # and their values x[i, k] (the chunk's dtype) at lval + start[i] ...
    # or, when ptable is not NULL (the listed X packed: list_nonzeros), the lists are packed
    # instead (lidx, lval NULL): columns as 16 bits at pidx + start[i] ..., values as 8-bit codes
    # at pcode + start[i] ..., x[i, k] = ptable[code] (the chunk's dtype, bit for bit)
    const unsigned short* pidx
    const unsigned char* pcode
    const void* ptable
    intp* start      # (m,)
    intp* nnz        # (m,) and their count
    intp* pairs      # (m,) the rows ordered by their count (_pair_rows), for the forward's pairs of rows
    intp total       # nonzeros of the whole chunk
    # the chunk's own lists, when they are listed from its rows of X (then lidx = idx, lval = val,
    # start[i] = i * stride); from the listed X (X_starts below), lidx, lval are X_idx, X_val
    intp stride
    int* idx
    void* val
    bint by_union    # layer 0 goes by union_k (no lists), and x[i] = X[rows[i]]
    int* union_k     # (2 (n_in + 16),) the columns some row of x uses, ascending; then their marks
    intp n_union
    const void* X
    const intp* rows
    Ahead* ahead     # the next batch's rows to prefetch meanwhile (NULL: none)
    # (training) the nonzeros of every row of X, listed once for all epochs (list_nonzeros): row r's
    # are entries starts[r] ... starts[r + 1] - 1 of (X_idx, X_val), or packed (X_table not NULL)
    # of (X_pidx, X_code) with the values X_table[code]; NULL: list each batch from X
    const intp* X_starts
    const int* X_idx
    const void* X_val
    const unsigned short* X_pidx
    const unsigned char* X_code
    const void* X_table
    # (training) X is given as those lists alone, X NULL (train_epoch's lists_only: a sparse matrix's
    # lists, list_csr): layer 0 takes them for every chunk, whatever its density (G is sized for the
    # most nonzeros a chunk can have), and nothing reads or prefetches rows of X
    bint only_lists
    # (training, two threads) a second workspace like G (_columns_size) for thread 1 of
    # _loss_grad_local, which sorts layer 0's entries into it; NULL: none (that path is not taken)
    void* G_other
    # (_loss_grad_local) the two threads' cores are near (1, near_mode): they sort layer 0's entries into
    # one workspace, G, and take blocks of each other's gradient sums; or far (0); -1: not yet timed
    # (the first chunk that takes _loss_grad_local times them)
    int near
    # (training with sample weights) W_all: the weight of every row of X (the chunk's dtype; NULL: none);
    # _batch_inputs gathers the chunk's into wb (CHUNK entries) and sets w = wb, the weights of the
    # chunk's rows by which _output scales their loss and delta (NULL: all 1)
    const void* W_all
    void* wb
    const void* w
    # (training, a chunk that takes _loss_grad_local) y_later: _batch_inputs left the chunk's targets
    # Y_all[y_rows[:m]] (the chunk's dtype, rows of the output layer's width) to thread 1, which
    # gathers them into the chunk's y itself (_later_targets), in time it would wait: only thread 1
    # reads them. The main thread's gather, between the parallel regions where only it works, took 10
    # thousand cycles per float64 MNIST batch near and 17 thousand far (each batch taking their lines
    # back from thread 1's core)
    bint y_later
    const void* Y_all
    const intp* y_rows
    # (training, an L2 term wanted: train_epoch's penalty) sq not NULL: the batch's ||W||^2 before its
    # step goes to sq_norm, its parts (_norm_part) to sq, layer after layer (_squared_norm)
    double* sq
    double sq_norm


# chunks may take _loss_grad_overlap (one parallel region per batch: the later layers on thread 0
# while the others sort layer 0's entries)
cdef int overlap_sort = 1
cdef Py_ssize_t overlap_chunks = 0
def _set_overlap(int on):
    """(tests, benchmarks) whether chunks may take _loss_grad_overlap; returns the old setting."""
    global overlap_sort
    old, overlap_sort = overlap_sort, on
    return old


def _overlap_chunks():
    """(tests) how many chunks took _loss_grad_overlap so far."""
    return overlap_chunks


# one-hidden-layer networks on two threads take _loss_grad_local (each thread keeps to its own
# columns of layer 0) rather than _loss_grad_overlap
cdef int local_path = 1
cdef Py_ssize_t local_chunks = 0
def _set_local(int on):
    """(tests, benchmarks) whether chunks may take _loss_grad_local; returns the old setting."""
    global local_path
    old, local_path = local_path, on
    return old


def _local_chunks():
    """(tests) how many chunks took _loss_grad_local so far."""
    return local_chunks


cdef extern from *:
    """
    #include <time.h>
    /* seconds from some fixed point (a monotonic clock where there is one) */
    static double fastnn_now(void) {
    #if defined(CLOCK_MONOTONIC)
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    #else
        return (double)clock() / CLOCKS_PER_SEC;
    #endif
    }
    """
    double fastnn_now() noexcept nogil


cdef double _ping_pong(long n) noexcept nogil:
    """The mean time in nanoseconds of one round trip of a cache line between the two threads of a
    parallel region: thread 0 writes 2i + 1 and waits to read 2i + 2, which thread 1 writes once it
    reads 2i + 1, for i < n + 1; thread 0 times the last n (the first waits for thread 1 to start).
    INFINITY when the region gets fewer than two threads or n < 1."""
    cdef long long flag[2 * CLAIM_LINE]     # the line both threads touch: flag[CLAIM_LINE]
    cdef double span[2]                     # thread 0's start and end (an array: shared)
    cdef long i
    cdef int t
    cdef int team[1]     # the team's size, as thread 0 sees it (an array: shared, not private)
    if n < 1:
        return INFINITY
    flag[CLAIM_LINE] = 0
    team[0] = 0
    span[0] = 0
    span[1] = 0
    with parallel(num_threads=2):
        t = threadid()
        if t == 0:
            team[0] = fastnn_team()
        if fastnn_team() == 2:
            for i in range(n + 1):
                if t == 0:
                    if i == 1:
                        span[0] = fastnn_now()
                    fastnn_publish(flag + CLAIM_LINE, 2 * i + 1)
                    fastnn_wait_for(flag + CLAIM_LINE, 2 * i + 2)
                else:
                    fastnn_wait_for(flag + CLAIM_LINE, 2 * i + 1)
                    fastnn_publish(flag + CLAIM_LINE, 2 * i + 2)
            if t == 0:
                span[1] = fastnn_now()
    return (span[1] - span[0]) / n * 1e9 if team[0] == 2 else INFINITY


# -- the build ------------------------------------------------------------------------------------
cdef extern from *:
    """
    /* set by setup.py: the compiler's arguments it chose (a C string) */
    #ifndef FASTNN_COMPILE_ARGS
    #define FASTNN_COMPILE_ARGS ""
    #endif
    #ifdef _OPENMP
    #define FASTNN_OPENMP 1
    #else
    #define FASTNN_OPENMP 0
    #endif
    /* GCC defines __SANITIZE_ADDRESS__ under -fsanitize=address; Clang answers __has_feature */
    #if defined(__SANITIZE_ADDRESS__)
    #define FASTNN_ASAN 1
    #elif defined(__has_feature)
    #if __has_feature(address_sanitizer)
    #define FASTNN_ASAN 1
    #endif
    #endif
    #ifndef FASTNN_ASAN
    #define FASTNN_ASAN 0
    #endif
    """
    const char* FASTNN_COMPILE_ARGS
    int FASTNN_OPENMP
    int FASTNN_ASAN

# -- fork ----------------------------------------------------------------------------------------
# Before every os.fork() (multiprocessing's "fork" start method among them), the forking thread's
# OpenMP workers are released (fastnn_release_threads); the first parallel region after it, in the
# parent or the child, starts new ones. Where they could not be released, the child runs every
# entry point on one thread (the results are the same for any n_threads).
cdef bint release_at_fork = True     # (tests) False: act as if the release failed
cdef bint released = True            # whether the last fork's release succeeded
cdef bint one_thread = False         # in a child forked without the release: every entry point on 1 thread

def _before_fork():
    global released
    released = release_at_fork and fastnn_release_threads() == 0

def _after_fork_in_child():
    global one_thread
    if not released:
        one_thread = True

def _set_release_at_fork(bint on):
    """(tests) whether forks release the OpenMP workers; False: a child runs on one thread, as after
    a release that failed. Returns the old setting."""
    global release_at_fork
    old = release_at_fork
    release_at_fork = on
    return old

def _one_thread():
    """(tests) whether this process is a child forked without the release (every entry point on 1 thread)."""
    return bool(one_thread)

cdef inline int _usable_threads(int n_threads) noexcept nogil:
    """n_threads, or 1 in a build without OpenMP (where a region of n_threads runs on one thread,
    not on a team of n_threads that share out its work) or in a child forked without the release
    (fork, above)."""
    return 1 if (one_thread or not FASTNN_OPENMP) else n_threads

import os as _os
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def _bounds_checked():
    """Whether Cython's bounds checks are compiled in (FASTNN_DEBUG_CYTHON=1): reads one past the
    end of a memoryview whose buffer goes on, so without the checks it reads memory that exists."""
    cdef double[::1] v = np.zeros(2)[:1]
    cdef Py_ssize_t i = v.shape[0]       # not a constant: checked at run time or not at all
    cdef double x
    try:
        x = v[i]
    except IndexError:
        return True
    return False

def _build_info():
    """What this build of the kernels was compiled with (fastnn.build_info)."""
    return {
        "openmp": bool(FASTNN_OPENMP),
        "bounds_checks": _bounds_checked(),
        "sanitizer": "address" if FASTNN_ASAN else None,
        "compile_args": tuple(FASTNN_COMPILE_ARGS.decode().split()),
    }


def _round_trip(long n=20000):
    """(benchmarks) The mean time in nanoseconds of one round trip of a cache line between two
    threads (_ping_pong, n of them). Two threads that pass data to each other several times per
    batch, as the kernels do, feel it; on a shared host it is not constant (bench/round_trip.py
    times it before each epoch; _loss_grad_local once per train_epoch call, near_mode). nan when
    the parallel region gets fewer than two threads."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    cdef double ns
    if one_thread:             # (a region of two threads would wait for the parent's workers)
        return float("nan")
    with nogil:
        ns = _ping_pong(n)
    return ns if ns != INFINITY else float("nan")



# -- subnormal numbers ----------------------------------------------------------------------------
# Network.flush_subnormals: during a training call, the CPU computes every result below the smallest
# normal number (2.2e-308 in float64, 1.2e-38 in float32) as 0 (flush-to-zero) and reads such an
# operand as 0 (denormals-are-zero). On CPUs that take a slow microcode path for subnormal numbers
# (Intel's, in multiplications and square roots), Adam's L2 steps of weights whose input is always 0
# reach them (in float32 within about 20 epochs of the MNIST default fit; in float64 after about 150)
# and slow every later epoch. The modes are each thread's own (x86's MXCSR, bits 15 and 6):
# _enter_flush sets them in the calling thread and in each worker of a team of max(n_threads, 2),
# the threads every parallel region of a training call with n_threads takes (libgomp gives a thread's
# consecutive regions the same workers, thread by thread; a worker started later copies its starting
# thread's modes, which are set); _leave_flush gives each thread its own modes back. Both regions
# run with OMP_DYNAMIC's adjustment off, so that each gets the whole team (under OMP_DYNAMIC the
# training calls' regions may take fewer threads: the first ones of that team, all set).
cdef extern from *:
    """
    #if defined(__SSE__) || defined(__x86_64__) || defined(_M_X64)
    #include <xmmintrin.h>
    #define FASTNN_HAS_FLUSH 1
    #define FASTNN_FLUSH_BITS 0x8040u   /* MXCSR: flush-to-zero (bit 15), denormals-are-zero (bit 6) */
    static long long fastnn_fp_modes(void) { return (long long)_mm_getcsr(); }
    static void fastnn_fp_set_modes(long long m) { _mm_setcsr((unsigned int)m); }
    #else
    #define FASTNN_HAS_FLUSH 0
    #define FASTNN_FLUSH_BITS 0u
    static long long fastnn_fp_modes(void) { return 0; }
    static void fastnn_fp_set_modes(long long m) { (void)m; }
    #endif
    /* the calling thread's dynamic adjustment of team sizes (OMP_DYNAMIC) off; returns the old
       setting for fastnn_set_dynamic */
    #ifdef _OPENMP
    static int fastnn_dynamic_off(void) { int d = omp_get_dynamic(); omp_set_dynamic(0); return d; }
    static void fastnn_set_dynamic(int d) { omp_set_dynamic(d); }
    #else
    static int fastnn_dynamic_off(void) { return 0; }
    static void fastnn_set_dynamic(int d) { (void)d; }
    #endif
    """
    int FASTNN_HAS_FLUSH
    unsigned int FASTNN_FLUSH_BITS
    long long fastnn_fp_modes() noexcept nogil
    void fastnn_fp_set_modes(long long m) noexcept nogil
    int fastnn_dynamic_off() noexcept nogil
    void fastnn_set_dynamic(int d) noexcept nogil


def _flush_available():
    """Whether this CPU architecture's build can flush subnormal numbers (x86: MXCSR)."""
    return bool(FASTNN_HAS_FLUSH)


cdef void _each_thread(long long[::1] modes, int action) noexcept nogil:
    """In each thread t of a team of modes.shape[0], OMP_DYNAMIC's adjustment off: action 0 reads its
    modes into modes[t]; 1 reads them and turns flushing on; 2 gives it modes[t] back (if >= 0).
    modes[t] stays -1 for a thread the region does not get (OMP_THREAD_LIMIT)."""
    cdef int T = modes.shape[0]
    cdef int t
    cdef int dynamic = fastnn_dynamic_off()
    with parallel(num_threads=T):
        t = threadid()
        if t < T:
            if action == 2:
                if modes[t] >= 0:
                    fastnn_fp_set_modes(modes[t])
            else:
                modes[t] = fastnn_fp_modes()
                if action == 1:
                    fastnn_fp_set_modes(modes[t] | FASTNN_FLUSH_BITS)
    fastnn_set_dynamic(dynamic)


def _enter_flush(int n_threads):
    """Flush-to-zero and denormals-are-zero on, in the calling thread and the workers its training
    calls with n_threads use (above); returns each team thread's old modes (-1: not in the team), for
    _leave_flush."""
    saved = np.full(_usable_threads(max(n_threads, 2)), -1, dtype=np.int64)
    cdef long long[::1] s = saved
    with nogil:
        _each_thread(s, 1)
    return saved


def _leave_flush(saved):
    """Gives each thread of _enter_flush's team its old modes back."""
    cdef long long[::1] s = np.array(saved, dtype=np.int64)
    with nogil:
        _each_thread(s, 2)


def _fp_modes(int n_threads):
    """(tests) the modes of each thread of a team of n_threads, from the caller's (thread 0);
    -1 for a thread the region did not get."""
    modes = np.full(_usable_threads(n_threads), -1, dtype=np.int64)
    cdef long long[::1] m = modes
    with nogil:
        _each_thread(m, 0)
    return modes


# Whether _loss_grad_local's two threads run as on near cores (1) or far ones (0); -1 (default): near
# while their round trip (_ping_pong, timed once per train_epoch call, at the first chunk that takes
# _loss_grad_local) is under NEAR_NS. On this class of shared host it reads either about 55-100 ns
# or 300-600 ns, for long stretches.
#   near: the two sort layer 0's entries into one workspace that both read, each placing some of the
#     rows (half the work each; half of the entries each reads were written by the other core), and
#     a thread done with its panels of the gradient takes blocks of the other's (_claimed_sums);
#   far: each sorts all of them into a workspace of its own, and sums only its own panels (a block
#     taken from the other thread moves its weights and optimizer state to the other core and back).
# Measured on the MNIST default fit in float64 (in-process A/B, alternate epochs, the same probe
# before each), ms per epoch:
#   the sort shared, against each its own (both taking blocks): 42.6 against 45.0 and 40.5 against
#     43.7 at 54-70 ns, 72.1 against 60.9 at 300-600 ns; by the probe, 41.0 against 44.1 and 60.2
#     against 60.2 (float32 at 54-70 ns: 26.3 against 27.8);
#   taking no blocks, against taking them (the sort by the probe): 42.1 against 40.2 at 55-100 ns,
#     56.4 against 59.8 at 300-600 ns.
cdef int near_mode = -1
cdef Py_ssize_t near_chunks = 0
def _set_near(int mode):
    """(tests, benchmarks) how _loss_grad_local's threads run: 1 as near cores, 0 as far ones, -1 by
    the round trip (near_mode); returns the old setting."""
    global near_mode
    if mode not in (-1, 0, 1):
        raise ValueError(f"mode must be -1, 0 or 1, got {mode}")
    old, near_mode = near_mode, mode
    return old


def _near_chunks():
    """(tests) how many chunks of _loss_grad_local ran as on near cores so far."""
    return near_chunks


# layer 0's kernels from the lists take two rows at a time in the forward pass (_sparse_pairs) and two
# inputs at a time in the gradient (_sparse_sums)
cdef int pairs = 1


def _set_pairs(int on):
    """(tests, benchmarks) whether layer 0's forward pass takes rows, and its gradient inputs, two at
    a time; returns the old setting."""
    global pairs
    old, pairs = pairs, on
    return old


cdef int queue_steps = 1
cdef Py_ssize_t queued_jobs = 0


def _set_queue(int on):
    """(tests, benchmarks) whether layer 0's float64 Adam steps in _claimed_sums are queued to run
    among the gradient kernel's multiply-adds (fastnn_column2_queue_d; with AVX-512, or AVX2 and
    FMA); returns the old setting."""
    global queue_steps
    old, queue_steps = queue_steps, on
    return old


def _queue_available():
    """(tests) whether this build can queue Adam's steps (_set_queue): with AVX-512, or AVX2 and FMA."""
    return bool(fastnn_queue_ok)


def _queued_jobs():
    """(tests) how many vectors of Adam steps have been queued so far (fastnn_queue_d)."""
    return queued_jobs


cdef int narrow = 1
def _set_narrow(int on):
    """(tests, benchmarks) whether the row kernel skips a block's padded columns (fastnn_narrow_*);
    returns the old setting."""
    global narrow
    old, narrow = narrow, on
    return old


cdef Py_ssize_t halves_calls = 0
def _halves_calls():
    """(tests) how many times the row kernel took the halves kernel so far (fastnn_narrow_d: AVX2
    without AVX-512, float64 blocks whose last vector's second half is padding)."""
    return halves_calls


def _halves_available():
    """(tests) whether this build has the halves kernel (AVX2 and FMA without AVX-512)."""
    return bool(fastnn_halves_ok)


cdef int forward_flag = 1
cdef Py_ssize_t flagged_chunks = 0
def _set_forward_flag(int on):
    """Whether, on two threads, thread 1 goes on from its share of layer 0's forward pass to the sort
    without waiting for thread 0's (_loss_grad_overlap; tests, benchmarks). Returns the previous
    setting."""
    global forward_flag
    old, forward_flag = forward_flag, on
    return old


def _flagged_chunks():
    """(tests) How many overlapped chunks thread 1 went on from layer 0's forward pass without a barrier."""
    return flagged_chunks


cdef int claim_rotation = 0
cdef Py_ssize_t claimed_blocks = 0


def _set_claim_rotation(int r):
    """(tests) in _claimed_sums thread t first claims the blocks of thread t + r (mod the threads):
    with r = 1 most blocks are summed by a thread other than their owner. With r > 0 on two
    threads, thread 0 also counts the sort's entries and places the last half of its blocks of rows
    from the back before the later layers, and thread 1 the others from the front (_loss_grad_overlap).
    Returns the old r."""
    global claim_rotation
    if r < 0:
        raise ValueError(f"the claim rotation must be >= 0, got {r}")
    old, claim_rotation = claim_rotation, r
    return old


def _claimed_blocks():
    """(tests) how many blocks of layer 0's gradient were summed by a thread other than their
    owner so far (_claimed_sums), and how many blocks of rows of its sort thread 0 placed from the
    back (_claimed_rows)."""
    return claimed_blocks


# Layer 0 skips zero inputs when at most this fraction of a chunk's inputs are nonzero (0: never)
# and its padded width is at least sparse_min_width_train (training, gradients) or sparse_min_width
# (predict, loss). Measured on the MNIST digits (19% nonzero, bench/sparse.py): training is faster
# on the nonzeros from one panel of 32 outputs on; predict with one panel is faster dense, from two
# panels on faster sparse.
cdef double sparse_density_d = 0.3
cdef double sparse_density_f = 0.3
cdef Py_ssize_t sparse_min_width = 64
cdef Py_ssize_t sparse_min_width_train = 32
cdef double sparse_union_ratio = 3.0
# chunks whose layer 0 ran on the nonzero lists (a statistic for tests)
cdef Py_ssize_t sparse_chunks = 0
# of which on the columns some row uses (by_union)
cdef Py_ssize_t union_chunks = 0


def _set_sparse(double float64, double float32, Py_ssize_t min_width, Py_ssize_t min_width_train=-1):
    """Set the density limits (float64, float32) and the smallest padded widths of layer 0 for which
    it skips zero inputs, in predict and in training (min_width_train < 0: min_width);
    returns the old settings (a tuple to pass back)."""
    global sparse_density_d, sparse_density_f, sparse_min_width, sparse_min_width_train
    old = (sparse_density_d, sparse_density_f, sparse_min_width, sparse_min_width_train)
    sparse_density_d, sparse_density_f, sparse_min_width = float64, float32, min_width
    sparse_min_width_train = min_width if min_width_train < 0 else min_width_train
    return old


# The sort's unpacked entries (_sparse_sort) hold each sample's offset i * ld in layer 0's delta as
# an int, for the chunk's rows i: a training chunk has at most offset_limit // ld rows, so that no
# offset passes int's range (only a layer 0 padded to 2**31 / 256 = 8,388,608 units or more makes
# chunks smaller than CHUNK).
cdef Py_ssize_t offset_limit = INT_MAX


def _set_offset_limit(Py_ssize_t limit):
    """(tests) Set offset_limit (at most INT_MAX), the largest offset i * ld a training chunk's
    entries may hold; returns the old one."""
    global offset_limit
    if not 1 <= limit <= INT_MAX:
        raise ValueError(f"limit must be in [1, {INT_MAX}]")
    old, offset_limit = offset_limit, limit
    return old


cdef inline intp _train_rows(intp n, intp ld0) noexcept nogil:
    """The rows of a training chunk (gradients) for n rows in all: min(n, CHUNK), and no more than
    offset_limit // ld0 (at least 1), layer 0's padded width ld0."""
    return min(n, <intp>CHUNK, max(<intp>1, offset_limit // ld0))


def _set_sparse_union(double ratio):
    """Set sparse_union_ratio (0: never by_union); returns the old one."""
    global sparse_union_ratio
    old = sparse_union_ratio
    sparse_union_ratio = ratio
    return old


def _sparse_chunks():
    """How many chunks so far had layer 0 computed from their nonzeros (all, and by the union of
    their columns)."""
    return sparse_chunks, union_chunks


def aligned(intp n, dtype, bint zero=False):
    """An (n,) array of dtype (zeros when ``zero``) whose data starts on a 64-byte boundary.

    numpy places large arrays 16 bytes past a page boundary; the kernels' 64-byte vector
    loads and stores on such buffers would each straddle two cache lines.
    """
    itemsize = np.dtype(dtype).itemsize
    buf = (np.zeros if zero else np.empty)(n + 64 // itemsize, dtype=dtype)
    start = (-buf.ctypes.data % 64) // itemsize
    return buf[start:start + n]


def _sparse_buffers(intp n_bufs, intp rows, intp n_in, dtype, bint training):
    """Arrays (idx, val, nnz, union_k) holding n_bufs sets of Sparse lists for chunks of up to rows rows
    (nnz: also their starts and pairs); union_k only for training (else one element)."""
    cdef intp stride = _sparse_stride(n_in), n_union = n_bufs if training else 0
    return (aligned(n_bufs * rows * stride, np.intc), aligned(n_bufs * rows * stride, dtype),
            aligned(n_bufs * 3 * rows, np.intp), aligned(max(1, n_union * 2 * _rounded(n_in + 16)), np.intc))


cdef inline intp _sparse_stride(intp n_in) noexcept nogil:
    # n_in + the 16 entries fastnn_nonzeros_* may write past the end, rounded up to 16
    return (n_in + 31) // 16 * 16


cdef Sparse _sparse_view(int[::1] idx, floating[::1] val, intp[::1] nnz, int[::1] union_k, intp rows,
                         intp n_in, intp i) noexcept nogil:
    """Set i of the buffers from _sparse_buffers, as a Sparse (union_k NULL when it was not made)."""
    cdef Sparse sp
    sp.on = False
    sp.total = 0
    sp.stride = _sparse_stride(n_in)
    sp.idx = &idx[0] + i * rows * sp.stride
    sp.val = <void*>(&val[0] + i * rows * sp.stride)
    sp.nnz = &nnz[0] + i * 3 * rows
    sp.start = sp.nnz + rows
    sp.pairs = sp.nnz + 2 * rows
    sp.lidx, sp.lval = sp.idx, sp.val
    sp.pidx, sp.pcode, sp.ptable = NULL, NULL, NULL
    sp.union_k, sp.by_union, sp.n_union, sp.X, sp.rows, sp.ahead = NULL, False, 0, NULL, NULL, NULL
    sp.X_starts, sp.X_idx, sp.X_val = NULL, NULL, NULL
    sp.X_pidx, sp.X_code, sp.X_table = NULL, NULL, NULL
    sp.only_lists = False
    sp.G_other = NULL
    sp.near = -1
    sp.W_all, sp.wb, sp.w = NULL, NULL, NULL
    sp.y_later, sp.Y_all, sp.y_rows = False, NULL, NULL
    sp.sq, sp.sq_norm = NULL, 0
    if union_k.shape[0] > 1:
        sp.union_k = &union_k[0] + i * 2 * _rounded(n_in + 16)
    return sp


cdef inline floating* _at(floating* p, intp off) noexcept nogil:
    """p + off, or NULL when p is NULL (optimizer state arrays an optimizer does not use)."""
    return p + off if p != NULL else NULL


cdef void _activate(intp act, const floating* z, floating* a, intp n) noexcept nogil:
    """a = f(z) for one row of n units."""
    cdef intp j
    cdef floating mx, zero = 0
    cdef double total
    if act == SIGMOID:
        # a = 1 / (1 + exp(-z))  (a vectorized exp: fastnn_exp)
        if floating is float:
            fastnn_sigmoid_f(z, a, n)
        else:
            fastnn_sigmoid_d(z, a, n)
    elif act == TANH:
        for j in range(n):
            a[j] = tanhf(z[j]) if floating is float else tanh(z[j])
    elif act == RELU:
        for j in range(n):
            a[j] = z[j] if z[j] > zero else zero
    elif act == IDENTITY:
        for j in range(n):
            a[j] = z[j]
    elif act == EXP:
        # a = exp(z)
        for j in range(n):
            a[j] = expf(z[j]) if floating is float else exp(z[j])
    else:
        # softmax: a = exp(z - max z) / sum(exp(z - max z))
        mx = z[0]
        for j in range(1, n):
            if z[j] > mx:
                mx = z[j]
        if mx == <floating>INFINITY or mx == -<floating>INFINITY:
            # all mass on the +inf entries (or uniform when every entry is -inf)
            total = 0
            for j in range(n):
                a[j] = 1 if (z[j] == mx or mx == -<floating>INFINITY) else 0
                total += a[j]
            for j in range(n):
                a[j] = <floating>(a[j] / total)
            return
        # a = exp(z - mx)  (a vectorized exp, within an ulp of libm's: fastnn_exp)
        if floating is float:
            fastnn_exp_shifted_f(z, mx, a, n)
        else:
            fastnn_exp_shifted_d(z, mx, a, n)
        total = 0
        for j in range(n):
            total += a[j]
        for j in range(n):
            a[j] = <floating>(a[j] / total)


cdef inline floating _derivative(intp act, floating z, floating a) noexcept nogil:
    """f'(z) of a hidden activation, from the stored z and a = f(z)."""
    cdef floating one = 1, zero = 0
    if act == SIGMOID:
        return a * (one - a)
    elif act == TANH:
        return one - a * a
    elif act == RELU:
        return one if z > zero else zero
    elif act == EXP:
        return a
    return one


cdef inline double _binary_ce(double z, double y) noexcept nogil:
    """-(y log sigma(z) + (1 - y) log(1 - sigma(z))) = softplus(z) - y z, without overflow,
    and without 0 * inf where an output is exactly 0 or 1 (z = -inf or +inf)."""
    cdef double loss = log1p(exp(-fabs(z)))
    if z >= 0:
        if y != 1:
            loss += (1 - y) * z
    elif y != 0:
        loss -= y * z
    return loss


cdef inline floating _clipped(floating p) noexcept nogil:
    """clip(p, eps, 1 - eps) in p's dtype, eps its machine epsilon, as scikit-learn's log_loss and
    binary_log_loss clip the probabilities before their log; NaN stays NaN."""
    cdef floating eps = <floating>(FLT_EPSILON if floating is float else DBL_EPSILON)
    cdef floating one = 1
    if p < eps:
        return eps
    if p > one - eps:
        return one - eps
    return p


cdef double _output(const Net* net, intp m, intp nL, intp ld, const floating* z, const floating* a,
                    const floating* y, floating* delta, const floating* w) noexcept nogil:
    """Summed loss of m rows of output (z, a) (rows of stride ld) against y (m, nL); with sample
    weights w (m,) (not NULL), sum(w[i] * loss of row i), and row i of delta scaled by w[i].

    When delta is not NULL it receives dLoss/dz[L] (padded columns 0):
      quadratic, elementwise f:  (a - y) * f'(z)
      quadratic, softmax:        a * (g - g @ a), g = a - y
      cross-entropy, sigmoid:    a - y          (loss: softplus(z) - y z, per output)
      cross-entropy, softmax:    a * sum(y) - y (loss: sum(y) logsumexp(z) - y @ z)
      Poisson, exp:              a - y          (loss: y log(y / a) - y + a, per output)
    The loss is accumulated in double from z, so it stays finite where a = 0 or 1. LOG_LOSS (the
    cross-entropy's delta) reports scikit-learn's loss instead, from a clipped to [eps, 1 - eps]
    (_clipped; a term whose y is 0 adds 0):
      sigmoid: -(y log a + (1 - y) log(1 - a)) per output (1 - a of the clipped a, in the dtype)
      softmax: -(y @ log a)
    """
    cdef intp i, j, act = net.act[net.L - 1]
    cdef const floating* zr
    cdef const floating* ar
    cdef const floating* yr
    cdef floating* dr
    cdef double loss = 0, diff, ga, mx, se, ysum, yz, total = 0
    cdef floating p, one = 1
    for i in range(m):
        zr, ar, yr = z + i * ld, a + i * ld, y + i * nL
        dr = delta + i * ld if delta != NULL else NULL
        if w != NULL:
            # weighted: loss is row i's own, added to total times w[i] below
            loss = 0
        if net.loss == QUADRATIC:
            ga = 0
            for j in range(nL):
                diff = <double>ar[j] - <double>yr[j]
                loss += 0.5 * diff * diff
                ga += diff * <double>ar[j]
            if dr != NULL:
                for j in range(nL):
                    if act == SOFTMAX:
                        dr[j] = <floating>(<double>ar[j] * ((<double>ar[j] - <double>yr[j]) - ga))
                    else:
                        dr[j] = (ar[j] - yr[j]) * _derivative(act, zr[j], ar[j])
        elif net.loss == POISSON:
            for j in range(nL):
                # y log(y / a) - y + a with log a = z (0 log 0 = 0; at z = +inf, +inf, not inf - inf)
                if zr[j] == <floating>INFINITY:
                    loss += INFINITY
                    continue
                if yr[j] > 0:
                    loss += <double>yr[j] * (log(<double>yr[j]) - <double>zr[j])
                loss += exp(<double>zr[j]) - <double>yr[j]
            if dr != NULL:
                for j in range(nL):
                    dr[j] = ar[j] - yr[j]
        elif act == SIGMOID:
            for j in range(nL):
                if net.loss == LOG_LOSS:
                    # -(xlogy(y, p) + xlogy(1 - y, 1 - p)), p = clip(a)
                    p = _clipped(ar[j])
                    if yr[j] != 0:
                        loss -= <double>yr[j] * log(<double>p)
                    if yr[j] != 1:
                        loss -= <double>(one - yr[j]) * log(<double>(one - p))   # 1 - p in the dtype
                else:
                    loss += _binary_ce(<double>zr[j], <double>yr[j])
            if dr != NULL:
                for j in range(nL):
                    dr[j] = ar[j] - yr[j]
        else:
            # softmax; ysum = sum(y)
            ysum = 0
            for j in range(nL):
                ysum += yr[j]
            if net.loss == LOG_LOSS:
                # loss = -(y @ log(clip(a)))
                for j in range(nL):
                    if yr[j] != 0:
                        loss -= <double>yr[j] * log(<double>_clipped(ar[j]))
            else:
                # loss = sum(y) * logsumexp(z) - y @ z
                mx = zr[0]
                for j in range(1, nL):
                    if zr[j] > mx:
                        mx = zr[j]
                if mx == INFINITY:
                    # all probability on the +inf entries: free if the targets are there too, else infinite
                    yz = 0
                    for j in range(nL):
                        if zr[j] != mx:
                            yz += yr[j]
                    loss += INFINITY if yz > 0 else 0.0
                else:
                    # se = sum(exp(z - mx)) (fastnn_exp, summed in order), yz = y @ (z - mx)
                    se = fastnn_sum_exp_f(zr, mx, nL) if floating is float else fastnn_sum_exp_d(zr, mx, nL)
                    yz = 0
                    for j in range(nL):
                        yz += <double>yr[j] * (<double>zr[j] - mx)
                    loss += ysum * log(se) - yz
            if dr != NULL:
                for j in range(nL):
                    dr[j] = <floating>(<double>ar[j] * ysum - <double>yr[j])
        if dr != NULL:
            if w != NULL:
                # delta[i] *= w[i]
                for j in range(nL):
                    dr[j] = dr[j] * w[i]
            for j in range(nL, ld):
                # dr[j] = 0, stored where it is not (_put: thread 0 of _loss_grad_local reads these rows)
                _put(dr + j, 0)
        if w != NULL and w[i] != 0:
            # total += w[i] * (row i's loss) (a row of weight 0 adds nothing, even an infinite loss)
            total += <double>w[i] * loss
    return total if w != NULL else loss


cdef inline floating _dot(const floating* x, const floating* y, intp k) noexcept nogil:
    """x @ y for contiguous vectors of length k, summed in a fixed order.

    LANES independent partial sums let the compiler vectorize the loop
    without reassociating anything itself; they are folded pairwise.
    """
    cdef floating acc[LANES]
    cdef floating s
    cdef intp blk, p, k_main = k - k % LANES
    cdef int u
    for u in range(LANES):
        acc[u] = 0
    # acc[u] += x[p + u] * y[p + u]  (LANES independent partial sums)
    for blk in range(k_main // LANES):
        p = blk * LANES
        for u in range(LANES):
            acc[u] = acc[u] + x[p + u] * y[p + u]
    # fold in a fixed order: acc[:8] += acc[8:16], acc[:4] += acc[4:8], ...
    for u in range(8):
        acc[u] = acc[u] + acc[u + 8]
    for u in range(4):
        acc[u] = acc[u] + acc[u + 4]
    for u in range(2):
        acc[u] = acc[u] + acc[u + 2]
    s = acc[0] + acc[1]
    for p in range(k_main, k):
        s = s + x[p] * y[p]
    return s


cdef inline bint _is_plain_sgd(const Step* op, double l2) noexcept nogil:
    """Whether op's step is plain SGD without weight decay: w -= _sgd_rate(op) * acc."""
    return op.kind == SGD and l2 == 0


cdef inline double _sgd_rate(const Step* op) noexcept nogil:
    """The plain SGD step's rate eta * gscale / m (each kernel rounds it to its dtype, as _step does)."""
    return op.eta * op.gscale * op.inv_m


cdef inline void _step(const Step* op, intp n, floating* w, const floating* acc,
                       floating* v, floating* m1, floating* m2, floating l2) noexcept nogil:
    """One optimizer step on n parameters w from their gradient summed over the batch, acc.

    g = (acc / m + l2 * w) * gscale   (l2 = 0 for biases; gscale = 1/||grad|| for the normalized step)
      sgd:       w -= eta * g
      momentum:  v = mu * v - eta * g;  w += v
      nesterov:  v = mu * v - eta * g;  w += mu * v - eta * g
      adam:      m1 = b1 m1 + (1 - b1) g;  m2 = b2 m2 + (1 - b2) g^2;  w -= lr_t * m1 / (sqrt(m2) + eps)
    fastnn_job_d (the queued float64 Adam steps of _claimed_sums) repeats the Adam branch in intrinsics,
    with the multiply-adds gcc forms here: a change to one is a change to both.
    """
    cdef intp u
    cdef floating g, one = 1
    cdef floating inv_m = <floating>op.inv_m, gs = <floating>op.gscale, eta = <floating>op.eta
    cdef floating mu = <floating>op.mu, b1 = <floating>op.b1, b2 = <floating>op.b2
    cdef floating eps = <floating>op.eps, lr_t = <floating>op.lr_t
    if _is_plain_sgd(op, l2):
        # w -= (eta * gscale / m) * acc
        g = <floating>_sgd_rate(op)
        for u in range(n):
            w[u] = w[u] - g * acc[u]
    elif op.kind == SGD:
        for u in range(n):
            g = (acc[u] * inv_m + l2 * w[u]) * gs
            w[u] = w[u] - eta * g
    elif op.kind == MOMENTUM:
        for u in range(n):
            g = (acc[u] * inv_m + l2 * w[u]) * gs
            v[u] = mu * v[u] - eta * g
            w[u] = w[u] + v[u]
    elif op.kind == NESTEROV:
        for u in range(n):
            g = (acc[u] * inv_m + l2 * w[u]) * gs
            v[u] = mu * v[u] - eta * g
            w[u] = w[u] + (mu * v[u] - eta * g)
    else:
        for u in range(n):
            g = (acc[u] * inv_m + l2 * w[u]) * gs
            m1[u] = b1 * m1[u] + (one - b1) * g
            m2[u] = b2 * m2[u] + (one - b2) * (g * g)
            if floating is float:
                w[u] = w[u] - lr_t * m1[u] / (sqrtf(m2[u]) + eps)
            else:
                w[u] = w[u] - lr_t * m1[u] / (sqrt(m2[u]) + eps)


cdef inline void _put(floating* p, floating v) noexcept nogil:
    """*p = v, stored only where *p differs from v bit for bit (fastnn_put_*): the memory ends the
    same either way. For padding, whose values do not change: a cache line another core has read
    (or its prefetchers fetched) stays shared instead of being taken back from it, as each store
    to it would (on this class of host, when its two cores are far apart, hundreds of ns each)."""
    if floating is float:
        fastnn_put_f(p, v)
    else:
        fastnn_put_d(p, v)


cdef inline void _take_rows(floating* p, intp m, intp ld, intp n) noexcept nogil:
    """Takes the cache lines of columns 0 ... n - 1 of m rows of p (rows ld apart) for this core,
    their values unchanged (fastnn_take_line: one store to each line)."""
    cdef intp i, c, W = 64 // sizeof(floating)
    for i in range(m):
        # one element every 64 bytes, and the last one: every line the row's n columns touch
        for c in range((n + W - 1) // W):
            fastnn_take_line(p + i * ld + c * W)
        fastnn_take_line(p + i * ld + n - 1)


cdef inline void _epilogue(int mode, const Step* op, intp real, floating* C, const floating* acc,
                           floating* v, floating* m1, floating* m2, floating l2) noexcept nogil:
    """What a kernel does with the JB sums acc it computed for a block of C whose first `real`
    columns are real and the rest padding (real >= JB: none), by mode: OVERWRITE C = acc;
    ACCUMULATE C += acc; STEP an optimizer step (_step) on the parameters C with gradient acc and
    state v, m1, m2 at the same offsets as C, on _epilogue_width's columns only. OVERWRITE and
    ACCUMULATE store the padding's values (0) through _put: only where C does not hold them."""
    cdef intp u, n = min(JB, max(0, real))
    if mode == OVERWRITE:
        for u in range(n):
            C[u] = acc[u]
        for u in range(n, JB):
            _put(C + u, acc[u])
    elif mode == ACCUMULATE:
        for u in range(n):
            C[u] = C[u] + acc[u]
        for u in range(n, JB):
            _put(C + u, C[u] + acc[u])
    else:
        _step(op, _epilogue_width(C, mode, real), C, acc, v, m1, m2, l2)


cdef inline intp _epilogue_width(const floating* dtype_tag, int mode, intp real) noexcept nogil:
    """How many of a block's JB columns a kernel's epilogue (_epilogue) runs on when the block's
    first `real` columns are real and the rest padding: all JB, except for an optimizer step
    (STEP), which stops after the real columns (rounded up to a vector of 64 bytes; 0 when none is
    real). A padding column's parameters, gradient and optimizer state are 0, and every step leaves
    them 0 (g = (0 / m + l2 * 0) * gscale = 0), so the step skips them without changing anything:
    with 100 outputs in panels of 32, a quarter of layer 0's Adam steps were on padding. dtype_tag
    (NULL) picks the dtype."""
    cdef intp W = 64 // sizeof(floating)
    if mode != STEP:
        return JB
    return min(JB, max(0, (real + W - 1) // W * W))


# Row-block sizes as types: a kernel given a `const Rows8*` (NULL) is compiled for 8 rows, the count a
# constant in its loops (its sums in registers) by Cython's specialization, not by the C compiler's
# cloning heuristics (which, past some amount of code, left _rows generic: 40% slower).
cdef struct Rows1:
    char unused
cdef struct Rows2:
    char unused
cdef struct Rows4:
    char unused
cdef struct Rows8:
    char unused
cdef struct Rows5:
    char unused
cdef struct Rows10:
    char unused
ctypedef fused RowBlock:
    Rows1
    Rows2
    Rows4
    Rows8
# rows of the union forward: float up to 10 (20 AVX-512 registers of sums, 40 AVX2), double up to 5
ctypedef fused UnionBlock:
    Rows1
    Rows2
    Rows4
    Rows5
    Rows8
    Rows10


cdef inline void _rows(const RowBlock* R_, intp K, const floating* x, intp xs_r, intp xs_k,
                       const floating* B, intp ldb, floating* C, intp ldc,
                       int mode, const Step* op, floating* v, floating* m1, floating* m2,
                       floating l2, int nv, int nh, bint cont=False) noexcept nogil:
    """acc[r] = sum_k x[r*xs_r + k*xs_k] * B[k, :JB]  for r < R <= RB, then per mode:

    OVERWRITE: C[r, :JB] = acc[r];  ACCUMULATE: C[r, :JB] += acc[r];
    STEP: an optimizer step (_step) on the parameters C[r, :JB] with gradient acc[r]
    and state v, m1, m2 at the same offsets as C.

    The register kernel behind forward (rows = samples, k = inputs) and the
    gradient (rows = inputs, k = samples): R*JB accumulators in one array,
    each loaded row of B feeds R broadcast-multiply-adds. R = 1, 2, 4 or 8 by the type of R_.
    Only the first nv vectors of 64 bytes of the JB columns are real when nv < JB * sizeof / 64: B is
    0 past them (padding), and so are their sums, set without computing them (fastnn_narrow_*: the
    real columns' sums in registers; with AVX-512, or AVX2 and FMA). nh: the halves of a vector (32
    bytes) with a real column; with AVX2, float64 blocks whose last vector has a real column in its
    first half only (10 outputs: nv 2, nh 3) take the halves kernel (fastnn_narrow_d returns 2).
    With cont, acc[r] starts at C[r, :JB] instead of 0: the sums of an earlier call over the first
    k go on over these (the two calls make the same operations, in the same order, as one over all
    the k; _loss_grad_local splits layer 1's forward sums so between its threads).
    """
    cdef int R = 8 if RowBlock is Rows8 else (4 if RowBlock is Rows4 else (2 if RowBlock is Rows2 else 1))
    cdef floating acc[RB * JB]
    cdef floating xv
    cdef const floating* brow
    cdef intp k, off
    cdef int r, u, real, done = 0
    if cont:
        # acc[r] = C[r, :JB], the sums so far
        for r in range(R):
            for u in range(JB):
                acc[r * JB + u] = C[r * ldc + u]
    if narrow and nv < JB * <int>sizeof(floating) // 64:
        # acc[r, :nv vectors] (+)= sum_k x[r, k] * B[k, :nv vectors]; acc[r, past them] = 0
        if floating is float:
            done = fastnn_narrow_f(R, nv, K, x, xs_r, xs_k, B, ldb, acc, cont)
        else:
            done = fastnn_narrow_d(R, nv, nh, K, x, xs_r, xs_k, B, ldb, acc, cont)
            if done == 2:
                fastnn_fetch_add(&halves_calls, 1)
    if not done:
        if not cont:
            for u in range(R * JB):
                acc[u] = 0
        for k in range(K):
            brow = B + k * ldb
            for r in range(R):
                xv = x[r * xs_r + k * xs_k]
                # acc[r] += x[r, k] * B[k, :JB]
                for u in range(JB):
                    acc[r * JB + u] = acc[r * JB + u] + xv * brow[u]
    real = nv * (64 // <int>sizeof(floating))
    for r in range(R):
        off = r * ldc
        _epilogue(mode, op, real, C + off, acc + r * JB, _at(v, off), _at(m1, off), _at(m2, off), l2)


cdef void _rows_all(intp n_rows, intp K, const floating* x, intp xs_r, intp xs_k,
                    const floating* B, intp ldb, intp bbs, intp width, floating* C, intp ldc, intp cbs,
                    int mode, const Step* op, floating* v, floating* m1, floating* m2,
                    floating l2, int n_threads=1, intp cols=-1, bint cont=False) noexcept nogil:
    """_rows over C[:n_rows, :width] (X[r, k] = x[r*xs_r + k*xs_k]); width % JB == 0.
    Columns cols ... width - 1 (when 0 <= cols) are padding, 0 in B: in the last block their sums
    are 0 without being computed.

    Column block blk of B starts at B + blk*bbs (rows ldb apart) and of C at
    C + blk*cbs (rows ldc apart): bbs = cbs = JB for row-major matrices, and
    K*JB (or n_rows*JB) for matrices stored as contiguous panels of JB columns.
    The tasks (a column block times a group of RB rows) write disjoint parts
    of C (and of the optimizer state), each computed the same way on any
    thread: the result does not depend on n_threads. Products smaller than
    PARALLEL_WORK multiply-adds stay on the calling thread. cont: the sums go on from C's (_rows).
    """
    cdef intp n_groups = (n_rows + RB - 1) // RB, n_blocks = width // JB
    cdef intp task, n_tasks = n_groups * n_blocks
    if n_threads > 1 and n_tasks > 1 and n_rows * K * width >= PARALLEL_WORK:
        for task in prange(n_tasks, num_threads=n_threads, schedule="static"):
            _rows_task(task % n_groups, task // n_groups, n_rows, K, x, xs_r, xs_k, B, ldb, bbs, C, ldc, cbs,
                       mode, op, v, m1, m2, l2, cols, cont)
    else:
        for task in range(n_tasks):
            _rows_task(task % n_groups, task // n_groups, n_rows, K, x, xs_r, xs_k, B, ldb, bbs, C, ldc, cbs,
                       mode, op, v, m1, m2, l2, cols, cont)


cdef inline void _rows_task(intp group, intp blk, intp n_rows, intp K, const floating* x, intp xs_r,
                            intp xs_k, const floating* B, intp ldb, intp bbs, floating* C, intp ldc,
                            intp cbs, int mode, const Step* op, floating* v, floating* m1, floating* m2,
                            floating l2, intp cols, bint cont=False) noexcept nogil:
    """Rows group*RB ... (at most RB of them) of column block blk: one _rows call, or 4, 2 and 1 rows at the end.
    Columns from cols on (cols >= 0) are padding (_rows_all). cont: the sums go on from C's (_rows)."""
    cdef intp r = group * RB, off, W = 64 // sizeof(floating)
    cdef intp stop = min(r + RB, n_rows)
    # the block's vectors with a real column, and halves of a vector (H columns)
    cdef int nv = <int>(JB // W if cols < 0 else max(1, min(JB // W, (cols - blk * JB + W - 1) // W)))
    cdef intp H = W // 2
    cdef int nh = <int>(JB // H if cols < 0 else max(1, min(JB // H, (cols - blk * JB + H - 1) // H)))
    while r < stop:
        off = r * ldc + blk * cbs
        if r + RB <= stop:
            _rows(<const Rows8*>NULL, K, x + r * xs_r, xs_r, xs_k, B + blk * bbs, ldb, C + off, ldc, mode, op,
                  _at(v, off), _at(m1, off), _at(m2, off), l2, nv, nh, cont)
            r = r + RB
        elif r + 4 <= stop:
            _rows(<const Rows4*>NULL, K, x + r * xs_r, xs_r, xs_k, B + blk * bbs, ldb, C + off, ldc, mode, op,
                  _at(v, off), _at(m1, off), _at(m2, off), l2, nv, nh, cont)
            r = r + 4
        elif r + 2 <= stop:
            _rows(<const Rows2*>NULL, K, x + r * xs_r, xs_r, xs_k, B + blk * bbs, ldb, C + off, ldc, mode, op,
                  _at(v, off), _at(m1, off), _at(m2, off), l2, nv, nh, cont)
            r = r + 2
        else:
            _rows(<const Rows1*>NULL, K, x + r * xs_r, xs_r, xs_k, B + blk * bbs, ldb, C + off, ldc, mode, op,
                  _at(v, off), _at(m1, off), _at(m2, off), l2, nv, nh, cont)
            r = r + 1


cdef inline intp _list_group(const floating* X, const intp* rows, intp g, intp m, intp n_in,
                             Sparse* sp) noexcept nogil:
    """List the nonzeros of group g (rows 4g ... 4g+3, at most m) of the chunk into sp's own lists,
    row i being X[rows[i]] (X[i] when rows is NULL). Returns the group's count of nonzeros."""
    cdef floating* val = <floating*>sp.val
    cdef const floating* row
    cdef intp i, total = 0, g0 = g * 4, g1 = min(g * 4 + 4, m)
    # the group after next: its rows of X start towards the cache while this one is listed
    if rows != NULL and g0 + 8 < m:
        _prefetch_rows(X, n_in, rows + g0 + 8, min(4, m - g0 - 8))
    for i in range(g0, g1):
        row = X + (rows[i] if rows != NULL else i) * n_in
        sp.start[i] = i * sp.stride
        # idx[i], val[i] = the columns k with x[i, k] != 0 and their values
        if floating is float:
            sp.nnz[i] = fastnn_nonzeros_f(row, n_in, sp.idx + i * sp.stride, val + i * sp.stride)
        else:
            sp.nnz[i] = fastnn_nonzeros_d(row, n_in, sp.idx + i * sp.stride, val + i * sp.stride)
        total = total + sp.nnz[i]
    return total


cdef inline intp _sparse_limit(const floating* X, intp m, intp n_in, intp ld, intp min_width) noexcept nogil:
    """The most nonzeros a chunk x (m, n_in) of X's dtype may have for layer 0 (padded width ld) to
    skip its zero inputs: sparse_density * m * n_in, or -1 when ld < min_width (or the density is 0)."""
    cdef double density = sparse_density_f if floating is float else sparse_density_d
    if density <= 0 or ld < min_width:
        return -1
    return <intp>(density * <double>(m * n_in))


cdef inline void _pair_rows(Sparse* sp, intp m, intp n_in) noexcept nogil:
    """sp.pairs = the chunk's rows ordered by their count of nonzeros (a counting sort on it, in steps
    of 2**shift): the forward pass takes them two at a time (_sparse_rows2), and a row paired with
    one of about as many nonzeros has few left to go through alone (MNIST, batches of 200: 0.4% of
    the nonzeros, against 16% for rows paired in order)."""
    cdef intp counts[257]
    cdef intp i, key, shift = 0
    while (n_in >> shift) >= 256:
        shift = shift + 1
    for key in range(257):
        counts[key] = 0
    for i in range(m):
        counts[(sp.nnz[i] >> shift) + 1] += 1
    for key in range(1, 257):
        # counts[key] = the rows with a smaller key
        counts[key] = counts[key] + counts[key - 1]
    for i in range(m):
        key = sp.nnz[i] >> shift
        sp.pairs[counts[key]] = i
        counts[key] = counts[key] + 1


cdef void _listed_rows(Sparse* sp, const intp* rows, intp m, intp n_in, intp limit) noexcept nogil:
    """Point sp at the listed X's lists of the chunk's rows rows[:m] (in place: nothing is copied) and
    set sp.on, unless they hold more than limit nonzeros (limit < 0: any number)."""
    global sparse_chunks
    cdef intp i, total = 0
    for i in range(m):
        sp.start[i] = sp.X_starts[rows[i]]
        sp.nnz[i] = sp.X_starts[rows[i] + 1] - sp.start[i]
        total = total + sp.nnz[i]
    if 0 <= limit < total:
        return
    sp.lidx, sp.lval = sp.X_idx, sp.X_val
    sp.pidx, sp.pcode, sp.ptable = sp.X_pidx, sp.X_code, sp.X_table
    sp.total = total
    _pair_rows(sp, m, n_in)
    sp.on = True
    fastnn_fetch_add(&sparse_chunks, 1)


cdef void _list_nonzeros(const floating* X, const intp* rows, intp m, intp n_in, intp ld, Sparse* sp,
                         int n_threads, intp min_width) noexcept nogil:
    """List the nonzeros of the chunk x (m, n_in) in sp, row i of x being X[rows[i]] (X[i] when rows
    is NULL), so that layer 0 need not gather x; sp.on = whether layer 0 (padded width ld) is to use
    them: they are at most _sparse_limit. With sp's listed X (and rows) sp points at the rows' lists
    there; else they are listed into sp's own: on one thread it stops listing once they are too many,
    on several each lists whole groups of 4 rows."""
    global sparse_chunks
    cdef intp i, g, n_groups = (m + 3) // 4, total = 0, limit = _sparse_limit(X, m, n_in, ld, min_width)
    sp.on = False
    if limit < 0:
        return
    if sp.X_starts != NULL and rows != NULL:
        _listed_rows(sp, rows, m, n_in, limit)
        return
    sp.lidx, sp.lval = sp.idx, sp.val
    sp.pidx, sp.pcode, sp.ptable = NULL, NULL, NULL
    if n_threads > 1 and n_groups > 1 and m * n_in >= PARALLEL_LIST:
        for g in prange(n_groups, num_threads=n_threads, schedule="static"):
            _list_group(X, rows, g, m, n_in, sp)
        for g in range(m):
            total = total + sp.nnz[g]
    else:
        for g in range(n_groups):
            total = total + _list_group(X, rows, g, m, n_in, sp)
            if total > limit:
                return
    if total > limit:
        return
    sp.total = total
    _pair_rows(sp, m, n_in)
    sp.on = True
    fastnn_fetch_add(&sparse_chunks, 1)


cdef intp _mark_columns(const floating* X, const intp* rows, intp m, intp n_in, unsigned* marks) noexcept nogil:
    """Mark in marks (zeroed, n_in bits) the columns k with x[i, k] != 0 for some row i of the chunk
    x = X[rows[:m]]; returns the chunk's count of nonzeros."""
    cdef intp i, total = 0
    for i in range(m):
        # marks |= (x[i] != 0)
        if floating is float:
            total = total + fastnn_mark_f(X + rows[i] * n_in, n_in, marks)
        else:
            total = total + fastnn_mark_d(X + rows[i] * n_in, n_in, marks)
    return total


cdef inline intp _panel_share(intp t, intp n_threads, intp P) noexcept nogil:
    """The first of layer 0's P panels of JB columns that thread t of n_threads takes (P >= n_threads)
    in every row, in the forward pass (_sparse_share) and in the gradient (_loss_grad_overlap)."""
    return (t * P + n_threads - 1) // n_threads


cdef inline intp _share(intp t, intp n_threads, intp V, intp r, intp n) noexcept nogil:
    """The first of the V vectors of outputs of layer 0 (W columns each, one cache line) that thread
    t of n_threads computes in row r of the m = n rows of the forward pass, when layer 0 has fewer
    panels than threads (_sparse_share). With at least as many vectors as threads, thread t takes
    vectors ceil(t * V / n_threads) ... of every row. With fewer, thread t takes vector v of row r
    when t * V / n_threads <= v + r / n < (t + 1) * V / n_threads: a vector's rows are split in
    ranges."""
    cdef intp num = t * V * n - n_threads * r
    if V >= n_threads:
        return (t * V + n_threads - 1) // n_threads
    return 0 if num <= 0 else (num + n_threads * n - 1) // (n_threads * n)


cdef inline intp _share_end(intp t, intp n_threads, intp V, intp LV, intp r, intp n) noexcept nogil:
    """The end of thread t's vectors of row r (_share(t + 1, ...)), extended to LV (the padding past
    the V vectors of outputs) for the thread that has the last of the V."""
    cdef intp v1 = _share(t + 1, n_threads, V, r, n)
    return LV if v1 == V and _share(t, n_threads, V, r, n) < V else v1


cdef inline int _half_line(intp W, intp n_used) noexcept nogil:
    """Whether the two-row and two-input kernels (fastnn_row2p_*, fastnn_column2p_*) may leave out
    the second half of their last line of sums (the second half then 0): when the call's n_used
    real columns (W a line) end in the first half of a line."""
    return 0 < n_used % W <= W // 2


cdef inline void _sparse_row(intp i, intp m, intp n_in, intp n_out, intp ld, const Sparse* sp,
                             const floating* WT, const floating* b, intp act, intp v0, intp v1,
                             floating* z, floating* a) noexcept nogil:
    """Vectors v0 ... v1 - 1 of row i (of m) of layer 0 (_sparse_share): z[i, c] = x[i] @ WT[:, c]
    + b[c], a[i, c] = f(z[i, c]) for their columns c (f elementwise unless they are the whole row),
    from x[i]'s nonzeros listed in sp (packed or not); columns past n_out set to 0."""
    cdef intp s0 = sp.start[i]
    cdef intp W = 64 // sizeof(floating), V = (n_out + W - 1) // W
    cdef intp v
    cdef int nv, nv_total
    # the lists of the row after next start towards the cache (from the listed X they are likely not there)
    if i + 2 < m:
        _prefetch_lists(<const floating*>NULL, sp, i + 2)
    v = v0
    while v < v1:
        nv_total = <int>min(4 * JB // W, v1 - v)
        nv = <int>max(0, min(nv_total, V - v))
        # z[i, vectors v ... v + nv] = x[i] @ WT[:, those columns]  (the next ones up to nv_total: 0)
        if sp.ptable != NULL:
            if floating is float:
                fastnn_rowp_f(sp.pidx + s0, sp.pcode + s0, sp.nnz[i], <const float*>sp.ptable, WT, n_in * JB,
                              <int>v, nv, nv_total, z + i * ld + v * W)
            else:
                fastnn_rowp_d(sp.pidx + s0, sp.pcode + s0, sp.nnz[i], <const double*>sp.ptable, WT, n_in * JB,
                              <int>v, nv, nv_total, z + i * ld + v * W)
        elif floating is float:
            fastnn_row_f(sp.lidx + s0, <const float*>sp.lval + s0, sp.nnz[i], WT, n_in * JB, <int>v, nv, nv_total,
                         z + i * ld + v * W)
        else:
            fastnn_row_d(sp.lidx + s0, <const double*>sp.lval + s0, sp.nnz[i], WT, n_in * JB, <int>v, nv,
                         nv_total, z + i * ld + v * W)
        v = v + nv_total
    _bias_activate(act, max(0, min(n_out, v1 * W) - v0 * W), (v1 - v0) * W, b + v0 * W, z + i * ld + v0 * W,
                   a + i * ld + v0 * W)


cdef inline void _sparse_rows2(intp j, intp m, intp n_in, intp n_out, intp ld, const Sparse* sp,
                               const floating* WT, const floating* b, intp act, intp v0, intp v1,
                               floating* z, floating* a) noexcept nogil:
    """_sparse_row for rows i = sp.pairs[j] and i2 = sp.pairs[j + 1] together, up to 8 vectors at a
    time (fastnn_row2_*: the same sums)."""
    cdef intp i = sp.pairs[j], i2 = sp.pairs[j + 1]
    cdef intp s1 = sp.start[i], s2 = sp.start[i2]
    cdef intp W = 64 // sizeof(floating), V = (n_out + W - 1) // W
    cdef intp v, r
    cdef int nv, nv_total, half
    # the lists of the next pair of rows start towards the cache
    for r in range(j + 2, min(m, j + 4)):
        _prefetch_lists(<const floating*>NULL, sp, sp.pairs[r])
    v = v0
    while v < v1:
        nv_total = <int>min(8, v1 - v)
        nv = <int>max(0, min(nv_total, V - v))
        half = _half_line(W, max(0, min(nv * W, n_out - v * W)))
        # z[i, vectors v ... v + nv] = x[i] @ WT[:, those columns], and z[i2, ...] (the next ones up to
        # nv_total: 0)
        if sp.ptable != NULL:
            if floating is float:
                fastnn_row2p_f(sp.pidx + s1, sp.pcode + s1, sp.nnz[i], sp.pidx + s2, sp.pcode + s2, sp.nnz[i2],
                               <const float*>sp.ptable, WT, n_in * JB, <int>v, nv, nv_total, half, z + i * ld + v * W,
                               z + i2 * ld + v * W)
            else:
                fastnn_row2p_d(sp.pidx + s1, sp.pcode + s1, sp.nnz[i], sp.pidx + s2, sp.pcode + s2, sp.nnz[i2],
                               <const double*>sp.ptable, WT, n_in * JB, <int>v, nv, nv_total, half, z + i * ld + v * W,
                               z + i2 * ld + v * W)
        elif floating is float:
            fastnn_row2_f(sp.lidx + s1, <const float*>sp.lval + s1, sp.nnz[i], sp.lidx + s2,
                          <const float*>sp.lval + s2, sp.nnz[i2], WT, n_in * JB, <int>v, nv, nv_total,
                          z + i * ld + v * W, z + i2 * ld + v * W)
        else:
            fastnn_row2_d(sp.lidx + s1, <const double*>sp.lval + s1, sp.nnz[i], sp.lidx + s2,
                          <const double*>sp.lval + s2, sp.nnz[i2], WT, n_in * JB, <int>v, nv, nv_total,
                          z + i * ld + v * W, z + i2 * ld + v * W)
        v = v + nv_total
    for r in range(j, j + 2):
        _bias_activate(act, max(0, min(n_out, v1 * W) - v0 * W), (v1 - v0) * W, b + v0 * W,
                       z + sp.pairs[r] * ld + v0 * W, a + sp.pairs[r] * ld + v0 * W)


cdef inline void _sparse_rows(intp m, intp n_in, intp n_out, intp ld, const Sparse* sp, const floating* WT,
                              const floating* b, intp act, intp v0, intp v1, floating* z,
                              floating* a, long long* progress=NULL) noexcept nogil:
    """Vectors v0 ... v1 - 1 of every row of layer 0: two rows at a time in the order of sp.pairs
    (_sparse_rows2, the last of an odd count on its own) when pairs, else row by row (_sparse_row).
    With progress, the count of rows done in that order is published there (with pairs, every
    PROGRESS_PAIRS pairs) and m at the end (_loss_grad_local: layer 1 goes on with those rows)."""
    cdef intp i
    if not pairs:
        for i in range(m):
            _sparse_row(i, m, n_in, n_out, ld, sp, WT, b, act, v0, v1, z, a)
        if progress != NULL:
            fastnn_publish(progress, m)
        return
    for i in range(0, m - 1, 2):
        _sparse_rows2(i, m, n_in, n_out, ld, sp, WT, b, act, v0, v1, z, a)
        if progress != NULL and (i // 2) % PROGRESS_PAIRS == PROGRESS_PAIRS - 1:
            fastnn_publish(progress, i + 2)
    if m % 2:
        _sparse_row(sp.pairs[m - 1], m, n_in, n_out, ld, sp, WT, b, act, v0, v1, z, a)
    if progress != NULL:
        fastnn_publish(progress, m)


cdef inline void _sparse_share(intp t, intp n_threads, intp m, intp n_in, intp n_out, intp ld, const Sparse* sp,
                               const floating* WT, const floating* b, intp act, floating* z,
                               floating* a) noexcept nogil:
    """Thread t's share of every row of layer 0's forward pass (_sparse_row): with at least as many
    panels of JB columns as threads, its panels (_panel_share) of every row, else _share.
    The thread then reads only those columns of WT, and (in _loss_grad_overlap) also updates them:
    they stay in its core's cache from one mini-batch to the next. Measured on the MNIST default
    fit on 2 threads (in-process A/B, alternate epochs): 4-9% faster float32 epochs than a share
    of the rows, and whole panels rather than whole cache lines 4-6% faster float64 epochs."""
    cdef intp i, v0 = 0, v1 = 0, W = 64 // sizeof(floating), V = (n_out + W - 1) // W, P = ld // JB
    if P >= n_threads:
        # whole panels of JB columns, the same in every row (and in its part of the gradient in
        # _loss_grad_overlap)
        _sparse_rows(m, n_in, n_out, ld, sp, WT, b, act, _panel_share(t, n_threads, P) * (JB // W),
                     _panel_share(t + 1, n_threads, P) * (JB // W), z, a)
        return
    for i in range(m):
        # thread t's vectors of row i (_share)
        v0 = _share(t, n_threads, V, i, m)
        v1 = _share_end(t, n_threads, V, ld // W, i, m)
        if v0 < v1:
            _sparse_row(i, m, n_in, n_out, ld, sp, WT, b, act, v0, v1, z, a)


cdef void _sparse_forward(intp m, intp n_in, intp n_out, intp ld, const Sparse* sp, const floating* WT,
                          const floating* b, intp act, floating* z, floating* a, int n_threads) noexcept nogil:
    """Layer 0 from the nonzeros of x listed in sp: z = x @ WT + b (m, ld), a = f(z); WT in panels of JB
    columns. Row by row, up to 4 panels at a time with the sums in registers (fastnn_row_*). On
    several threads each computes its share of the columns of every row (_sparse_share); softmax (a
    one-layer network) by whole rows. The same sums on any thread."""
    cdef intp i, t, W = 64 // sizeof(floating)
    if n_threads > 1 and m > 1 and sp.total * ld >= PARALLEL_WORK and act != SOFTMAX:
        for t in prange(n_threads, num_threads=n_threads, schedule="static"):
            _sparse_share(t, n_threads, m, n_in, n_out, ld, sp, WT, b, act, z, a)
    elif n_threads > 1 and m > 1 and sp.total * ld >= PARALLEL_WORK:
        # softmax needs whole rows
        for i in prange(m, num_threads=n_threads, schedule="static"):
            _sparse_row(i, m, n_in, n_out, ld, sp, WT, b, act, 0, ld // W, z, a)
    else:
        _sparse_rows(m, n_in, n_out, ld, sp, WT, b, act, 0, ld // W, z, a)


cdef inline intp _entries_at(const floating* dtype_tag, intp n_in) noexcept nogil:
    """Where layer 0's sorted entries start in the workspace G (_columns_size), in elements of
    G's dtype (dtype_tag, NULL, picks it): after the n_in column starts (intp) and two more arrays
    of n_in intp (_sparse_ends)."""
    return (3 * n_in * <intp>sizeof(intp) + sizeof(floating) - 1) // sizeof(floating)


cdef inline intp _columns_size(const floating* dtype_tag, intp rows, intp n_in, intp ld) noexcept nogil:
    """Elements of the sparse gradient's workspace G for training chunks of up to rows rows (layer 0 of
    padded width ld): n_in column starts (intp) and two more arrays of n_in intp, then an entry
    (value, int offset: two elements) for each of as many nonzeros as a chunk may have to take the
    sparse path (_sparse_limit). dtype_tag (NULL) picks the dtype."""
    cdef intp entries = max(0, _sparse_limit(dtype_tag, rows, n_in, ld, sparse_min_width_train))
    return _entries_at(dtype_tag, n_in) + 2 * entries


cdef inline intp _col(const int* lidx, const unsigned short* pidx, intp p) noexcept nogil:
    """The column of a chunk's listed nonzero p (sp.start[i] + q: row i's q-th): pidx[p] when its lists are
    packed (sp.pidx, not NULL), else lidx[p] (sp.lidx)."""
    return pidx[p] if pidx != NULL else lidx[p]


cdef inline intp _sparse_sort(intp r0, intp r1, intp m, intp n_in, intp ld, const Sparse* sp,
                              floating* G) noexcept nogil:
    """Sorts the chunk's nonzeros x[i, k] with r0 <= k < r1 by column into the workspace G
    (_columns_size): column k's entries, each its value and the offset i * ld of its sample's row
    of delta side by side (one stream of writes, not two; from packed lists, the value's code and i
    in 16 bits), samples ascending, after those of the columns before it (the range's entries go
    after the chunk's entries of columns < r0, so that threads with other ranges write elsewhere).
    Afterwards start[k] (G's first n_in intp) is where column k's entries end. Returns where
    column r0's begin.
    """
    cdef intp* start = <intp*>G                             # (n_in,) where column k's entries go next
    # entry e: ent[2e] its value, ent[2e + 1] (an int) its sample's offset i * ld in delta; or, when
    # the lists are packed, pent[e] = (its value's code << 8) | i (fastnn_columnp_*)
    cdef floating* ent = G + _entries_at(G, n_in)
    cdef unsigned short* pent = <unsigned short*>ent
    cdef intp cursor[CHUNK]
    # the lists, packed or not (_col)
    cdef const int* lidx = sp.lidx
    cdef const floating* lval = <const floating*>sp.lval
    cdef const unsigned short* pidx = sp.pidx
    cdef const unsigned char* pcode = sp.pcode
    cdef intp i, q, k, e, e0, p0, nnz
    for k in range(r0, r1):
        start[k] = 0
    e = 0
    for i in range(m):
        # cursor[i] = row i's first entry with k >= r0 (e: the entries before it); start[k] += column k's
        q, nnz, p0 = 0, sp.nnz[i], sp.start[i]
        while q < nnz and _col(lidx, pidx, p0 + q) < r0:
            q = q + 1
        cursor[i] = q
        e = e + q
        while q < nnz and _col(lidx, pidx, p0 + q) < r1:
            k = _col(lidx, pidx, p0 + q)
            start[k] = start[k] + 1
            q = q + 1
    e0 = e
    for k in range(r0, r1):
        # start[k] = e0 + the counts of the columns r0 ... k - 1
        e, start[k] = e + start[k], e
    for i in range(m):
        # append (i * ld, x[i, k]) to column k's entries for each of row i's nonzeros with r0 <= k < r1
        q, nnz, p0 = cursor[i], sp.nnz[i], sp.start[i]
        while q < nnz and _col(lidx, pidx, p0 + q) < r1:
            k = _col(lidx, pidx, p0 + q)
            e = start[k]
            if pcode != NULL:
                # packed entries (fastnn_columnp_*): (code << 8) | i
                pent[e] = <unsigned short>((<unsigned>pcode[p0 + q] << 8) | <unsigned>i)
            else:
                ent[2 * e] = lval[p0 + q]
                (<int*>(ent + 2 * e + 1))[0] = <int>(i * ld)
            start[k] = e + 1
            q = q + 1
    return e0


cdef inline void _sparse_ends(intp m, intp n_in, const Sparse* sp, floating* G) noexcept nogil:
    """The first pass of sorting the chunk's nonzeros by input (as _sparse_sort, all inputs) when
    its rows are then placed from both ends (_sparse_place_rows): start[k] (G's first n_in intp) =
    where column k's entries end, and the next two arrays of n_in intp in G, front[k] and back[k],
    where its entries begin and end."""
    cdef intp* start = <intp*>G
    cdef intp* front = start + n_in
    cdef intp* back = start + 2 * n_in
    cdef const int* lidx = sp.lidx
    cdef const unsigned short* pidx = sp.pidx
    cdef intp i, p, k, e
    for k in range(n_in):
        start[k] = 0
    for i in range(m):
        # start[k] += 1 for each of row i's nonzeros x[i, k]
        if pidx != NULL:
            for p in range(sp.start[i], sp.start[i] + sp.nnz[i]):
                start[pidx[p]] = start[pidx[p]] + 1
        else:
            for p in range(sp.start[i], sp.start[i] + sp.nnz[i]):
                start[lidx[p]] = start[lidx[p]] + 1
    e = 0
    for k in range(n_in):
        # front[k] = the counts of the columns 0 ... k - 1; back[k] = start[k] = front[k] + column k's
        front[k] = e
        e = e + start[k]
        back[k] = e
        start[k] = e


cdef inline void _sparse_place_rows(intp i0, intp i1, bint from_back, intp n_in, intp ld, const Sparse* sp,
                                    floating* G) noexcept nogil:
    """The second pass (after _sparse_ends): rows i0 ... i1 - 1's nonzeros x[i, k] put among column
    k's entries (each its value and its sample's offset i * ld in delta, or packed, as _sparse_sort
    puts them), the rows ascending at front[k] on, or (from_back) descending just before back[k]. Rows taken
    from the front by one thread and from the back by another, each in order, leave every column's
    entries with their samples ascending, as _sparse_sort does."""
    cdef intp* cursor = <intp*>G + (2 * n_in if from_back else n_in)
    cdef floating* ent = G + _entries_at(G, n_in)
    cdef unsigned short* pent = <unsigned short*>ent
    # the lists, packed (pidx not NULL: a loop of its own, measured 1% faster epochs than one loop through
    # _col) or not
    cdef const int* lidx = sp.lidx
    cdef const floating* lval = <const floating*>sp.lval
    cdef const unsigned short* pidx = sp.pidx
    cdef const unsigned char* pcode = sp.pcode
    cdef intp d = -1 if from_back else 0     # the entry is at cursor[k] + d, the cursor moves by 2d + 1
    cdef intp i, j, p, k, e
    for j in range(i1 - i0):
        i = i1 - 1 - j if from_back else i0 + j
        # the entry at front[k] (then front[k] += 1), or just before back[k] (then back[k] -= 1), for
        # each of row i's nonzeros x[i, k]
        if pidx != NULL:
            for p in range(sp.start[i], sp.start[i] + sp.nnz[i]):
                k = pidx[p]
                e = cursor[k] + d
                pent[e] = <unsigned short>((<unsigned>pcode[p] << 8) | <unsigned>i)
                cursor[k] = e + 1 + d
        else:
            for p in range(sp.start[i], sp.start[i] + sp.nnz[i]):
                k = lidx[p]
                e = cursor[k] + d
                ent[2 * e] = lval[p]
                (<int*>(ent + 2 * e + 1))[0] = <int>(i * ld)
                cursor[k] = e + 1 + d


cdef inline intp _claimed_rows(bint from_back, intp most, intp m, intp n_in, intp ld, const Sparse* sp,
                               floating* G, long long* blocks, long long* until=NULL) noexcept nogil:
    """Places (_sparse_place_rows) up to `most` of the blocks of PLACE_ROWS rows left in the range
    *blocks (fastnn_claim), from the front or the back; with until, only while *until is not yet
    set (fastnn_is_set), checked before each block. Returns how many it placed."""
    global claimed_blocks
    cdef int b
    cdef intp placed = 0
    while most > 0 and (until == NULL or not fastnn_is_set(until)):
        b = fastnn_claim(blocks, from_back)
        if b < 0:
            break
        _sparse_place_rows(b * PLACE_ROWS, min(m, b * PLACE_ROWS + PLACE_ROWS), from_back, n_in, ld, sp, G)
        if from_back:
            fastnn_fetch_add(&claimed_blocks, 1)
        most = most - 1
        placed = placed + 1
    return placed


cdef inline void _sparse_sums(intp r0, intp r1, intp e0, intp pa, intp pb, intp n_in, intp n_out, intp ld,
                              intp ds, const Sparse* sp,
                              const floating* delta, floating* G, floating* C, int mode, const Step* op,
                              floating* v, floating* m1, floating* m2, floating l2,
                              fastnn_queue_d* Q=NULL) noexcept nogil:
    """Rows r0 ... r1 (inputs) of nabla_WT = x.T @ delta, then per mode as _rows, from the entries
    _sparse_sort put in G (column r0's begin at e0). Row k is summed over its column's entries in
    registers (fastnn_column_*, up to 4 panels of JB at a time; two rows at a time with
    fastnn_column2_*, up to 8 vectors, when pairs), in the dense kernel's order
    (samples ascending, from 0), and its epilogue runs on it at once. A column no sample touches
    gets a zero gradient (its epilogue still runs): exactly what the dense kernel gives it.
    With a queue Q (float64 Adam steps, _claimed_sums) and panels pa ... pb in one group of PG,
    each pair of rows' steps are queued instead, and run among the next pairs' multiply-adds
    (fastnn_column2_queue_d); the caller runs those still waiting at the end. Packed entries
    (sp.pidx not NULL: _sparse_sort) give their sample's row i, at delta + i * ds."""
    cdef intp* start = <intp*>G
    cdef const floating* ent = G + _entries_at(G, n_in)
    # packed entries (the lists packed: _sparse_sort) and the values their codes stand for
    cdef const unsigned short* pent = <const unsigned short*>ent if sp.pidx != NULL else NULL
    cdef const floating* tab = <const floating*>sp.ptable
    cdef floating acc[4 * JB]
    cdef floating acc2[4 * JB]
    cdef intp k, n_k, n_k2, e1, p, p0, off, W = 64 // sizeof(floating), PG = 8 // (JB // W)
    cdef int n_p, n_used, half
    cdef intp real, q, j = 0, slot = 0
    cdef floating* sums1
    cdef floating* sums2
    cdef bint queued = False
    if floating is double:
        queued = Q != NULL and pb - pa <= PG
    # now column k's entries are e0 (for k = r0) or start[k - 1], up to start[k]
    k = r0
    while k + 1 < r1 and pairs:
        # columns k and k + 1 together (fastnn_column2_*), up to 8 vectors (PG panels) at a time
        n_k, e1 = start[k] - e0, start[k]
        n_k2 = start[k + 1] - e1
        p0 = pa
        while p0 < pb:
            n_p = <int>min(PG, pb - p0)
            n_used = <int>min(n_p * JB, n_out - p0 * JB)
            half = _half_line(W, n_used)
            # sums1 = x[:, k] @ delta[:, panels p0 ... p0 + n_p], sums2 the same for k + 1 (past n_out: 0)
            sums1, sums2 = acc, acc2
            if floating is float:
                if pent != NULL:
                    fastnn_column2p_f(pent + e0, n_k, pent + e1, n_k2, tab, delta + p0 * JB, ds,
                                      <int>((n_used + W - 1) // W), <int>(n_p * JB // W), half, sums1, sums2)
                else:
                    fastnn_column2_f(ent + 2 * e0, n_k, ent + 2 * e1, n_k2, delta + p0 * JB,
                                     <int>((n_used + W - 1) // W), <int>(n_p * JB // W), sums1, sums2)
            elif queued:
                # into the pair's slot of Q's sums, once the steps queued from that slot QSLOTS pairs
                # ago are done; Q's waiting steps run meanwhile
                slot = Q.pairs % FASTNN_QSLOTS
                if Q.pairs >= FASTNN_QSLOTS:
                    fastnn_jobs_until_d(Q, Q.slot_end[slot])
                sums1 = Q.acc + slot * FASTNN_QSLOT
                sums2 = sums1 + PG * JB
                if pent != NULL:
                    fastnn_column2p_queue_d(pent + e0, n_k, pent + e1, n_k2, tab, delta + p0 * JB, ds,
                                            <int>((n_used + W - 1) // W), <int>(n_p * JB // W), half, sums1, sums2,
                                            Q)
                else:
                    fastnn_column2_queue_d(ent + 2 * e0, n_k, ent + 2 * e1, n_k2, delta + p0 * JB,
                                           <int>((n_used + W - 1) // W), <int>(n_p * JB // W), sums1, sums2, Q)
                j = Q.tail
            elif pent != NULL:
                fastnn_column2p_d(pent + e0, n_k, pent + e1, n_k2, tab, delta + p0 * JB, ds,
                                  <int>((n_used + W - 1) // W), <int>(n_p * JB // W), half, sums1, sums2)
            else:
                fastnn_column2_d(ent + 2 * e0, n_k, ent + 2 * e1, n_k2, delta + p0 * JB,
                                 <int>((n_used + W - 1) // W), <int>(n_p * JB // W), sums1, sums2)
            for p in range(n_p):
                off = (p0 + p) * n_in * JB + k * JB
                real = n_out - (p0 + p) * JB        # the panel's real columns (more than JB: all)
                if floating is double:
                    if queued:
                        # queued instead: a step on each vector of 8 of the two rows' real columns (an
                        # optimizer step skips the panel's padding columns: _epilogue_width)
                        for q in range(_epilogue_width(C, mode, real) // W):
                            Q.off[j % FASTNN_QJOBS], Q.g[j % FASTNN_QJOBS] = off + q * W, sums1 + p * JB + q * W
                            Q.off[(j + 1) % FASTNN_QJOBS] = off + JB + q * W
                            Q.g[(j + 1) % FASTNN_QJOBS] = sums2 + p * JB + q * W
                            j = j + 2
                        continue
                _epilogue(mode, op, real, C + off, sums1 + p * JB, _at(v, off), _at(m1, off), _at(m2, off), l2)
                off = off + JB
                _epilogue(mode, op, real, C + off, sums2 + p * JB, _at(v, off), _at(m1, off), _at(m2, off), l2)
            if floating is double:
                if queued:
                    Q.tail, Q.slot_end[slot], Q.pairs = j, j, Q.pairs + 1
            p0 = p0 + n_p
        e0 = start[k + 1]
        k = k + 2
    while k < r1:
        n_k = start[k] - e0     # column k's count of entries
        for p0 in range(pa, pb, 4):
            n_p = <int>min(4, pb - p0)
            n_used = <int>min(n_p * JB, n_out - p0 * JB)
            # acc = x[:, k] @ delta[:, panels p0 ... p0 + n_p]  (its columns past n_out: 0)
            if pent != NULL:
                if floating is float:
                    fastnn_columnp_f(pent + e0, n_k, tab, delta + p0 * JB, ds, <int>((n_used + W - 1) // W),
                                     <int>(n_p * JB // W), acc)
                else:
                    fastnn_columnp_d(pent + e0, n_k, tab, delta + p0 * JB, ds, <int>((n_used + W - 1) // W),
                                     <int>(n_p * JB // W), acc)
            elif floating is float:
                fastnn_column_f(ent + 2 * e0, n_k, delta + p0 * JB, <int>((n_used + W - 1) // W),
                                <int>(n_p * JB // W), acc)
            else:
                fastnn_column_d(ent + 2 * e0, n_k, delta + p0 * JB, <int>((n_used + W - 1) // W),
                                <int>(n_p * JB // W), acc)
            for p in range(n_p):
                off = (p0 + p) * n_in * JB + k * JB
                real = n_out - (p0 + p) * JB
                _epilogue(mode, op, real, C + off, acc + p * JB, _at(v, off), _at(m1, off), _at(m2, off), l2)
        e0 = start[k]
        k = k + 1


cdef inline void _claimed_sums(intp t, intp n_threads, intp n_in, intp n_out, intp ld, const Sparse* sp,
                               const floating* delta, floating* G, floating* C, int mode, const Step* op,
                               floating* v, floating* m1, floating* m2, floating l2,
                               long long* ranges, long long* ready=NULL, intp split=0, intp ds=0,
                               bint steal=True) noexcept nogil:
    """Thread t's panels (_panel_share: those it computed in the forward pass) of layer 0's gradient
    and epilogue (_sparse_sums, entries sorted for all inputs) in blocks of CLAIM_INPUTS inputs,
    then the blocks of the other threads' panels that they have not yet reached. Thread u's blocks
    are the range ranges[u * CLAIM_LINE] (fastnn_claim): u claims them from the front, the others
    from the back. With 100 outputs on 2 threads, thread 0's panels have 64 real outputs and thread
    1's 36, and a core may be slowed down by a neighbour; a thread then waits at most for another's
    last block. Each block of each panel is summed by one thread: the same sums. Measured on the
    MNIST default fit on 2 threads (in-process A/B, alternate epochs, 8 rounds): float64 epochs
    1-6% faster in all 8, float32 0.5-8% faster in 7 (1% slower in one); claiming in the forward
    pass as well was 2-5% slower when the host was busy (the thief reads the other core's WT).
    With ready (_loss_grad_local), a thread waits for ready[u * CLAIM_LINE] (fastnn_wait: thread
    u's columns of delta are done) before it claims a block of thread u's. With split > 0
    (_loss_grad_local), thread u's panels of delta are at delta + u * split, in rows of their own
    (the sorted entries' offsets give the rows; packed entries give the rows, of ds each), instead of
    in shared rows. Without steal, only thread t's own panels."""
    cdef intp j, u, blk, k0, k1, P = ld // JB
    cdef bint other
    cdef fastnn_queue_d queue
    cdef fastnn_queue_d* Q = NULL
    global claimed_blocks, queued_jobs
    if floating is double:
        if queue_steps and fastnn_queue_ok and pairs and mode == STEP and op.kind == ADAM:
            # Adam's steps queued (_sparse_sums): the same operations as _step's
            Q = &queue
            Q.C, Q.m1, Q.m2, Q.l2, Q.head, Q.tail, Q.pairs = C, m1, m2, l2, 0, 0, 0
            Q.inv_m, Q.gs, Q.lr_t, Q.eps = op.inv_m, op.gscale, op.lr_t, op.eps
            Q.b1, Q.c1, Q.b2, Q.c2 = op.b1, 1 - op.b1, op.b2, 1 - op.b2
    for j in range(n_threads):
        u = (t + claim_rotation + j) % n_threads
        other = u != t
        if other and not steal:
            continue
        if other and ready != NULL:
            fastnn_wait(ready + u * CLAIM_LINE)
        blk = fastnn_claim(ranges + u * CLAIM_LINE, other)
        while blk >= 0:
            k0 = blk * CLAIM_INPUTS
            k1 = min(n_in, k0 + CLAIM_INPUTS)
            # column k0's entries begin where column k0 - 1's end
            # (split: thread u's panel p of delta at du + p * JB, du = its block less its first panel)
            _sparse_sums(k0, k1, 0 if k0 == 0 else (<intp*>G)[k0 - 1], _panel_share(u, n_threads, P),
                         _panel_share(u + 1, n_threads, P), n_in, n_out, ld, ld if split == 0 else ds, sp,
                         delta if split == 0 else delta + u * split - _panel_share(u, n_threads, P) * JB, G, C,
                         mode, op, v, m1, m2, l2, Q)
            if other:
                fastnn_fetch_add(&claimed_blocks, 1)
            blk = fastnn_claim(ranges + u * CLAIM_LINE, other)
    if Q != NULL:
        # the steps still waiting
        fastnn_jobs_until_d(Q, Q.tail)
        fastnn_fetch_add(&queued_jobs, Q.tail)


cdef inline void _sparse_grad_rows(intp r0, intp r1, intp m, intp n_in, intp n_out, intp ld,
                                   const Sparse* sp, const floating* delta, floating* G, floating* C, int mode,
                                   const Step* op, floating* v, floating* m1, floating* m2,
                                   floating l2) noexcept nogil:
    """Rows r0 ... r1 (inputs) of nabla_WT = x.T @ delta from the nonzeros of x: their entries
    sorted by input (_sparse_sort), then summed (_sparse_sums)."""
    cdef intp e0 = _sparse_sort(r0, r1, m, n_in, ld, sp, G)
    _sparse_sums(r0, r1, e0, 0, ld // JB, n_in, n_out, ld, ld, sp, delta, G, C, mode, op, v, m1, m2, l2)


cdef void _sparse_grad(intp m, intp n_in, intp n_out, intp ld, const Sparse* sp, const floating* delta,
                       floating* G, floating* C, int mode, const Step* op, floating* v, floating* m1,
                       floating* m2, floating l2, int n_threads) noexcept nogil:
    """nabla_WT = x.T @ delta (n_in, ld; n_out real columns) into C (WT's panel layout; = / += /
    optimizer step by mode) from the nonzeros of x; G is its workspace (_columns_size). On several
    threads each takes a contiguous range of inputs (rows of C): the same sums on any thread."""
    cdef intp t, per
    if n_threads > 1 and n_in >= 2 * n_threads and sp.total * ld >= PARALLEL_WORK:
        per = (n_in + n_threads - 1) // n_threads
        for t in prange(n_threads, num_threads=n_threads, schedule="static"):
            _sparse_grad_rows(t * per, min(n_in, t * per + per), m, n_in, n_out, ld, sp, delta, G, C, mode,
                              op, v, m1, m2, l2)
    else:
        _sparse_grad_rows(0, n_in, m, n_in, n_out, ld, sp, delta, G, C, mode, op, v, m1, m2, l2)


cdef inline intp _ahead_left(const Ahead* pf) noexcept nogil:
    """The cache lines pf has yet to prefetch."""
    return 0 if pf == NULL else (pf.m - pf.i) * pf.lines - pf.line


cdef inline void _prefetch_ahead(Ahead* pf, intp count) noexcept nogil:
    """Prefetch the next count lines of pf (fewer when fewer are left; none when pf is NULL)."""
    if pf == NULL:
        return
    while count > 0 and pf.i < pf.m:
        fastnn_prefetch(pf.X + pf.rows[pf.i] * pf.row_bytes + pf.line * 64)
        pf.line = pf.line + 1
        if pf.line == pf.lines:
            pf.line = 0
            pf.i = pf.i + 1
        count = count - 1


cdef inline void _prefetch_rest(Ahead* pf) noexcept nogil:
    """Prefetch all the lines pf has left (none when pf is NULL)."""
    _prefetch_ahead(pf, _ahead_left(pf))


cdef inline void _union_rows(const UnionBlock* R_, const int* U, intp n_union, const floating* X,
                             const intp* rows, intp n_in, const floating* B, floating* C, intp ldc,
                             Ahead* pf) noexcept nogil:
    """C[r, :JB] = sum over q < n_union of x[r, U[q]] * B[U[q], :JB] for r < R, x[r] = X[rows[r]]:
    the dense forward's sums (_rows, OVERWRITE) without the inputs no row of the chunk uses (U: the
    others, ascending), whose terms are all 0 * B. R = 1, 2, 4, 5, 8 or 10 by the type of R_.
    Every 8 inputs, two lines of pf are prefetched."""
    cdef int R = (10 if UnionBlock is Rows10 else (8 if UnionBlock is Rows8 else (5 if UnionBlock is Rows5 else (
        4 if UnionBlock is Rows4 else (2 if UnionBlock is Rows2 else 1)))))
    cdef floating acc[10 * JB]
    cdef const floating* x[10]
    cdef floating xv
    cdef const floating* brow
    cdef intp q, k
    cdef int r, u
    for r in range(R):
        x[r] = X + rows[r] * n_in
    for u in range(R * JB):
        acc[u] = 0
    for q in range(n_union):
        if q % 8 == 7:
            _prefetch_ahead(pf, 2)
        k = U[q]
        brow = B + k * JB
        for r in range(R):
            xv = x[r][k]
            # acc[r] += x[r, k] * B[k, :JB]
            for u in range(JB):
                acc[r * JB + u] = acc[r * JB + u] + xv * brow[u]
    for r in range(R):
        for u in range(JB):
            C[r * ldc + u] = acc[r * JB + u]


cdef inline void _union_forward_task(intp blk, intp m, intp n_in, intp ld, const Sparse* sp, const floating* WT,
                                     floating* z, Ahead* pf) noexcept nogil:
    """Column panel blk of z = x @ WT over sp.union_k, its rows in as few blocks as the register
    sums allow (at most 10 rows in float, 5 in double), of sizes as even as the block types allow."""
    cdef intp r = 0, R, passes, target
    cdef intp most = 10 if floating is float else 5
    cdef const floating* X = <const floating*>sp.X
    cdef const floating* B = WT + blk * n_in * JB
    cdef floating* C
    while r < m:
        # the rows left in (m - r) / most passes (rounded up), as even as can be: the largest block
        # size not over their share
        passes = (m - r + most - 1) // most
        target = (m - r + passes - 1) // passes
        R = 10 if target >= 10 else (8 if target >= 8 else (5 if target >= 5 and floating is double else (
            4 if target >= 4 else (2 if target >= 2 else 1))))
        C = z + r * ld + blk * JB
        if R == 10:
            _union_rows(<const Rows10*>NULL, sp.union_k, sp.n_union, X, sp.rows + r, n_in, B, C, ld, pf)
        elif R == 8:
            _union_rows(<const Rows8*>NULL, sp.union_k, sp.n_union, X, sp.rows + r, n_in, B, C, ld, pf)
        elif R == 5:
            _union_rows(<const Rows5*>NULL, sp.union_k, sp.n_union, X, sp.rows + r, n_in, B, C, ld, pf)
        elif R == 4:
            _union_rows(<const Rows4*>NULL, sp.union_k, sp.n_union, X, sp.rows + r, n_in, B, C, ld, pf)
        elif R == 2:
            _union_rows(<const Rows2*>NULL, sp.union_k, sp.n_union, X, sp.rows + r, n_in, B, C, ld, pf)
        else:
            _union_rows(<const Rows1*>NULL, sp.union_k, sp.n_union, X, sp.rows + r, n_in, B, C, ld, pf)
        r = r + R


cdef void _union_forward(intp m, intp n_in, intp ld, const Sparse* sp, const floating* WT, floating* z,
                         int n_threads) noexcept nogil:
    """z = x @ WT  (m, ld) over the inputs some row of x uses, sp.union_k (sp.by_union; x[i] =
    X[rows[i]]); WT in panels of JB columns. On several threads each takes whole panels (and
    nothing is prefetched ahead); on one, sp.ahead is prefetched along."""
    cdef intp blk, n_blocks = ld // JB
    if n_threads > 1 and n_blocks > 1 and sp.n_union * m * ld >= PARALLEL_WORK:
        for blk in prange(n_blocks, num_threads=n_threads, schedule="static"):
            _union_forward_task(blk, m, n_in, ld, sp, WT, z, NULL)
    else:
        for blk in range(n_blocks):
            _union_forward_task(blk, m, n_in, ld, sp, WT, z, sp.ahead)


cdef inline void _union_grad_rows(const RowBlock* R_, const int* U, intp m, const floating* X, const intp* rows,
                                  intp n_in, const floating* B, intp ldb, floating* C, int mode, const Step* op,
                                  floating* v, floating* m1, floating* m2, floating l2) noexcept nogil:
    """acc[r] = sum over i < m of x[i, U[r]] * B[i, :JB] for r < R <= RB (the dense gradient's sum for the
    input k = U[r]: every sample, in order; x[i] = X[rows[i]]), then per mode (as _rows) on
    C[U[r] * JB : +JB] (and v, m1, m2 at the same offsets); plain SGD without _epilogue's dispatch
    per row. R = 1, 2, 4 or 8 by the type of R_."""
    cdef int R = 8 if RowBlock is Rows8 else (4 if RowBlock is Rows4 else (2 if RowBlock is Rows2 else 1))
    cdef floating acc[RB * JB]
    cdef floating xv, g
    cdef const floating* brow
    cdef const floating* x
    cdef floating* w
    cdef intp i, off
    cdef int r, u
    for u in range(R * JB):
        acc[u] = 0
    for i in range(m):
        brow = B + i * ldb
        x = X + rows[i] * n_in
        for r in range(R):
            xv = x[U[r]]
            # acc[r] += x[i, k_r] * delta[i, panel]
            for u in range(JB):
                acc[r * JB + u] = acc[r * JB + u] + xv * brow[u]
    if mode == STEP and _is_plain_sgd(op, l2):
        # plain SGD, as _step: w -= (eta * gscale / m) * acc
        g = <floating>_sgd_rate(op)
        for r in range(R):
            w = C + U[r] * JB
            for u in range(JB):
                w[u] = w[u] - g * acc[r * JB + u]
        return
    for r in range(R):
        off = U[r] * JB
        _epilogue(mode, op, JB, C + off, acc + r * JB, _at(v, off), _at(m1, off), _at(m2, off), l2)


cdef inline void _union_task(intp group, intp blk, intp m, intp n_in, intp ld, const Sparse* sp,
                             const floating* delta, floating* C, int mode, const Step* op, floating* v,
                             floating* m1, floating* m2, floating l2) noexcept nogil:
    """Inputs U[group*RB ...] (at most RB; as RB, 4, 2 and 1) of column panel blk of nabla_WT = x.T @ delta."""
    cdef intp r = group * RB, stop = min(group * RB + RB, sp.n_union), R, off = blk * n_in * JB
    cdef const floating* X = <const floating*>sp.X
    cdef const floating* d = delta + blk * JB
    cdef floating* Cb = C + off
    cdef floating* vb = _at(v, off)
    cdef floating* m1b = _at(m1, off)
    cdef floating* m2b = _at(m2, off)
    while r < stop:
        # float: up to RB inputs at once (RB * JB floats of sums: 16 AVX-512 registers, 32 AVX2);
        # double: up to 4
        R = RB if r + RB <= stop and floating is float else (4 if r + 4 <= stop else (2 if r + 2 <= stop else 1))
        if R == RB:
            _union_grad_rows(<const Rows8*>NULL, sp.union_k + r, m, X, sp.rows, n_in, d, ld, Cb, mode, op,
                             vb, m1b, m2b, l2)
        elif R == 4:
            _union_grad_rows(<const Rows4*>NULL, sp.union_k + r, m, X, sp.rows, n_in, d, ld, Cb, mode, op,
                             vb, m1b, m2b, l2)
        elif R == 2:
            _union_grad_rows(<const Rows2*>NULL, sp.union_k + r, m, X, sp.rows, n_in, d, ld, Cb, mode, op,
                             vb, m1b, m2b, l2)
        else:
            _union_grad_rows(<const Rows1*>NULL, sp.union_k + r, m, X, sp.rows, n_in, d, ld, Cb, mode, op,
                             vb, m1b, m2b, l2)
        r = r + R


cdef void _union_grad(intp m, intp n_in, intp ld, const Sparse* sp, const floating* delta, floating* C,
                      int mode, const Step* op, floating* v, floating* m1, floating* m2, floating l2,
                      int n_threads) noexcept nogil:
    """nabla_WT = x.T @ delta (n_in, ld) into C (WT's panel layout; = / += / optimizer step by mode) over
    the inputs some row of x uses, sp.union_k (sp.by_union): the dense kernel's sums for those, all
    samples in order. The other inputs' gradient rows are 0: their epilogue runs (C = 0; a momentum,
    Adam or weight-decay step) except where it leaves C as it is (C += 0; plain SGD w - g * 0, g > 0).
    On several threads the tasks (a group of inputs times a panel) write disjoint parts of C."""
    cdef floating zero[JB]
    cdef intp task, k, q, blk, off, n_blocks = ld // JB, step
    cdef intp n_groups = (sp.n_union + RB - 1) // RB, n_tasks = n_groups * n_blocks
    cdef bint skip_empty = mode == ACCUMULATE or (
        mode == STEP and _is_plain_sgd(op, l2) and <floating>_sgd_rate(op) > 0)
    if n_threads > 1 and n_tasks > 1 and sp.n_union * m * ld >= PARALLEL_WORK:
        for task in prange(n_tasks, num_threads=n_threads, schedule="static"):
            _union_task(task % n_groups, task // n_groups, m, n_in, ld, sp, delta, C, mode, op, v, m1, m2, l2)
    else:
        # the lines left of the next batch, spread over the tasks
        step = (_ahead_left(sp.ahead) + n_tasks - 1) // max(1, n_tasks)
        for task in range(n_tasks):
            _union_task(task % n_groups, task // n_groups, m, n_in, ld, sp, delta, C, mode, op, v, m1, m2, l2)
            _prefetch_ahead(sp.ahead, step)
    if skip_empty:
        return
    # the inputs no row uses: gradient 0
    for k in range(JB):
        zero[k] = 0
    q = 0
    for k in range(n_in):
        if q < sp.n_union and sp.union_k[q] == k:
            q = q + 1
            continue
        for blk in range(n_blocks):
            off = blk * n_in * JB + k * JB
            _epilogue(mode, op, JB, C + off, zero, _at(v, off), _at(m1, off), _at(m2, off), l2)


cdef inline void _bias_activate(intp act, intp n_out, intp ld, const floating* b,
                                floating* z, floating* a) noexcept nogil:
    """One row: z += b; a = f(z); padded columns of z and a set to 0 (b is padded with zeros)."""
    cdef intp j
    # z += b; a = f(z) over the padded row for the sigmoid (whole vectors; the padding is reset below)
    cdef intp n = ld if act == SIGMOID else n_out
    for j in range(n):
        z[j] = z[j] + b[j]
    _activate(act, z, a, n)
    for j in range(n_out, ld):
        # z[j] = a[j] = 0, stored where they are not (_put)
        _put(z + j, 0)
        _put(a + j, 0)


cdef void _forward(const Net* net, const floating* pk, const floating* x, intp m,
                   floating* z, floating* a, const Sparse* sp, intp l0) noexcept nogil:
    """Forward propagation of m rows x (m, sizes[0]) from layer l0 on (l0 > 0: from a[l0 - 1]);
    stores z[l] and a[l], rows of stride ld[l]. Layer 0 skips x's zeros when sp.on (by the lists,
    or by the union of the columns used)."""
    cdef intp l, i, n_in, n_out, ld, lda = net.sizes[0] if l0 == 0 else net.ld[l0 - 1]
    cdef const floating* a_prev = x if l0 == 0 else a + m * net.u_off[l0 - 1]
    cdef const floating* b
    cdef floating* zl
    cdef floating* al
    for l in range(l0, net.L):
        n_in, n_out, ld = net.sizes[l], net.sizes[l + 1], net.ld[l]
        zl = z + m * net.u_off[l]
        al = a + m * net.u_off[l]
        b = pk + net.bt_off[l]
        # z = a_prev @ WT   (m, ld); WT is stored as panels of JB columns, (n_in, JB) each
        if l == 0 and sp != NULL and sp.on and sp.by_union:
            _union_forward(m, n_in, ld, sp, pk + net.wt_off[0], zl, net.n_threads)
        elif l == 0 and sp != NULL and sp.on:
            # with the bias and activation, row by row
            _sparse_forward(m, n_in, n_out, ld, sp, pk + net.wt_off[0], b, net.act[0], zl, al, net.n_threads)
            a_prev, lda = al, ld
            continue
        else:
            _rows_all(m, n_in, a_prev, lda, 1, pk + net.wt_off[l], JB, n_in * JB, ld, zl, ld, JB,
                      OVERWRITE, NULL, NULL, NULL, NULL, 0, net.n_threads, n_out)
        # z[i] += b ; a[i] = f(z[i])  (padded columns: 0), row by row; on several threads when large
        if net.n_threads > 1 and m * n_out >= PARALLEL_ROWS:
            for i in prange(m, num_threads=net.n_threads, schedule="static"):
                _bias_activate(net.act[l], n_out, ld, b, zl + i * ld, al + i * ld)
        else:
            for i in range(m):
                _bias_activate(net.act[l], n_out, ld, b, zl + i * ld, al + i * ld)
        a_prev = al
        lda = ld


cdef inline void _column(const floating* src, intp ld, intp j, intp m, intp mp, floating* dst) noexcept nogil:
    """dst[:mp] = src[:m, j] followed by zeros (a column of a row-major (m, ld) matrix)."""
    cdef intp i
    for i in range(m):
        dst[i] = src[i * ld + j]
    for i in range(m, mp):
        dst[i] = 0


cdef inline void _scale_by_derivative(intp act, intp n, const floating* z, const floating* a,
                                      floating* d) noexcept nogil:
    """d[p] *= f'(z[p]) for p < n: one loop per activation, each with the activation a constant (a
    test of act inside the loop kept it scalar); ReLU's by fastnn_relu_scale_*, which GCC does not
    turn into a branch."""
    cdef intp p
    if act == SIGMOID:
        for p in range(n):
            d[p] = d[p] * _derivative(SIGMOID, z[p], a[p])
    elif act == TANH:
        for p in range(n):
            d[p] = d[p] * _derivative(TANH, z[p], a[p])
    elif act == RELU:
        # d[p] *= (z[p] > 0): _derivative's 1 or 0 (fastnn_relu_scale_*: without a branch)
        if floating is float:
            fastnn_relu_scale_f(n, z, d)
        else:
            fastnn_relu_scale_d(n, z, d)
    else:
        for p in range(n):
            d[p] = d[p] * _derivative(IDENTITY, z[p], a[p])


def _relu_scale(floating[::1] z, floating[::1] d):
    """(tests) d *= (z > 0) in place, by _scale_by_derivative: ReLU's derivative (1, or 0 for z <= 0
    and NaN) as the kernels apply it to delta, a product (a negative d times 0 is -0.0)."""
    if z.shape[0] != d.shape[0]:
        raise ValueError(f"z and d differ in length: {z.shape[0]} and {d.shape[0]}")
    if d.shape[0] > 0:
        with nogil:
            _scale_by_derivative(RELU, d.shape[0], &z[0], &z[0], &d[0])


cdef inline void _scaled_row(intp act, const floating* col, intp stride, intp n_in, intp ld_prev,
                             const floating* z, const floating* a, floating* out) noexcept nogil:
    """out[p] = col[p * stride] * f'(z[p]) for p < n_in, zeros up to ld_prev."""
    cdef intp p
    for p in range(n_in):
        out[p] = col[p * stride]
    _scale_row(act, n_in, ld_prev, z, a, out)


cdef inline void _transpose_panel(const floating* panel, intp n_in, intp cols, intp ld_prev,
                                  floating* W) noexcept nogil:
    """W[u, :] = panel[:, u] for u < cols, zeros from n_in to ld_prev (panel: (n_in, JB) of WT)."""
    cdef intp b, p0, p, pe
    cdef int u
    for b in range((n_in + JB - 1) // JB):
        p0, pe = b * JB, min(b * JB + JB, n_in)
        # W[u, p0:pe] = panel[p0:pe, u], a JB x JB block at a time (both sides in cache)
        for u in range(cols):
            for p in range(p0, pe):
                W[u * ld_prev + p] = panel[p * JB + u]
    for u in range(cols):
        for p in range(n_in, ld_prev):
            W[u * ld_prev + p] = 0


cdef inline void _scale_row(intp act, intp n_in, intp ld_prev, const floating* z, const floating* a,
                            floating* d) noexcept nogil:
    """d[p] *= f'(z[p]) for p < n_in, zeros up to ld_prev."""
    cdef intp p
    _scale_by_derivative(act, n_in, z, a, d)
    for p in range(n_in, ld_prev):
        d[p] = 0


cdef void _backprop_delta(intp act, intp m, intp n_in, intp n_out, intp ld, intp ld_prev, const floating* delta,
                          const floating* WT, const floating* z_prev, const floating* a_prev,
                          floating* delta_prev, floating* scratch, int n_threads) noexcept nogil:
    """delta_prev = (delta @ WT.T) * f'(z_prev); padded columns of delta_prev 0.

    delta (m, ld) with n_out real columns, WT (n_in, ld), z_prev, a_prev and delta_prev
    (m, ld_prev). Three ways, chosen by shape only (never by n_threads):
    - n_out <= m: W = WT.T (n_out, ld_prev) is copied into scratch (no larger than delta_prev)
      and delta_prev = delta @ W runs on the row kernel, samples as rows;
    - else below ROWS_BACKPROP samples: one dot product per element, which wastes no padded lanes;
    - else on the row kernel with samples as the vector lanes: DT = delta.T (ld, mp),
      DPT = WT @ DT (n_in, mp), mp = m rounded up to JB (scratch holds both).
    """
    cdef intp i, j, p, q, mp, blk
    cdef floating acc
    cdef floating* DT
    cdef floating* DPT
    cdef floating* W
    if n_out <= m:
        W = scratch
        # W[j, p] = WT[p, j]  (zeros for p >= n_in), one panel of JB outputs at a time
        for blk in range((n_out + JB - 1) // JB):
            _transpose_panel(WT + blk * n_in * JB, n_in, min(JB, n_out - blk * JB), ld_prev, W + blk * JB * ld_prev)
        # delta_prev = delta[:, :n_out] @ W   (m, ld_prev): rows are samples, k runs over outputs j
        _rows_all(m, n_out, delta, ld, 1, W, ld_prev, JB, ld_prev, delta_prev, ld_prev, JB,
                  OVERWRITE, NULL, NULL, NULL, NULL, 0, n_threads, n_in)
        # delta_prev *= f'(z_prev)  (padded columns: 0)
        if n_threads > 1 and m * n_in >= PARALLEL_ROWS:
            for i in prange(m, num_threads=n_threads, schedule="static"):
                _scale_row(act, n_in, ld_prev, z_prev + i * ld_prev, a_prev + i * ld_prev, delta_prev + i * ld_prev)
        else:
            for i in range(m):
                _scale_row(act, n_in, ld_prev, z_prev + i * ld_prev, a_prev + i * ld_prev, delta_prev + i * ld_prev)
        return
    if m >= ROWS_BACKPROP:
        mp = (m + JB - 1) // JB * JB
        DT = scratch
        DPT = scratch + ld * mp
        # DT[j] = delta[:, j], padded with zeros
        if n_threads > 1 and m * ld >= PARALLEL_ROWS:
            for j in prange(ld, num_threads=n_threads, schedule="static"):
                _column(delta, ld, j, m, mp, DT + j * mp)
        else:
            for j in range(ld):
                _column(delta, ld, j, m, mp, DT + j * mp)
        # DPT = WT @ DT, one panel of JB outputs at a time: rows are inputs p, k runs over outputs j
        for blk in range(ld // JB):
            _rows_all(n_in, JB, WT + blk * n_in * JB, JB, 1, DT + blk * JB * mp, mp, JB, mp, DPT, mp, JB,
                      OVERWRITE if blk == 0 else ACCUMULATE, NULL, NULL, NULL, NULL, 0, n_threads)
        # delta_prev[i, p] = DPT[p, i] * f'(z_prev[i, p])
        if n_threads > 1 and m * n_in >= PARALLEL_ROWS:
            for i in prange(m, num_threads=n_threads, schedule="static"):
                _scaled_row(act, DPT + i, mp, n_in, ld_prev, z_prev + i * ld_prev, a_prev + i * ld_prev,
                            delta_prev + i * ld_prev)
        else:
            for i in range(m):
                _scaled_row(act, DPT + i, mp, n_in, ld_prev, z_prev + i * ld_prev, a_prev + i * ld_prev,
                            delta_prev + i * ld_prev)
        return
    for i in range(m):
        for p in range(n_in):
            q = i * ld_prev + p
            # delta_prev[i, p] = (delta[i] @ WT[p]) * f'(z_prev[i, p]), panel by panel
            acc = 0
            for blk in range(ld // JB):
                acc = acc + _dot(delta + i * ld + blk * JB, WT + blk * n_in * JB + p * JB, JB)
            delta_prev[q] = acc * _derivative(act, z_prev[q], a_prev[q])
        for p in range(n_in, ld_prev):
            delta_prev[i * ld_prev + p] = 0


cdef inline void _bias_block(intp j0, intp m, intp ld, const floating* delta, floating* tb, int mode,
                             const Step* op, floating* v, floating* m1, floating* m2) noexcept nogil:
    """Biases j0 ... j0+JB: tb (= / +=) delta[:, j0:j0+JB].sum(0), or the optimizer step from it."""
    cdef floating bsum[JB]
    cdef intp i
    cdef int j
    for j in range(JB):
        bsum[j] = 0
    for i in range(m):
        # nabla_b[j0:j0+JB] += delta[i, j0:j0+JB]  (each sum over i ascending, JB of them in step)
        for j in range(JB):
            bsum[j] = bsum[j] + delta[i * ld + j0 + j]
    _epilogue(mode, op, JB, tb + j0, bsum, _at(v, j0), _at(m1, j0), _at(m2, j0), 0)


cdef void _backward(const Net* net, floating* pk, const floating* x, intp m, floating* target, int mode,
                    const Step* op, floating* v, floating* m1, floating* m2, floating l2,
                    floating* z, floating* a, floating* delta, floating* scratch,
                    Sparse* sp, floating* G, intp l_hi, intp l_lo, bint weights0) noexcept nogil:
    """Back-propagation through layers l_hi down to l_lo from delta[l_hi] (_loss_grad_chunk's
    arguments): each layer's delta of the layer below it (for l > 0), its weights' gradient (layer 0's
    only if weights0) and its biases', per mode."""
    cdef intp l, blk, ld, lda, n_in
    cdef const floating* a_prev
    cdef const floating* dl
    for l in range(l_hi, l_lo - 1, -1):
        n_in, ld = net.sizes[l], net.ld[l]
        a_prev = x if l == 0 else a + m * net.u_off[l - 1]
        lda = net.sizes[0] if l == 0 else net.ld[l - 1]
        dl = delta + m * net.u_off[l]
        if l > 0:
            _backprop_delta(net.act[l - 1], m, n_in, net.sizes[l + 1], ld, lda, dl, pk + net.wt_off[l],
                            z + m * net.u_off[l - 1], a_prev, delta + m * net.u_off[l - 1], scratch,
                            net.n_threads)
        # nabla_WT = a_prev.T @ delta   (n_in, ld), into WT's panels: rows are inputs, k runs over samples
        if l == 0 and not weights0:
            pass
        elif l == 0 and sp != NULL and sp.on and sp.by_union:
            _union_grad(m, n_in, ld, sp, dl, target + net.wt_off[0], mode, op, _at(v, net.wt_off[0]),
                        _at(m1, net.wt_off[0]), _at(m2, net.wt_off[0]), l2, net.n_threads)
        elif l == 0 and sp != NULL and sp.on:
            _sparse_grad(m, n_in, net.sizes[1], ld, sp, dl, G, target + net.wt_off[0], mode, op,
                         _at(v, net.wt_off[0]), _at(m1, net.wt_off[0]), _at(m2, net.wt_off[0]), l2, net.n_threads)
        else:
            _rows_all(n_in, m, a_prev, 1, lda, dl, ld, JB, ld, target + net.wt_off[l], JB, n_in * JB, mode, op,
                      _at(v, net.wt_off[l]), _at(m1, net.wt_off[l]), _at(m2, net.wt_off[l]), l2, net.n_threads,
                      net.sizes[l + 1])
        # nabla_b = delta.sum(0), one block of JB biases at a time (on several threads when large)
        if net.n_threads > 1 and m * ld >= PARALLEL_ROWS:
            for blk in prange(ld // JB, num_threads=net.n_threads, schedule="static"):
                _bias_block(blk * JB, m, ld, dl, target + net.bt_off[l], mode, op,
                            _at(v, net.bt_off[l]), _at(m1, net.bt_off[l]), _at(m2, net.bt_off[l]))
        else:
            for blk in range(ld // JB):
                _bias_block(blk * JB, m, ld, dl, target + net.bt_off[l], mode, op,
                            _at(v, net.bt_off[l]), _at(m1, net.bt_off[l]), _at(m2, net.bt_off[l]))


cdef inline bint _overlapped(const Net* net, intp m, const Sparse* sp) noexcept nogil:
    """Whether a chunk takes _loss_grad_overlap: layer 0 by the lists on several threads, later layers
    each small enough for one thread (under 4 * PARALLEL_WORK multiply-adds, padding included:
    MNIST's 100 -> 10 in batches of 200 is 640,000) and together long enough to hide the sort of layer
    0's entries. The sort costs about 6 cycles per entry, the later layers about 1 cycle per
    multiply-add of their forward pass (forward, back-propagation and gradient together), so on two
    threads the overlap gains while the entries are at most 0.3 times those multiply-adds. At most
    CLAIM_THREADS threads (the ranges of _claimed_sums are on the stack)."""
    cdef intp l, later = 0
    if (overlap_sort == 0 or net.n_threads < 2 or net.L < 2 or sp == NULL or not sp.on or sp.by_union
            or m < 2 or sp.total * net.ld[0] < PARALLEL_WORK or net.sizes[0] < 2 * net.n_threads
            or net.n_threads > CLAIM_THREADS):
        return False
    for l in range(1, net.L):
        if m * net.sizes[l] * net.ld[l] >= 4 * PARALLEL_WORK:
            return False
        later = later + m * net.sizes[l] * net.sizes[l + 1]
    return 10 * sp.total <= 3 * later


cdef inline double _loss_grad_whole(const Net* net, floating* pk,
                                    const floating* x, const floating* y, intp m,
                                    floating* target, int mode, const Step* op,
                                    floating* v, floating* m1, floating* m2, floating l2,
                                    floating* z, floating* a, floating* delta, floating* scratch,
                                    Sparse* sp, floating* G) noexcept nogil:
    """The chunk's forward pass, output layer and back-propagation from the calling thread, every
    product on net.n_threads (_loss_grad_chunk's path without a parallel region of its own; also
    the chunk of a region that got fewer threads than it shares its work out among). Returns the
    summed loss of the m rows."""
    cdef intp L = net.L
    cdef double loss
    _forward(net, pk, x, m, z, a, sp, 0)
    loss = _output(net, m, net.sizes[L], net.ld[L - 1], z + m * net.u_off[L - 1],
                   a + m * net.u_off[L - 1], y, delta + m * net.u_off[L - 1], <const floating*>sp.w)
    _backward(net, pk, x, m, target, mode, op, v, m1, m2, l2, z, a, delta, scratch, sp, G, L - 1, 0, True)
    return loss


cdef double _loss_grad_overlap(const Net* net, floating* pk,
                               const floating* x, const floating* y, intp m,
                               floating* target, int mode, const Step* op,
                               floating* v, floating* m1, floating* m2, floating l2,
                               floating* z, floating* a, floating* delta, floating* scratch,
                               Sparse* sp, floating* G) noexcept nogil:
    """_loss_grad_chunk in one parallel region (_overlapped): every thread computes its share of
    layer 0's forward pass (_sparse_share); then thread 0 runs the later layers forward and back
    down to delta[0] (on its own: they are small) while the others sort layer 0's entries by input
    (which needs no delta): on two threads, thread 1 counts them (_sparse_ends) and places them a
    block of rows at a time from the front, and thread 0, once done with the later layers, places
    the blocks left from the back (_claimed_rows); on more threads, each of threads 1 ... T - 1 a
    range of inputs (_sparse_sort). Then every thread sums its part of layer 0's gradient and
    runs its epilogue (_sparse_sums): the panels it computed in the forward pass, for all inputs,
    then the blocks of inputs of the other threads' panels that they have not reached yet
    (_claimed_sums), or with fewer panels than threads a range of inputs. The same sums, in the
    same order, as _loss_grad_chunk."""
    cdef Net net1 = net[0]
    cdef double loss[1]
    cdef intp T = net.n_threads, t, u, per, r0, r1
    cdef intp n_in = net.sizes[0], n_out = net.sizes[1], ld = net.ld[0], L = net.L, P = ld // JB
    # each thread's range of blocks of inputs of the gradient (_claimed_sums), a cache line apart
    cdef long long ranges[CLAIM_THREADS * CLAIM_LINE]
    cdef bint claimed = P >= T
    # the blocks of rows of the sort's second pass not yet placed (two threads), empty until counted
    cdef long long place_blocks[CLAIM_LINE]
    cdef intp n_rows = (m + PLACE_ROWS - 1) // PLACE_ROWS
    # on two threads, set once thread 1's share of layer 0's forward pass is done (the sort, which
    # thread 1 goes on to, does not read it; thread 0's later layers do)
    cdef long long forward_done[CLAIM_LINE]
    cdef bint flag = T == 2 and not claim_rotation and forward_flag
    # set when the region got fewer threads than T and thread 0 computed the whole chunk
    cdef int whole[1]
    global overlap_chunks, flagged_chunks
    overlap_chunks += 1
    net1.n_threads = 1
    if claimed:
        for u in range(T):
            ranges[u * CLAIM_LINE] = fastnn_range(0, (n_in + CLAIM_INPUTS - 1) // CLAIM_INPUTS)
    place_blocks[0] = fastnn_range(0, 0)
    forward_done[0] = 0
    whole[0] = 0
    with parallel(num_threads=T):
        t = threadid()
        if fastnn_team() != T:
            # a team of fewer threads than T (OMP_THREAD_LIMIT, OMP_DYNAMIC, a region inside another
            # one): the missing threads' shares would go undone, so thread 0 computes the whole chunk
            # as on one thread (the same sums, as _loss_grad_chunk's) and the others do nothing
            if t == 0:
                whole[0] = 1
                loss[0] = _loss_grad_whole(&net1, pk, x, y, m, target, mode, op, v, m1, m2, l2, z, a, delta,
                                           scratch, sp, G)
        else:
            _sparse_share(t, T, m, n_in, n_out, ld, sp, pk + net.wt_off[0], pk + net.bt_off[0], net.act[0], z, a)
            # thread 0 waits for thread 1's columns of layer 0; thread 1 goes on to the sort
            if flag and t == 1:
                fastnn_publish(forward_done, 1)
            elif flag:
                fastnn_wait(forward_done)
                fastnn_fetch_add(&flagged_chunks, 1)
            else:
                fastnn_barrier()
            if T == 2 and claim_rotation:
                # (tests) thread 0 counts the entries and places the last half of the blocks of rows, from
                # the back; then thread 1 the others, from the front
                if t == 0:
                    _sparse_ends(m, n_in, sp, G)
                    place_blocks[0] = fastnn_range(0, n_rows)
                    _claimed_rows(True, n_rows - n_rows // 2, m, n_in, ld, sp, G, place_blocks)
                fastnn_barrier()
            if t == 0:
                # the later layers, forward and back to delta[0]
                _forward(&net1, pk, x, m, z, a, sp, 1)
                loss[0] = _output(&net1, m, net.sizes[L], net.ld[L - 1], z + m * net.u_off[L - 1],
                                  a + m * net.u_off[L - 1], y, delta + m * net.u_off[L - 1], <const floating*>sp.w)
                _backward(&net1, pk, x, m, target, mode, op, v, m1, m2, l2, z, a, delta, scratch, sp, G,
                          L - 1, 1, True)
                # then, on two threads, the rows of the sort that thread 1 has not reached, from the back
                # (none when thread 1 has not published them yet)
                if T == 2:
                    _claimed_rows(True, n_rows, m, n_in, ld, sp, G, place_blocks)
            elif T == 2:
                # meanwhile layer 0's entries sorted by input: counted, then placed a block of rows at a
                # time from the front
                if not claim_rotation:
                    _sparse_ends(m, n_in, sp, G)
                    fastnn_publish(place_blocks, fastnn_range(0, n_rows))
                _claimed_rows(False, n_rows, m, n_in, ld, sp, G, place_blocks)
            else:
                # meanwhile layer 0's entries sorted by input, inputs split over threads 1 ... T - 1
                per = (n_in + T - 2) // (T - 1)
                _sparse_sort(min(n_in, (t - 1) * per), min(n_in, t * per), m, n_in, ld, sp, G)
            fastnn_barrier()
            # nabla_WT of layer 0 and its epilogue: each thread its panels of all inputs when there are
            # enough panels (those it read in the forward pass), then what is left of the others', else
            # its range of inputs
            if claimed:
                _claimed_sums(t, T, n_in, n_out, ld, sp, delta, G, target + net.wt_off[0], mode, op,
                              _at(v, net.wt_off[0]), _at(m1, net.wt_off[0]), _at(m2, net.wt_off[0]), l2, ranges)
            else:
                per = (n_in + T - 1) // T
                r0 = min(n_in, t * per)
                r1 = min(n_in, r0 + per)
                if r0 < r1:
                    _sparse_sums(r0, r1, 0 if r0 == 0 else (<intp*>G)[r0 - 1], 0, P, n_in, n_out, ld, ld, sp, delta,
                                 G, target + net.wt_off[0], mode, op, _at(v, net.wt_off[0]),
                                 _at(m1, net.wt_off[0]), _at(m2, net.wt_off[0]), l2)
    if whole[0]:
        return loss[0]
    # layer 0's biases
    _backward(net, pk, x, m, target, mode, op, v, m1, m2, l2, z, a, delta, scratch, sp, G, 0, 0, False)
    return loss[0]


cdef inline bint _local(const Net* net, intp m, const Sparse* sp) noexcept nogil:
    """Whether a chunk takes _loss_grad_local: one hidden layer (L == 2) on two threads, layer 0 by
    the lists with a second workspace for thread 1 (sp.G_other), an even count of layer 0's
    panels (each thread half of them), no more outputs than samples (layer 1 back-propagates by
    the row kernel, samples as rows) and an output layer small enough for one thread (as in
    _overlapped)."""
    if (local_path == 0 or net.n_threads != 2 or net.L != 2 or sp == NULL or not sp.on or sp.by_union
            or sp.G_other == NULL or m < 2 or sp.total * net.ld[0] < PARALLEL_WORK or net.sizes[0] < 4
            or net.ld[0] < 2 * JB or (net.ld[0] // JB) % 2 or net.sizes[2] > m):
        return False
    return m * net.sizes[1] * net.ld[1] < 4 * PARALLEL_WORK


cdef void _local_delta(const Net* net, intp m, intp c0, intp c1, intp w, const floating* pk, const floating* zt,
                       const floating* at, floating* dt, const floating* d1, floating* Wt) noexcept nogil:
    """Columns c0 ... c1 - 1 (whole panels) of layer 0's delta in _loss_grad_local, as
    _backprop_delta computes them (n_out <= m): the same sums, each thread its own columns, in its
    own rows of w: dt[i, c - c0] = (delta1 @ WT1.T)[i, c] * f'(zt[i, c - c0]), from WT1's rows c
    (before their step); Wt (scratch, blocks of JB rows of w) holds those columns of WT1.T."""
    cdef intp n_h = net.sizes[1], n_out = net.sizes[2], ld1 = net.ld[1]
    cdef intp blk, i, n_real = max(0, min(c1, n_h) - c0)
    cdef const floating* WT1 = pk + net.wt_off[1]
    # Wt[j, :] = WT1[c0:c1, j] (zeros past n_h), one panel of JB outputs at a time
    for blk in range((n_out + JB - 1) // JB):
        _transpose_panel(WT1 + blk * n_h * JB + c0 * JB, n_real, min(JB, n_out - blk * JB), w, Wt + blk * JB * w)
    # dt = delta1[:, :n_out] @ Wt  (m, w): rows are samples, k runs over outputs j
    _rows_all(m, n_out, d1, ld1, 1, Wt, w, JB, w, dt, w, JB, OVERWRITE, NULL, NULL, NULL, NULL, 0, 1, n_real)
    for i in range(m):
        # dt[i] *= f'(zt[i])  (past n_h: 0)
        _scale_row(net.act[0], n_real, w, zt + i * w, at + i * w, dt + i * w)


cdef inline void _layer1_rows(const Net* net, const Sparse* sp, intp r0, intp r1, intp w, const floating* at0,
                              const floating* at1, const floating* WT1, const floating* b1, floating* z1,
                              floating* a1, floating* d1, const floating* y) noexcept nogil:
    """Layer 1 of _loss_grad_local for the rows at positions r0 ... r1 - 1 of layer 0's order (sp.pairs
    when pairs, else 0, 1, ...; r0 even), two rows (a pair) at a time: z1 = a0 @ WT1 over thread 0's
    block of a0 (at0: its first K0 = w columns, rows w apart), then on over thread 1's (at1, the
    same sums in the same order as one pass), a1 = f(z1 + b1), and the rows of delta1 (_output,
    whose loss of one row is not kept: the batch's is summed over all its rows in order afterwards,
    as one pass sums it)."""
    cdef intp r, q, i, i2, ii, n_h = net.sizes[1], n_out = net.sizes[2], ld1 = net.ld[1], rows
    for r in range(r0, r1, 2):
        i = sp.pairs[r] if pairs else r
        rows = min(2, r1 - r)
        # (rows 2 apart by i2 - i: the pair's second row, wherever it is)
        i2 = (sp.pairs[r + 1] if pairs else r + 1) if rows == 2 else i
        # z1[i] = a0[i, :K0] @ WT1[:K0], then += a0[i, K0:] @ WT1[K0:], for i and i2
        _rows_all(rows, w, at0 + i * w, (i2 - i) * w, 1, WT1, JB, n_h * JB, ld1, z1 + i * ld1, (i2 - i) * ld1, JB,
                  OVERWRITE, NULL, NULL, NULL, NULL, 0, 1, n_out)
        _rows_all(rows, n_h - w, at1 + i * w, (i2 - i) * w, 1, WT1 + w * JB, JB, n_h * JB, ld1, z1 + i * ld1,
                  (i2 - i) * ld1, JB, OVERWRITE, NULL, NULL, NULL, NULL, 0, 1, n_out, True)
        for q in range(rows):
            # a1[ii] = f(z1[ii] + b1); delta1[ii]  (ii: i, then i2)
            ii = i2 if q else i
            _bias_activate(net.act[1], n_out, ld1, b1, z1 + ii * ld1, a1 + ii * ld1)
            _output(net, 1, n_out, ld1, z1 + ii * ld1, a1 + ii * ld1, y + ii * n_out, d1 + ii * ld1,
                    NULL if sp.w == NULL else <const floating*>sp.w + ii)


cdef inline void _later_targets(const Sparse* sp, intp n_out, intp m, const floating* y) noexcept nogil:
    """y = Y[rows] (n_out columns) when _batch_inputs left the chunk's targets to this thread
    (sp.y_later); y is the chunk's buffer for them, const only to the kernels that read it."""
    if sp.y_later:
        _gather(<const floating*>sp.Y_all, n_out, sp.y_rows, m, <floating*>y)


cdef double _loss_grad_local(const Net* net, floating* pk,
                             const floating* x, const floating* y, intp m,
                             floating* target, int mode, const Step* op,
                             floating* v, floating* m1, floating* m2, floating l2,
                             floating* z, floating* a, floating* delta, floating* scratch,
                             Sparse* sp, floating* G) noexcept nogil:
    """_loss_grad_chunk for one hidden layer on two threads (_local), each thread keeping to its
    own half of layer 0's panels (those of _panel_share), in rows of its own: z0, a0 and delta0
    are stored as two blocks of m rows of w = ld0 / 2 columns, thread t's columns in block t, so
    that the threads' values meet only where the two blocks do (with rows of ld0 shared by
    the two threads, each thread's writes slowed the other by up to half on hosts where the two
    cores are far apart). Its rows of WT1, its panels of WT0 and their optimizer state stay in
    its core's cache too; what crosses between the cores is layer 1's sums and delta.
      thread 0: its columns of layer 0 forward; (far) z1 = a0[:, :K0] @ WT1[:K0] (K0 = w), then
        publishes it; sorts layer 0's entries into G: thread 1's counts copied, then each row's
        entries placed from the front (_sparse_place_rows).
      thread 1: its columns of layer 0 forward; counts the entries by input (_sparse_ends) and
        publishes the counts; places the entries into its own sp.G_other, rows from the back, a
        block of PLACE_ROWS at a time, until thread 0's part of z1 is published (it has fewer
        columns of layer 0, so it is usually done first); goes on with z1's sums over the other
        columns of a0 (_rows with cont: the same operations in the same order as one pass), a1,
        the loss and delta1, and publishes them; then places the rows left.
      both: their columns of delta0 (_local_delta), their rows' step of WT1 (thread 1 also b1), their
        panels of layer 0's gradient and step (_claimed_sums, each from its own sorted entries; a
        thread whose panels are done takes blocks of the other's once that thread's delta0 is
        done), their panels' biases.
    With sp.near 1 (near_mode: the two cores are near; -1: the round trip is timed here first),
    the two threads sort into one workspace, G, instead, and layer 1 goes on as layer 0's rows
    come: thread 0 publishes how many rows of its forward pass are done (every PROGRESS_PAIRS
    pairs, in sp.pairs' order) and leaves all of z1 to thread 1, which counts into G, then takes
    those rows as they come (_layer1_rows: z1 over both blocks of a0, the same sums in the same
    order, a1 and delta1), placing blocks of rows from the front while none is new; with the
    last, it publishes delta1, sums the batch's loss over the rows in order (_output) and places
    the blocks left, while thread 0, once its forward pass is done, places blocks from the back
    (_claimed_rows); each waits for the other's last block before its gradient sums. (Thread 0
    had been waiting for delta1, and thread 1 for thread 0's part of z1, about 6% and 9% of the
    batch each, timed with rdtsc in a scratch build on the AMD EPYC without AVX-512; layer 1 as
    the rows come, bench/ab.py B / A of the median float64 epoch there: forced near 0.960 and
    0.966; on far cores it read thread 0's block of a0 across them, 1.04, so far keeps the
    hand-over of z1's part. Thread 1 placing rows while it would otherwise wait for z1's part,
    before: 0.956-0.981 in four runs as the round trip decided, all near; forced near 0.992 and
    0.995; forced far 0.929-1.043, 0.98 on average.)
    With sp.near 0, a thread sums only its own panels (_claimed_sums without steal).
    The same sums as _loss_grad_chunk on one thread."""
    cdef Net net1 = net[0]
    cdef double loss[1]
    cdef intp t, blk, i, c0, c1, W = 64 // sizeof(floating)
    cdef intp n_in = net.sizes[0], n_h = net.sizes[1], n_out = net.sizes[2]
    cdef intp ld = net.ld[0], ld1 = net.ld[1]
    cdef intp w = ld // 2                               # each thread's columns of layer 0 (P is even)
    cdef intp n_rows, unplaced, done, avail
    cdef intp K0 = w                                    # thread 0's columns: 0 ... w - 1 (all real: n_h > w)
    cdef floating* z1 = z + m * net.u_off[1]
    cdef floating* a1 = a + m * net.u_off[1]
    cdef floating* d1 = delta + m * net.u_off[1]
    cdef floating* WT1 = pk + net.wt_off[1]
    cdef floating* own_G
    cdef floating* zt
    cdef floating* at
    cdef floating* dt
    # each thread's range of blocks of inputs of layer 0's gradient (_claimed_sums), a cache line apart
    cdef long long ranges[2 * CLAIM_LINE]
    # near: thread 0's progress in its forward pass (rows done, in layer 0's order: _sparse_rows); far:
    # set by thread 0 when z1's sums over its columns are done; set by thread 1 when delta1 is done
    cdef long long progress[CLAIM_LINE]
    cdef long long partial_done[CLAIM_LINE]
    cdef long long delta_done[CLAIM_LINE]
    # set by thread 1 when its counts of layer 0's entries by input are done
    cdef long long counts_done[CLAIM_LINE]
    # (near) the blocks of rows not yet placed, and placed[u * CLAIM_LINE]: thread u is done placing
    cdef long long place_blocks[CLAIM_LINE]
    cdef long long placed[2 * CLAIM_LINE]
    cdef intp n_blocks = (m + PLACE_ROWS - 1) // PLACE_ROWS
    cdef bint near
    # ready[u * CLAIM_LINE]: thread u's columns of delta0 are done
    cdef long long ready[2 * CLAIM_LINE]
    global local_chunks, near_chunks
    if sp.near < 0:
        # the cores' round trip, once per train_epoch call (near_mode)
        sp.near = _ping_pong(NEAR_TRIPS) < NEAR_NS
    near = sp.near == 1
    local_chunks += 1
    if near:
        near_chunks += 1
    net1.n_threads = 1
    for t in range(2):
        ranges[t * CLAIM_LINE] = fastnn_range(0, (n_in + CLAIM_INPUTS - 1) // CLAIM_INPUTS)
        ready[t * CLAIM_LINE] = 0
    progress[0] = 0
    partial_done[0] = 0
    delta_done[0] = 0
    counts_done[0] = 0
    place_blocks[0] = fastnn_range(0, 0)
    placed[0] = 0
    placed[CLAIM_LINE] = 0
    loss[0] = 0
    own_G, zt, at, dt, blk, i, c0, c1, n_rows, unplaced, done, avail = G, z, a, delta, 0, 0, 0, 0, 0, 0, 0, 0
    with parallel(num_threads=2):
        t = threadid()
        if fastnn_team() < 2:
            # a team of one thread: the chunk as on one thread (rows of ld0)
            _later_targets(sp, n_out, m, y)
            _chunk_squared_norm(&net1, pk, sp, mode)
            loss[0] = _loss_grad_whole(&net1, pk, x, y, m, target, mode, op, v, m1, m2, l2, z, a, delta, scratch,
                                       sp, G)
        else:
            c0 = t * w
            c1 = c0 + w
            n_rows = min(c1, n_h) - c0
            zt = z + m * net.u_off[0] + t * m * w
            at = a + m * net.u_off[0] + t * m * w
            dt = delta + m * net.u_off[0] + t * m * w
            own_G = G if t == 0 or near else <floating*>sp.G_other
            if sp.sq != NULL and mode == STEP:
                # its parts of ||W||^2 before the step (_norm_part): its panels of layer 0, its
                # segments of layer 1's rows (c0 is a multiple of JB), where _squared_norm puts them
                for blk in range(c0 // JB, c1 // JB):
                    sp.sq[blk] = _norm_part(net, pk, 0, blk)
                for blk in range(c0 // JB, (min(c1, n_h) + JB - 1) // JB):
                    sp.sq[ld // JB + blk] = _norm_part(net, pk, 1, blk)
            # zt, at = this thread's columns of every row of z0, a0 (vector v of a row at column v * W - c0);
            # near, thread 0 publishes its progress (thread 1 goes on with layer 1 for the rows done)
            _sparse_rows(m, n_in, n_h, w, sp, pk + net.wt_off[0], pk + net.bt_off[0], net.act[0], c0 // W,
                         c1 // W, zt - c0, at - c0, progress if t == 0 and near else NULL)
            if t == 0:
                if not near:
                    # z1 = a0[:, :K0] @ WT1[:K0]  (thread 1 adds the rest)
                    _rows_all(m, K0, at, w, 1, WT1, JB, n_h * JB, ld1, z1, ld1, JB, OVERWRITE, NULL, NULL, NULL, NULL,
                              0, 1, n_out)
                    fastnn_publish(partial_done, 1)
                # the entries sorted by input: thread 1's counts (where each input's entries end and
                # begin, copied), then placed from the front
                fastnn_wait(counts_done)
                if near:
                    # blocks of rows from the back, while thread 1 computes delta1
                    _claimed_rows(True, n_blocks, m, n_in, w, sp, own_G, place_blocks)
                    fastnn_publish(placed, 1)
                else:
                    memcpy(own_G, sp.G_other, 2 * n_in * sizeof(intp))
                    _sparse_place_rows(0, m, False, n_in, w, sp, own_G)
                fastnn_wait(delta_done)
            else:
                # the entries counted by input (for both threads), then z1, delta1, then placed
                _sparse_ends(m, n_in, sp, own_G)
                if near:
                    fastnn_publish(place_blocks, fastnn_range(0, n_blocks))
                fastnn_publish(counts_done, 1)
                # delta1's lines, which thread 0 read in the last batch, taken back now, while thread 0
                # is in its forward pass, instead of by _output's stores while thread 0 waits for
                # delta1 (with the cores far apart, thread 1's loss and delta1 took 70 thousand
                # cycles per float64 MNIST batch against 17 near; taken first, 17 far too)
                _take_rows(d1, m, ld1, n_out)
                _later_targets(sp, n_out, m, y)
                if near:
                    # layer 1 (z1, a1, delta1) for the rows thread 0's forward pass has done, as they
                    # come; meanwhile blocks of rows placed from the front, one at a time
                    while done < m:
                        avail = fastnn_acquire(progress)
                        if avail > done:
                            _layer1_rows(&net1, sp, done, avail, w, at - m * w, at, WT1, pk + net.bt_off[1], z1, a1,
                                         d1, y)
                            done = avail
                        elif _claimed_rows(False, 1, m, n_in, w, sp, own_G, place_blocks) == 0:
                            fastnn_pause()
                    fastnn_publish(delta_done, 1)
                    # the batch's loss, summed over its rows in order
                    loss[0] = _output(&net1, m, n_out, ld1, z1, a1, y, NULL, <const floating*>sp.w)
                else:
                    # while thread 0's part of z1 is not done: its own workspace's rows placed from the
                    # back, last first, a block at a time
                    unplaced = m
                    while unplaced > 0 and not fastnn_is_set(partial_done):
                        _sparse_place_rows(max(0, unplaced - PLACE_ROWS), unplaced, True, n_in, w, sp, own_G)
                        unplaced = max(0, unplaced - PLACE_ROWS)
                    fastnn_wait(partial_done)
                    # z1 += a0[:, K0:] @ WT1[K0:], the same sums going on
                    _rows_all(m, n_h - K0, at, w, 1, WT1 + K0 * JB, JB, n_h * JB, ld1, z1, ld1, JB, OVERWRITE, NULL,
                              NULL, NULL, NULL, 0, 1, n_out, True)
                    for i in range(m):
                        _bias_activate(net.act[1], n_out, ld1, pk + net.bt_off[1], z1 + i * ld1, a1 + i * ld1)
                    loss[0] = _output(&net1, m, n_out, ld1, z1, a1, y, d1, <const floating*>sp.w)
                    fastnn_publish(delta_done, 1)
                if near:
                    # the blocks of rows thread 0 has not taken, from the front
                    _claimed_rows(False, n_blocks, m, n_in, w, sp, own_G, place_blocks)
                    fastnn_publish(placed + CLAIM_LINE, 1)
                else:
                    # the rest from the back (the cursors thread 0 copies stay as they are)
                    _sparse_place_rows(0, unplaced, True, n_in, w, sp, own_G)
            _local_delta(net, m, c0, c1, w, pk, zt, at, dt, d1, scratch + t * ((n_out + JB - 1) // JB) * JB * w)
            # nabla_WT1[c0:c1] = a0[:, c0:c1].T @ delta1 (rows are inputs, k runs over samples), then per mode
            _rows_all(n_rows, m, at, 1, w, d1, ld1, JB, ld1, target + net.wt_off[1] + c0 * JB, JB, n_h * JB, mode, op,
                      _at(v, net.wt_off[1] + c0 * JB), _at(m1, net.wt_off[1] + c0 * JB),
                      _at(m2, net.wt_off[1] + c0 * JB), l2, 1, n_out)
            if t == 1:
                for blk in range(ld1 // JB):
                    _bias_block(blk * JB, m, ld1, d1, target + net.bt_off[1], mode, op, _at(v, net.bt_off[1]),
                                _at(m1, net.bt_off[1]), _at(m2, net.bt_off[1]))
            fastnn_publish(ready + t * CLAIM_LINE, 1)
            if near:
                # every row's entries placed
                fastnn_wait(placed + (1 - t) * CLAIM_LINE)
            _claimed_sums(t, 2, n_in, n_h, ld, sp, delta + m * net.u_off[0], own_G, target + net.wt_off[0], mode,
                          op, _at(v, net.wt_off[0]), _at(m1, net.wt_off[0]), _at(m2, net.wt_off[0]), l2, ranges,
                          ready, m * w, w, near)
            for blk in range(w // JB):
                _bias_block(blk * JB, m, w, dt, target + net.bt_off[0] + c0, mode, op,
                            _at(v, net.bt_off[0] + c0), _at(m1, net.bt_off[0] + c0), _at(m2, net.bt_off[0] + c0))
    # the targets are in y now
    sp.y_later = False
    if sp.sq != NULL and mode == STEP:
        # ||W||^2 from the threads' parts (a team of one: from _squared_norm's, the same value)
        sp.sq_norm = _sum_of_parts(net, sp.sq)
    return loss[0]


cdef double _loss_grad_chunk(const Net* net, floating* pk,
                             const floating* x, const floating* y, intp m,
                             floating* target, int mode, const Step* op,
                             floating* v, floating* m1, floating* m2, floating l2,
                             floating* z, floating* a, floating* delta, floating* scratch,
                             Sparse* sp, floating* G) noexcept nogil:
    """Forward and back-propagation of m rows x (m, sizes[0]) with targets y (m, sizes[-1]).

    When sp.on (_list_nonzeros, _batch_inputs; then x is not read), layer 0 skips x's zero inputs,
    by the lists with G (_columns_size) as its gradient's workspace, or by_union.
    mode OVERWRITE / ACCUMULATE: target (packed layout) = / += the sum over the
    m rows of the per-sample gradients. mode STEP: target = pk and the
    optimizer step ``op`` is applied to each block of parameters as soon as
    its gradient is complete, fused into back-propagation (delta[l-1] is
    computed from WT[l] before WT[l] changes); v, m1, m2 are the optimizer's
    packed state and l2 the weight decay.
    Returns the summed loss of the m rows, measured before any update.
    """
    if _local(net, m, sp):
        return _loss_grad_local(net, pk, x, y, m, target, mode, op, v, m1, m2, l2, z, a, delta, scratch, sp, G)
    _chunk_squared_norm(net, pk, sp, mode)
    if _overlapped(net, m, sp):
        return _loss_grad_overlap(net, pk, x, y, m, target, mode, op, v, m1, m2, l2, z, a, delta, scratch,
                                  sp, G)
    return _loss_grad_whole(net, pk, x, y, m, target, mode, op, v, m1, m2, l2, z, a, delta, scratch, sp, G)


cdef inline double _block_squares(const floating* panel, intp k0, intp k1) noexcept nogil:
    """The sum of panel[k, u]^2 over rows k0 ... k1 - 1 and u < JB (a panel of WT: rows of JB), in
    double: per column u the rows' squares added in order from 0, then the columns in order from 0.
    The unit of _squared_norm: any thread computing a block gets the same value."""
    cdef intp k, u
    cdef double sums[JB]
    cdef double wku, total = 0
    for u in range(JB):
        sums[u] = 0
    for k in range(k0, k1):
        # sums += panel[k] ** 2
        for u in range(JB):
            wku = <double>panel[k * JB + u]
            sums[u] = sums[u] + wku * wku
    for u in range(JB):
        total = total + sums[u]
    return total


cdef inline double _panel_squares(const Net* net, const floating* pk, intp l, intp p) noexcept nogil:
    """Layer l's panel p of WT (JB columns): its blocks of JB rows (_block_squares) added in order."""
    cdef intp n_in = net.sizes[l], k0 = 0
    cdef const floating* panel = pk + net.wt_off[l] + p * n_in * JB
    cdef double total = 0
    # total = sum of (panel[k0:k0 + JB] ** 2).sum(), down the panel
    while k0 < n_in:
        total = total + _block_squares(panel, k0, min(n_in, k0 + JB))
        k0 = k0 + JB
    return total


cdef inline double _segment_squares(const Net* net, const floating* pk, intp l, intp k0) noexcept nogil:
    """Layer l's rows k0 ... k0 + JB - 1 of WT (a segment; fewer at the end): the blocks of its
    panels (_block_squares) added in order."""
    cdef intp n_in = net.sizes[l], p
    cdef double total = 0
    # total = sum over the panels of (WT_p[k0:k0 + JB] ** 2).sum()
    for p in range(net.ld[l] // JB):
        total = total + _block_squares(pk + net.wt_off[l] + p * n_in * JB, k0, min(n_in, k0 + JB))
    return total


cdef inline intp _norm_parts(const Net* net, intp l) noexcept nogil:
    """How many parts _squared_norm sums layer l from: its panels (l = 0), or its segments of JB rows."""
    return net.ld[0] // JB if l == 0 else (net.sizes[l] + JB - 1) // JB


cdef inline double _norm_part(const Net* net, const floating* pk, intp l, intp q) noexcept nogil:
    """Part q of layer l's squares: panel q of layer 0 (_panel_squares), segment q of a later layer
    (_segment_squares). Any thread computing a part gets the same value."""
    return _panel_squares(net, pk, 0, q) if l == 0 else _segment_squares(net, pk, l, q * JB)


cdef double _sum_of_parts(const Net* net, const double* parts) noexcept nogil:
    """||W||^2 from its parts (_norm_part), layer after layer in parts: each layer's parts added in
    order from 0, then the layers in order from 0. The one order of the sum, whoever computed the
    parts (_squared_norm on one thread; _loss_grad_local's two, each its own)."""
    cdef intp l, q, at = 0
    cdef double total = 0, layer
    for l in range(net.L):
        # layer = sum(parts of layer l)
        layer = 0
        for q in range(_norm_parts(net, l)):
            layer = layer + parts[at + q]
        at = at + _norm_parts(net, l)
        total = total + layer
    return total


cdef double _squared_norm(const Net* net, const floating* pk, double* parts) noexcept nogil:
    """||W||^2 over the weight matrices in the packed pk (padding 0): every part (_norm_part) into
    parts (sum of _norm_parts over the layers), then _sum_of_parts."""
    cdef intp l, q, at = 0
    for l in range(net.L):
        for q in range(_norm_parts(net, l)):
            parts[at + q] = _norm_part(net, pk, l, q)
        at = at + _norm_parts(net, l)
    return _sum_of_parts(net, parts)


cdef inline void _chunk_squared_norm(const Net* net, const floating* pk, Sparse* sp, int mode) noexcept nogil:
    """Before a chunk's fused step (mode STEP) off the two-thread path: sp.sq_norm = ||W||^2
    (_squared_norm, its parts in sp.sq), when it is wanted (sp.sq)."""
    if mode == STEP and sp != NULL and sp.sq != NULL:
        sp.sq_norm = _squared_norm(net, pk, sp.sq)


cdef void _step_all(const Net* net, Step* op, floating* pk, const floating* grad,
                    floating* v, floating* m1, floating* m2, floating l2,
                    bint normalized) noexcept nogil:
    """The optimizer step on all parameters from grad, the gradient summed over the batch.

    With ``normalized`` the gradient g = grad/m + l2 * w is first scaled to unit
    norm over all weights and biases together (no update when it is zero).
    Padded entries of grad and of the parameters are zero and stay zero.
    """
    cdef intp l, p, n
    cdef double norm2 = 0, g, lf = l2
    if normalized:
        for l in range(net.L):
            n = net.sizes[l] * net.ld[l]
            # norm2 += sum((grad/m + l2 * w)^2) over the weights, then over the biases
            for p in range(net.wt_off[l], net.wt_off[l] + n):
                g = <double>grad[p] * op.inv_m + lf * <double>pk[p]
                norm2 += g * g
            for p in range(net.bt_off[l], net.bt_off[l] + net.ld[l]):
                g = <double>grad[p] * op.inv_m
                norm2 += g * g
        if norm2 == 0:
            return
        op.gscale = 1 / sqrt(norm2)
    for l in range(net.L):
        n = net.sizes[l] * net.ld[l]
        p = net.wt_off[l]
        _step(op, n, pk + p, grad + p, _at(v, p), _at(m1, p), _at(m2, p), l2)
        p = net.bt_off[l]
        _step(op, net.ld[l], pk + p, grad + p, _at(v, p), _at(m1, p), _at(m2, p), 0)


cdef void _batch_inputs(const Net* net, const floating* X, const floating* Y, const intp* rows, intp m,
                        floating* xb, floating* yb, Sparse* sp) noexcept nogil:
    """A chunk's rows X[rows[:m]] (_batch_x), its sample weights, and yb = Y[rows]: or, when the
    chunk takes _loss_grad_local, sp.y_later, and its thread 1 gathers them (_later_targets)."""
    sp.w = NULL
    if sp.W_all != NULL:
        # the chunk's sample weights
        _gather(<const floating*>sp.W_all, 1, rows, m, <floating*>sp.wb)
        sp.w = sp.wb
    _batch_x(net, X, rows, m, xb, sp)
    sp.y_later = _local(net, m, sp)
    if sp.y_later:
        # yb = Y[rows], left to thread 1 of _loss_grad_local
        sp.Y_all, sp.y_rows = <const void*>Y, rows
    else:
        _gather(Y, net.sizes[net.L], rows, m, yb)


cdef void _batch_x(const Net* net, const floating* X, const intp* rows, intp m, floating* xb,
                   Sparse* sp) noexcept nogil:
    """A chunk's rows X[rows[:m]] for layer 0: when it is to skip the chunk's zero inputs (sp.on),
    either the columns some row uses (sp.by_union: small chunks whose union of columns is small
    enough) or the nonzeros listed in sp, straight from X; else xb = X[rows]. With sp.only_lists (X
    NULL), always the rows' lists in the listed X."""
    global sparse_chunks, union_chunks
    cdef intp n0 = net.sizes[0], total
    cdef intp limit = _sparse_limit(X, m, n0, net.ld[0], sparse_min_width_train)
    cdef unsigned* marks
    sp.on, sp.by_union = False, False
    if sp.only_lists:
        # X given as its lists alone (train_epoch's lists_only): layer 0 takes them, whatever the density
        _listed_rows(sp, rows, m, n0, -1)
        return
    # small chunks (those prefetched; a pass over them is cheap): first the columns some row uses
    if (limit >= 0 and sp.union_k != NULL and sparse_union_ratio > 0
            and m * n0 * <intp>sizeof(floating) <= PREFETCH_BYTES):
        marks = <unsigned*>(sp.union_k + n0 + 16)
        memset(marks, 0, (n0 + 31) // 32 * sizeof(unsigned))
        total = _mark_columns(X, rows, m, n0, marks)
        if total > limit:
            _prefetch_rest(sp.ahead)
            _gather(X, n0, rows, m, xb)
            return
        sp.n_union = fastnn_marked(marks, n0, sp.union_k)
        if <double>(sp.n_union * m) <= sparse_union_ratio * <double>total:
            sp.on, sp.by_union, sp.total = True, True, total
            sp.X, sp.rows = <const void*>X, rows
            fastnn_fetch_add(&sparse_chunks, 1)
            fastnn_fetch_add(&union_chunks, 1)
            return
    # the next batch's rows: all at once (only the union path's loops prefetch them along)
    _prefetch_rest(sp.ahead)
    _list_nonzeros(X, rows, m, n0, net.ld[0], sp, net.n_threads, sparse_min_width_train)
    if not sp.on:
        _gather(X, n0, rows, m, xb)


cdef void _gather(const floating* src, intp ncols, const intp* rows, intp m,
                  floating* dst) noexcept nogil:
    """dst = src[rows] for m rows of ncols columns."""
    cdef intp i, p
    cdef const floating* s
    for i in range(m):
        s = src + rows[i] * ncols
        for p in range(ncols):
            dst[i * ncols + p] = s[p]


cdef void _prefetch_rows(const floating* src, intp ncols, const intp* rows, intp m) noexcept nogil:
    """Ask the CPU to start loading rows src[rows[:m]] into cache (a hint; no effect on results)."""
    cdef intp i, line, per_line = 64 // sizeof(floating)
    cdef const floating* s
    for i in range(m):
        s = src + rows[i] * ncols
        # one hint per 64-byte cache line of the row
        for line in range((ncols + per_line - 1) // per_line):
            fastnn_prefetch(s + line * per_line)


cdef inline void _prefetch_lists(const floating* dtype_tag, const Sparse* sp, intp i) noexcept nogil:
    """Ask the CPU to start loading row i's lists of nonzeros (a hint); dtype_tag (NULL) selects the
    values' dtype."""
    cdef intp p, s0 = sp.start[i], s1 = sp.start[i] + sp.nnz[i], per_line = 64 // sizeof(floating)
    cdef const floating* val = <const floating*>sp.lval
    if sp.ptable != NULL:
        # packed: one hint per 64 bytes of each list (32 columns, 64 codes), and one for its last entry
        if s1 > s0:
            p = s0
            while p < s1:
                fastnn_prefetch(sp.pidx + p)
                p = p + 32
            fastnn_prefetch(sp.pidx + s1 - 1)
            p = s0
            while p < s1:
                fastnn_prefetch(sp.pcode + p)
                p = p + 64
            fastnn_prefetch(sp.pcode + s1 - 1)
        return
    # one hint per 64 bytes of each list, and one for its last entry
    if s1 > s0:
        p = s0
        while p < s1:
            fastnn_prefetch(sp.lidx + p)
            p = p + 16
        fastnn_prefetch(sp.lidx + s1 - 1)
        p = s0
        while p < s1:
            fastnn_prefetch(val + p)
            p = p + per_line
        fastnn_prefetch(val + s1 - 1)


cdef void _pack(const Net* net, const floating* theta, floating* pk) noexcept nogil:
    """pk = the packed copy of theta: WT[l] = W[l].T padded to (n_in, ld), stored as ld/JB
    contiguous panels of JB columns, (n_in, JB) each; b[l] padded to ld."""
    cdef intp l, q, p, jj, j, n_in, n_out, ld
    cdef const floating* W
    cdef floating* WT
    for l in range(net.L):
        n_in, n_out, ld = net.sizes[l], net.sizes[l + 1], net.ld[l]
        W = theta + net.w_off[l]
        WT = pk + net.wt_off[l]
        for q in range(ld // JB):
            # panel q: WT[p, q*JB + jj] = W[q*JB + jj, p] (zeros for padded columns), written in
            # order, read from JB rows of W at once (a few cache lines, each used for 8 p)
            for p in range(n_in):
                for jj in range(JB):
                    j = q * JB + jj
                    WT[(q * n_in + p) * JB + jj] = W[j * n_in + p] if j < n_out else 0
        for j in range(ld):
            pk[net.bt_off[l] + j] = theta[net.b_off[l] + j] if j < n_out else 0


cdef void _unpack(const Net* net, const floating* pk, floating* theta) noexcept nogil:
    """theta = the parameters held in the packed copy pk (the inverse of _pack)."""
    cdef intp l, q, p, jj, j, n_in, n_out, ld
    cdef floating* W
    cdef const floating* WT
    for l in range(net.L):
        n_in, n_out, ld = net.sizes[l], net.sizes[l + 1], net.ld[l]
        W = theta + net.w_off[l]
        WT = pk + net.wt_off[l]
        for q in range(ld // JB):
            # W[q*JB + jj, p] = WT[p, q*JB + jj] for the real columns: panel q read in order
            for p in range(n_in):
                for jj in range(min(JB, n_out - q * JB)):
                    W[(q * JB + jj) * n_in + p] = WT[(q * n_in + p) * JB + jj]
        for j in range(n_out):
            theta[net.b_off[l] + j] = pk[net.bt_off[l] + j]


def _packed_layout(const intp[::1] sizes):
    """(layout, packed size, units per row): layout = [ld (L), wt_off (L), bt_off (L), u_off (L)]."""
    cdef intp L = sizes.shape[0] - 1, l, ld, off = 0, units = 0
    layout = np.empty(4 * L, dtype=np.intp)
    for l in range(L):
        ld = (sizes[l + 1] + JB - 1) // JB * JB
        layout[l] = ld
        layout[L + l] = off
        off += sizes[l] * ld
        layout[2 * L + l] = off
        off += ld
        layout[3 * L + l] = units
        units += ld
    return layout, off, units


cdef Net _net(const intp[::1] sizes, const intp[::1] offsets, const intp[::1] packed,
              const intp[::1] acts, intp loss, int n_threads):
    """The Net view of the layout arrays (fastnn.network._offsets and _packed_layout)."""
    cdef Net net
    cdef intp L = sizes.shape[0] - 1
    net.L = L
    net.act = &acts[0]
    net.loss = loss
    net.n_threads = max(1, n_threads)
    net.sizes = &sizes[0]
    net.w_off = &offsets[0]
    net.b_off = &offsets[L]
    net.ld = &packed[0]
    net.wt_off = &packed[L]
    net.bt_off = &packed[2 * L]
    net.u_off = &packed[3 * L]
    return net


def evaluate(floating[::1] theta, const intp[::1] sizes, const intp[::1] offsets,
             const intp[::1] acts, intp loss_code, const floating[:, ::1] X, const floating[:, ::1] Y, floating[:, ::1] out,
             floating[::1] grad, bint want_out, bint want_loss, bint want_grad, int n_threads=1,
             listed=None, bint lists_only=False):
    """Forward (and optionally backward) pass over all rows of X, in chunks, without the GIL.

    acts (L,) are the activation codes of the layers and loss_code the loss
    (ACTIVATIONS, LOSSES). theta (P,), X (n, sizes[0]). When want_out: out (n, sizes[-1]) receives a[L].
    When want_loss: Y (n, sizes[-1]) are the targets and the summed loss is
    returned. When want_grad: grad (P,) receives the SUM over rows of the
    per-sample gradients (the caller divides by n).

    ``lists_only`` (not with want_grad): X is given by ``listed`` alone, list_csr(...) of a sparse
    matrix, which is never made dense; the X argument is an empty (n, 0) array of its dtype. Layer 0
    takes the lists in every chunk; the results are the dense X's, bit for bit.
    """
    n_threads = _usable_threads(n_threads)
    layout, n_packed, units = _packed_layout(sizes)
    cdef const intp[::1] packed = layout
    cdef Net net = _net(sizes, offsets, packed, acts, loss_code, n_threads)
    cdef Net net1 = net
    cdef intp n = X.shape[0], nL = sizes[net.L]
    cdef intp rows = _train_rows(n, net.ld[0]) if want_grad else min(n, <intp>CHUNK)
    cdef intp n_chunks = (n + rows - 1) // rows
    cdef const floating* Xp = NULL
    cdef intp n_own = 0 if lists_only else sizes[0]    # (lists_only: no lists of its own)
    if lists_only:
        if listed is None or X.shape[1] != 0 or want_grad:
            raise ValueError("lists_only needs listed (list_csr of the sparse X), X of shape (n, 0) and no gradient")
    elif n > 0 and X.shape[1] > 0:
        Xp = &X[0, 0]
    # Without gradients the chunks are independent: when there are enough of them, each thread
    # takes whole chunks in ONE parallel region (its own z, a), instead of one region per product
    # (the threads would go to sleep and be woken between regions, every few hundred rows).
    cdef bint by_chunk = not want_grad and net.n_threads > 1 and n_chunks >= 2 * net.n_threads
    cdef intp n_bufs = net.n_threads if by_chunk else 1
    net1.n_threads = 1
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] pk = aligned(n_packed, dtype)
    cdef floating[::1] gk = aligned(n_packed if want_grad else 1, dtype)
    cdef floating[::1] z = aligned(n_bufs * rows * units, dtype)
    cdef floating[::1] a = aligned(n_bufs * rows * units, dtype)
    cdef floating[::1] delta = aligned(rows * units if want_grad else 1, dtype)
    cdef floating[::1] scratch = aligned(_scratch_size(sizes, layout, rows) if want_grad else 1, dtype)
    cdef double[::1] chunk_loss = np.zeros(n_chunks, dtype=np.float64)
    idx, val, nnz, union_k = _sparse_buffers(n_bufs, rows, n_own, dtype, False)
    cdef int[::1] sp_idx = idx
    cdef floating[::1] sp_val = val
    cdef intp[::1] sp_nnz = nnz
    cdef int[::1] sp_union = union_k
    cdef Sparse sp = _sparse_view(sp_idx, sp_val, sp_nnz, sp_union, rows, n_own, 0)
    # lists_only: row i's list is row order[i]'s (the chunks' rows in order)
    cdef intp[::1] order
    if lists_only:
        _attach_listed(&sp, listed, n, True, <const floating*>NULL)
        order = np.arange(max(n, 1), dtype=np.intp)
        sp.rows = &order[0]
    # layer 0's gradient workspace for sparse inputs (written before it is read: not zeroed)
    cdef floating[::1] G = aligned(_columns_size(<const floating*>NULL, rows, sizes[0], net.ld[0])
                                   if want_grad else 1, dtype)
    cdef const floating* yp = NULL
    cdef floating* outp = NULL
    cdef intp c, c0, m, buf, n_units = units
    cdef double loss = 0
    if want_loss:
        yp = &Y[0, 0]
    if want_out:
        outp = &out[0, 0]
    with nogil:
        _pack(&net, &theta[0], &pk[0])
        if by_chunk:
            for c in prange(n_chunks, num_threads=net.n_threads, schedule="dynamic"):
                buf = threadid()
                _forward_chunk(&net1, &pk[0], Xp, yp, outp, n, c * rows, rows, &z[0] + buf * rows * n_units,
                               &a[0] + buf * rows * n_units, want_loss, &chunk_loss[0] + c,
                               _with_lists(_sparse_view(sp_idx, sp_val, sp_nnz, sp_union, rows, n_own, buf), &sp))
        else:
            for c in range(n_chunks):
                c0 = c * rows
                if want_grad:
                    m = min(rows, n - c0)
                    _list_nonzeros(&X[c0, 0], NULL, m, net.sizes[0], net.ld[0], &sp, net.n_threads,
                                   sparse_min_width_train)
                    chunk_loss[c] = _loss_grad_chunk(&net, &pk[0], &X[c0, 0], yp + c0 * nL, m, &gk[0],
                                                     OVERWRITE if c0 == 0 else ACCUMULATE, NULL, NULL, NULL,
                                                     NULL, 0, &z[0], &a[0], &delta[0], &scratch[0], &sp, &G[0])
                    if want_out:
                        _copy_out(&net, &a[0], m, outp + c0 * nL)
                else:
                    _forward_chunk(&net, &pk[0], Xp, yp, outp, n, c0, rows, &z[0], &a[0],
                                   want_loss, &chunk_loss[0] + c, sp)
        # the summed loss, chunk by chunk in order (the same sum for any n_threads)
        for c in range(n_chunks):
            loss += chunk_loss[c]
        if want_grad:
            _unpack(&net, &gk[0], &grad[0])
    return loss


cdef inline void _copy_out(const Net* net, const floating* a, intp m, floating* out) noexcept nogil:
    """out[:m] = a[L][:m, :n_L] (a: the unit buffer of a chunk of m rows)."""
    cdef intp i, j, nL = net.sizes[net.L], ldL = net.ld[net.L - 1]
    cdef const floating* aL = a + m * net.u_off[net.L - 1]
    for i in range(m):
        for j in range(nL):
            out[i * nL + j] = aL[i * ldL + j]


cdef inline Sparse _with_lists(Sparse sp, const Sparse* listed) noexcept nogil:
    """sp (a set of buffers) with the listed X of ``listed`` (_attach_listed) and its rows."""
    sp.X_starts, sp.X_idx, sp.X_val = listed.X_starts, listed.X_idx, listed.X_val
    sp.X_pidx, sp.X_code, sp.X_table = listed.X_pidx, listed.X_code, listed.X_table
    sp.only_lists, sp.rows = listed.only_lists, listed.rows
    return sp


cdef void _forward_chunk(const Net* net, const floating* pk, const floating* X, const floating* Y,
                         floating* out, intp n, intp c0, intp rows, floating* z, floating* a,
                         bint want_loss, double* loss, Sparse sp) noexcept nogil:
    """Forward pass of rows c0 ... c0 + rows (at most) of X; their outputs to out, their summed loss to loss[0].
    sp: buffers for the nonzeros of the chunk (sp.only_lists: X is NULL, and row i's nonzeros are the
    listed X's row sp.rows[i])."""
    cdef intp m = min(rows, n - c0), n0 = net.sizes[0], nL = net.sizes[net.L], ldL = net.ld[net.L - 1]
    cdef const floating* x = NULL
    if sp.only_lists:
        _listed_rows(&sp, sp.rows + c0, m, n0, -1)
    else:
        x = X + c0 * n0
        _list_nonzeros(x, NULL, m, n0, net.ld[0], &sp, net.n_threads, sparse_min_width)
    _forward(net, pk, x, m, z, a, &sp, 0)
    if want_loss:
        loss[0] = _output(net, m, nL, ldL, z + m * net.u_off[net.L - 1], a + m * net.u_off[net.L - 1],
                          Y + c0 * nL, NULL, NULL)
    if out != NULL:
        _copy_out(net, a, m, out + c0 * nL)


cdef inline void _begin_step(Step* op, double m, intp t, double eta) noexcept nogil:
    """Set op for a mini-batch of m rows (with sample weights: their summed weight) that is Adam's step
    number t (t counts from 1)."""
    op.inv_m = 1.0 / m
    op.gscale = 1
    if op.kind == ADAM:
        op.lr_t = eta * sqrt(1 - pow(op.b2, <double>t)) / (1 - pow(op.b1, <double>t))


cdef double _train_batch(const Net* net, Step* op, floating* pk, const floating* X, const floating* Y,
                         const intp* rows_of, intp m, intp rows, bint normalized,
                         floating* v, floating* m1, floating* m2, floating l2,
                         floating* z, floating* a, floating* delta, floating* scratch,
                         floating* xb, floating* yb, floating* gk, Sparse* sp, floating* G) noexcept nogil:
    """One optimizer step (op, set by _begin_step) on pk from the mini-batch X[rows_of[:m]], Y[rows_of[:m]].

    Buffers are for chunks of up to ``rows`` rows (z, a, delta, scratch, xb, yb, sp, G as in
    _loss_grad_chunk); gk (packed size) holds the summed gradient when the batch is larger than one
    chunk or the step is normalized. Returns the batch's summed loss, measured before the update.
    """
    cdef double loss = 0
    cdef intp c0, mc
    if m <= rows and not normalized:
        # the whole batch in one chunk: each block's optimizer step fused into back-propagation
        _batch_inputs(net, X, Y, rows_of, m, xb, yb, sp)
        return _loss_grad_chunk(net, pk, xb, yb, m, pk, STEP, op, v, m1, m2, l2, z, a, delta, scratch, sp, G)
    # grad = sum of per-sample gradients over the batch, chunk by chunk; then the step
    c0 = 0
    while c0 < m:
        mc = min(rows, m - c0)
        _batch_inputs(net, X, Y, rows_of + c0, mc, xb, yb, sp)
        loss += _loss_grad_chunk(net, pk, xb, yb, mc, gk, OVERWRITE if c0 == 0 else ACCUMULATE, NULL,
                                 NULL, NULL, NULL, 0, z, a, delta, scratch, sp, G)
        c0 += mc
    if sp.sq != NULL:
        sp.sq_norm = _squared_norm(net, pk, sp.sq)
    _step_all(net, op, pk, gk, v, m1, m2, l2, normalized)
    return loss


cdef inline Step* _step_of(void* base, intp th, intp stride) noexcept nogil:
    return <Step*>(<char*>base + th * stride)


cdef inline Sparse* _sparse_of(void* base, intp th, intp stride) noexcept nogil:
    return <Sparse*>(<char*>base + th * stride)


cdef inline intp _rounded(intp n) noexcept nogil:
    """n rounded up to a multiple of 16 elements: per-thread parts of a buffer stay 64-byte aligned."""
    return (n + 15) // 16 * 16


cdef int pack_lists = 1
def _set_packed(int on):
    """(tests, benchmarks) whether list_nonzeros may pack its lists; returns the old setting."""
    global pack_lists
    old, pack_lists = pack_lists, on
    return old


def _packed_available():
    """Whether this build has the packed lists' kernels (AVX-512, or AVX2 and FMA; list_nonzeros
    packs only then)."""
    return bool(fastnn_packed_ok)


def list_nonzeros(const floating[:, ::1] X, intp n_out, int n_threads=1):
    """The nonzeros of every row of X (n, n_in), listed once for the epochs of a fit: train_epoch
    (``listed``) then reads each batch's lists there, in place, instead of scanning its rows of X.

    Returns (starts (n + 1,) intp, idx (nnz,), val (nnz,), table): row r's nonzeros are entries
    starts[r] ... starts[r + 1] - 1, columns idx ascending, values X[r, idx] (NaN counts as
    nonzero). When the nonzeros take at most 256 distinct values (bit patterns; MNIST's pixels
    scaled to [0, 1] take 255) and n_in <= 65536, the lists are packed: idx is uint16, val uint8
    codes and table (256,) X's dtype, the values being table[val] bit for bit: 3 bytes a nonzero
    instead of 8 (float32) or 12 (float64), which a batch's forward pass then fetches from memory
    (with AVX-512, or AVX2 and FMA: _packed_available). Otherwise idx is intc, val the values in
    X's dtype and table None. Returns None, listing nothing, when layer 0 (n_out outputs) would not skip
    X's zeros (over the density limit, or too narrow) or the lists would take over half of X's bytes.
    """
    n_threads = _usable_threads(n_threads)
    cdef intp n = X.shape[0], n_in = X.shape[1], r, th, total = 0
    cdef intp ld = (n_out + JB - 1) // JB * JB, st = _sparse_stride(n_in)
    cdef intp n_words = (n_in + 31) // 32
    cdef int T = max(1, n_threads)
    dtype = np.float32 if floating is float else np.float64
    cdef intp limit = _sparse_limit(<const floating*>NULL, n, n_in, ld, sparse_min_width_train)
    if limit < 0 or n == 0 or n_in == 0:
        return None
    starts_arr = np.zeros(n + 1, dtype=np.intp)
    cdef intp[::1] starts = starts_arr
    cdef unsigned[::1] marks = np.zeros(T * n_words, dtype=np.uintc)
    cdef int[::1] t_idx = np.empty(T * st, dtype=np.intc)
    cdef floating[::1] t_val = np.empty(T * st, dtype=dtype)
    with nogil:
        # starts[r + 1] = the count of row r's nonzeros (the marks are scratch)
        for r in prange(n, num_threads=T, schedule="static"):
            th = threadid()
            if floating is float:
                starts[r + 1] = fastnn_mark_f(&X[r, 0], n_in, &marks[th * n_words])
            else:
                starts[r + 1] = fastnn_mark_d(&X[r, 0], n_in, &marks[th * n_words])
        for r in range(n):
            starts[r + 1] = starts[r + 1] + starts[r]
    total = starts[n]
    # over the density limit, or lists (a column and a value per nonzero) over half of X's bytes
    if total > limit or total * <intp>(sizeof(int) + sizeof(floating)) > n * n_in * <intp>sizeof(floating) // 2:
        return None
    if pack_lists and fastnn_packed_ok and n_in <= 65536 and total > 0:
        packed = _list_packed(X, starts, total, T, t_idx, t_val)
        if packed is not None:
            return (starts_arr,) + packed
    idx_arr, val_arr = np.empty(max(total, 1), dtype=np.intc), np.empty(max(total, 1), dtype=dtype)
    cdef int[::1] idx = idx_arr
    cdef floating[::1] val = val_arr
    with nogil:
        # idx, val of row r = its nonzeros, listed into a scratch row (which may be written 16 past
        # its end) and copied into place
        for r in prange(n, num_threads=T, schedule="static"):
            th = threadid()
            if floating is float:
                fastnn_nonzeros_f(&X[r, 0], n_in, &t_idx[th * st], &t_val[th * st])
            else:
                fastnn_nonzeros_d(&X[r, 0], n_in, &t_idx[th * st], &t_val[th * st])
            memcpy(&idx[0] + starts[r], &t_idx[th * st], (starts[r + 1] - starts[r]) * sizeof(int))
            memcpy(&val[0] + starts[r], &t_val[th * st], (starts[r + 1] - starts[r]) * sizeof(floating))
    return starts_arr, idx_arr[:total], val_arr[:total], None


def list_csr(indptr, indices, data, intp n_in, intp n_out):
    """list_nonzeros' lists for a sparse matrix X (n, n_in) in canonical CSR form, made from its arrays
    (indptr (n + 1,), indices and data (nnz,), data float32 or float64) without making X dense, for
    train_epoch(..., listed=..., lists_only=True).

    Canonical: indptr starts at 0 and never falls, each row's indices are ascending without repeats and
    in [0, n_in), and no stored value is 0 (scipy: sum_duplicates(), sorted_indices(),
    eliminate_zeros()); otherwise ValueError, as it would list other sums than the dense X's. Returns
    None where layer 0 (n_out outputs) would not skip X's zeros (over the density limit or too
    narrow), as list_nonzeros does; unlike list_nonzeros, not where the lists take over half of X's
    dense bytes (X is not dense: they are about its own size). The lists are packed as list_nonzeros
    packs them (at most 256 distinct values, n_in <= 65536, a build with AVX-512, or AVX2 and FMA).
    """
    val = np.asarray(data)
    if val.ndim != 1 or val.dtype not in (np.float32, np.float64):
        raise ValueError(f"data must be a 1-d float32 or float64 array; got {val.dtype} of shape {val.shape}")
    starts = np.asarray(indptr)
    idx = np.asarray(indices)
    if starts.ndim != 1 or starts.shape[0] < 1 or idx.ndim != 1 or not (starts.dtype.kind in "iu" and
                                                                        idx.dtype.kind in "iu"):
        raise ValueError("indptr and indices must be 1-d integer arrays")
    starts = starts.astype(np.intp)
    cdef intp n = starts.shape[0] - 1, total = val.shape[0]
    cdef intp ld = (n_out + JB - 1) // JB * JB
    if n_in < 0 or n_out < 1:
        raise ValueError(f"n_in must be >= 0 and n_out >= 1; got {n_in} and {n_out}")
    if starts[0] != 0 or starts[n] != total or idx.shape[0] != total or np.any(np.diff(starts) < 0):
        raise ValueError("indptr must start at 0, never fall, and end at the number of stored values")
    if total > 0:
        if int(idx.min()) < 0 or int(idx.max()) >= n_in:
            raise ValueError(f"indices must be in [0, {n_in})")
        # ascending within each row: a fall or a repeat only from a row's last to the next row's first
        ascending = np.diff(idx.astype(np.int64)) > 0
        bounds = starts[1:n]
        ascending[bounds[(bounds > 0) & (bounds < total)] - 1] = True
        if not np.all(ascending):
            raise ValueError("each row's indices must be ascending without repeats "
                             "(scipy: sum_duplicates() and sorted_indices())")
        if not np.all(val != 0):
            raise ValueError("data must hold no zeros (scipy: eliminate_zeros())")
    cdef intp limit = (_sparse_limit(<const float*>NULL, n, n_in, ld, sparse_min_width_train)
                       if val.dtype == np.float32 else
                       _sparse_limit(<const double*>NULL, n, n_in, ld, sparse_min_width_train))
    if limit < 0 or n == 0 or n_in == 0 or total > limit:
        return None
    if pack_lists and fastnn_packed_ok and n_in <= 65536 and total > 0:
        val = np.ascontiguousarray(val)
        packed = _csr_packed[double](val) if val.dtype == np.float64 else _csr_packed[float](val)
        if packed is not None:
            code, table = packed
            return starts, idx.astype(np.uint16), code, table
    return starts, idx.astype(np.intc), val.copy(), None


cdef object _csr_packed(const floating[::1] val):
    """(codes (nnz,) uint8, table (256,)) with val[p] == table[codes[p]] bit for bit, as _list_packed
    codes list_nonzeros' values, or None when val takes more than 256 distinct values (bit patterns)."""
    cdef intp total = val.shape[0]
    code_arr = np.empty(total, dtype=np.uint8)
    cdef unsigned char[::1] code = code_arr
    cdef unsigned long long[::1] pal_words = np.empty(sizeof(fastnn_palette) // 8, dtype=np.uint64)
    cdef fastnn_palette* pal = <fastnn_palette*>&pal_words[0]
    cdef int full
    with nogil:
        fastnn_palette_init(pal)
        if floating is float:
            full = fastnn_code_f(pal, &val[0], total, &code[0])
        else:
            full = fastnn_code_d(pal, &val[0], total, &code[0])
    if full < 0:
        return None
    return code_arr, _palette_table(pal, <const floating*>NULL)


cdef object _palette_table(const fastnn_palette* pal, const floating* dtype_tag):
    """The (256,) table of pal's values, bit for bit, zeros past its count; dtype_tag (NULL) picks the dtype."""
    table_arr = np.zeros(256, dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] table = table_arr
    cdef intp c
    for c in range(pal.count):
        if floating is float:
            table[c] = fastnn_palette_f(pal, <int>c)
        else:
            table[c] = fastnn_palette_d(pal, <int>c)
    return table_arr


cdef object _list_packed(const floating[:, ::1] X, const intp[::1] starts, intp total, int T, int[::1] t_idx,
                         floating[::1] t_val):
    """list_nonzeros' lists packed, (idx uint16, codes uint8, table (256,) X's dtype), or None when the
    nonzeros take more than 256 distinct values. Each thread lists its rows (a contiguous block,
    schedule static) into the scratch rows t_idx, t_val and codes their values with a palette of
    its own (fastnn_code_*); the palettes are then merged into one, in thread order, and each
    row's codes mapped to it."""
    cdef intp n = X.shape[0], n_in = X.shape[1], st = _sparse_stride(n_in), r, p, q, k, th, c
    dtype = np.float32 if floating is float else np.float64
    pidx_arr, code_arr = np.empty(total, dtype=np.uint16), np.empty(total, dtype=np.uint8)
    cdef unsigned short[::1] pidx = pidx_arr
    cdef unsigned char[::1] code = code_arr
    cdef int[::1] owner = np.empty(n, dtype=np.intc)          # the thread that coded row r
    cdef int[::1] cmap = np.empty(T * 256, dtype=np.intc)     # thread th's code c is cmap[th * 256 + c]
    cdef int[::1] over = np.zeros(1, dtype=np.intc)           # set once a palette is full
    # T palettes, one per thread (pals[th]), and the merged one; 8-byte aligned (the struct's size is a
    # multiple of 8: it holds uint64_t)
    cdef unsigned long long[::1] pal_words = np.empty((T + 1) * (sizeof(fastnn_palette) // 8), dtype=np.uint64)
    cdef fastnn_palette* pals = <fastnn_palette*>&pal_words[0]
    cdef fastnn_palette* merged = pals + T
    cdef int* full = &over[0]
    with nogil:
        for th in range(T + 1):
            fastnn_palette_init(pals + th)
        for r in prange(n, num_threads=T, schedule="static"):
            th = threadid()
            if full[0]:
                continue
            owner[r] = <int>th
            # row r's nonzeros: columns as 16 bits, values as codes in the thread's palette
            if floating is float:
                k = fastnn_nonzeros_f(&X[r, 0], n_in, &t_idx[th * st], &t_val[th * st])
            else:
                k = fastnn_nonzeros_d(&X[r, 0], n_in, &t_idx[th * st], &t_val[th * st])
            for q in range(k):
                pidx[starts[r] + q] = <unsigned short>t_idx[th * st + q]
            if floating is float:
                if fastnn_code_f(pals + th, &t_val[th * st], k, &code[starts[r]]) < 0:
                    full[0] = 1
            else:
                if fastnn_code_d(pals + th, &t_val[th * st], k, &code[starts[r]]) < 0:
                    full[0] = 1
        # the palettes merged in thread order: thread th's code c is the merged code cmap[th * 256 + c]
        th = 0
        while th < T and not full[0]:
            for c in range(pals[th].count):
                cmap[th * 256 + c] = fastnn_palette_code(merged, pals[th].bits[c])
                if cmap[th * 256 + c] < 0:
                    full[0] = 1
                    break
            th = th + 1
        if not full[0]:
            for r in prange(n, num_threads=T, schedule="static"):
                for p in range(starts[r], starts[r + 1]):
                    code[p] = <unsigned char>cmap[owner[r] * 256 + code[p]]
    if over[0]:
        return None
    return pidx_arr, code_arr, _palette_table(merged, <const floating*>NULL)


cdef int _attach_listed(Sparse* sp, listed, intp n, bint lists_only, const floating* dtype_tag) except -1:
    """Point sp's listed X at ``listed`` = (starts, idx, val, table), list_nonzeros' or list_csr's lists
    of X's n rows (packed when table is not None), after checking their shapes; with lists_only, sp
    takes them alone (sp.only_lists). Lists of no nonzero are attached only with lists_only (then
    only their starts: all rows empty). dtype_tag (NULL) picks X's dtype. The caller keeps listed alive."""
    cdef const intp[::1] X_starts
    cdef const int[::1] X_idx
    cdef const floating[::1] X_val
    cdef const unsigned short[::1] X_pidx
    cdef const unsigned char[::1] X_code
    cdef const floating[::1] X_table
    cdef intp n_listed, n_values
    try:
        starts_obj, idx_obj, val_obj, table_obj = listed
        X_starts = starts_obj
        if table_obj is None:
            X_idx, X_val = idx_obj, val_obj
            n_listed, n_values = X_idx.shape[0], X_val.shape[0]
        else:
            X_pidx, X_code, X_table = idx_obj, val_obj, table_obj
            n_listed, n_values = X_pidx.shape[0], X_code.shape[0]
            # (packed lists come only from a build with their kernels: list_nonzeros, list_csr)
            if X_table.shape[0] != 256 or not fastnn_packed_ok:
                raise ValueError
    except (ValueError, TypeError):
        raise ValueError("listed does not match X: make it with list_nonzeros(X, ...) or list_csr(...)") from None
    if X_starts.shape[0] != n + 1 or n_listed != X_starts[n] or n_values != n_listed:
        raise ValueError("listed does not match X: make it with list_nonzeros(X, ...) or list_csr(...)")
    sp.only_lists = lists_only
    if n_listed == 0 and not lists_only:
        return 0
    sp.X_starts = &X_starts[0]
    if n_listed == 0:
        return 0
    if table_obj is None:
        sp.X_idx, sp.X_val = &X_idx[0], <const void*>&X_val[0]
    else:
        sp.X_pidx, sp.X_code, sp.X_table = &X_pidx[0], &X_code[0], <const void*>&X_table[0]
    return 0


def train_epoch(floating[::1] theta, const intp[::1] sizes, const intp[::1] offsets,
                const intp[::1] acts, intp loss_code, const floating[:, ::1] X, const floating[:, ::1] Y,
                const intp[::1] order, intp batch_size, intp optimizer, double eta, bint normalized,
                double l2, double momentum, double beta_1, double beta_2, double epsilon, intp t,
                floating[::1] v, floating[::1] m1, floating[::1] m2, int n_threads=1,
                bint asynchronous=False, listed=None, double loss=0, sample_weight=None, penalty=None,
                bint lists_only=False):
    """One epoch of mini-batch gradient descent, entirely without the GIL.

    Mini-batches are consecutive slices of ``order`` (a permutation of row
    indices, or any index list) of ``batch_size`` rows; the last may be
    smaller. For each: take its rows (_batch_inputs), forward, back-propagate and take one
    optimizer step (OPTIMIZERS code ``optimizer``, learning rate ``eta``,
    weight decay ``l2``; with ``normalized`` the gradient is scaled to unit
    norm first and eta is the step eps). v, m1, m2 are the optimizer's state
    in the packed layout (_packed_layout), updated in place; ``t`` is the
    number of Adam steps taken before this epoch. theta is updated in place
    at the end.

    By default the batches run one after the other, each split across n_threads
    where it is large enough; the result does not depend on n_threads. With
    ``asynchronous`` and n_threads > 1 (Hogwild, as LightFM trains), each thread
    instead takes whole batches, the next one not yet taken, and steps the shared
    parameters and optimizer state without locks: batch b (from 0) is still Adam's
    step t + b + 1, but what each batch reads depends on the timing of the others.

    Between mini-batches (asynchronously: between rounds of them), about every
    5 ms of work, it lets Python's signal handlers run: on Ctrl-C it writes back
    the parameters of every completed mini-batch and raises KeyboardInterrupt.

    ``listed``: list_nonzeros(X, ...), or None (each batch's nonzeros are listed from its rows of X).

    ``lists_only``: X is given by ``listed`` alone, list_csr(...) of a sparse matrix, which is never
    made dense; the X argument is then an empty (n, 0) array of its dtype, for its rows' count. Layer 0
    takes the lists in every batch, whatever its density; the result is the same, bit for bit, as
    with the dense X.

    ``sample_weight``: None, or the weight (>= 0, X's dtype) of each row of X, (X.shape[0],); not
    with ``asynchronous``. Each row's loss and its gradient are then scaled by its weight, and a
    batch of m rows whose weights sum to S is stepped as if it had S rows of weight 1: its summed
    gradient divided by S instead of m, ``l2`` multiplied by m / S (scikit-learn's alpha / S when
    l2 = alpha / m), and its loss, summed over its rows with their weights, times m / S
    (scikit-learn's mean over the batch times m). A batch whose weights sum to 0 is skipped: no
    step, no Adam step, no loss.

    ``penalty``: None, or a float64 array of one element, to which each batch of m rows and
    summed weight S (m without weights; batches that take a step) adds ||W||^2 of the weights
    before its step, times m / S: the multiple of 0.5 * alpha in scikit-learn's L2 term of the
    epoch's summed loss. ||W||^2 is summed in a fixed order (_squared_norm); not with
    ``asynchronous``.

    Returns (``loss`` + the summed per-sample loss, each measured before its own batch's
    update, added batch by batch in order; t after the epoch). An epoch run as several
    calls, each given the last one's loss, so sums exactly as one call.
    """
    n_threads = _usable_threads(n_threads)
    layout, n_packed, units = _packed_layout(sizes)
    cdef const intp[::1] packed = layout
    cdef Net net = _net(sizes, offsets, packed, acts, loss_code, n_threads)
    cdef intp n = order.shape[0], n0 = sizes[0], nL = sizes[net.L]
    cdef intp rows = _train_rows(batch_size, net.ld[0]), P = n_packed
    # lists_only: the most nonzeros a chunk of `rows` rows can have (the `rows` longest lists), which
    # layer 0's gradient workspace G must hold
    cdef intp most = 0
    cdef const floating* Xp = NULL
    if lists_only:
        if listed is None or X.shape[1] != 0:
            raise ValueError("lists_only needs listed (list_csr of the sparse X) and X of shape (n, 0)")
        try:
            counts = np.diff(np.asarray(listed[0], dtype=np.intp))
        except (TypeError, ValueError, IndexError):
            raise ValueError("listed does not match X: make it with list_csr(...)") from None
        if counts.shape[0] > 0:
            most = int(np.sort(counts)[max(0, counts.shape[0] - rows):].sum())
    elif X.shape[0] > 0 and X.shape[1] > 0:
        Xp = &X[0, 0]
    cdef const floating[::1] sw
    cdef floating[::1] wbuf
    cdef double S = 0
    cdef intp i
    cdef bint weighted = sample_weight is not None and X.shape[0] > 0
    if sample_weight is not None:
        if asynchronous:
            raise ValueError("sample_weight is not supported with asynchronous batches")
        sw = sample_weight
        if sw.shape[0] != X.shape[0]:
            raise ValueError(f"sample_weight has {sw.shape[0]} entries but X has {X.shape[0]} rows")
    cdef double[::1] pen_out
    cdef double* pen = NULL
    cdef double[::1] sq_buf
    if penalty is not None:
        if asynchronous:
            raise ValueError("penalty is not supported with asynchronous batches")
        pen_out = penalty
        if pen_out.shape[0] != 1:
            raise ValueError("penalty must be a float64 array of one element")
        pen = &pen_out[0]
        # the parts of ||W||^2 (_squared_norm), layer after layer
        sq_buf = np.zeros(sum([_norm_parts(&net, l) for l in range(net.L)]))
    cdef intp n_batches = (n + batch_size - 1) // batch_size
    # threads that each take whole batches (1: the batches in turn, each on all n_threads)
    cdef intp T = max(1, min(<intp>n_threads, n_batches)) if asynchronous else 1
    dtype = np.float32 if floating is float else np.float64
    # per-thread buffers, thread th's at th * its part's size
    cdef intp s_unit = _rounded(rows * units), s_scratch = _rounded(_scratch_size(sizes, layout, rows))
    # (lists_only: layer 0 never reads the chunk's rows x, xb)
    cdef intp s_x = 16 if lists_only else _rounded(rows * n0), s_y = _rounded(rows * nL)
    cdef intp s_G = _rounded(_entries_at(<const floating*>NULL, n0) + 2 * most if lists_only
                             else _columns_size(<const floating*>NULL, rows, n0, net.ld[0]))
    # the summed gradient, for batches over one chunk and for the normalized step (the rest is fused)
    cdef intp s_g = _rounded(P) if (batch_size > rows or normalized) else 1
    cdef floating[::1] pk = aligned(P, dtype)
    cdef floating[::1] gk = aligned(T * s_g, dtype)
    cdef floating[::1] z = aligned(T * s_unit, dtype)
    cdef floating[::1] a = aligned(T * s_unit, dtype)
    cdef floating[::1] delta = aligned(T * s_unit, dtype)
    cdef floating[::1] scratch = aligned(T * s_scratch, dtype)
    cdef floating[::1] xb = aligned(T * s_x, dtype)
    cdef floating[::1] yb = aligned(T * s_y, dtype)
    # (lists_only: no lists of its own, n_in 0, and no union of columns)
    cdef intp n_own = 0 if lists_only else n0
    idx, val, nnz, union_k = _sparse_buffers(T, rows, n_own, dtype, not lists_only)
    cdef int[::1] sp_union = union_k
    cdef int[::1] sp_idx = idx
    cdef floating[::1] sp_val = val
    cdef intp[::1] sp_nnz = nnz
    # layer 0's gradient workspace for sparse inputs (written before it is read: not zeroed)
    # (a second one for thread 1 of _loss_grad_local when the batches run in turn on two threads)
    cdef intp n_G = 2 if (T == 1 and n_threads == 2) else T
    cdef floating[::1] G = aligned(n_G * s_G, dtype)
    cdef floating* vp = &v[0] if optimizer in (MOMENTUM, NESTEROV) else NULL
    cdef floating* m1p = &m1[0] if optimizer == ADAM else NULL
    cdef floating* m2p = &m2[0] if optimizer == ADAM else NULL
    cdef Step op
    cdef Ahead ahead
    # each thread's Step and Sparse lists (one loop after the other: thread 0's Sparse), each batch's loss
    # (each in 64-byte lines of its own: a thread writing its Step would otherwise evict the other's)
    cdef intp s_struct = (max(sizeof(Step), sizeof(Sparse)) + 63) // 64 * 64
    cdef unsigned char[::1] struct_bytes = aligned(2 * T * s_struct, np.uint8, zero=True)
    cdef void* ops = &struct_bytes[0]
    cdef void* sps = &struct_bytes[T * s_struct]
    cdef Step* op_th
    cdef Sparse* sp_th
    cdef double[::1] batch_loss = np.zeros(n_batches if T > 1 else 1, dtype=np.float64)
    cdef Net net1 = net
    cdef intp start, m, m_next, b, b0, b1, th, per_round = 1, next_b = 0, t0 = t
    cdef clock_t last_check = clock(), interval = CLOCKS_PER_SEC // 200    # look for signals every ~5 ms
    cdef clock_t round_start
    signal = None
    op.kind, op.eta, op.mu, op.gscale = optimizer, eta, momentum, 1
    op.b1, op.b2, op.eps, op.lr_t = beta_1, beta_2, epsilon, eta
    net1.n_threads = 1
    for th in range(T):
        _sparse_of(sps, th, s_struct)[0] = _sparse_view(sp_idx, sp_val, sp_nnz, sp_union, rows, n_own, th)
        if n_G > T:
            _sparse_of(sps, th, s_struct).G_other = <void*>(&G[0] + s_G)
        if listed is not None:
            _attach_listed(_sparse_of(sps, th, s_struct), listed, X.shape[0], lists_only, <const floating*>NULL)
    ahead.X, ahead.row_bytes, ahead.m = <const char*>Xp, n0 * sizeof(floating), 0
    ahead.lines = (ahead.row_bytes + 63) // 64
    if T == 1:
        _sparse_of(sps, 0, s_struct).ahead = &ahead
    if pen != NULL:
        _sparse_of(sps, 0, s_struct).sq = &sq_buf[0]
    if weighted:
        # the weights of a chunk's rows (_batch_inputs)
        wbuf = aligned(rows, dtype)
        _sparse_of(sps, 0, s_struct).W_all = <const void*>&sw[0]
        _sparse_of(sps, 0, s_struct).wb = <void*>&wbuf[0]
    with nogil:
        _pack(&net, &theta[0], &pk[0])
        # how _loss_grad_local's threads run: as on near cores, far ones, or by the round trip (near_mode)
        _sparse_of(sps, 0, s_struct).near = near_mode
        if T == 1:
            start = 0
            while start < n:
                if _due(&last_check, interval):
                    # between mini-batches: let Python see Ctrl-C (and other signals); stop if a handler raised
                    with gil:
                        signal = _pending_signal()
                    if signal is not None:
                        break
                m = min(batch_size, n - start)
                # a batch of m rows (S = m) or, weighted, of summed weight S, stepped as S rows of weight 1:
                # the gradient / S, l2 * (m / S), the loss * (m / S); weights of 1 give S = m and the
                # same step, bit for bit. A batch of weight 0 is skipped.
                S = m
                if weighted:
                    # S = sum(sample_weight[order[start:start + m]])
                    S = 0
                    for i in range(m):
                        S += <double>sw[order[start + i]]
                    if S == 0:
                        start += m
                        continue
                m_next = min(batch_size, n - start - m)
                # while this batch computes, the next batch's rows of X travel towards the cache, a few lines
                # at a time (_prefetch_ahead); only for small batches (MNIST: faster with batches of 10 rows;
                # with 200, prefetched at once or spread over the gradient, the gradient lost about what
                # the listing of the next batch gained)
                ahead.m, ahead.i, ahead.line = 0, 0, 0
                if m_next > 0 and Xp != NULL and m_next * n0 * <intp>sizeof(floating) <= PREFETCH_BYTES:
                    ahead.rows, ahead.m = &order[start + m], m_next
                t += 1
                _begin_step(&op, S, t, eta)
                # (set by whichever path the batch takes; NaN should one not)
                _sparse_of(sps, 0, s_struct).sq_norm = NAN
                loss += _train_batch(&net, &op, &pk[0], Xp, &Y[0, 0], &order[start], m, rows, normalized,
                                     vp, m1p, m2p, <floating>(l2 * (m / S)), &z[0], &a[0], &delta[0], &scratch[0],
                                     &xb[0], &yb[0], &gk[0], _sparse_of(sps, 0, s_struct), &G[0]) * (m / S)
                if pen != NULL:
                    # ||W||^2 before the batch's step (_train_batch), times m / S
                    pen[0] += _sparse_of(sps, 0, s_struct).sq_norm * (m / S)
                # what the kernels did not prefetch along (they spread it over the union path's loops)
                _prefetch_rest(&ahead)
                start += m
        else:
            # rounds of batches, the first of one batch per thread, each twice the last while a round
            # takes under half the signal interval; between rounds: signals
            b0 = 0
            while b0 < n_batches:
                if _due(&last_check, interval):
                    with gil:
                        signal = _pending_signal()
                    if signal is not None:
                        break
                b1 = min(n_batches, b0 + per_round * T)
                next_b = b0
                round_start = clock()
                for th in prange(T, num_threads=T, schedule="static"):
                    op_th = _step_of(ops, th, s_struct)
                    sp_th = _sparse_of(sps, th, s_struct)
                    op_th[0] = op
                    b = fastnn_fetch_add(&next_b, 1)
                    while b < b1:
                        m = min(batch_size, n - b * batch_size)
                        _begin_step(op_th, m, t0 + b + 1, eta)
                        batch_loss[b] = _train_batch(
                            &net1, op_th, &pk[0], Xp, &Y[0, 0], &order[b * batch_size], m, rows,
                            normalized, vp, m1p, m2p, <floating>l2, &z[0] + th * s_unit, &a[0] + th * s_unit,
                            &delta[0] + th * s_unit, &scratch[0] + th * s_scratch, &xb[0] + th * s_x,
                            &yb[0] + th * s_y, &gk[0] + th * s_g,
                            sp_th, &G[0] + th * s_G)
                        b = fastnn_fetch_add(&next_b, 1)
                if clock() - round_start < interval // 2:
                    per_round = per_round * 2
                b0 = b1
            # the loss batch by batch in order
            for b in range(b0):
                loss += batch_loss[b]
            t = t0 + b0
        _unpack(&net, &pk[0], &theta[0])
    if signal is not None:
        # theta holds every completed mini-batch's update: a consistent network
        raise signal
    return loss, t


cdef inline bint _due(clock_t* last_check, clock_t interval) noexcept nogil:
    """Whether interval of CPU time has passed since last_check (then last_check = now)."""
    cdef clock_t now = clock()
    if now - last_check[0] < interval:
        return False
    last_check[0] = now
    return True


cdef object _pending_signal():
    """Run Python's signal handlers; return the exception one raised (KeyboardInterrupt on Ctrl-C) or None."""
    try:
        PyErr_CheckSignals()
    except BaseException as exc:
        return exc
    return None


def _scratch_size(const intp[::1] sizes, layout, intp rows):
    """Scratch for _backprop_delta's transposes (delta.T and its product, or W = WT.T, which has no more
    rows than the batch): (max ld + max hidden width) * rows rounded up to JB."""
    cdef intp L = sizes.shape[0] - 1
    cdef intp mp = (rows + JB - 1) // JB * JB
    widest_hidden = max([sizes[l] for l in range(1, L)], default=0)
    return (max(layout[:L]) + widest_hidden) * mp


def packed_size(const intp[::1] sizes):
    """Length of the packed parameter layout, the size of optimizer state arrays."""
    return _packed_layout(sizes)[1]


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
