/* Integer linear prediction loops of `predictive` and `quant` (see prediction.py).
 *
 * Hand-written in C rather than numba because these loops run on every decode, and a short
 * decode is dominated by numba's per-process start (its import and target set-up, about 0.6 s),
 * not by the loop. Fitting the predictors stays in numba (lpc.py); only the integer arithmetic
 * that encoder and decoder must repeat bit for bit lives here, once.
 *
 * Prediction of channel c at frame t with block predictor (p taps, optional cross taps on
 * reference channel r): acc = [a0*y[r,t] + a1*y[r,t-1]] + sum_{j=1..min(p,t)} a[k+j-1]*y[c,t-j],
 * pred = clamp((acc + 2^(S-1)) >> S, lo, hi), in 64-bit integers (compiled with -fwrapv, so an
 * overflow on a corrupt stream wraps as numba's did instead of being undefined).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define COEF_SHIFT 14

typedef struct {
    Py_buffer view;
    int held;
} buf_t;

static void release(buf_t *b) {
    if (b->held) {
        PyBuffer_Release(&b->view);
        b->held = 0;
    }
}

/* An int64, C-contiguous buffer of exactly `count` items (writable when asked). */
static int take(PyObject *obj, buf_t *b, Py_ssize_t count, int writable, const char *what) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &b->view, flags) < 0) return -1;
    b->held = 1;
    const char *fmt = b->view.format ? b->view.format : "B";
    if (b->view.itemsize != 8 || (strcmp(fmt, "l") && strcmp(fmt, "q") && strcmp(fmt, "<q") &&
                                  strcmp(fmt, "=q") && strcmp(fmt, "<l") && strcmp(fmt, "=l"))) {
        PyErr_Format(PyExc_TypeError, "%s must be int64", what);
        return -1;
    }
    if (b->view.len / 8 != count) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd values, expected %zd", what,
                     b->view.len / 8, count);
        return -1;
    }
    return 0;
}

typedef struct {
    const int64_t *refidx, *coefs, *orders, *cross;
    Py_ssize_t n_ch, n, n_blocks, width, block;
    int64_t lo, hi;
} model_t;

/* Check every per-block predictor against the shapes before any sample is touched. */
static int check_model(const model_t *m) {
    if (m->block <= 0 || m->n_blocks * m->block < m->n) {
        PyErr_SetString(PyExc_ValueError, "predictor blocks do not cover the frames");
        return -1;
    }
    for (Py_ssize_t c = 0; c < m->n_ch; c++) {
        int64_t r = m->refidx[c];
        for (Py_ssize_t b = 0; b < m->n_blocks; b++) {
            int64_t p = m->orders[c * m->n_blocks + b];
            int64_t x = m->cross[c * m->n_blocks + b];
            if (p < 0 || x < 0 || x > 1 || p + 2 * x > m->width ||
                (x && (r < 0 || r >= c))) {
                PyErr_SetString(PyExc_ValueError, "invalid predictor order, taps or reference");
                return -1;
            }
        }
    }
    return 0;
}

/* The taps of one (channel, predictor block): what predict() looks up for every sample. */
typedef struct {
    const int64_t *a, *own, *ref;
    int64_t p;
    int cross;
} taps_t;

static inline taps_t block_taps(const model_t *m, const int64_t *sig, Py_ssize_t c,
                                Py_ssize_t b) {
    taps_t k;
    k.p = m->orders[c * m->n_blocks + b];
    k.cross = (int)m->cross[c * m->n_blocks + b];
    k.a = m->coefs + (c * m->n_blocks + b) * m->width;
    k.own = sig + c * m->n;
    k.ref = k.cross ? sig + m->refidx[c] * m->n : NULL;
    return k;
}

/* sum_{j=1..P} a[j-1] * h[t-j] with P a constant, so the compiler unrolls it. Integer sums
 * wrap (-fwrapv), so their order never changes the result. */
#define DOT(P)                                                       \
    do {                                                             \
        for (int j = 1; j <= (P); j++) acc += a[j - 1] * h[t - j];   \
    } while (0)

