/* Static-model range ANS (rANS) for symbol groups: the fast entropy coder of the residual
 * streams (see rans.py for the format and for why this is not constriction).
 *
 * 32-bit state, byte-wise renormalization, probabilities in 1/2^16 (the ryg_rans "byte"
 * construction): the encoder walks the groups and their symbols backwards and writes the
 * stream backwards, so the decoder reads it forwards, group after group. Decoding a table model
 * is one lookup (slot -> symbol) and one multiply-add per symbol, with the GIL released.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define PROB_BITS 16
#define PROB_SCALE (1u << PROB_BITS)
#define RANS_L (1u << 23)

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

/* A C-contiguous buffer of `itemsize`-byte items (count -1: any count), writable when asked. */
static int take(PyObject *obj, buf_t *b, Py_ssize_t itemsize, Py_ssize_t count, int writable,
                const char *what) {
    int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &b->view, flags) < 0) return -1;
    b->held = 1;
    if (itemsize > 1 && b->view.len % itemsize) {
        PyErr_Format(PyExc_TypeError, "%s must hold %zd-byte items", what, itemsize);
        return -1;
    }
    if (count >= 0 && b->view.len / itemsize != count) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd items, expected %zd", what,
                     b->view.len / itemsize, count);
        return -1;
    }
    return 0;
}

/* encode(syms, group_start, group_len, group_kind, freq, cum, model_start, model_size) -> bytes
 * All arrays int64. group_kind >= 0 names a table model (its freq/cum at model_start, size
 * model_size); group_kind < 0 is a uniform model of -group_kind bits (at most 16). */
static PyObject *encode(PyObject *self, PyObject *args) {
    PyObject *o[8];
    if (!PyArg_ParseTuple(args, "OOOOOOOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6],
                          &o[7]))
        return NULL;
    buf_t b[8] = {{0}};
    PyObject *result = NULL;
    uint8_t *out = NULL;
    const char *names[8] = {"syms", "group_start", "group_len", "group_kind",
                            "freq", "cum",         "model_start", "model_size"};
    for (int i = 0; i < 8; i++)
        if (take(o[i], &b[i], 8, -1, 0, names[i]) < 0) goto done;
    const int64_t *syms = b[0].view.buf, *gs = b[1].view.buf, *gl = b[2].view.buf,
                  *gk = b[3].view.buf, *freq = b[4].view.buf, *cum = b[5].view.buf,
                  *ms = b[6].view.buf, *msz = b[7].view.buf;
    Py_ssize_t n_syms = b[0].view.len / 8, n_groups = b[1].view.len / 8,
               n_freq = b[4].view.len / 8, n_models = b[6].view.len / 8;
    if (b[2].view.len / 8 != n_groups || b[3].view.len / 8 != n_groups ||
        b[5].view.len / 8 != n_freq || b[7].view.len / 8 != n_models) {
        PyErr_SetString(PyExc_ValueError, "rANS encode: array lengths disagree");
        goto done;
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t g = 0; g < n_groups; g++) {
        if (gs[g] < 0 || gl[g] < 0 || gs[g] + gl[g] > n_syms) {
            PyErr_SetString(PyExc_ValueError, "rANS encode: group outside the symbols");
            goto done;
        }
        if (gk[g] >= 0 ? gk[g] >= n_models || ms[gk[g]] < 0 || msz[gk[g]] < 1 ||
                             ms[gk[g]] + msz[gk[g]] > n_freq
                       : gk[g] < -PROB_BITS) {
            PyErr_SetString(PyExc_ValueError, "rANS encode: bad model of a group");
            goto done;
        }
        total += gl[g];
    }
    Py_ssize_t cap = 2 * total + 8; /* at most two bytes a symbol at 16-bit probabilities */
    out = PyMem_Malloc(cap);
    if (!out) {
        PyErr_NoMemory();
        goto done;
    }
    uint8_t *ptr = out + cap;
    uint32_t x = RANS_L;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t g = n_groups - 1; g >= 0 && !bad; g--) {
        const int64_t *s = syms + gs[g];
        if (gk[g] < 0) {
            int bits = (int)-gk[g];
            uint32_t f = PROB_SCALE >> bits, x_max = ((RANS_L >> PROB_BITS) << 8) * f;
            int64_t limit = (int64_t)1 << bits;
            for (Py_ssize_t i = gl[g] - 1; i >= 0; i--) {
                if (s[i] < 0 || s[i] >= limit) {
                    bad = 1;
                    break;
                }
                while (x >= x_max) {
                    *--ptr = (uint8_t)(x & 0xff);
                    x >>= 8;
                }
                x = ((x / f) << PROB_BITS) + (x % f) + ((uint32_t)s[i] << (PROB_BITS - bits));
            }
        } else {
            const int64_t *fr = freq + ms[gk[g]], *cu = cum + ms[gk[g]];
            int64_t size = msz[gk[g]];
            for (Py_ssize_t i = gl[g] - 1; i >= 0; i--) {
                int64_t v = s[i];
                if (v < 0 || v >= size || fr[v] <= 0) {
                    bad = 1;
                    break;
                }
                uint32_t f = (uint32_t)fr[v], x_max = ((RANS_L >> PROB_BITS) << 8) * f;
                while (x >= x_max) {
                    *--ptr = (uint8_t)(x & 0xff);
                    x >>= 8;
                }
                x = ((x / f) << PROB_BITS) + (x % f) + (uint32_t)cu[v];
            }
        }
    }
    ptr -= 4;
    memcpy(ptr, &x, 4); /* little-endian machines only: checked at import (rans.py) */
    Py_END_ALLOW_THREADS;
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "rANS encode: a symbol has no probability");
        goto done;
    }
    result = PyBytes_FromStringAndSize((const char *)ptr, out + cap - ptr);
