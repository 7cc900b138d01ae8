"""One thread per worker process for OpenCV and NumPy's BLAS, in pools that already run one process per core.

In such a pool the libraries' own threads only contend with the other workers (OpenBLAS's threads spin while they
wait).  The counts are set in the parent around the moment the workers are forked, and restored after: a forked
child must not reconfigure a thread pool its parent started (OpenCV's then waits forever on the parent's threads,
which the child does not have), while a count it inherits keeps it from using one.

OpenCV has a setter; NumPy has none, and OpenBLAS reads its environment only when it loads.  threadpoolctl sets it
at run time where it is installed; otherwise the OpenBLAS that NumPy's wheels bundle is found among the loaded
libraries and told directly (its own setter and getter, under the names threadpoolctl also looks for).  Thread
counts change no result here: every call computes each output element on one thread.
"""
from __future__ import annotations

import ctypes
from contextlib import contextmanager
from pathlib import Path

import cv2

_OPENBLAS_PREFIXES = ("scipy_openblas_", "openblas_")
_OPENBLAS_SUFFIXES = ("64_", "")


def _loaded_openblas() -> list[str]:
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:  # not Linux: leave the library as it is
        return []
    return sorted({line.split()[-1] for line in maps.splitlines() if "openblas" in line.rsplit("/", 1)[-1]})


def _openblas(what: str) -> list:
    """The ``set_num_threads`` or ``get_num_threads`` function of every loaded OpenBLAS."""
    found = []
    for path in _loaded_openblas():
        lib = ctypes.CDLL(path)
        names = [f"{p}{what}{s}" for p in _OPENBLAS_PREFIXES for s in _OPENBLAS_SUFFIXES]
        fn = next((getattr(lib, n) for n in names if hasattr(lib, n)), None)
        if fn is not None:
            found.append(fn)
    return found


@contextmanager
def blas_threads(n: int):
    """NumPy's BLAS with ``n`` threads inside the block (unchanged where no known library can be told)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        with threadpool_limits(limits=n, user_api="blas"):
            yield
        return
    setters, getters = _openblas("set_num_threads"), _openblas("get_num_threads")
    before = [get() for get in getters] if len(getters) == len(setters) else []
    for set_ in setters:
        set_(ctypes.c_int(n))
    try:
        yield
    finally:
        for set_, count in zip(setters, before):
            set_(ctypes.c_int(count))


@contextmanager
def single_threaded_forks():
    """Processes forked inside the block run OpenCV and NumPy's BLAS on one thread; the caller's counts return
    after it."""
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with blas_threads(1):
            yield
    finally:
        cv2.setNumThreads(cv_threads)
