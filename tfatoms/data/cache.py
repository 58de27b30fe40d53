"""Dataset caches: where they live, how they are keyed, written, read and checked.

Every HDF5 cache of :mod:`tfatoms.data` (QM9, the CNNAS dimers, the porous graphene MD set, the Ising lattices)
goes through one :class:`DatasetCache`:

* **Keyed by its parameters.** A cached dataset is a pure function of its generation parameters (a JSON dict:
  seeds, sizes, physical constants, the SHA-256 of source files, :func:`source_hashes`). :func:`cache_path` names
  a file ``<name>-<key>.h5`` in a cache directory, the key being the first 16 hex digits of :func:`params_key`
  (the SHA-256 of the canonical JSON), so different parameters never share a file. Loaders whose caller names
  the file (``dimer_dataset(path, ...)``) use the same checks on that path.
* **Parameters inside the file.** Root attributes ``params`` (canonical JSON), ``params_sha256``, ``dataset``
  (the cache's name) and ``cache_format`` (:data:`CACHE_FORMAT`); the data below them are an
  :class:`~tfatoms.data.atoms.AtomsData` layout for atom structures, so every atom-data cache is also a plain
  AtomsData file (``AtomsData.read_hdf5`` reads it).
* **Written atomically** through :func:`tfatoms._io.atomic_path` (temporary name, rename, temporary removed on
  failure), while the cache directory is locked (:func:`tfatoms._io.exclusive`) so two runs never generate the same
  dataset at once; a finished cache is read without the lock.
* **Checked on reading, one policy.** A file that cannot serve the request -- generated with other parameters, or
  unreadable (truncated, corrupt, not HDF5, datasets missing) -- raises :class:`CacheError` (a ``ValueError``):
  :class:`CacheMismatchError` names the file and each differing parameter with its stored and requested value;
  :class:`CacheFileError` names the file and the error. Both say what to do (delete the file, choose another
  path, or ``refresh=True`` where the loader has it). A cache is never silently overwritten or regenerated.

  Why an error rather than regenerating with a warning: writes are atomic, so a truncated file was damaged outside
  tfatoms (a full disk while copying, a foreign program) and deserves a look, not a silent replacement; a parameter
  mismatch can only happen where the caller named the file, and there regenerating would overwrite data that may
  have cost hours (porous graphene MD) and let two callers with different parameters overwrite each other in turn;
  with keyed names it cannot happen at all. It is also the policy of the label/MD checkpoints
  (:class:`tfatoms.data.reference.CheckpointMismatchError`) and of the design notes (a truncated HDF5 file gets a
  clear error naming it).
* **Old layouts are converted, not refused.** A file written by an earlier tfatoms (no ``cache_format``
  attribute, the dataset's old layout) still holds the right data: it is read, its stored parameters are checked
  like any others, and it is rewritten in the current layout (atomically, in place) with a
  :class:`LegacyCacheWarning` naming it. Where that is impossible (read-only directory) the data are used as read,
  with a warning.
"""
from __future__ import annotations

import hashlib
import json
import os
import reprlib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfatoms._io import atomic_path, exclusive, file_sha256, write_json
from tfatoms.data.atoms import _json_default

#: Version of the cache attributes (``params``, ``params_sha256``, ``dataset``, ``cache_format``).
CACHE_FORMAT = 1
#: Hex digits of :func:`params_key` in a file name (64 bits: no collision among a user's caches).
KEY_DIGITS = 16


def default_cache_dir() -> Path:
    """``$TFATOMS_CACHE`` if set, else ``~/.cache/tfatoms``."""
    return Path(os.environ.get("TFATOMS_CACHE") or Path.home() / ".cache" / "tfatoms")


class CacheError(ValueError):
    """A cache file that cannot serve the request; ``path`` is the file."""

    def __init__(self, message: str, path):
        super().__init__(message)
        self.path = Path(path)


class CacheMismatchError(CacheError):
    """The cache file was generated with other parameters than those requested."""


class CacheFileError(CacheError):
    """The cache file is unreadable: truncated, corrupt, not HDF5, or lacking its datasets or parameters."""


