"""Porous graphene (EDNN sec. 3.2.2, 3.3): sheet builders, REBO reference, dataset, streamed inference, pretrained model."""
import json

import numpy as np
import pytest

from tfatoms.data import porous_graphene as pg
from tfatoms.data.sheets import (BLOCK_PIXELS, BOND, CELL, PIXEL_SPACING, PeriodicSheet, PorousSheet,
                                 graphene_positions, graphene_sheet, porosity, read_sheet)
from tfatoms.inference.sheet import SheetPredictor, TileGrid
from tfatoms.representations.atom_images import AtomImages


def _sorted_rows(a):
    a = np.round(np.asarray(a), 6)
    return a[np.lexsort(a.T[::-1])]


def _nearest_distances(atoms):
    from ase.neighborlist import neighbor_list

    i, d = neighbor_list("id", atoms, 1.6)
    return np.bincount(i, minlength=len(atoms)), d


# ----------------------------------------------------------------------------- builders

def test_pristine_graphene_counts_cell_and_bonds():
    assert graphene_positions(3, 2).shape == (24, 3)
    atoms = graphene_sheet(5, 3)
    assert len(atoms) == 60
    np.testing.assert_allclose(atoms.cell.lengths()[:2], [5 * CELL[0], 3 * CELL[1]])
    coordination, d = _nearest_distances(atoms)
    assert np.all(coordination == 3)                     # every atom has 3 neighbours across the periodic cell
    np.testing.assert_allclose(d, BOND, atol=1e-9)


def test_porous_sheet_geometry_and_pixels():
    sheet = PorousSheet((2, 2), seed=0, hole_density=0.0)
    assert sheet.n_pristine == 448 and len(sheet.positions()) == 448
    np.testing.assert_allclose(sheet.size, (34.44, 4 * 2 * CELL[1]))
    assert sheet.pixels == (384, 384)
    np.testing.assert_allclose(np.array(sheet.size) / np.array(sheet.pixels), PIXEL_SPACING)
    porous = PorousSheet((2, 2), seed=3, hole_density=0.004)
    atoms = porous.atoms()
    assert 0 < len(atoms) < 448
    coordination, d = _nearest_distances(atoms)
    assert np.all(coordination >= 1) and np.all(d > BOND - 1e-9)   # no duplicated or isolated atoms
    assert np.all(atoms.positions[:, :2] >= 0) and np.all(atoms.positions[:, :2] < np.array(porous.size))


def test_porous_sheet_is_deterministic_and_seeded():
    a = PorousSheet((3, 2), seed=5).positions()
    np.testing.assert_array_equal(a, PorousSheet((3, 2), seed=5).positions())
    assert not np.array_equal(_sorted_rows(a), _sorted_rows(PorousSheet((3, 2), seed=6).positions())) or len(a) == 0


def test_default_porosity_matches_the_papers_1um2_sheet():
    sheet = PorousSheet((16, 16), seed=2)
    p = porosity(len(sheet.positions()), sheet)
    assert 0.05 < p < 0.11          # paper: 35.2 M atoms where pristine graphene has 38.2 M (8 %)


@pytest.mark.parametrize("rect", [(100.0, 180.0, -20.0, 60.0), (-5.0, 30.0, 250.0, 300.0), (0.0, 40.0, 0.0, 40.0)])
def test_window_equals_the_same_region_of_the_whole_sheet(rect):
    sheet = PorousSheet((16, 16), seed=1, hole_density=0.003)
    whole = sheet.positions()
    lx, ly = sheet.size
    images = np.concatenate([whole + [dx * lx, dy * ly, 0] for dx in (-1, 0, 1) for dy in (-1, 0, 1)])
    x0, x1, y0, y1 = rect
    inside = images[(images[:, 0] >= x0) & (images[:, 0] < x1) & (images[:, 1] >= y0) & (images[:, 1] < y1)]
    window = sheet.window(*rect)
    assert len(window) > 100
    np.testing.assert_array_equal(_sorted_rows(window), _sorted_rows(inside))


@pytest.mark.parametrize("rect", [(100.0, 180.0, -20.0, 60.0), (-5.0, 30.0, 250.0, 300.0), (-300.0, 700.0, 5.0, 9.0)])
def test_explicit_sheet_windows_equal_the_generated_ones(rect):
    sheet = PorousSheet((16, 16), seed=1, hole_density=0.003)
    explicit = PeriodicSheet(sheet.atoms().positions, sheet.size, bin_size=25.0)
    pos, numbers = explicit.window_atoms(*rect)
    np.testing.assert_array_equal(_sorted_rows(pos), _sorted_rows(sheet.window(*rect)))
    assert np.all(numbers == 6)


