/* The map-side combine's inner loops in C: fold (key, value) pairs into a dict, or group
 * their values into lists (`group`, further down).
 *
 * What `CombineWriter._combine` does in Python, record for record:
 *
 *     for key, value in pairs:
 *         old = acc.get(key, MISSING)
 *         if old is MISSING:
 *             acc[key] = value if create is None else create(value)
 *         else:
 *             acc[key] = old + value if add is operator.add else add(old, value)
 *
 * Only the interpreter's own per-record work goes (loop, unpacking, the get call): the dict
 * lookup, the store, `+` and user callables are the same C API calls Python makes, so results
 * and exceptions are the same. An item that is not exactly a 2-tuple is handed back to the
 * caller, which unpacks it (and raises for it) as Python does. One difference, on purpose:
 * up to 3.12 a key is hashed once per record, where Python hashes it at the lookup and again
 * at the store (only a key whose hash changes in between can tell).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_loops.h"

/* Up to 3.12 the dict calls that take a key's hash are exported: the key is hashed once per
 * record, not twice (a tuple key recomputes its hash each time). Later versions hash twice. */
#if PY_VERSION_HEX < 0x030D0000
#define HASH(key) PyObject_Hash(key)
#define GET(d, k, h) _PyDict_GetItem_KnownHash((d), (k), (h))
#define SET(d, k, v, h) _PyDict_SetItem_KnownHash((d), (k), (v), (h))
#else
#define HASH(key) 0
#define GET(d, k, h) PyDict_GetItemWithError((d), (k))
#define SET(d, k, v, h) PyDict_SetItem((d), (k), (v))
#endif

/* One pair's work: fold or group `value` into acc[key] (`hash` from HASH); -1 with an
 * exception set on failure. */
typedef int (*pair_step)(PyObject *acc, PyObject *key, PyObject *value, Py_hash_t hash,
                         PyObject *const *args);

/* The loop `fold` and `group` share: each 2-tuple of `pairs` goes to `step`. Returns (count,)
 * when `pairs` is exhausted, or (count, item) when `item` (taken from `pairs`, not used) is
 * not a 2-tuple, or with `unhashable` has a key that cannot be hashed (its type has no hash,
 * or hashing it raises TypeError): the caller unpacks or hashes it (and raises) as Python
 * does. */
static PyObject *each_pair(PyObject *acc, PyObject *pairs, pair_step step, PyObject *const *args,
                           int unhashable) {
    PyObject *it = loop_iter(pairs);
    if (it == NULL) {
        return NULL;
    }
    iternextfunc next = Py_TYPE(it)->tp_iternext;
    Py_ssize_t count = 0;
    PyObject *item;
    while ((item = next(it)) != NULL) {
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2 ||
            (unhashable &&
             Py_TYPE(PyTuple_GET_ITEM(item, 0))->tp_hash == PyObject_HashNotImplemented)) {
            Py_DECREF(it);
            return Py_BuildValue("(nN)", count, item); /* steals item */
        }
        PyObject *key = PyTuple_GET_ITEM(item, 0);
        Py_hash_t hash = HASH(key);
        if (hash == -1 && unhashable && PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear(); /* a key whose hash raises TypeError (a tuple holding a list) */
            Py_DECREF(it);
            return Py_BuildValue("(nN)", count, item);
        }
        if (hash == -1 || step(acc, key, PyTuple_GET_ITEM(item, 1), hash, args) < 0) {
            Py_DECREF(item);
            Py_DECREF(it);
            return NULL;
        }
        Py_DECREF(item);
        if ((++count & 0xFFF) == 0) {
            /* Signal handlers run (a Ctrl-C stops a long fold) as between bytecodes. The GIL
             * is held throughout, as CPython's own C loops (sum, Counter.update) hold it:
             * releasing and retaking it here measured no handoff to a waiting thread (the
             * waiter sees the switch count move and never asks for the GIL), and the engine
             * folds a pass or a frame per call, so other threads run between calls. */
            if (PyErr_CheckSignals() < 0) {
                Py_DECREF(it);
                return NULL;
            }
        }
    }
    return loop_end(it, count);
}

