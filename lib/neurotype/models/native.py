"""The C++ training loops (``fused_step.cpp``): built once per environment, optional.

Where this module can build and load the library, :mod:`neurotype.models.fused` runs one member's steps
(the FCNN or DANN of a tuning trial or a fold) and draws its dropout there, and
:func:`neurotype.models.lspin.train_full_batch_sgd` runs its epochs there: the same ATen calls with the
same arguments, in the same order, as the Python loops, without the interpreter between them
(tests/models/test_native.py checks that both give the same network bit for bit). Where it cannot be
built (no C++ compiler) or is switched off (``NEUROTYPE_NATIVE=0``), the Python loops train every
network: the same numbers, more slowly.

The library is compiled with the C++ compiler (``$CXX``, default ``g++``) against the installed
torch's headers, into ``$NEUROTYPE_NATIVE_DIR`` (default: ``neurotype-native`` in the Python
environment, ``sys.prefix``), under a name that hashes the source, the torch version, the compiler
flags, the Python version and the processor's instruction sets: a changed source or torch builds a new
library, an unchanged one is loaded at once. ``make env`` builds it (``python -m
neurotype.models.native``, about 25 s); a process that finds no library builds it itself (processes
that start at the same time wait for the first one's build: it holds a lock file in the folder). A build
that failed leaves a ``.failed`` file with its one-line reason, so that the processes after it do not
compile again; ``make env``, a changed source or another torch tries anew.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.machinery
import importlib.util
import os
import platform
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType

import torch

__all__ = ["SOURCE", "enabled", "library_path", "build", "load", "unavailable_reason"]

SOURCE = Path(__file__).with_name("fused_step.cpp")
#: -march=native: the dropout draws' loop runs 13 % faster (1.38 against 1.58 ms for 312,000 units); the
#: ATen calls run ATen's own kernels, so the flags change no number.
_FLAGS = ["-O3", "-march=native", "-fPIC", "-shared", "-std=c++20"]
_loaded: ModuleType | None = None
_reason: str | None = None  # why the library is unavailable (None: not tried yet, or loaded)
_tried = False


def enabled() -> bool:
    """Whether the C++ steps may be used: ``NEUROTYPE_NATIVE`` is not ``0``."""
    return os.environ.get("NEUROTYPE_NATIVE", "1") != "0"


def _compile_command(output: Path, name: str) -> list[str]:
    from torch.utils import cpp_extension

    includes = [*cpp_extension.include_paths(), sysconfig.get_path("include", scheme="posix_prefix")]
    libraries = cpp_extension.library_paths()
    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    return [*shlex.split(os.environ.get("CXX", "g++")), *_FLAGS, f"-DTORCH_EXTENSION_NAME={name}",
            "-DTORCH_API_INCLUDE_EXTENSION_H", f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
            *[f"-isystem{path}" for path in includes], str(SOURCE), "-o", str(output),
            *[f"-L{path}" for path in libraries], "-lc10", "-ltorch", "-ltorch_cpu", "-ltorch_python"]


def _cpu_features() -> bytes:
    """The processor's instruction sets (``-march=native`` compiles for them): another processor, another
    library, never one that would stop on an instruction it lacks."""
    try:
        with open("/proc/cpuinfo") as info:
            return next((line for line in info if line.startswith("flags")), "").encode()
    except OSError:
        return platform.machine().encode()


def _name() -> str:
    """The library's module name: it changes with the source, torch, the flags, Python and the processor."""
    digest = hashlib.sha256()
    for part in (SOURCE.read_bytes(), torch.__version__.encode(), " ".join(_FLAGS).encode(),
                 sys.version.encode(), os.environ.get("CXX", "g++").encode(), _cpu_features()):
        digest.update(part)
    return f"neurotype_fused_step_{digest.hexdigest()[:16]}"


def library_path() -> Path:
    """Where this environment's library is (or would be) built."""
    folder = Path(os.environ.get("NEUROTYPE_NATIVE_DIR") or Path(sys.prefix) / "neurotype-native")
    return folder / f"{_name()}.so"


def build(retry: bool = False) -> Path:
    """Compile the library unless it exists; its path. Raises ``RuntimeError`` (one line) on failure, at
    once if this build failed before, unless ``retry`` (``make env`` retries)."""
    target = library_path()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    failed = target.with_suffix(".failed")  # a build that failed is not tried again by every process
    # one process compiles, the others wait for it (the book starts several at once)
    with open(target.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if retry:
            failed.unlink(missing_ok=True)
        if failed.is_file():
            raise RuntimeError(f"{failed.read_text().strip()} (an earlier build; delete {failed} to try again)")
        if not target.is_file():
            try:
                _compile(target)
            except RuntimeError as error:
                failed.write_text(f"{error}\n")
                raise
            for old in target.parent.glob("neurotype_fused_step_*"):  # builds of other sources or torch
                if old.stem != target.stem:
                    old.unlink(missing_ok=True)
    return target


def _compile(target: Path) -> None:
    handle, scratch = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".so", dir=target.parent)
    os.close(handle)
    try:
        try:
            done = subprocess.run(_compile_command(Path(scratch), target.stem), capture_output=True, text=True)
        except OSError as error:
            raise RuntimeError(f"cannot run the C++ compiler: {error}") from None
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if "error" in line] or done.stderr.splitlines()[-1:]
            raise RuntimeError(f"compiling {SOURCE.name} failed: {lines[0].strip() if lines else done.returncode}")
        os.replace(scratch, target)
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)


def load() -> ModuleType | None:
    """The loaded library, or ``None`` when it is switched off or cannot be built (see
    :func:`unavailable_reason`). Builds it on first use in an environment that lacks it."""
    global _loaded, _reason, _tried
    if not enabled():
        return None
    if _tried:
        return _loaded
    _tried = True
    try:
        path = build()
        loader = importlib.machinery.ExtensionFileLoader(path.stem, str(path))
        spec = importlib.util.spec_from_file_location(path.stem, str(path), loader=loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
    except (RuntimeError, ImportError, OSError) as error:
        _reason = str(error).splitlines()[0]
        return None
    _loaded = module
    return module


def unavailable_reason() -> str | None:
    """Why :func:`load` returned ``None`` (``None`` if it loaded or was not tried)."""
    if not enabled():
        return "switched off (NEUROTYPE_NATIVE=0)"
    return _reason


if __name__ == "__main__":  # make env: build once per environment
    try:
        print(f"neurotype: C++ training loops in {build(retry=True)}")
    except RuntimeError as error:
        print(f"neurotype: C++ training loops not built ({error}); the Python engine will train the "
              "networks (same numbers, slower)")