class LegacyCacheWarning(UserWarning):
    """A cache file in the layout of an earlier tfatoms was converted (or, read-only, used as it is)."""


# ---------------------------------------------------------------------------------------------------- keys
def _dumps(params) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=_json_default, allow_nan=False)


def canonical_params(params: dict) -> dict:
    """``params`` as JSON gives them back (tuples as lists, numpy scalars as numbers, keys as strings).

    Raises ``TypeError`` naming what cannot be stored (an object, NaN)."""
    if not isinstance(params, dict):
        raise TypeError(f"cache parameters must be a dict, got {type(params).__name__}")
    try:
        return json.loads(_dumps(params))
    except (TypeError, ValueError) as err:
        raise TypeError(f"cache parameters must be JSON numbers, strings, lists and dicts (no NaN): {err}") from None


def params_key(params: dict) -> str:
    """SHA-256 (hex) of the canonical JSON of ``params`` (sorted keys, no spaces): the same for equal parameters
    in any process, on any machine."""
    return hashlib.sha256(_dumps(canonical_params(params)).encode()).hexdigest()


def cache_path(cache_dir, name: str, params: dict, suffix: str = ".h5") -> Path:
    """``<cache_dir>/<name>-<first 16 hex digits of params_key(params)><suffix>``."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"a cache name must be a plain file name stem, got {name!r}")
    return Path(cache_dir) / f"{name}-{params_key(params)[:KEY_DIGITS]}{suffix}"


def source_hashes(paths) -> dict[str, str]:
    """``{file name: SHA-256}`` of source files, for the parameters of a dataset parsed from them."""
    return {Path(p).name: file_sha256(p) for p in paths}


def parameter_differences(stored, requested, where: str = "") -> list[str]:
    """Each difference between two parameter dicts as ``"name: stored X, requested Y"`` (nested names dotted,
    list entries indexed: ``selection.intervals[0]``); empty if they are equal."""
    short = reprlib.Repr()
    short.maxstring, short.maxother, short.maxlist, short.maxdict = 60, 60, 8, 8
    if isinstance(stored, dict) and isinstance(requested, dict):
        out = []
        for key in sorted(set(stored) | set(requested), key=str):
            name = f"{where}.{key}" if where else str(key)
            if key not in stored:
                out.append(f"{name}: not stored, requested {short.repr(requested[key])}")
            elif key not in requested:
                out.append(f"{name}: stored {short.repr(stored[key])}, not requested")
            else:
                out += parameter_differences(stored[key], requested[key], name)
        return out
    if isinstance(stored, list) and isinstance(requested, list) and len(stored) == len(requested):
        out = []
        for k, (a, b) in enumerate(zip(stored, requested)):
            out += parameter_differences(a, b, f"{where}[{k}]")
        return out
    if isinstance(stored, bool) or isinstance(requested, bool):    # JSON tells true from 1, so do we
        same = type(stored) is type(requested) and stored == requested
    else:
        same = stored == requested
    if same:
        return []
    return [f"{where or 'parameters'}: stored {short.repr(stored)}, requested {short.repr(requested)}"]


def check_params(path, stored: dict, requested: dict, what: str = "cache", remedy: str = "delete it to regenerate "
                 "it, or use another path") -> None:
    """Raise :class:`CacheMismatchError` naming ``path`` and the differing parameters unless they are equal."""
    diff = parameter_differences(canonical_params(stored), canonical_params(requested))
    if diff:
        more = f" (and {len(diff) - 3} more)" if len(diff) > 3 else ""
        raise CacheMismatchError(f"{what} {path} was generated with other parameters than requested: "
                                 f"{'; '.join(diff[:3])}{more}; it is not overwritten: {remedy}", path)


def check_directory_params(directory, params: dict, what: str = "cache directory") -> Path:
    """Record ``params`` in ``<directory>/params.json`` (atomically) or, if it is there, check them against it.

    For caches that are directories of resumable pieces (the porous graphene MD chunks): pieces of other
    parameters are a :class:`CacheMismatchError`, an unreadable ``params.json`` a :class:`CacheFileError`,
    both naming the directory (the policy of the module docstring). Returns the ``params.json`` path.
    """
    directory = Path(directory)
    manifest = directory / "params.json"
    remedy = "delete the directory to start again, or use another path"
    if not manifest.exists():
        directory.mkdir(parents=True, exist_ok=True)
        write_json(manifest, canonical_params(params))
        return manifest
    try:
        stored = json.loads(manifest.read_text())
    except (OSError, ValueError) as err:
        raise CacheFileError(f"{what} {directory}: unreadable {manifest.name} ({err}); {remedy}", manifest) from None
    check_params(directory, stored, params, what, remedy)
    return manifest


# ---------------------------------------------------------------------------------------------------- the cache
class DatasetCache:
    """How one kind of dataset is cached in HDF5: its name and the functions that write and read its data.

    Args:
        name: the dataset's name in messages and in the file's ``dataset`` attribute (``"QM9"``, ``"dimer"``).
        write: ``write(data, f)`` writes ``data`` into the open h5py file ``f`` (the cache adds the parameters);
            default: ``data`` is one :class:`~tfatoms.data.atoms.AtomsData` (``data.write_hdf5_group(f)``).
        read: ``read(f)`` returns the data from the open file; any exception it raises (``KeyError`` for a
            missing dataset, :class:`~tfatoms.data.atoms.AtomsDataFileError`, ...) makes the file unreadable;
            default: ``AtomsData.read_hdf5_group(f)``.
        legacy: ``legacy(f, params)`` for a file without ``cache_format``: ``(stored_params, read_old)`` if ``f``
            has this dataset's old layout (``read_old()`` returns its data, read once the parameters are checked;
            the file is converted then), else None (the file is unreadable).
        remedy: what a :class:`CacheError` tells the user to do (default: delete the file to regenerate it).
    """

    def __init__(self, name: str, write: Callable[[Any, Any], None] | None = None,
                 read: Callable[[Any], Any] | None = None,
                 legacy: Callable[[Any, dict], tuple | None] | None = None,
                 remedy: str = "delete it to regenerate it"):
        from tfatoms.data.atoms import AtomsData

        self.name, self._legacy, self.remedy = name, legacy, remedy
        self._write = write if write is not None else lambda data, f: data.write_hdf5_group(f)
        self._read = read if read is not None else AtomsData.read_hdf5_group

    def __repr__(self) -> str:
        return f"DatasetCache({self.name!r})"

    def path(self, cache_dir, params: dict, stem: str | None = None) -> Path:
        """The keyed file of ``params`` in ``cache_dir`` (:func:`cache_path`; ``stem`` defaults to the name)."""
        return cache_path(cache_dir, stem or self.name, params)

    def store(self, path, params: dict, data) -> Path:
        """Write ``data`` with ``params`` to ``path`` atomically."""
        import h5py

        params = canonical_params(params)
        path = Path(path)
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as f:
                self._write(data, f)
                f.attrs["dataset"] = self.name
                f.attrs["params"] = _dumps(params)
                f.attrs["params_sha256"] = params_key(params)
                f.attrs["cache_format"] = CACHE_FORMAT
        return path

    def stored_params(self, f) -> dict | None:
        """The parameters stored in the open file ``f``; None for a file without cache attributes (old layout)."""
        if "cache_format" not in f.attrs:
            return None
        version = int(f.attrs["cache_format"])
        if version != CACHE_FORMAT:
            raise ValueError(f"cache format {version}; this tfatoms reads format {CACHE_FORMAT}")
        return json.loads(f.attrs["params"])

    def load(self, path, params: dict | None = None, read: bool = True, convert: bool = True):
        """The data cached at ``path`` (None if there is no file), checked against ``params``.

        ``params=None`` accepts whatever parameters the file holds; ``read=False`` only checks (returns True).
        Raises :class:`CacheMismatchError` or :class:`CacheFileError` as the module docstring says; a file of the
        old layout is converted (``convert``) with a :class:`LegacyCacheWarning`.
        """
        import h5py

        path = Path(path)
        if not path.exists():
            return None
        requested = None if params is None else canonical_params(params)
        legacy = None
        try:
            with h5py.File(path, "r") as f:
                stored = self.stored_params(f)
                if stored is None:
                    legacy = self._legacy(f, requested) if self._legacy is not None else None
                    if legacy is None:
                        raise KeyError("no cache_format and params attributes, and not the old layout of "
                                       f"the {self.name} cache either")
                    stored = legacy[0]
                if requested is not None:
                    check_params(path, stored, requested, f"{self.name} cache", f"{self.remedy}, or use another path")
                data = legacy[1]() if legacy is not None else self._read(f) if read else True
        except CacheError:
            raise
        except MemoryError:
            raise
        except Exception as err:  # noqa: BLE001 - h5py and the readers raise many kinds; all mean unreadable
            raise CacheFileError(f"{self.name} cache {path} is unreadable or truncated ({type(err).__name__}: "
                                 f"{err}); {self.remedy}", path) from err
        if legacy is not None and convert:
            self._convert(path, stored, data)
        return data

    def _convert(self, path: Path, params: dict, data, source: Path | None = None) -> None:
        try:
            self.store(path, params, data)
        except OSError as err:
            warnings.warn(f"{self.name} cache {source or path} is in the layout of an earlier tfatoms and could not "
                          f"be rewritten ({err}); its data are used as they are", LegacyCacheWarning, stacklevel=4)
            return
        if source is not None and source != path:
            source.unlink(missing_ok=True)
            warnings.warn(f"{self.name} cache {source} (layout of an earlier tfatoms) was converted to {path} and "
                          f"removed", LegacyCacheWarning, stacklevel=4)
        else:
            warnings.warn(f"{self.name} cache {path} was in the layout of an earlier tfatoms; converted in place "
                          f"(same data and parameters)", LegacyCacheWarning, stacklevel=4)

    def adopt(self, old_path, path, params: dict) -> bool:
        """Convert the old-layout cache ``old_path`` (a file name an earlier tfatoms used) into ``path``.

        True if converted (and ``old_path`` removed). An old file that is unreadable, not of the old layout or of
        other parameters is left alone with a :class:`LegacyCacheWarning` (``path`` is then generated afresh): it
        is not the requested file, only a possible source of it.
        """
        import h5py

        old_path, path = Path(old_path), Path(path)
        if not old_path.is_file() or path.exists():
            return False
        requested = canonical_params(params)
        try:
            with h5py.File(old_path, "r") as f:
                legacy = self._legacy(f, requested) if self._legacy is not None else None
                if legacy is None:
                    raise ValueError("not the old layout")
                stored = legacy[0]
                check_params(old_path, stored, requested, f"{self.name} cache")
                data = legacy[1]()
        except MemoryError:
            raise
        except Exception as err:  # noqa: BLE001 - any failure means: not convertible, generate afresh
            warnings.warn(f"{self.name} cache {old_path} of an earlier tfatoms cannot be converted ({err}); "
                          f"{path.name} is generated afresh and {old_path.name} can be deleted", LegacyCacheWarning,
                          stacklevel=3)
            return False
        self._convert(path, stored, data, source=old_path)
        return path.exists()

    def get(self, path, params: dict, generate: Callable[[], Any], refresh: bool = False):
        """The data at ``path`` if it was generated with ``params``; else ``generate()``, stored and returned.

        ``refresh=True`` regenerates and overwrites whatever is there (also a mismatching or damaged file). The
        cache directory is locked while generating: a second process that would generate there meanwhile gets
        :class:`~tfatoms._io.DirectoryInUse` at once.
        """
        path = Path(path)
        params = canonical_params(params)
        if not refresh:
            data = self.load(path, params)
            if data is not None:
                return data
        with exclusive(path.parent, "dataset cache directory"):
            if not refresh:
                data = self.load(path, params)  # generated by another process meanwhile
                if data is not None:
                    return data
            data = generate()
            self.store(path, params, data)
        return data