/* Mark the exception the user's `add`, `create` or `+` raised with the key it was folding
 * (`gristmill_key`), so the task's failure names it, as the Python loop does. */
static void mark_key(PyObject *key) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && PyObject_SetAttrString(value, "gristmill_key", key) < 0) {
        PyErr_Clear(); /* an exception that takes no attributes goes on unmarked */
    }
    PyErr_Restore(type, value, tb);
}

/* fold's step; args[2] is `add` (None means `+`), args[3] `create` (None: the value itself). */
static int fold_step(PyObject *acc, PyObject *key, PyObject *value, Py_hash_t hash,
                     PyObject *const *args) {
    PyObject *add = args[2] == Py_None ? NULL : args[2];
    PyObject *create = args[3] == Py_None ? NULL : args[3];
    PyObject *old = GET(acc, key, hash); /* borrowed */
    PyObject *folded;
    if (old == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        folded = create == NULL ? Py_NewRef(value) : PyObject_CallOneArg(create, value);
    } else {
        /* `add` or `+` may run user code that changes `acc`: hold `old` meanwhile. */
        Py_INCREF(old);
        folded = add == NULL ? PyNumber_Add(old, value)
                             : PyObject_CallFunctionObjArgs(add, old, value, NULL);
        Py_DECREF(old);
    }
    if (folded == NULL) {
        mark_key(key);
        return -1;
    }
    int rc = SET(acc, key, folded, hash);
    Py_DECREF(folded);
    return rc;
}

/* fold(acc, pairs, add, create): each pair folded into the dict acc, as the Python loop in
 * this file's header does. Returns as `each_pair`. */
static PyObject *fold(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyDict_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "fold(acc: dict, pairs, add, create)");
        return NULL;
    }
    return each_pair(args[0], args[1], fold_step, args, 0);
}

/* group's step: the value appended to acc[key], a list made at the key's first value. The
 * lists are the caller's own (`acc` holds nothing else), and no user code runs between the
 * lookup and the append, so the borrowed list is still the one in `acc`. */
static int group_step(PyObject *acc, PyObject *key, PyObject *value, Py_hash_t hash,
                      PyObject *const *Py_UNUSED(args)) {
    PyObject *old = GET(acc, key, hash); /* borrowed */
    if (old == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        PyObject *list = PyList_New(1);
        if (list == NULL) {
            return -1;
        }
        PyList_SET_ITEM(list, 0, Py_NewRef(value));
        int rc = SET(acc, key, list, hash);
        Py_DECREF(list);
        return rc;
    }
    if (!PyList_CheckExact(old)) {
        PyErr_SetString(PyExc_TypeError, "group: acc holds a value that is not a list");
        return -1;
    }
    return PyList_Append(old, value);
}

/* group(acc, pairs): what `group_pairs` does in Python, record for record (a pair whose key
 * has no hash is handed back, as one that is not a pair, before anything is grouped of it):
 *
 *     for key, value in pairs:
 *         group = acc.get(key)
 *         if group is None:
 *             acc[key] = [value]
 *         else:
 *             group.append(value)
 *
 * Returns as `each_pair`. */
static PyObject *group(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyDict_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "group(acc: dict, pairs)");
        return NULL;
    }
    return each_pair(args[0], args[1], group_step, args, 1);
}

static PyMethodDef methods[] = {
    {"fold", (PyCFunction)(void (*)(void))fold, METH_FASTCALL,
     "fold(acc, pairs, add, create): fold (key, value) pairs into the dict acc."},
    {"group", (PyCFunction)(void (*)(void))group, METH_FASTCALL,
     "group(acc, pairs): append each (key, value) pair's value to the list acc[key]."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "gristmill.shuffle._fold", NULL, 0, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fold(void) { return PyModuleDef_Init(&module); }
