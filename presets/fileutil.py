"""The one atomic writer and the one sha256 helper, for every room.

A file written through :func:`atomic_path` appears at its target only when complete: the
bytes go to a temporary file beside the target (same folder, so the rename is atomic on
one file system), which is renamed into place on success and removed on any failure,
so a crash or a bad input never leaves a partial output.

Temporary names carry the writer's pid (``.NAME.PID-XXXX.part.EXT``). SIGTERM, SIGHUP and
SIGINT remove every live temporary file (:func:`signal_cleanup`, installed by the CLI;
:func:`exit_on_signal` in worker processes); a file left by ``kill -9`` is removed by the
next writer of the same name once its pid is gone. :func:`check_input_file` refuses a
missing, unreadable or non-regular input (a FIFO would hang a reader) and
:func:`describe_os_error` turns any ``OSError`` into one line with its fix.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import os
import signal
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "temp_path", "atomic_write_bytes", "atomic_write_text", "sha256_file", "sha256_bytes",
           "signal_cleanup", "exit_on_signal", "check_input_file", "describe_os_error"]

_LIVE_TEMPS: set = set()  # temporary files of this process that a caught signal removes
_CAUGHT = ("SIGTERM", "SIGHUP", "SIGINT")
_DEFER = {"creating": 0, "pending": None}  # a caught signal waits while the main thread creates a temporary file


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists but belongs to someone else
    return True


def _remove_stale_parts(path: Path) -> None:
    """Remove ``.part`` files of ``path`` left by writers killed with -9 (their pid is gone);
    a live writer's temporary file (another process writing the same name) is left alone."""
    prefix = f".{path.name}."
    for stale in path.parent.glob(f"{glob.escape(prefix)}*.part{glob.escape(path.suffix)}"):
        pid = stale.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            stale.unlink(missing_ok=True)


@contextmanager
def temp_path(path: str | os.PathLike):
    """Yield a hidden temporary file beside ``path`` (``.NAME.PID-XXXX.part.EXT``), removed when
    the block ends whatever happens, and on SIGTERM/SIGHUP/SIGINT (see :func:`signal_cleanup`)."""
    path = Path(path)
    _remove_stale_parts(path)
    tmp = _registered_temp(path)
    try:
        yield Path(tmp)
    finally:
        _LIVE_TEMPS.discard(tmp)
        if os.path.exists(tmp):
            os.unlink(tmp)


def _registered_temp(path: Path) -> str:
    """Create the temporary file of ``path`` and register it for removal as one step: a signal caught
    in between (signal handlers run in the main thread) waits until the file is registered, so the
    handler finds it (a signal between the two once left a ``.part`` behind)."""
    import threading

    main = threading.current_thread() is threading.main_thread()
    if main:
        _DEFER["creating"] += 1
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}-",
                                   suffix=f".part{path.suffix}")
        os.close(fd)
        _LIVE_TEMPS.add(tmp)
    finally:
        if main:
            _DEFER["creating"] -= 1
    pending = _DEFER["pending"] if main and not _DEFER["creating"] else None
    if pending is not None:
        _DEFER["pending"] = None
        _on_signal(pending, None)
    return tmp


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; rename it into place when the block ends.

    Parameters
    ----------
    path : str or PathLike
        The target file. Its folder must exist.

    Yields
    ------
    Path
        The temporary file (empty, readable like any file the umask allows, not ``0600``),
        to be written by the caller. On an exception or a caught signal it is removed and
        the target is untouched.
    """
    with temp_path(path) as tmp:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; an output is as readable as any other file
        yield tmp
        os.replace(tmp, path)


def _remove_live_temps() -> None:
    for tmp in list(_LIVE_TEMPS):
        try:
            os.unlink(tmp)
        except OSError:
            pass


def exit_on_signal(signum, frame):
    """For worker processes: remove this process's temporary files and exit at once, quietly
    (the parent reports; a worker still loading its model has nothing to unwind)."""
    _remove_live_temps()
    os._exit(128 + signum)


def _on_signal(signum, frame):
    import sys

    if _DEFER["creating"]:  # inside _registered_temp: handled once the new file is registered
        _DEFER["pending"] = signum
        return
    if signum != signal.SIGINT:
        print(f"dreambridge: stopped by {signal.Signals(signum).name}; no partial output was left", file=sys.stderr)
    _remove_live_temps()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


@contextmanager
def signal_cleanup():
    """While the block runs, SIGTERM, SIGHUP and SIGINT remove every live temporary file and end
    the process through the normal unwinding (``finally`` blocks run); handlers are restored after."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for name in _CAUGHT:
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, _on_signal)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def check_input_file(path: str | os.PathLike, what: str = "input file", error=OSError) -> Path:
    """A regular, readable file, or one clear ``error`` (missing, folder, FIFO/device, no permission)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist; check the path") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be opened ({exc.strerror}); check the path and its permissions") from None
    if stat.S_ISDIR(mode):
        raise error(f"{what} {path} is a folder; give a file")
    if not stat.S_ISREG(mode):
        raise error(f"{what} {path} is not a regular file (a pipe or device); save it to a file first")
    if not os.access(path, os.R_OK):
        raise error(f"{what} {path} is not readable (permission denied); fix its permissions, e.g. chmod +r")
    return path


_ERRNO_TEXT = {
    errno.ENOSPC: "no space left on the device; free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is exceeded; free some space or write elsewhere",
    errno.EACCES: "permission denied; check the permissions of the file and its folder",
    errno.EPERM: "operation not permitted; check the permissions of the file and its folder",
    errno.EROFS: "the file system is read-only; write to another folder",
    errno.EISDIR: "is a folder; give a file name",
    errno.ENOTDIR: "a part of the path is a file, not a folder; fix the path",
    errno.ENOENT: "no such file or folder; check the path",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter path",
    errno.EMFILE: "too many open files; close some programs and try again",
    errno.EIO: "input/output error on the device; check the disk",
}


def describe_os_error(exc: OSError) -> str:
    """One line for an ``OSError``: the path and what to do (full disk, permissions, read-only...)."""
    text = _ERRNO_TEXT.get(exc.errno, f"{exc.strerror or str(exc)}; check the path and the disk")
    name = exc.filename if exc.filename is not None else ""
    if exc.filename2 is not None:
        name = f"{name} -> {exc.filename2}"
    return f"{name}: {text}" if name else text


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
