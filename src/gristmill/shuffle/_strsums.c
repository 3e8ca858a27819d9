/* Sums of int values by str key, in C: the hash aggregation of `reduce_by_key(operator.add)`
 * and `count_by_value` when keys are exactly str and values exactly int (the most common
 * aggregation there is: counting words, events per user, bytes per host).
 *
 * A Python dict pays, per pair: SipHash of the fresh key, a probe through its index, its
 * entry and the stored key object, a new int object for the sum and a second probe to store
 * it. This table hashes the key's UTF-8 bytes with a multiply-mix hash, probes one array of
 * 8-byte slots (a hash tag and an entry number), compares the bytes in one arena, and adds
 * into an int64 in place. Its three arrays are Arrow's layout of a (string, int64) table:
 * offsets (int32), the UTF-8 data and the values, handed over as they are at a spill.
 *
 * A pair it cannot hold (a key that is not exactly str or has no UTF-8 form, a value that is
 * not exactly int, a sum past int64, more key text than int32 offsets address) is handed back
 * to the caller, which then folds everything in Python objects: results and exceptions are
 * those of the Python loop.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_loops.h"
#include <stdint.h>
#include <string.h>
#include <time.h>

typedef struct {
    PyObject_HEAD
    uint64_t *slots;  /* 0: empty; else (hash high 32 bits << 32) | (entry + 1) */
    size_t mask;      /* slots' count - 1 (a power of two) */
    int32_t *offsets; /* n + 1 of them: entry i's key is data[offsets[i]:offsets[i + 1]] */
    int64_t *values;
    size_t n, cap;    /* entries held, room in offsets - 1 and values */
    char *data;
    size_t data_cap;
    uint64_t seed;
} StrSums;

#define MAX_DATA ((size_t)INT32_MAX)

