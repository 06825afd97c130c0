"""The compiled kernel behind ``Adafactor(fused=True)``: build (once, cached), load, call.

The kernel (``_fused.c``, plain C with OpenMP, no torch headers) is compiled on first use with
the system C compiler (``$CC``, else ``cc``/``gcc``), about a second, and cached under
``$HFOPT_CACHE_DIR`` (default ``~/.cache/hfopt``) keyed by the source, the compiler, the flags
and the CPU, so later processes just load it. It shares torch's OpenMP runtime (both link
``libgomp.so.1``) and uses ``torch.get_num_threads()`` threads.

It updates fp32 CPU tensors only, addressed by raw pointers: everything it is given has been
checked by the optimizer first (dtypes, devices, contiguity, shapes of the state tensors).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

_SOURCE = Path(__file__).with_name("_fused.c")
_FLAGS = ("-O3", "-march=native", "-fopenmp", "-fPIC", "-shared")
if platform.machine().lower() in ("x86_64", "amd64"):  # use 512-bit vectors where the CPU has them
    _FLAGS = _FLAGS[:2] + ("-mprefer-vector-width=512",) + _FLAGS[2:]
#: int64 values per tensor in the descriptor (see ``_fused.c``)
DESC_WIDTH = 11
#: tensors with at least this many elements are split over threads; smaller ones are spread
LARGE = 1 << 16

_lock = threading.Lock()
_loaded: dict = {}


class FusedUnavailable(RuntimeError):
    """The fused kernel cannot be built or loaded here (no C compiler with OpenMP, ...)."""


def _cpu_signature() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor()
    lines = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags"))]
    return "\n".join(sorted(set(lines)))


def _cache_dir() -> Path:
    root = os.environ.get("HFOPT_CACHE_DIR")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hfopt"


def library():
    """The loaded kernel library (compiled on first use). Raises :class:`FusedUnavailable`."""
    lib = _loaded.get("lib")
    if lib is not None:
        return lib
    with _lock:
        if "lib" in _loaded:
            return _loaded["lib"]
        compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if not compiler or not shutil.which(compiler.split()[0]):
            raise FusedUnavailable("Adafactor(fused=True) needs a C compiler with OpenMP (set $CC, or install gcc); "
                                   "use fused=False (the default, exact) instead")
        source = _SOURCE.read_bytes()
        key = hashlib.sha256(b"\0".join([source, compiler.encode(), " ".join(_FLAGS).encode(),
                                         _cpu_signature().encode(), platform.machine().encode()])).hexdigest()[:20]
        directory = _cache_dir() / "adafactor"
        target = directory / f"fused-{key}.so"
        if not target.exists():
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".so", dir=directory)
            os.close(fd)
            try:
                done = subprocess.run([*compiler.split(), *_FLAGS, "-o", tmp, str(_SOURCE), "-lm"],
                                      capture_output=True, text=True)
                if done.returncode != 0:
                    raise FusedUnavailable(f"Adafactor(fused=True): compiling the kernel with {compiler} failed:\n"
                                           f"{done.stderr.strip()[-2000:]}")
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        try:
            lib = ctypes.CDLL(str(target))
        except OSError as error:
            raise FusedUnavailable(f"Adafactor(fused=True): cannot load the kernel {target}: {error}") from error
        fn = lib.hfopt_adafactor_fused
        fn.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]
        fn.restype = None
        _loaded["lib"] = lib
        return lib


def available() -> bool:
    """Whether the kernel can be built and loaded here (builds it on first call, then cached)."""
    try:
        library()
    except FusedUnavailable:
        return False
    return True


def run(desc, hyper, threads: int) -> None:
    """Run the kernel on ``desc`` (an ``[n, DESC_WIDTH]`` int64 CPU tensor) with ``hyper``
    (10 float64 values, see ``_fused.c``) on ``threads`` threads."""
    library().hfopt_adafactor_fused(desc.shape[0], desc.data_ptr(), hyper.data_ptr(), LARGE, threads)