def test_read_sheet_from_extxyz_and_hdf5(tmp_path):
    import ase.io
    import h5py

    sheet = PorousSheet((2, 1), seed=2)
    atoms = sheet.atoms()
    ase.io.write(tmp_path / "s.xyz", atoms, format="extxyz")
    with h5py.File(tmp_path / "s.h5", "w") as fh:
        fh["positions"], fh["cell"] = atoms.positions, atoms.cell.lengths()
    for name in ("s.xyz", "s.h5"):
        got = read_sheet(tmp_path / name)
        np.testing.assert_allclose(got.size, sheet.size)
        np.testing.assert_allclose(_sorted_rows(got.positions), _sorted_rows(atoms.positions), atol=1e-6)
    (tmp_path / "bad.xyz").write_text("3\nnot a structure\n")
    with pytest.raises(ValueError, match="bad.xyz"):
        read_sheet(tmp_path / "bad.xyz")
    atoms.pbc = False
    ase.io.write(tmp_path / "open.xyz", atoms, format="extxyz")
    with pytest.raises(ValueError, match="periodic"):
        read_sheet(tmp_path / "open.xyz")
    with pytest.raises(FileNotFoundError):
        read_sheet(tmp_path / "absent.h5")


@pytest.mark.parametrize("bad", [dict(blocks=(0, 2)), dict(blocks=(2,)), dict(blocks=(2, 2), hole_density=-1),
                                 dict(blocks=(2, 2), radius_range=(3.0, 1.0)), dict(blocks=(2, 2), seed=-1)])
def test_porous_sheet_rejects_bad_parameters(bad):
    with pytest.raises(ValueError):
        PorousSheet(**bad)


# ----------------------------------------------------------------------------- REBO reference

lammps_rebo = pytest.importorskip("tfatoms.data.lammps_rebo")


def _needs_lammps():
    try:
        lammps_rebo.import_lammps()
    except ImportError as exc:
        pytest.skip(str(exc))


def test_rebo_pristine_graphene_cohesive_energy():
    _needs_lammps()
    atoms = graphene_sheet(4, 3)
    snap = lammps_rebo.rebo_energy(atoms.positions, atoms.cell.lengths())
    assert snap.energy / len(atoms) == pytest.approx(-7.395, abs=2e-3)   # REBO graphene (Brenner 2002)
    assert np.abs(snap.forces).max() < 1e-6


def test_rebo_forces_are_minus_the_energy_gradient():
    _needs_lammps()
    sheet = PorousSheet((1, 1), seed=4, hole_density=0.004)
    rng = np.random.default_rng(0)
    pos = sheet.positions() + rng.normal(0, 0.05, (len(sheet.positions()), 3))
    cell = [*sheet.size, 20.0]
    forces = lammps_rebo.rebo_energy(pos, cell).forces
    h = 1e-4
    for atom, axis in [(0, 0), (5, 1), (17, 2)]:
        plus, minus = pos.copy(), pos.copy()
        plus[atom, axis] += h
        minus[atom, axis] -= h
        fd = -(lammps_rebo.rebo_energy(plus, cell).energy - lammps_rebo.rebo_energy(minus, cell).energy) / (2 * h)
        assert forces[atom, axis] == pytest.approx(fd, abs=1e-4)


def _tiny_dataset(path, **kwargs):
    params = dict(n_geometries=16, n_snapshots=2, n_equilibrate=40, interval=20, blocks=(1, 1), progress=False)
    params.update(kwargs)
    return pg.generate_porous_graphene(path, **params)