static inline int64_t predict_taps(const taps_t *k, const model_t *m, Py_ssize_t t) {
    const int64_t *a = k->a;
    const int64_t *h = k->own;
    int64_t acc = 0;
    if (k->cross) {
        acc += a[0] * k->ref[t];
        if (t >= 1) acc += a[1] * k->ref[t - 1];
        a += 2;
    }
    if (t >= k->p) {
        switch (k->p) {
            case 0: break;
            case 1: DOT(1); break;
            case 2: DOT(2); break;
            case 4: DOT(4); break;
            case 8: DOT(8); break;
            case 16: DOT(16); break;
            case 32: DOT(32); break;
            default:
                for (Py_ssize_t j = 1; j <= k->p; j++) acc += a[j - 1] * h[t - j];
        }
    } else {
        for (Py_ssize_t j = 1; j <= t; j++) acc += a[j - 1] * h[t - j];
    }
    int64_t pred = (acc + ((int64_t)1 << (COEF_SHIFT - 1))) >> COEF_SHIFT;
    return pred < m->lo ? m->lo : (pred > m->hi ? m->hi : pred);
}

static inline int64_t predict(const model_t *m, const int64_t *sig, Py_ssize_t c,
                              Py_ssize_t t) {
    taps_t k = block_taps(m, sig, c, t / m->block);
    return predict_taps(&k, m, t);
}

static inline int64_t clamp(int64_t v, int64_t lo, int64_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Parse (signal, refidx, coefs, orders, cross, block, ..., lo, hi) into a model. */
static int parse_model(PyObject *refidx, PyObject *coefs, PyObject *orders, PyObject *cross,
                       Py_ssize_t n_ch, Py_ssize_t n, Py_ssize_t n_blocks, Py_ssize_t width,
                       Py_ssize_t block, int64_t lo, int64_t hi, buf_t bufs[4], model_t *m) {
    if (n_ch < 0 || n < 0 || n_blocks < 0 || width < 0) {
        PyErr_SetString(PyExc_ValueError, "negative shape");
        return -1;
    }
    if (take(refidx, &bufs[0], n_ch, 0, "refidx") < 0 ||
        take(coefs, &bufs[1], n_ch * n_blocks * width, 0, "coefs") < 0 ||
        take(orders, &bufs[2], n_ch * n_blocks, 0, "orders") < 0 ||
        take(cross, &bufs[3], n_ch * n_blocks, 0, "cross") < 0)
        return -1;
    m->refidx = bufs[0].view.buf;
    m->coefs = bufs[1].view.buf;
    m->orders = bufs[2].view.buf;
    m->cross = bufs[3].view.buf;
    m->n_ch = n_ch;
    m->n = n;
    m->n_blocks = n_blocks;
    m->width = width;
    m->block = block;
    m->lo = lo;
    m->hi = hi;
    return check_model(m);
}

#define MODEL_FORMAT "OOOOnnnnnLL"

/* residuals(x, refidx, coefs, orders, cross, n_ch, n, n_blocks, width, block, lo, hi, q):
 * lossless residuals q = x - pred(x); channels read only x, never q. */
static PyObject *residuals(PyObject *self, PyObject *args) {
    PyObject *x, *refidx, *coefs, *orders, *cross, *q;
    Py_ssize_t n_ch, n, n_blocks, width, block;
    long long lo, hi;
    if (!PyArg_ParseTuple(args, "O" MODEL_FORMAT "O", &x, &refidx, &coefs, &orders, &cross,
                          &n_ch, &n, &n_blocks, &width, &block, &lo, &hi, &q))
        return NULL;
    buf_t bufs[6] = {{0}};
    model_t m;
    PyObject *result = NULL;
    if (parse_model(refidx, coefs, orders, cross, n_ch, n, n_blocks, width, block, lo, hi, bufs,
                    &m) < 0 ||
        take(x, &bufs[4], n_ch * n, 0, "x") < 0 || take(q, &bufs[5], n_ch * n, 1, "q") < 0)
        goto done;
    const int64_t *sig = bufs[4].view.buf;
    int64_t *out = bufs[5].view.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t c = 0; c < n_ch; c++)
        for (Py_ssize_t b = 0; b * block < n; b++) {
            taps_t k = block_taps(&m, sig, c, b);
            Py_ssize_t end = (b + 1) * block < n ? (b + 1) * block : n;
            for (Py_ssize_t t = b * block; t < end; t++)
                out[c * n + t] = sig[c * n + t] - predict_taps(&k, &m, t);
        }
    Py_END_ALLOW_THREADS;
    result = Py_NewRef(Py_None);
done:
    for (int i = 0; i < 6; i++) release(&bufs[i]);
    return result;
}

