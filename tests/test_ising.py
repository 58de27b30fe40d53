"""Ising data: exact energy, sampler against exact enumeration, HDF5 cache."""
import itertools

import numpy as np
import pytest

from tfatoms.data.ising import T_CRITICAL, ising_dataset, ising_energy, sample_ising


def test_energy_of_known_configurations():
    assert ising_energy(np.ones((8, 8))) == -128  # 2 L^2 bonds, all aligned
    checker = np.indices((8, 8)).sum(axis=0) % 2 * 2 - 1
    assert ising_energy(checker) == 128
    s = np.ones((4, 6))
    s[1, 2] = -1  # one flipped spin breaks its 4 bonds
    assert ising_energy(s) == -48 + 8


def test_energy_is_extensive_for_periodic_copies(rng):
    s = rng.choice([-1, 1], size=(8, 8))
    assert ising_energy(np.tile(s, (16, 16))) == 256 * ising_energy(s)


@pytest.mark.parametrize("temperature", [1.5, T_CRITICAL, 3.5])
def test_sampler_matches_exact_enumeration_on_4x4(temperature):
    states = np.array(list(itertools.product([-1, 1], repeat=16)), dtype=np.int8).reshape(-1, 4, 4)
    energies = ising_energy(states)
    w = np.exp(-(energies - energies.min()) / temperature)
    exact_mean = (w * energies).sum() / w.sum()
    exact_std = np.sqrt((w * (energies - exact_mean) ** 2).sum() / w.sum())
    data = sample_ising(20000, 4, temperatures=np.full(200, temperature), seed=3, progress=False)
    assert abs(data["energy"].mean() - exact_mean) < 0.2 * exact_std
    assert abs(data["energy"].std() - exact_std) < 0.05 * exact_std


def test_sampler_is_deterministic_and_spans_phases():
    a = sample_ising(2000, 8, seed=5, progress=False)
    b = sample_ising(2000, 8, seed=5, progress=False)
    np.testing.assert_array_equal(a["spins"], b["spins"])
    e = a["energy"] / 64
    assert e.min() < -1.8 and e.max() > -0.8  # ordered and disordered configurations
    assert np.sum(np.abs(a["temperature"] - T_CRITICAL) < 0.3) >= 900


def test_dataset_cache_round_trip_and_bad_cache(tmp_path):
    path = tmp_path / "ising.h5"
    first = ising_dataset(path, 500, 8, seed=1, progress=False)
    again = ising_dataset(path, 500, 8, seed=1, progress=False)
    np.testing.assert_array_equal(first["spins"], again["spins"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "ising.h5"]  # no temporaries left
    path.write_bytes(b"truncated")
    with pytest.raises(ValueError, match="unreadable or truncated"):
        ising_dataset(path, 500, 8, seed=1, progress=False)


def test_bad_arguments():
    with pytest.raises(ValueError, match="even"):
        sample_ising(10, 7, progress=False)
    with pytest.raises(ValueError, match="positive finite"):
        sample_ising(10, 8, temperatures=[1.0, -2.0], progress=False)
    with pytest.raises(ValueError, match=r"\+1 or -1"):
        ising_energy(np.zeros((4, 4)))


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_dataset_cache_write_is_atomic(tmp_path, monkeypatch):
    """A killed writer's temporary is removed by the next write; a failing write leaves no temporary."""
    stale = tmp_path / f".ising.h5.tmp-{_dead_pid()}.h5"
    stale.write_bytes(b"x" * 1000)
    ising_dataset(tmp_path / "ising.h5", 50, 4, seed=1, progress=False)
    assert not stale.exists()

    import h5py

    def failing(self, name, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(OSError, match="No space left"):
        ising_dataset(tmp_path / "full" / "ising.h5", 50, 4, seed=1, progress=False)
    assert [p.name for p in (tmp_path / "full").iterdir()] == [".lock"]


def test_dataset_generation_refuses_a_second_process(tmp_path):
    from tfatoms._io import DirectoryInUse, exclusive

    with exclusive(tmp_path):   # held through another open file, as by another process
        with pytest.raises(DirectoryInUse, match="dataset cache directory .* is in use"):
            ising_dataset(tmp_path / "ising.h5", 50, 4, seed=1, progress=False)
    first = ising_dataset(tmp_path / "ising.h5", 50, 4, seed=1, progress=False)
    with exclusive(tmp_path):   # an existing cache is read without the lock
        np.testing.assert_array_equal(ising_dataset(tmp_path / "ising.h5", 50, 4, seed=1, progress=False)["spins"],
                                      first["spins"])