def test_dataset_generation_splits_by_geometry_and_resumes(tmp_path, monkeypatch):
    _needs_lammps()
    real_job = pg._chunk_job
    calls = []

    def failing_job(args):
        calls.append(args[0])
        if args[0] > 0:
            raise KeyboardInterrupt("interrupted")
        return real_job(args)

    path = tmp_path / "pg.h5"
    monkeypatch.setattr(pg, "_chunk_job", failing_job)
    with pytest.raises(KeyboardInterrupt):
        _tiny_dataset(path)
    assert not path.exists() and len(list((tmp_path / "pg.h5.parts").glob("chunk_*.npz"))) == 1
    monkeypatch.setattr(pg, "_chunk_job", lambda args: calls.append(args[0]) or real_job(args))
    _tiny_dataset(path)
    assert calls == [0, 8, 8]                           # the finished chunk was not recomputed
    data = pg.load_porous_graphene(path)
    assert len(data) == 32 and not (tmp_path / "pg.h5.parts").exists()
    train, test = set(data.geometry[data.indices("train")]), set(data.geometry[data.indices("test")])
    assert train and test and not train & test
    assert np.all(np.isfinite(data.energy)) and data.attrs["reference"].startswith("LAMMPS REBO")
    # the stored energy is the REBO energy of the stored configuration
    snap = lammps_rebo.rebo_energy(data.config(3), data.cell)
    assert snap.energy == pytest.approx(data.energy[3], abs=1e-6)
    np.testing.assert_allclose(snap.forces, data.forces[data.offsets[3]:data.offsets[4]], atol=1e-4)
    with pytest.raises(ValueError, match="generated with"):
        _tiny_dataset(path, n_snapshots=3)


def test_truncated_dataset_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(ValueError, match=f"{bad} is unreadable or truncated.*generate again"):
        pg.load_porous_graphene(bad)