/* quantize(x, refidx, coefs, orders, cross, n_ch, n, n_blocks, width, block, lo, hi, step,
 *          q, rec): closed-loop quantization of prediction errors with `step`. */
static PyObject *quantize(PyObject *self, PyObject *args) {
    PyObject *x, *refidx, *coefs, *orders, *cross, *q, *rec;
    Py_ssize_t n_ch, n, n_blocks, width, block;
    long long lo, hi, step;
    if (!PyArg_ParseTuple(args, "O" MODEL_FORMAT "LOO", &x, &refidx, &coefs, &orders, &cross,
                          &n_ch, &n, &n_blocks, &width, &block, &lo, &hi, &step, &q, &rec))
        return NULL;
    if (step < 1) {
        PyErr_SetString(PyExc_ValueError, "step must be >= 1");
        return NULL;
    }
    buf_t bufs[7] = {{0}};
    model_t m;
    PyObject *result = NULL;
    if (parse_model(refidx, coefs, orders, cross, n_ch, n, n_blocks, width, block, lo, hi, bufs,
                    &m) < 0 ||
        take(x, &bufs[4], n_ch * n, 0, "x") < 0 || take(q, &bufs[5], n_ch * n, 1, "q") < 0 ||
        take(rec, &bufs[6], n_ch * n, 1, "rec") < 0)
        goto done;
    const int64_t *sig = bufs[4].view.buf;
    int64_t *qv = bufs[5].view.buf, *out = bufs[6].view.buf;
    int64_t hs = step / 2;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t c = 0; c < n_ch; c++) {
        for (Py_ssize_t t = 0; t < n; t++) {
            int64_t pred = predict(&m, out, c, t);
            int64_t e = sig[c * n + t] - pred;
            int64_t code = step == 1 ? e : (e >= 0 ? (e + hs) / step : -((-e + hs) / step));
            qv[c * n + t] = code;
            out[c * n + t] = clamp(pred + code * step, lo, hi);
        }
    }
    Py_END_ALLOW_THREADS;
    result = Py_NewRef(Py_None);
done:
    for (int i = 0; i < 7; i++) release(&bufs[i]);
    return result;
}

/* reconstruct(q, refidx, coefs, orders, cross, n_ch, n, n_blocks, width, block, lo, hi, step,
 *             rec): the decoder, rec = clamp(pred(rec) + q * step). */
static PyObject *reconstruct(PyObject *self, PyObject *args) {
    PyObject *q, *refidx, *coefs, *orders, *cross, *rec;
    Py_ssize_t n_ch, n, n_blocks, width, block;
    long long lo, hi, step;
    if (!PyArg_ParseTuple(args, "O" MODEL_FORMAT "LO", &q, &refidx, &coefs, &orders, &cross,
                          &n_ch, &n, &n_blocks, &width, &block, &lo, &hi, &step, &rec))
        return NULL;
    buf_t bufs[6] = {{0}};
    model_t m;
    PyObject *result = NULL;
    if (parse_model(refidx, coefs, orders, cross, n_ch, n, n_blocks, width, block, lo, hi, bufs,
                    &m) < 0 ||
        take(q, &bufs[4], n_ch * n, 0, "q") < 0 || take(rec, &bufs[5], n_ch * n, 1, "rec") < 0)
        goto done;
    const int64_t *qv = bufs[4].view.buf;
    int64_t *out = bufs[5].view.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t c = 0; c < n_ch; c++)
        for (Py_ssize_t b = 0; b * block < n; b++) {
            taps_t k = block_taps(&m, out, c, b);
            Py_ssize_t end = (b + 1) * block < n ? (b + 1) * block : n;
            for (Py_ssize_t t = b * block; t < end; t++)
                out[c * n + t] = clamp(predict_taps(&k, &m, t) + qv[c * n + t] * step, lo, hi);
        }
    Py_END_ALLOW_THREADS;
    result = Py_NewRef(Py_None);
done:
    for (int i = 0; i < 6; i++) release(&bufs[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"residuals", residuals, METH_VARARGS, "Lossless prediction residuals (into q)."},
    {"quantize", quantize, METH_VARARGS, "Closed-loop quantization (into q and rec)."},
    {"reconstruct", reconstruct, METH_VARARGS, "Decoder reconstruction (into rec)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_predict",
                                     "Integer linear prediction loops.", -1, methods};

PyMODINIT_FUNC PyInit__predict(void) { return PyModule_Create(&module); }