static inline uint64_t mix(uint64_t a, uint64_t b) {
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t read64(const char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t read32(const char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* A wyhash-style hash of short byte strings: two 64-bit multiplies for a word. Seeded per
 * table at random so crafted keys cannot force long probes. */
static inline uint64_t hash_bytes(const char *p, size_t len, uint64_t seed) {
    const uint64_t k1 = 0xa0761d6478bd642full, k2 = 0xe7037ed1a0b428dbull;
    uint64_t s = seed ^ (len * 0x9E3779B97F4A7C15ull);
    uint64_t a, b;
    if (len <= 16) {
        if (len >= 8) {
            a = read64(p);
            b = read64(p + len - 8);
        } else if (len >= 4) {
            a = read32(p);
            b = read32(p + len - 4);
        } else if (len > 0) {
            a = ((uint64_t)(unsigned char)p[0] << 16) | ((uint64_t)(unsigned char)p[len >> 1] << 8) |
                (uint64_t)(unsigned char)p[len - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t i = len;
        while (i > 16) {
            s = mix(read64(p) ^ k1, read64(p + 8) ^ s);
            p += 16;
            i -= 16;
        }
        a = read64(p + i - 16);
        b = read64(p + i - 8);
    }
    return mix(k1 ^ len, mix(a ^ k1, b ^ s) ^ k2);
}

/* The key's UTF-8 bytes, or NULL: not exactly str, or no UTF-8 form (a lone surrogate; the
 * error is cleared, the caller hands the pair back). */
static inline const char *key_bytes(PyObject *key, Py_ssize_t *len) {
    if (!PyUnicode_CheckExact(key)) {
        return NULL;
    }
    if (PyUnicode_IS_COMPACT_ASCII(key)) {
        *len = PyUnicode_GET_LENGTH(key);
        return (const char *)PyUnicode_DATA(key);
    }
    const char *p = PyUnicode_AsUTF8AndSize(key, len);
    if (p == NULL) {
        PyErr_Clear();
    }
    return p;
}

static int grow_slots(StrSums *self) {
    size_t size = (self->mask + 1) * 2;
    uint64_t *slots = PyMem_Calloc(size, sizeof(uint64_t));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    size_t mask = size - 1;
    for (size_t i = 0; i <= self->mask; i++) {
        uint64_t s = self->slots[i];
        if (s == 0) {
            continue;
        }
        /* The slot keeps only the hash's high half: the position comes from rehashing. */
        size_t e = (size_t)(s & 0xFFFFFFFFu) - 1;
        const char *k = self->data + self->offsets[e];
        uint64_t h = hash_bytes(k, (size_t)(self->offsets[e + 1] - self->offsets[e]), self->seed);
        size_t j = (size_t)h & mask;
        while (slots[j] != 0) {
            j = (j + 1) & mask;
        }
        slots[j] = s;
    }
    PyMem_Free(self->slots);
    self->slots = slots;
    self->mask = mask;
    return 0;
}

/* Room for one entry more and `len` bytes more of key text; 1 when the key text would pass
 * what int32 offsets address (the pair is handed back), -1 on no memory. */
static int reserve(StrSums *self, size_t len) {
    size_t used = (size_t)self->offsets[self->n];
    if (used + len > MAX_DATA || self->n + 1 >= 0x7FFFFFFFu) {
        return 1;
    }
    if (self->n == self->cap) {
        size_t cap = self->cap * 2;
        int32_t *offsets = PyMem_Realloc(self->offsets, (cap + 1) * sizeof(int32_t));
        if (offsets == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->offsets = offsets;
        int64_t *values = PyMem_Realloc(self->values, cap * sizeof(int64_t));
        if (values == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->values = values;
        self->cap = cap;
    }
    if (used + len > self->data_cap) {
        size_t cap = self->data_cap * 2;
        while (cap < used + len) {
            cap *= 2;
        }
        char *data = PyMem_Realloc(self->data, cap);
        if (data == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->data = data;
        self->data_cap = cap;
    }
    if ((self->n + 1) * 4 > (self->mask + 1) * 3) {
        return grow_slots(self);
    }
    return 0;
}

/* Add `value` to the sum of the key `k` (hashed `h`): 0 done, 1 handed back (the table is
 * unchanged), -1 error. */
static inline int add(StrSums *self, const char *k, size_t len, int64_t value, uint64_t h) {
    uint64_t tag = h & 0xFFFFFFFF00000000ull;
    size_t i = (size_t)h & self->mask;
    for (;;) {
        uint64_t s = self->slots[i];
        if (s == 0) {
            break;
        }
        if ((s & 0xFFFFFFFF00000000ull) == tag) {
            size_t e = (size_t)(s & 0xFFFFFFFFu) - 1;
            int32_t start = self->offsets[e];
            if ((size_t)(self->offsets[e + 1] - start) == len &&
                memcmp(self->data + start, k, len) == 0) {
                int64_t sum;
                if (__builtin_add_overflow(self->values[e], value, &sum)) {
                    return 1;
                }
                self->values[e] = sum;
                return 0;
            }
        }
        i = (i + 1) & self->mask;
    }
    int rc = reserve(self, len);
    if (rc != 0) {
        return rc;
    }
    i = (size_t)h & self->mask; /* the slots may have grown: find the empty one again */
    while (self->slots[i] != 0) {
        i = (i + 1) & self->mask;
    }
    size_t e = self->n++;
    int32_t start = self->offsets[e];
    memcpy(self->data + start, k, len);
    self->offsets[e + 1] = start + (int32_t)len;
    self->values[e] = value;
    self->slots[i] = tag | (uint64_t)(e + 1);
    return 0;
}

/* An item's key bytes and value (`pairs`: a (str, int) 2-tuple; else a str counted once), or
 * 0 when the table does not hold it. */
static inline int parse(PyObject *item, int pairs, const char **k, Py_ssize_t *len,
                        int64_t *value) {
    PyObject *key = item;
    *value = 1;
    if (pairs) {
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2) {
            return 0;
        }
        key = PyTuple_GET_ITEM(item, 0);
        PyObject *v = PyTuple_GET_ITEM(item, 1);
        if (!PyLong_CheckExact(v)) {
            return 0;
        }
        int overflow;
        *value = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow) {
            return 0;
        }
    }
    *k = key_bytes(key, len);
    return *k != NULL;
}

/* How the iterator stood when items were handed back: None (it goes on), True (it ended), or
 * the exception it raised (to be raised once the items handed back are folded). Clears it. */
static PyObject *iterator_end(int ended) {
    if (!ended) {
        Py_RETURN_NONE;
    }
    if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_StopIteration)) {
        PyErr_Clear(); /* a for loop ends at StopIteration too */
        Py_RETURN_TRUE;
    }
    PyObject *type, *error, *trace;
    PyErr_Fetch(&type, &error, &trace);
    PyErr_NormalizeException(&type, &error, &trace);
    if (trace != NULL) {
        PyException_SetTraceback(error, trace);
    }
    Py_XDECREF(type);
    Py_XDECREF(trace);
    return error;
}

/* Items taken from the iterator a batch ahead: their slots are prefetched while the next are
 * hashed, so a table larger than the cache (high-cardinality keys) waits for memory once
 * per batch, not once per item. */
#define AHEAD 16

/* The loop `fold` and `count` share: each item of `items` is added. Returns (count,) when
 * `items` is exhausted, or (count, rest, end) when the table does not hold an item: `rest` is
 * a tuple of that item and the ones taken after it (a batch ahead), none of them added, and
 * `end` is how the iterator stood after them (`iterator_end`). */
static PyObject *each(StrSums *self, PyObject *items, int pairs) {
    PyObject *it = loop_iter(items);
    if (it == NULL) {
        return NULL;
    }
    iternextfunc next = Py_TYPE(it)->tp_iternext;
    Py_ssize_t count = 0;
    PyObject *batch[AHEAD];
    const char *keys[AHEAD];
    Py_ssize_t lens[AHEAD];
    int64_t values[AHEAD];
    uint64_t hashes[AHEAD];
    for (;;) {
        int n = 0, held = -1, ended = 0;
        while (n < AHEAD) {
            PyObject *item = next(it);
            if (item == NULL) {
                ended = 1;
                break;
            }
            batch[n] = item;
            if (!parse(item, pairs, &keys[n], &lens[n], &values[n])) {
                held = n++;
                break;
            }
            hashes[n] = hash_bytes(keys[n], (size_t)lens[n], self->seed);
            __builtin_prefetch(&self->slots[hashes[n] & self->mask]);
            n++;
        }
        if (held < 0) {
            held = n;
        }
        /* An iterator's error waits while the items taken before it are added, as a for loop
         * would have added them first. */
        PyObject *type = NULL, *error = NULL, *trace = NULL;
        PyErr_Fetch(&type, &error, &trace);
        int j = 0, rc = 0;
        for (; j < held; j++) {
            rc = add(self, keys[j], (size_t)lens[j], values[j], hashes[j]);
            if (rc != 0) {
                break;
            }
            Py_DECREF(batch[j]);
            count++;
        }
        if (rc < 0) {
            Py_XDECREF(type);
            Py_XDECREF(error);
            Py_XDECREF(trace);
            for (; j < n; j++) {
                Py_DECREF(batch[j]);
            }
            Py_DECREF(it);
            return NULL;
        }
        PyErr_Restore(type, error, trace);
        if (j < n) { /* handed back from batch[j] on */
            PyObject *rest = PyTuple_New(n - j);
            if (rest == NULL) {
                for (; j < n; j++) {
                    Py_DECREF(batch[j]);
                }
                Py_DECREF(it);
                return NULL;
            }
            for (int r = 0; j < n; j++, r++) {
                PyTuple_SET_ITEM(rest, r, batch[j]);
            }
            Py_DECREF(it);
            return Py_BuildValue("(nNN)", count, rest, iterator_end(ended));
        }
        if (ended) {
            break;
        }
        if ((count & 0xFFF) < AHEAD && PyErr_CheckSignals() < 0) {
            Py_DECREF(it);
            return NULL;
        }
    }
    return loop_end(it, count);
}

static void free_arrays(StrSums *self) {
    PyMem_Free(self->slots);
    PyMem_Free(self->offsets);
    PyMem_Free(self->values);
    PyMem_Free(self->data);
    self->slots = NULL;
    self->offsets = NULL;
    self->values = NULL;
    self->data = NULL;
}

/* A table's arrays at their starting sizes. */
typedef struct {
    uint64_t *slots;
    int32_t *offsets;
    int64_t *values;
    char *data;
} Arrays;

#define START_SLOTS 1024
#define START_ENTRIES 256
#define START_DATA 4096

/* Fresh arrays, or -1 with MemoryError set (none left allocated). */
static int fresh_arrays(Arrays *a) {
    a->slots = PyMem_Calloc(START_SLOTS, sizeof(uint64_t));
    a->offsets = PyMem_Malloc((START_ENTRIES + 1) * sizeof(int32_t));
    a->values = PyMem_Malloc(START_ENTRIES * sizeof(int64_t));
    a->data = PyMem_Malloc(START_DATA);
    if (a->slots == NULL || a->offsets == NULL || a->values == NULL || a->data == NULL) {
        PyMem_Free(a->slots);
        PyMem_Free(a->offsets);
        PyMem_Free(a->values);
        PyMem_Free(a->data);
        PyErr_NoMemory();
        return -1;
    }
    a->offsets[0] = 0;
    return 0;
}

static void install(StrSums *self, const Arrays *a) {
    self->slots = a->slots;
    self->offsets = a->offsets;
    self->values = a->values;
    self->data = a->data;
    self->mask = START_SLOTS - 1;
    self->cap = START_ENTRIES;
    self->data_cap = START_DATA;
    self->n = 0;
}

/* The table emptied into fresh small arrays, the old ones freed. The new ones are allocated
 * first: without memory the old ones stay, emptied in place, and -1 is returned with
 * MemoryError set (the table is usable either way). */
static int reset(StrSums *self) {
    Arrays fresh;
    if (fresh_arrays(&fresh) < 0) {
        if (self->slots != NULL) {
            memset(self->slots, 0, (self->mask + 1) * sizeof(uint64_t));
            self->offsets[0] = 0;
            self->n = 0;
        }
        return -1;
    }
    free_arrays(self);
    install(self, &fresh);
    return 0;
}

/* Memory handed over from a table: a read-only buffer (for pa.py_buffer) that frees it. */
typedef struct {
    PyObject_HEAD
    void *ptr;
    Py_ssize_t len;
} Owned;

static int Owned_getbuffer(Owned *self, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)self, self->ptr, self->len, 1, flags);
}

static void Owned_dealloc(Owned *self) {
    PyMem_Free(self->ptr);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t Owned_len(Owned *self) { return self->len; }

static PyBufferProcs Owned_as_buffer = {
    .bf_getbuffer = (getbufferproc)Owned_getbuffer,
};

static PySequenceMethods Owned_as_sequence = {
    .sq_length = (lenfunc)Owned_len,
};

static PyTypeObject OwnedType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "gristmill.shuffle._strsums.Owned",
    .tp_basicsize = sizeof(Owned),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Memory a StrSums handed over, as a read-only buffer.",
    .tp_dealloc = (destructor)Owned_dealloc,
    .tp_as_buffer = &Owned_as_buffer,
    .tp_as_sequence = &Owned_as_sequence,
};

static PyObject *StrSums_fold(StrSums *self, PyObject *pairs) { return each(self, pairs, 1); }

static PyObject *StrSums_count(StrSums *self, PyObject *keys) { return each(self, keys, 0); }

static PyObject *StrSums_items(StrSums *self, PyObject *Py_UNUSED(ignored)) {
    PyObject *list = PyList_New((Py_ssize_t)self->n);
    if (list == NULL) {
        return NULL;
    }
    for (size_t e = 0; e < self->n; e++) {
        int32_t start = self->offsets[e];
        PyObject *pair = Py_BuildValue("(NL)",
                                       PyUnicode_DecodeUTF8(self->data + start,
                                       (Py_ssize_t)(self->offsets[e + 1] - start), NULL),
                                       (long long)self->values[e]);
        if (pair == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)e, pair);
    }
    return list;
}

/* Each sum stored into the dict `acc` (acc[key] = sum, no tuple made), then the table cleared:
 * how a spill of records or a pair the table does not hold takes them over. */
static PyObject *StrSums_drain_into(StrSums *self, PyObject *acc) {
    if (!PyDict_Check(acc)) {
        PyErr_SetString(PyExc_TypeError, "drain_into(acc: dict)");
        return NULL;
    }
    for (size_t e = 0; e < self->n; e++) {
        int32_t start = self->offsets[e];
        PyObject *key = PyUnicode_DecodeUTF8(self->data + start,
                                             (Py_ssize_t)(self->offsets[e + 1] - start), NULL);
        PyObject *value = key == NULL ? NULL : PyLong_FromLongLong((long long)self->values[e]);
        int rc = value == NULL ? -1 : PyDict_SetItem(acc, key, value);
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (rc < 0) {
            return NULL;
        }
    }
    if (reset(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* The Arrow buffers of the sums, (offsets, data, values), handed over without a copy: the
 * table starts again empty. A spill of a table as large as its budget needs no second one. */
static PyObject *StrSums_take_buffers(StrSums *self, PyObject *Py_UNUSED(ignored)) {
    Owned *owned[3] = {NULL, NULL, NULL};
    Arrays fresh;
    for (int i = 0; i < 3; i++) {
        owned[i] = PyObject_New(Owned, &OwnedType);
        if (owned[i] == NULL) {
            goto fail;
        }
        owned[i]->ptr = NULL;
        owned[i]->len = 0;
    }
    if (fresh_arrays(&fresh) < 0) {
        goto fail;
    }
    owned[0]->ptr = self->offsets;
    owned[0]->len = (Py_ssize_t)((self->n + 1) * sizeof(int32_t));
    owned[1]->ptr = self->data;
    owned[1]->len = (Py_ssize_t)self->offsets[self->n];
    owned[2]->ptr = self->values;
    owned[2]->len = (Py_ssize_t)(self->n * sizeof(int64_t));
    PyMem_Free(self->slots);
    install(self, &fresh);
    return Py_BuildValue("(NNN)", owned[0], owned[1], owned[2]);
fail:
    for (int i = 0; i < 3; i++) {
        Py_XDECREF(owned[i]);
    }
    return NULL;
}

static PyObject *StrSums_nbytes(StrSums *self, void *Py_UNUSED(closure)) {
    size_t n = (self->mask + 1) * sizeof(uint64_t) + (self->cap + 1) * sizeof(int32_t) +
               self->cap * sizeof(int64_t) + self->data_cap;
    return PyLong_FromSize_t(n);
}

static Py_ssize_t StrSums_len(StrSums *self) { return (Py_ssize_t)self->n; }

static PyObject *StrSums_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    if (PyTuple_GET_SIZE(args) != 0 || (kwds != NULL && PyDict_GET_SIZE(kwds) != 0)) {
        PyErr_SetString(PyExc_TypeError, "StrSums() takes no arguments");
        return NULL;
    }
    StrSums *self = (StrSums *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    /* A per-table seed from the address and the clocks: enough that keys cannot be crafted
     * ahead of a run to collide. */
    self->seed = mix((uint64_t)(uintptr_t)self ^ ((uint64_t)clock() << 32) ^ 0x2d358dccaa6c78a5ull,
                     (uint64_t)time(NULL) ^ 0x8bb84b93962eacc9ull);
    if (reset(self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void StrSums_dealloc(StrSums *self) {
    free_arrays(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef StrSums_methods[] = {
    {"fold", (PyCFunction)StrSums_fold, METH_O,
     "fold(pairs): add each (str, int) pair; (count,) or (count, items handed back, end)."},
    {"count", (PyCFunction)StrSums_count, METH_O,
     "count(keys): count each str key once; (count,) or (count, items handed back, end)."},
    {"items", (PyCFunction)StrSums_items, METH_NOARGS, "items(): the (key, sum) pairs."},
    {"drain_into", (PyCFunction)StrSums_drain_into, METH_O,
     "drain_into(acc): store each sum into the dict acc, then clear the table."},
    {"take_buffers", (PyCFunction)StrSums_take_buffers, METH_NOARGS,
     "take_buffers(): (offsets, data, values), Arrow's layout of the keys and sums, as "
     "buffers handed over without a copy; the table starts again empty."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef StrSums_getset[] = {
    {"nbytes", (getter)StrSums_nbytes, NULL, "bytes the table holds", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods StrSums_as_sequence = {
    .sq_length = (lenfunc)StrSums_len,
};

static PyTypeObject StrSumsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "gristmill.shuffle._strsums.StrSums",
    .tp_basicsize = sizeof(StrSums),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Sums of int values by str key, in insertion order.",
    .tp_new = StrSums_new,
    .tp_dealloc = (destructor)StrSums_dealloc,
    .tp_methods = StrSums_methods,
    .tp_getset = StrSums_getset,
    .tp_as_sequence = &StrSums_as_sequence,
};

static int exec_module(PyObject *module) {
    if (PyType_Ready(&StrSumsType) < 0 || PyType_Ready(&OwnedType) < 0) {
        return -1;
    }
    return PyModule_AddObjectRef(module, "StrSums", (PyObject *)&StrSumsType);
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "gristmill.shuffle._strsums", NULL, 0, NULL, slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__strsums(void) { return PyModuleDef_Init(&module); }
