"""tfatoms.data.cache: parameter keys, the one mismatch/damage policy, atomic writes, old layouts, locking."""
import json
import subprocess
import sys
import warnings

import h5py
import numpy as np
import pytest

from tfatoms._io import DirectoryInUse, exclusive
from tfatoms.data.cache import (CacheFileError, CacheMismatchError, DatasetCache, LegacyCacheWarning, cache_path,
                                canonical_params, check_params, parameter_differences, params_key, source_hashes)


def _cache(legacy=None):
    def write(data, f):
        f.create_dataset("x", data=data)

    return DatasetCache("toy", write=write, read=lambda f: f["x"][()], legacy=legacy)


def _counting(value):
    calls = []

    def generate():
        calls.append(1)
        return np.asarray(value)

    return generate, calls


# ----------------------------------------------------------------------------- keys

def test_key_is_stable_and_independent_of_order_and_types():
    a = {"seed": 1, "box": 10.0, "selection": {"intervals": [(1.0, 2.0)], "label": "distance"}}
    b = {"selection": {"label": "distance", "intervals": [[1.0, 2.0]]}, "box": np.float64(10.0), "seed": np.int64(1)}
    assert params_key(a) == params_key(b)
    assert params_key(a) != params_key(dict(a, seed=2))
    # the same digits in every process (no hash randomisation, no dict order): a fresh interpreter agrees
    code = ("from tfatoms.data.cache import params_key; print(params_key("
            "{'seed': 1, 'box': 10.0, 'selection': {'label': 'distance', 'intervals': [[1.0, 2.0]]}}))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == params_key(a)
    path = cache_path("/c", "qm9", a)
    assert path.parent.as_posix() == "/c" and path.name == f"qm9-{params_key(a)[:16]}.h5"
    assert canonical_params(b) == {"seed": 1, "box": 10.0, "selection": {"label": "distance",
                                                                         "intervals": [[1.0, 2.0]]}}
    with pytest.raises(TypeError, match="JSON"):
        params_key({"f": object()})
    with pytest.raises(TypeError, match="no NaN"):
        params_key({"x": float("nan")})
    with pytest.raises(ValueError, match="plain file name"):
        cache_path("/c", "../x", a)


def test_source_hashes_change_with_the_bytes(tmp_path):
    f = tmp_path / "data.csv"
    f.write_text("a,b\n1,2\n")
    first = source_hashes([f])
    assert list(first) == ["data.csv"] and len(first["data.csv"]) == 64
    f.write_text("a,b\n1,3\n")
    assert source_hashes([f]) != first


def test_differences_name_each_parameter():
    stored = {"n": 300, "selection": {"intervals": [[2.0, 3.0]]}, "old": 1, "flag": True}
    wanted = {"n": 300, "selection": {"intervals": [[1.5, 3.0]]}, "new": 2, "flag": 1}
    assert parameter_differences(stored, wanted) == [
        "flag: stored True, requested 1", "new: not stored, requested 2", "old: stored 1, not requested",
        "selection.intervals[0][0]: stored 2.0, requested 1.5"]
    assert parameter_differences(stored, dict(stored)) == []
    assert parameter_differences({"t": [1, 2]}, {"t": [1, 2, 3]}) == ["t: stored [1, 2], requested [1, 2, 3]"]
    with pytest.raises(CacheMismatchError, match=r"toy /x.h5 was generated with .* \(and 1 more\); it is not"):
        check_params("/x.h5", {"a": 1, "b": 1, "c": 1, "d": 1}, {"a": 2, "b": 2, "c": 2, "d": 2}, "toy")


# ----------------------------------------------------------------------------- the policy

def test_generated_once_then_read_and_parameters_stored(tmp_path):
    cache, path = _cache(), tmp_path / "toy.h5"
    generate, calls = _counting([1.0, 2.0])
    np.testing.assert_array_equal(cache.get(path, {"seed": 1}, generate), [1.0, 2.0])
    np.testing.assert_array_equal(cache.get(path, {"seed": 1}, generate), [1.0, 2.0])
    assert calls == [1]
    with h5py.File(path) as f:
        assert json.loads(f.attrs["params"]) == {"seed": 1} and f.attrs["dataset"] == "toy"
        assert f.attrs["params_sha256"] == params_key({"seed": 1}) and f.attrs["cache_format"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "toy.h5"]          # no temporaries


def test_other_parameters_are_an_error_naming_file_and_parameter_and_nothing_is_overwritten(tmp_path):
    cache, path = _cache(), tmp_path / "toy.h5"
    cache.get(path, {"seed": 1, "n": 2}, _counting([1.0])[0])
    before = path.read_bytes()
    generate, calls = _counting([9.0])
    with pytest.raises(CacheMismatchError, match=f"toy cache {path} .*seed: stored 1, requested 2.*delete it") as exc:
        cache.get(path, {"seed": 2, "n": 2}, generate)
    assert exc.value.path == path and isinstance(exc.value, ValueError)
    assert calls == [] and path.read_bytes() == before
    # refresh=True is the explicit way to replace it
    np.testing.assert_array_equal(cache.get(path, {"seed": 2, "n": 2}, generate, refresh=True), [9.0])
    np.testing.assert_array_equal(cache.load(path, {"seed": 2, "n": 2}), [9.0])


@pytest.mark.parametrize("damage", ["truncated", "not hdf5", "no params", "dataset missing", "future format"])
def test_a_damaged_file_is_an_error_naming_it(tmp_path, damage):
    cache, path = _cache(), tmp_path / "toy.h5"
    cache.get(path, {"seed": 1}, _counting(np.arange(5000.0))[0])
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:3000])
    elif damage == "not hdf5":
        path.write_text("hello")
    elif damage == "no params":
        with h5py.File(path, "w") as f:
            f["x"] = [1.0]
    else:
        with h5py.File(path, "a") as f:
            if damage == "dataset missing":
                del f["x"]
            else:
                f.attrs["cache_format"] = 99
    generate, calls = _counting([1.0])
    with pytest.raises(CacheFileError, match=f"toy cache {path} is unreadable or truncated .*delete it to regen"):
        cache.get(path, {"seed": 1}, generate)
    assert calls == []
    np.testing.assert_array_equal(cache.get(path, {"seed": 1}, generate, refresh=True), [1.0])