def _synthetic(n=5, seed=0):
    """A PorousGrapheneData of ``n`` random carbon configurations (no MD), as the generator lays it out."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(3, 9, n)
    total = int(counts.sum())
    return pg.PorousGrapheneData(
        positions=rng.uniform(0, 17, (total, 3)), forces=rng.normal(size=(total, 3)).astype(np.float32),
        offsets=np.concatenate([[0], np.cumsum(counts)]), energy=rng.normal(-7.4, 0.1, n) * counts,
        geometry=np.arange(n) // 2, split=np.array([0, 0, 1, 2, 2][:n], np.int8), cell=np.array([17.2, 17.0, 20.0]),
        attrs={"params": {"n_geometries": 3, "seed": seed}, "reference": "LAMMPS REBO (test)", "md": "none"})


def test_dataset_is_a_view_of_its_atoms_data():
    data = _synthetic()
    ad = data.to_atoms_data()
    assert ad is data.atoms_data and len(ad) == len(data) == 5
    assert data.positions is ad.positions and data.offsets is ad.ptr and data.forces is ad.properties["forces"]
    assert ad.units == {"positions": "A", "energy": "eV", "forces": "eV/A"} and ad.per_atom == {"forces"}
    np.testing.assert_array_equal(data.cell, [17.2, 17.0, 20.0])
    for k in range(len(data)):
        atoms = ad[k]
        assert set(atoms.numbers) == {6} and atoms.pbc.tolist() == [True, True, False]
        np.testing.assert_array_equal(atoms.positions, data.config(k))
        np.testing.assert_array_equal(atoms.cell.lengths(), data.cell)
        assert atoms.get_potential_energy() == data.energy[k]
        np.testing.assert_array_equal(atoms.get_forces(), data.forces[data.offsets[k]:data.offsets[k + 1]])
        assert atoms.info["geometry"] == data.geometry[k] and atoms.info["split"] == data.split[k]
        np.testing.assert_array_equal(data.atoms(k).positions, atoms.positions)
    assert data.indices("test").tolist() == [3, 4] and data.attrs["params"]["n_geometries"] == 3


def test_dataset_file_round_trip_and_the_layout_of_an_earlier_tfatoms(tmp_path):
    import h5py

    from tfatoms.data.cache import CacheMismatchError, LegacyCacheWarning

    data = _synthetic()
    path = pg.CACHE.store(tmp_path / "pg.h5", data.attrs["params"], data)
    again = pg.load_porous_graphene(path)
    for key in ("positions", "forces", "offsets", "energy", "geometry", "split", "cell"):
        np.testing.assert_array_equal(getattr(again, key), getattr(data, key))
    assert again.attrs["reference"] == "LAMMPS REBO (test)"
    # the flat layout an earlier tfatoms wrote: converted in place with a warning, same arrays
    old = tmp_path / "old.h5"
    with h5py.File(old, "w") as fh:
        for key in ("positions", "offsets", "energy", "geometry", "split", "cell"):
            fh[key] = getattr(data, key)
        fh["forces"] = data.forces.astype(np.float32)
        fh.attrs["params"] = json.dumps(data.attrs["params"])
        fh.attrs["reference"] = "LAMMPS REBO (test)"
        fh.attrs["md"] = "none"
    with pytest.warns(LegacyCacheWarning, match="converted in place"):
        converted = pg.load_porous_graphene(old)
    for key in ("positions", "forces", "offsets", "energy", "geometry", "split", "cell"):
        np.testing.assert_array_equal(getattr(converted, key), getattr(data, key))
    with h5py.File(old) as fh:
        assert fh.attrs["cache_format"] == 1 and fh.attrs["format"] == "tfatoms.AtomsData"
    # a missing file, and unfinished chunks of other parameters (checked before any MD is run)
    with pytest.raises(FileNotFoundError, match="generate_porous_graphene"):
        pg.load_porous_graphene(tmp_path / "none.h5")
    parts = tmp_path / "new.h5.parts"
    parts.mkdir()
    (parts / "params.json").write_text(json.dumps(dict(n_geometries=16, n_snapshots=3, seed=0, temperature=1000.0,
                                                       n_equilibrate=40, interval=20, blocks=[1, 1])))
    with pytest.raises(CacheMismatchError, match=r"new\.h5\.parts .*n_snapshots: stored 3, requested 2"):
        _tiny_dataset(tmp_path / "new.h5")


# ----------------------------------------------------------------------------- images and streamed inference

def test_sheet_images_integrate_to_the_atom_count():
    sheet = PorousSheet((2, 2), seed=9)
    pos = sheet.positions()
    src = AtomImages(np.concatenate([pos, pos[:100]]), [0, len(pos), len(pos) + 100], sheet.size, sheet.pixels,
                     numbers=6, targets=[1.0, 2.0], batch_size=3)
    images, targets, weights = src.collate([0, 1])
    per_atom = 6 * 2 * np.pi * 0.2 ** 2 / (PIXEL_SPACING[0] * PIXEL_SPACING[1])
    np.testing.assert_allclose(images[:2].sum(axis=(1, 2, 3)), np.array([len(pos), 100]) * per_atom, rtol=1e-4)
    np.testing.assert_array_equal(weights, [1, 1, 0])
    assert not images[2].any()


@pytest.fixture(scope="module")
def fresh_ednn():
    import keras

    from tfatoms.models import EDNN, dft_tile_cnn

    keras.utils.set_random_seed(0)
    net = dft_tile_cnn(128, output_offset=-77.0)
    # give the (zero-initialised) output layer weights so that predictions depend on the image
    w = net.layers[-2].get_weights()
    net.layers[-2].set_weights([np.random.default_rng(0).normal(0, 0.05, w[0].shape).astype("float32"), w[1]])
    return EDNN(net, 64, 32)


def test_streamed_prediction_equals_the_whole_image(fresh_ednn):
    sheet = PorousSheet((2, 2), seed=9)
    pos = sheet.positions()
    image = AtomImages(pos, [0, len(pos)], sheet.size, sheet.pixels, numbers=6).collate([0])[0]
    whole = float(fresh_ednn(image).numpy().ravel()[0])
    for window, batch in [(16, 256), (2, 5), (4, 7)]:
        pred = SheetPredictor.from_ednn(fresh_ednn, PIXEL_SPACING, window_tiles=window, batch_tiles=batch)
        result = pred.energy(PeriodicSheet(pos, sheet.size), energy_map=True)
        assert result.energy == pytest.approx(whole, rel=1e-6)
        assert result.tile_energies.shape == (6, 6)
        assert result.tile_energies.sum() == pytest.approx(result.energy, rel=1e-12)


def test_streamed_prediction_is_extensive(fresh_ednn):
    sheet = PorousSheet((1, 2), seed=4)
    atoms = sheet.atoms()
    pred = SheetPredictor.from_ednn(fresh_ednn, PIXEL_SPACING, window_tiles=4)
    e1 = pred.energy(PeriodicSheet(atoms.positions, sheet.size)).energy
    big = atoms.repeat((3, 2, 1))
    e6 = pred.energy(PeriodicSheet(big.positions, big.cell.lengths()[:2])).energy
    assert e6 == pytest.approx(6 * e1, rel=1e-6)
    # generated on the fly, window by window: the same energy as from the explicit atoms
    assert pred.energy(sheet).energy == pytest.approx(e1, rel=1e-6)


def test_cell_that_is_not_whole_tiles_is_rejected():
    with pytest.raises(ValueError, match="whole number"):
        TileGrid.for_cell(graphene_sheet(10, 8).cell.lengths()[:2], PIXEL_SPACING, 64, 32)
    assert TileGrid.for_cell((17.22, 4 * CELL[1]), PIXEL_SPACING, 64, 32).pixels == (BLOCK_PIXELS, BLOCK_PIXELS)


# ----------------------------------------------------------------------------- training and the pretrained model

def test_tiny_ednn_beats_the_mean_predictor_on_unseen_sheets(tmp_path):
    """A small EDNN (f = 16, c = 8 on a 4x coarser grid) trained for ~150 steps on 1-block sheets."""
    _needs_lammps()
    import keras

    from tfatoms.models import EDNN, dft_tile_cnn
    from tfatoms.train.trainer import BatchTrainer

    data = pg.load_porous_graphene(_tiny_dataset(tmp_path / "pg.h5", n_geometries=48, n_snapshots=2))
    train, test = data.indices("train"), np.concatenate([data.indices("val"), data.indices("test")])
    pixels = (BLOCK_PIXELS // 4, BLOCK_PIXELS // 4)

    def source(idx):
        pos = np.concatenate([data.config(k) for k in idx])
        return AtomImages(pos, np.concatenate([[0], np.cumsum(data.n_atoms[idx])]), data.cell[:2], pixels,
                          numbers=6, targets=data.energy[idx], batch_size=8, gamma=0.4)

    tile_area = 16 * 16 * PIXEL_SPACING[0] * PIXEL_SPACING[1] * 16
    per_area = data.energy_per_area[train]
    keras.utils.set_random_seed(0)
    model = EDNN(dft_tile_cnn(32, dense_units=64, output_scale=per_area.std() * tile_area,
                              output_offset=per_area.mean() * tile_area), 16, 8)
    trainer = BatchTrainer(model, learning_rate=3e-4)
    result = trainer.fit(source(train), source(test[:4]), tmp_path / "ckpt", max_steps=160, progress=False)
    assert result.steps == 160
    pred = trainer.predict(source(test))
    mae = np.mean(np.abs(pred - data.energy[test]))
    mean_mae = np.mean(np.abs(data.energy[train].mean() - data.energy[test]))
    assert mae < 0.3 * mean_mae, (mae, mean_mae)
    # 2x2 periodic copies of a sheet: four times its energy (the same tiles, four times)
    atoms = data.atoms(int(test[0]))
    pred1 = SheetPredictor.from_ednn(model, np.array(PIXEL_SPACING) * 4, gamma=0.4)
    e1 = pred1.energy(PeriodicSheet(atoms.positions, data.cell[:2])).energy
    assert e1 == pytest.approx(pred[0], rel=1e-5)
    big = atoms.repeat((2, 2, 1))
    assert pred1.energy(PeriodicSheet(big.positions, big.cell.lengths()[:2])).energy == pytest.approx(4 * e1, rel=1e-6)


def test_pretrained_save_load_round_trip_and_damage_detection(tmp_path, fresh_ednn):
    from tfatoms.pretrained import load_ednn, predict_check_sheet, save_ednn

    meta = dict(spacing=list(PIXEL_SPACING), gamma=0.2, tile_network=dict(tile_size=128, output_offset=-77.0))
    save_ednn(fresh_ednn, meta, "m", tmp_path, check_sheet=((1, 1), 3))
    loaded, got = load_ednn("m", tmp_path)          # recomputes the stored check energy
    assert got["focus"] == 64 and got["context"] == 32
    assert predict_check_sheet(loaded, got) == pytest.approx(got["check"]["energy"], rel=1e-5)
    meta["check"] = dict(got["check"], energy=got["check"]["energy"] + 1.0)
    save_ednn(loaded, meta, "m", tmp_path)
    with pytest.raises(ValueError, match="damaged"):
        load_ednn("m", tmp_path)
    with pytest.raises(FileNotFoundError):
        load_ednn("absent", tmp_path)


def test_packaged_pretrained_model_reproduces_its_stored_prediction():
    from tfatoms.pretrained import PRETRAINED_DIR, load_ednn, predict_check_sheet

    if not (PRETRAINED_DIR / "ednn_porous_graphene.npz").exists():
        pytest.skip("no packaged pretrained model")
    model, meta = load_ednn(check=False)
    assert (meta["focus"], meta["context"], meta["gamma"]) == (64, 32, 0.2)
    np.testing.assert_allclose(meta["spacing"], PIXEL_SPACING)
    assert predict_check_sheet(model, meta) == pytest.approx(meta["check"]["energy"], rel=1e-5)
    assert model.tile_network.count_params() > 8_000_000
