/* What the C loops over Python iterables (`_fold.c`, `_strsums.c`) share: how they start and
 * end as a Python `for` loop does. */
#ifndef GRISTMILL_LOOPS_H
#define GRISTMILL_LOOPS_H
#include <Python.h>

/* The iterator to walk: `items` itself when it is one (as the Python loop's caller hands it
 * over, iter() once), else iter(items); NULL with an exception set. */
static inline PyObject *loop_iter(PyObject *items) {
    return PyIter_Check(items) ? Py_NewRef(items) : PyObject_GetIter(items);
}

/* The loop's end once tp_iternext returned NULL: (count,), or NULL for the iterator's error.
 * A for loop ends at StopIteration (or a subclass) that tp_iternext left set, as
 * slot_tp_iternext (a class's __next__), map and filter do. Releases `it`. */
static inline PyObject *loop_end(PyObject *it, Py_ssize_t count) {
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_StopIteration)) {
            return NULL;
        }
        PyErr_Clear();
    }
    return Py_BuildValue("(n)", count);
}

#endif
