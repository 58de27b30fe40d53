"""Safe file writes and exclusive use of a cache or output directory.

Every file tfatoms writes goes through :func:`atomic_path`: the content is
written under a temporary name beside the target (``.<name>.tmp-<pid>``) and
renamed over the target only when it is complete, so a reader never sees a
half-written file. A failure (full disk, exception, Ctrl-C) removes the
temporary; a SIGKILL cannot, so :func:`atomic_path` also removes temporaries of
the same target left by processes that no longer exist.

:func:`exclusive` takes an advisory ``flock`` on ``<dir>/.lock`` so two runs
cannot write into the same cache or results directory at once: the second one
gets a clear error naming the directory and the pid that holds it.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
from pathlib import Path

_TMP = re.compile(r"^\.(?P<name>.+?)\.tmp-(?P<pid>\d+)(\..+)?$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(directory, name: str | None = None, pattern: re.Pattern = _TMP) -> list[Path]:
    """Remove the temporary files in ``directory`` whose process is gone; return them.

    A temporary is a file whose name matches ``pattern`` (default: ``.<name>.tmp-<pid>[.suffix]``,
    what :func:`atomic_path` writes); the pattern's ``pid`` group names the writer, and with
    ``name`` only temporaries of that target (the pattern's ``name`` group) are removed.
    """
    directory = Path(directory)
    removed = []
    if not directory.is_dir():
        return removed
    for path in directory.iterdir():
        m = pattern.match(path.name)
        if not m or not path.is_file() or (name is not None and m["name"] != name):
            continue
        pid = int(m["pid"])
        if pid != os.getpid() and not _alive(pid):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def file_sha256(*paths) -> str:
    """SHA-256 (hex) of the bytes of ``paths``, read in order in 1 MB blocks (one file: its usual digest)."""
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def temporary_name(path) -> Path:
    """The temporary name :func:`atomic_path` writes ``path`` under (same directory, so rename is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path to write; rename it to ``path`` on success, remove it on any failure.

    Keras, numpy and h5py pick a format from the file name, so the temporary ends in the
    target's suffix too: ``best.weights.h5`` -> ``.best.weights.h5.tmp-12.weights.h5``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, path.name)
    tmp = temporary_name(path)
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".weights.h5") else path.suffix
    if suffix:
        tmp = tmp.with_name(tmp.name + suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write(path, data: str | bytes) -> Path:
    """Write ``data`` (text or bytes) to ``path`` through a temporary file and an atomic rename."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb" if isinstance(data, bytes) else "w") as fh:
            fh.write(data)
    return Path(path)


def write_json(path, obj, **kwargs):
    """Write ``obj`` as JSON to ``path`` atomically (``indent=1`` unless given)."""
    kwargs.setdefault("indent", 1)
    return atomic_write(path, json.dumps(obj, **kwargs))


class DirectoryInUse(RuntimeError):
    """Another live process holds the lock of a directory."""


@contextlib.contextmanager
def exclusive(directory, what: str = "directory"):
    """Hold an exclusive advisory lock on ``directory`` (``<directory>/.lock``) while the block runs.

    A second process asking for the same directory gets :class:`DirectoryInUse` at once
    (no waiting), naming the directory and the holder's pid. The lock dies with its
    process, so a killed run never leaves the directory locked.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fh = open(directory / ".lock", "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise DirectoryInUse(f"{what} {directory} is in use by another run (pid {holder}); wait for it to "
                                 f"finish or use another directory") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield directory
    finally:
        fh.close()
