/* The binary sort's key sort in C: a stable LSD radix sort of unsigned 64-bit integers.
 *
 * `blocks.key_order` packs each record's key prefix above its row index into one uint64 and
 * sorts those. numpy's `ndarray.sort` does it in O(n log n) compares, and on AMD Zen 4 its
 * AVX-512 quicksort runs 5x slower than its own AVX2 one (a microcoded compress-store; numpy
 * picks the AVX-512 code wherever the CPU has it). A radix sort costs a few linear passes
 * whatever the CPU: digits of up to 11 bits, so each pass's 2048 counters stay in L1.
 *
 * Only the bits above `low` are sorted on. The sort is stable, so values whose high bits tie
 * keep their input order: the packed row indexes below `low` are already ascending, and
 * need no passes of their own.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_DIGIT 11
#define MAX_PASSES 6 /* ceil(64 / MAX_DIGIT) */
#define BUCKETS (1 << MAX_DIGIT)

/* Sort `a` (n values) by a >> low, stably; `tmp` holds n values. */
static void sort_high(uint64_t *a, uint64_t *tmp, size_t n, int low, size_t *counts) {
    int keybits = 64 - low;
    int passes = (keybits + MAX_DIGIT - 1) / MAX_DIGIT;
    int digit = (keybits + passes - 1) / passes;
    uint64_t mask = ((uint64_t)1 << digit) - 1;
    memset(counts, 0, sizeof(size_t) * MAX_PASSES * BUCKETS);
    for (size_t i = 0; i < n; i++) { /* one read for every pass's histogram */
        uint64_t key = a[i] >> low;
        for (int p = 0; p < passes; p++) {
            counts[p * BUCKETS + ((key >> (p * digit)) & mask)]++;
        }
    }
    uint64_t *src = a, *dst = tmp;
    for (int p = 0; p < passes; p++) {
        size_t *count = counts + p * BUCKETS;
        int shift = low + p * digit;
        if (count[(src[0] >> shift) & mask] == n) {
            continue; /* every value has this digit: the pass would copy them in order */
        }
        size_t total = 0;
        for (size_t b = 0; b <= mask; b++) { /* counts become each digit's first slot */
            size_t c = count[b];
            count[b] = total;
            total += c;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t v = src[i];
            size_t at = count[(v >> shift) & mask]++;
            /* The histograms were taken before the passes, with the GIL released: a thread
             * that writes the array meanwhile could overfill a digit's slots. Its order is
             * then garbage, but nothing is written outside the buffers. */
            if (at < n) {
                dst[at] = v;
            }
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) {
        memcpy(a, src, n * sizeof(uint64_t));
    }
}

/* sort_high_bits(array, low) -> None: sort a writable C-contiguous buffer of native uint64 in
 * place, as one flat sequence whatever its shape. */
static PyObject *sort_high_bits(PyObject *Py_UNUSED(module), PyObject *const *args,
                                Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "sort_high_bits(array, low)");
        return NULL;
    }
    long low = PyLong_AsLong(args[1]);
    if (low == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (low < 0 || low > 64) {
        PyErr_SetString(PyExc_ValueError, "low must be between 0 and 64");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) <
        0) {
        return NULL;
    }
    const char *format = view.format ? view.format : "B";
    if (*format == '=' || *format == '@' || *format == (PY_LITTLE_ENDIAN ? '<' : '>')) {
        format++; /* native byte order, said explicitly */
    }
    if (view.itemsize != 8 || (strcmp(format, "Q") != 0 && strcmp(format, "L") != 0)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError, "sort_high_bits needs a native uint64 array");
        return NULL;
    }
    size_t n = (size_t)(view.len / 8);
    if (n > 1 && low < 64) {
        uint64_t *tmp = PyMem_RawMalloc(n * sizeof(uint64_t));
        size_t *counts = PyMem_RawMalloc(sizeof(size_t) * MAX_PASSES * BUCKETS);
        if (tmp == NULL || counts == NULL) {
            PyMem_RawFree(tmp);
            PyMem_RawFree(counts);
            PyBuffer_Release(&view);
            return PyErr_NoMemory();
        }
        Py_BEGIN_ALLOW_THREADS;
        sort_high((uint64_t *)view.buf, tmp, n, (int)low, counts);
        Py_END_ALLOW_THREADS;
        PyMem_RawFree(tmp);
        PyMem_RawFree(counts);
    }
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"sort_high_bits", (PyCFunction)(void (*)(void))sort_high_bits, METH_FASTCALL,
     "Sort a uint64 array in place, stably, by its bits above `low`."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_radix", NULL, -1, methods};

PyMODINIT_FUNC PyInit__radix(void) { return PyModule_Create(&module); }
