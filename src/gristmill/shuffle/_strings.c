/* Loops over the strings of an Arrow string array (its offsets and data buffers), for
 * columnar keys: a CRC-32 of each, to hash-partition them, and each copied into a fixed-width
 * row, to sort them with numpy.
 *
 * `shuffle.keys.stable_hash` partitions a str key by zlib.crc32 of its UTF-8 bytes. A
 * columnar key column must land its keys in the same partitions as records do (one shuffle
 * may carry both), so it needs the same CRC for every value: here, in one C loop over the
 * column's offsets and data buffers rather than a Python call per key. The CRC is zlib's
 * (IEEE 802.3, reflected, polynomial 0xEDB88320), byte at a time: keys are short, so the
 * per-key overhead, not the per-byte speed, is what a table-driven loop must keep small.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static uint32_t table[256];

static void make_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        table[i] = c;
    }
}

static uint32_t crc32(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    }
    return c ^ 0xFFFFFFFFu;
}

static int native(const Py_buffer *view, const char *codes) {
    const char *format = view->format ? view->format : "B";
    if (*format == '=' || *format == '@' || *format == (PY_LITTLE_ENDIAN ? '<' : '>')) {
        format++;
    }
    return format[0] != '\0' && format[1] == '\0' && strchr(codes, format[0]) != NULL;
}

static int overlap(const Py_buffer *a, const Py_buffer *b) {
    const char *a0 = a->buf, *b0 = b->buf;
    return a->len > 0 && b->len > 0 && a0 < b0 + b->len && b0 < a0 + a->len;
}

/* The buffers of one call: offsets (n + 1 native int32), data, and a writable output. */
typedef struct {
    Py_buffer offsets, data, out;
    int held;
} Views;

static void release(Views *v) {
    if (v->held > 0) PyBuffer_Release(&v->offsets);
    if (v->held > 1) PyBuffer_Release(&v->data);
    if (v->held > 2) PyBuffer_Release(&v->out);
}

/* Takes the three buffers; checks the offsets are n + 1 int32 positions, never decreasing,
 * within the data. Returns the error to raise, or NULL. */
static const char *take_views(PyObject *const *args, Views *v, Py_ssize_t *n) {
    v->held = 0;
    if (PyObject_GetBuffer(args[0], &v->offsets, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        return "";
    }
    v->held = 1;
    if (PyObject_GetBuffer(args[1], &v->data, PyBUF_C_CONTIGUOUS) < 0) {
        return "";
    }
    v->held = 2;
    if (PyObject_GetBuffer(args[2], &v->out, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) <
        0) {
        return "";
    }
    v->held = 3;
    /* 'l' is a 4-byte long on some platforms: the itemsize decides. */
    if (v->offsets.itemsize != 4 || !native(&v->offsets, "il") || v->offsets.len < 4) {
        return "offsets must be at least one native int32";
    }
    if (overlap(&v->out, &v->offsets) || overlap(&v->out, &v->data)) {
        return "out must not share memory with offsets or data"; /* checked, then written */
    }
    *n = v->offsets.len / 4 - 1;
    const int32_t *at = v->offsets.buf;
    for (Py_ssize_t i = 0; i < *n; i++) {
        if (at[i] < 0 || at[i + 1] < at[i] || at[i + 1] > v->data.len) {
            return "offsets out of order or beyond the data";
        }
    }
    return NULL;
}

static PyObject *fail(Views *v, const char *error) {
    release(v);
    if (*error) {
        PyErr_SetString(PyExc_ValueError, error);
    }
    return NULL;
}

/* crc32_each(offsets, data, out) -> None: out[i] = crc32(data[offsets[i]:offsets[i + 1]]),
 * `out` a native uint32 buffer of n. */
static PyObject *crc32_each(PyObject *Py_UNUSED(module), PyObject *const *args,
                            Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "crc32_each(offsets, data, out)");
        return NULL;
    }
    Views v;
    Py_ssize_t n = 0;
    const char *error = take_views(args, &v, &n);
    if (error == NULL && (v.out.itemsize != 4 || !native(&v.out, "IL") || v.out.len != n * 4)) {
        error = "out must be n native uint32";
    }
    if (error != NULL) {
        return fail(&v, error);
    }
    const int32_t *at = v.offsets.buf;
    const unsigned char *bytes = v.data.buf;
    uint32_t *result = v.out.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        result[i] = crc32(bytes + at[i], (size_t)(at[i + 1] - at[i]));
    }
    release(&v);
    Py_RETURN_NONE;
}

/* pad_each(offsets, data, out) -> None: row i of `out` (n rows of `width` bytes, C order) is
 * string i followed by zeros; a string longer than `width` is an error. */
static PyObject *pad_each(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "pad_each(offsets, data, out)");
        return NULL;
    }
    Views v;
    Py_ssize_t n = 0;
    const char *error = take_views(args, &v, &n);
    Py_ssize_t width = n > 0 ? v.out.len / n : 0;
    if (error == NULL && (v.out.itemsize != 1 || (n > 0 && v.out.len % n))) {
        error = "out must be n rows of bytes";
    }
    const int32_t *at = v.offsets.buf;
    for (Py_ssize_t i = 0; error == NULL && i < n; i++) {
        if (at[i + 1] - at[i] > width) {
            error = "a string is longer than out's rows";
        }
    }
    if (error != NULL) {
        return fail(&v, error);
    }
    const unsigned char *bytes = v.data.buf;
    unsigned char *row = v.out.buf;
    for (Py_ssize_t i = 0; i < n; i++, row += width) {
        size_t len = (size_t)(at[i + 1] - at[i]);
        memcpy(row, bytes + at[i], len);
        memset(row + len, 0, (size_t)width - len);
    }
    release(&v);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"crc32_each", (PyCFunction)(void (*)(void))crc32_each, METH_FASTCALL,
     "out[i] = zlib.crc32 of data[offsets[i]:offsets[i + 1]], for every i."},
    {"pad_each", (PyCFunction)(void (*)(void))pad_each, METH_FASTCALL,
     "Row i of out = data[offsets[i]:offsets[i + 1]] padded with zeros."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_strings", NULL, -1, methods};

PyMODINIT_FUNC PyInit__strings(void) {
    make_table();
    return PyModule_Create(&module);
}