def test_a_failing_write_leaves_no_file_and_stale_temporaries_are_removed(tmp_path):
    def dead_pid():
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        proc.wait()
        return proc.pid

    stale = tmp_path / f".toy.h5.tmp-{dead_pid()}.h5"
    stale.write_bytes(b"x" * 100)

    def write(data, f):
        f.create_dataset("x", data=data)
        raise OSError(28, "No space left on device")          # half-way through the file

    failing = DatasetCache("toy", write=write, read=lambda f: f["x"][()])
    with pytest.raises(OSError, match="No space"):
        failing.get(tmp_path / "toy.h5", {"seed": 1}, _counting([1.0])[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]
    with pytest.raises(OSError, match="No space"):             # an exception in generate: nothing written either
        _cache().get(tmp_path / "toy.h5", {"seed": 1}, lambda: (_ for _ in ()).throw(OSError(28, "No space")))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]


def test_generation_locks_the_directory_and_reading_does_not(tmp_path):
    cache, path = _cache(), tmp_path / "toy.h5"
    with exclusive(tmp_path):
        with pytest.raises(DirectoryInUse, match="dataset cache directory"):
            cache.get(path, {"seed": 1}, _counting([1.0])[0])
    cache.get(path, {"seed": 1}, _counting([1.0])[0])
    with exclusive(tmp_path):
        np.testing.assert_array_equal(cache.get(path, {"seed": 1}, _counting([2.0])[0]), [1.0])


# ----------------------------------------------------------------------------- old layouts

def _old_layout(f, params):
    if "old_x" not in f:
        return None
    return json.loads(f.attrs["old_params"]), lambda: f["old_x"][()]