done:
    PyMem_Free(out);
    for (int i = 0; i < 8; i++) release(&b[i]);
    return result;
}

/* decode(buf, state, out, freq, cum, table, bits) -> None. state: int64 [x, pos], updated.
 * bits > 0: a uniform model of that many bits (freq, cum, table unused); else a table model:
 * table (uint16, 2^16 slots) maps a slot to its symbol. Raises ValueError on a corrupt stream
 * (a read past the end). */
static PyObject *decode(PyObject *self, PyObject *args) {
    PyObject *ob, *ost, *oout, *ofr, *ocu, *otab;
    int bits;
    if (!PyArg_ParseTuple(args, "OOOOOOi", &ob, &ost, &oout, &ofr, &ocu, &otab, &bits))
        return NULL;
    buf_t b[6] = {{0}};
    PyObject *result = NULL;
    if (take(ob, &b[0], 1, -1, 0, "buf") < 0 || take(ost, &b[1], 8, 2, 1, "state") < 0 ||
        take(oout, &b[2], 8, -1, 1, "out") < 0)
        goto done;
    if (bits <= 0 && (take(ofr, &b[3], 8, -1, 0, "freq") < 0 ||
                      take(ocu, &b[4], 8, b[3].view.len / 8, 0, "cum") < 0 ||
                      take(otab, &b[5], 2, PROB_SCALE, 0, "table") < 0))
        goto done;
    if (bits > PROB_BITS) {
        PyErr_SetString(PyExc_ValueError, "rANS decode: uniform model too wide");
        goto done;
    }
    const uint8_t *in = b[0].view.buf;
    int64_t *st = b[1].view.buf, *out = b[2].view.buf;
    Py_ssize_t len = b[0].view.len, n = b[2].view.len / 8;
    if (st[1] < 0 || st[1] > len || st[0] < 0 || st[0] > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "rANS decode: bad state");
        goto done;
    }
    uint64_t x = (uint64_t)st[0];
    Py_ssize_t pos = (Py_ssize_t)st[1];
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS;
    if (bits > 0) {
        int down = PROB_BITS - bits;
        uint64_t f = PROB_SCALE >> bits;
        for (Py_ssize_t i = 0; i < n; i++) {
            uint64_t slot = x & (PROB_SCALE - 1), v = slot >> down;
            out[i] = (int64_t)v;
            x = f * (x >> PROB_BITS) + slot - (v << down);
            while (x < RANS_L) {
                if (pos >= len) {
                    bad = 1;
                    break;
                }
                x = (x << 8) | in[pos++];
            }
            if (bad) break;
        }
    } else {
        const int64_t *fr = b[3].view.buf, *cu = b[4].view.buf;
        const uint16_t *tab = b[5].view.buf;
        Py_ssize_t size = b[3].view.len / 8;
        for (Py_ssize_t i = 0; i < n; i++) {
            uint64_t slot = x & (PROB_SCALE - 1);
            uint16_t v = tab[slot];
            if (v >= size) {
                bad = 1;
                break;
            }
            out[i] = v;
            x = (uint64_t)fr[v] * (x >> PROB_BITS) + slot - (uint64_t)cu[v];
            while (x < RANS_L) {
                if (pos >= len) {
                    bad = 1;
                    break;
                }
                x = (x << 8) | in[pos++];
            }
            if (bad || x > UINT32_MAX) {
                bad = 1;
                break;
            }
        }
    }
    Py_END_ALLOW_THREADS;
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "rANS stream is corrupt or truncated");
        goto done;
    }
    st[0] = (int64_t)x;
    st[1] = pos;
    result = Py_NewRef(Py_None);
done:
    for (int i = 0; i < 6; i++) release(&b[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"encode", encode, METH_VARARGS, "Encode symbol groups into one rANS stream."},
    {"decode", decode, METH_VARARGS, "Decode one group of symbols (state updated)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rans",
                                     "Static-model rANS for symbol groups.", -1, methods};

PyMODINIT_FUNC PyInit__rans(void) { return PyModule_Create(&module); }
