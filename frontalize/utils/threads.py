"""One thread per worker process: NumPy's BLAS and OpenCV, for pools that already run one process per core.

In such a pool the libraries' own threads only contend with the other workers (OpenBLAS's threads spin while
they wait).  OpenCV has a setter; NumPy has none, and OpenBLAS reads its environment only when it loads, before a
forked worker exists.  threadpoolctl sets it at run time where it is installed; otherwise the OpenBLAS that NumPy's
wheels bundle is found among the loaded libraries and told directly (its setter, under the names threadpoolctl
also looks for).  Thread counts change no result here: every call computes each output element on one thread.
"""
from __future__ import annotations

import ctypes
from pathlib import Path

import cv2

_OPENBLAS_SETTERS = (
    "scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)


def _loaded_openblas() -> list[str]:
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:  # not Linux: leave the library as it is
        return []
    return sorted({line.split()[-1] for line in maps.splitlines() if "openblas" in line.rsplit("/", 1)[-1]})


def limit_blas_threads(n: int = 1) -> bool:
    """Set NumPy's BLAS thread count; False where no known library could be told."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        threadpool_limits(limits=n, user_api="blas")
        return True
    done = False
    for path in _loaded_openblas():
        lib = ctypes.CDLL(path)
        setter = next((getattr(lib, name) for name in _OPENBLAS_SETTERS if hasattr(lib, name)), None)
        if setter is not None:
            setter(ctypes.c_int(n))
            done = True
    return done


def single_threaded_worker() -> None:
    """Pool initializer: one thread for OpenCV and for NumPy's BLAS in this process."""
    cv2.setNumThreads(1)
    limit_blas_threads(1)