def test_an_old_layout_is_converted_in_place_and_its_parameters_checked(tmp_path):
    cache, path = _cache(_old_layout), tmp_path / "toy.h5"
    with h5py.File(path, "w") as f:
        f["old_x"] = [4.0, 5.0]
        f.attrs["old_params"] = json.dumps({"seed": 1})
    generate, calls = _counting([0.0])
    with pytest.raises(CacheMismatchError, match="seed: stored 1, requested 2"):
        cache.get(path, {"seed": 2}, generate)
    with pytest.warns(LegacyCacheWarning, match=f"toy cache {path} was in the layout of an earlier tfatoms"):
        np.testing.assert_array_equal(cache.get(path, {"seed": 1}, generate), [4.0, 5.0])
    assert calls == []
    with h5py.File(path) as f:
        assert "old_x" not in f and json.loads(f.attrs["params"]) == {"seed": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")                        # converted once: no warning the second time
        np.testing.assert_array_equal(cache.get(path, {"seed": 1}, generate), [4.0, 5.0])


def test_an_old_file_under_another_name_is_adopted_or_left_alone(tmp_path):
    cache = _cache(_old_layout)
    old, new = tmp_path / "toy.h5", cache.path(tmp_path, {"seed": 1})
    with h5py.File(old, "w") as f:
        f["old_x"] = [4.0]
        f.attrs["old_params"] = json.dumps({"seed": 1})
    with pytest.warns(LegacyCacheWarning, match="converted to .* and removed"):
        assert cache.adopt(old, new, {"seed": 1})
    assert not old.exists()
    np.testing.assert_array_equal(cache.load(new, {"seed": 1}), [4.0])
    old.write_text("garbage")                                # not convertible: left alone, the new file generated
    other = cache.path(tmp_path, {"seed": 2})
    with pytest.warns(LegacyCacheWarning, match="cannot be converted.*can be deleted"):
        assert not cache.adopt(old, other, {"seed": 2})
    assert old.exists() and not other.exists()


def test_an_old_file_in_a_read_only_directory_is_used_as_it_is(tmp_path, monkeypatch):
    cache, path = _cache(_old_layout), tmp_path / "toy.h5"
    with h5py.File(path, "w") as f:
        f["old_x"] = [4.0]
        f.attrs["old_params"] = json.dumps({"seed": 1})

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache, "store", read_only)
    with pytest.warns(LegacyCacheWarning, match="could not be rewritten.*used as they are"):
        np.testing.assert_array_equal(cache.load(path, {"seed": 1}), [4.0])


# ----------------------------------------------------------------------------- every cache is on the helper

def test_every_dataset_cache_uses_the_helper():
    from tfatoms.data import dimers, ising, porous_graphene, qm9

    caches = [dimers.CACHE, ising.CACHE, porous_graphene.CACHE, qm9.CACHE]
    assert all(isinstance(c, DatasetCache) for c in caches)
    assert len({c.name for c in caches}) == 4


def test_an_ising_cache_of_an_earlier_tfatoms_is_converted(tmp_path):
    from tfatoms.data.ising import ising_dataset, sample_ising

    data = sample_ising(20, 4, seed=3, progress=False)
    path = tmp_path / "ising.h5"
    with h5py.File(path, "w") as f:                           # what tfatoms wrote before the cache helper
        for k, v in data.items():
            f.create_dataset(k, data=v)
        f.attrs["params"] = json.dumps({"n_samples": 20, "size": 4, "seed": 3})
    with pytest.warns(LegacyCacheWarning, match="converted in place"):
        again = ising_dataset(path, 20, 4, seed=3, progress=False)
    np.testing.assert_array_equal(again["spins"], data["spins"])
    with pytest.raises(CacheMismatchError, match="seed: stored 3, requested 4"):
        ising_dataset(path, 20, 4, seed=4, progress=False)


def test_a_directory_of_pieces_records_and_checks_its_parameters(tmp_path):
    from tfatoms.data.cache import check_directory_params

    parts = tmp_path / "x.h5.parts"
    manifest = check_directory_params(parts, {"seed": 1, "blocks": (1, 1)}, "pieces")
    assert json.loads(manifest.read_text()) == {"seed": 1, "blocks": [1, 1]}
    assert check_directory_params(parts, {"blocks": [1, 1], "seed": 1}) == manifest
    with pytest.raises(CacheMismatchError, match=f"pieces {parts} .*seed: stored 1, requested 2.*delete the dir"):
        check_directory_params(parts, {"seed": 2, "blocks": [1, 1]}, "pieces")
    manifest.write_text("{")
    with pytest.raises(CacheFileError, match=f"pieces {parts}: unreadable params.json"):
        check_directory_params(parts, {"seed": 1, "blocks": [1, 1]}, "pieces")
