"""SheetPredictor.energy takes what a user has (sheet, positions + cell, ase.Atoms); empty sheets; batches
sized to the work; read_sheet refuses duplicate atoms and wrong-length atomic numbers."""
import numpy as np
import pytest

from tfatoms.data.sheets import PIXEL_SPACING, PeriodicSheet, PorousSheet, read_sheet
from tfatoms.inference.parallel import distributed_energy
from tfatoms.inference.sheet import SheetPredictor


@pytest.fixture(scope="module")
def model():
    import keras

    from tfatoms.models import EDNN, dft_tile_cnn

    keras.utils.set_random_seed(2)
    net = dft_tile_cnn(128, output_offset=-77.0)
    w = net.layers[-2].get_weights()      # a non-zero head so that energies depend on the image
    net.layers[-2].set_weights([np.random.default_rng(2).normal(0, 0.05, w[0].shape).astype("float32"), w[1]])
    return EDNN(net, 64, 32)


@pytest.fixture(scope="module")
def sheet():
    return PorousSheet((1, 2), seed=4)            # 3 x 6 = 18 tiles


def test_energy_takes_a_sheet_positions_with_a_cell_or_atoms(model, sheet):
    pred = SheetPredictor.from_ednn(model, PIXEL_SPACING)
    generated = pred.energy(sheet)
    pos, (lx, ly) = sheet.positions(), sheet.size
    atoms = sheet.atoms()
    explicit = {
        "positions, (lx, ly)": pred.energy(pos, sheet.size),        # the README's call
        "positions, 3 lengths": pred.energy(pos, (lx, ly, 20.0)),
        "positions, 3 x 3": pred.energy(pos, np.diag([lx, ly, 20.0])),
        "xy, numbers": pred.energy(pos[:, :2], [lx, ly], numbers=np.full(len(pos), 6)),
        "ase.Atoms": pred.energy(atoms),
        "PeriodicSheet": pred.energy(PeriodicSheet(pos, sheet.size)),
    }
    for name, r in explicit.items():
        assert r.n_atoms == generated.n_atoms == len(pos), name
        assert r.n_tiles == 18, name
        # explicit atoms are wrapped into the cell, generated ones are not: the same image to round-off
        assert r.energy == pytest.approx(generated.energy, rel=1e-9), name


@pytest.mark.parametrize("args, kwargs, error, message", [
    (("sheet.xyz",), {}, TypeError, "got str 'sheet.xyz' (to read a sheet file use"),
    ((None,), {}, TypeError, "got NoneType"),
    ((3.5,), {}, TypeError, "got float"),
    (({"positions": []},), {}, TypeError, "got dict"),
    (("POS",), {}, TypeError, "needs the periodic cell"),
    (("POS", "CELL3x3_SHEARED"), {}, ValueError, "cell must be orthogonal"),
    (("POS", (10.0,)), {}, ValueError, "cell must be (lx, ly), 3 lengths or a 3 x 3 matrix"),
    (("POS", (-1.0, 5.0)), {}, ValueError, "cell lengths must be positive"),
    (("POS", "abc"), {}, TypeError, "cell must be"),
    (([["a", "b", "c"]], (1.0, 1.0)), {}, ValueError, "positions must be"),
    (("POS", "SIZE"), {"numbers": [6, 6]}, ValueError, "numbers has 2 entries but there are"),
    (("SHEET", "SIZE"), {}, TypeError, "carries its own cell"),
    (("ATOMS", "SIZE"), {}, TypeError, "ase.Atoms carries its own cell"),
])
def test_energy_names_what_it_cannot_take(model, sheet, args, kwargs, error, message):
    pred = SheetPredictor.from_ednn(model, PIXEL_SPACING)
    lx, ly = sheet.size
    subs = {"POS": sheet.positions(), "SIZE": sheet.size, "SHEET": sheet, "ATOMS": sheet.atoms(),
            "CELL3x3_SHEARED": [[lx, 0, 0], [1.0, ly, 0], [0, 0, 20.0]]}
    args = tuple(subs.get(a, a) if isinstance(a, str) else a for a in args)
    with pytest.raises(error) as exc:
        pred.energy(*args, **kwargs)
    assert message in str(exc.value)


def test_empty_sheet_is_an_error_unless_vacuum_is_asked_for(model, sheet):
    pred = SheetPredictor.from_ednn(model, PIXEL_SPACING)
    empty = np.zeros((0, 3))
    for call in (lambda **k: pred.energy(empty, sheet.size, **k),
                 lambda **k: pred.energy(PeriodicSheet(empty, sheet.size), **k),
                 lambda **k: distributed_energy(pred, PeriodicSheet(empty, sheet.size), **k)):
        with pytest.raises(ValueError, match="sheet has no atoms"):
            call()
    vacuum = pred.energy(empty, sheet.size, allow_empty=True)
    # the model's energy of vacuum: 18 empty tiles
    t = 64 + 2 * 32
    one_empty_tile = float(model.tile_network(np.zeros((1, t, t, 1), np.float32)).numpy().ravel()[0])
    assert vacuum.n_atoms == 0 and vacuum.n_tiles == 18
    assert vacuum.energy == pytest.approx(18 * one_empty_tile, rel=1e-6)
    together = distributed_energy(pred, PeriodicSheet(empty, sheet.size), allow_empty=True)
    assert together["energy_eV"] == pytest.approx(vacuum.energy, rel=1e-12)


def test_batches_are_sized_to_the_work(model, sheet):
    pred = SheetPredictor.from_ednn(model, PIXEL_SPACING)                  # batch_tiles=256 by default
    net, shapes = pred._net, []
    pred._net = lambda x: shapes.append(tuple(x.shape)) or net(x)
    small = pred.energy(sheet)
    assert [s[0] for s in shapes] == [18]                 # 18 tiles evaluated, not 256 with 238 zero-padded
    # the same energy as the old fixed 256-tile batch (zero padding), to float32 round-off
    tiles = np.zeros((256, 128, 128, 1), np.float32)
    from tfatoms.inference.sheet import window_image, window_tiles

    grid = pred.grid(sheet)
    (w,) = grid.windows(16)
    pos, nums = sheet.window_atoms(*grid.window_bounds(w, pred.gamma))
    tiles[:18] = window_tiles(window_image(pos, nums, grid, w, pred.gamma), 64, 32)
    padded = float(np.sum(model.tile_network(tiles).numpy().ravel()[:18].astype(np.float64)))
    assert small.energy == pytest.approx(padded, rel=1e-6)
    # a cap below the window's tiles splits it into full batches and a short last one, no padding
    capped = SheetPredictor.from_ednn(model, PIXEL_SPACING, batch_tiles=7)
    net7, shapes7 = capped._net, []
    capped._net = lambda x: shapes7.append(tuple(x.shape)) or net7(x)
    assert capped.energy(sheet).energy == pytest.approx(small.energy, rel=1e-6)
    assert [s[0] for s in shapes7] == [7, 7, 4]
    # every batch size runs the one traced function: sizing batches to the work never retraces
    pred.energy(PorousSheet((2, 2), seed=1), allow_empty=False)          # 36 tiles
    pred.warm_up()
    assert net.experimental_get_tracing_count() == 1
    assert net7.experimental_get_tracing_count() == 1


def _h5(path, positions, cell, numbers=None):
    import h5py

    with h5py.File(path, "w") as fh:
        fh["positions"], fh["cell"] = positions, cell
        if numbers is not None:
            fh["numbers"] = numbers
    return path


def test_read_sheet_refuses_duplicate_atoms_naming_the_file_and_atoms(tmp_path, sheet):
    import ase.io

    atoms = sheet.atoms()
    pos, cell = atoms.positions, atoms.cell.lengths()
    n = len(pos)
    # an exact copy of atom 5 appended as atom n
    path = _h5(tmp_path / "dup.h5", np.vstack([pos, pos[5:6]]), cell)
    with pytest.raises(ValueError, match=rf"dup\.h5: duplicate atoms: atoms 5 and {n} are 0 A apart"):
        read_sheet(path)
    # a copy 0.05 A away across the periodic boundary (x = lx - 0.02 next to an atom at x = 0.03)
    edge = int(np.argmin(pos[:, 0]))
    moved = pos.copy()
    moved[edge, 0] = 0.03
    twin = moved[edge].copy()
    twin[0] = cell[0] - 0.02
    dup = atoms.copy()
    dup.positions = moved
    dup.append("C")
    dup.positions[-1] = twin
    ase.io.write(tmp_path / "edge.xyz", dup, format="extxyz")
    with pytest.raises(ValueError, match=rf"edge\.xyz: duplicate atoms: atoms {edge} and {n} are 0.05 A apart"):
        read_sheet(tmp_path / "edge.xyz")
    # the same sheet without the twin is accepted
    assert len(read_sheet(_h5(tmp_path / "ok.h5", pos, cell))) == n


def test_read_sheet_names_a_wrong_length_numbers_dataset(tmp_path, sheet):
    atoms = sheet.atoms()
    path = _h5(tmp_path / "short.h5", atoms.positions, atoms.cell.lengths(), numbers=np.full(5, 6))
    with pytest.raises(ValueError, match=r"short\.h5: dataset 'numbers' has shape \(5,\) but dataset 'positions' "
                                         rf"has {len(atoms)} atoms"):
        read_sheet(path)
    path = _h5(tmp_path / "zero.h5", atoms.positions, atoms.cell.lengths(), numbers=np.zeros(len(atoms), int))
    with pytest.raises(ValueError, match=r"zero\.h5: unknown element: numbers\[0\] = 0"):
        read_sheet(path)
    assert len(read_sheet(_h5(tmp_path / "ok.h5", atoms.positions, atoms.cell.lengths(),
                              numbers=np.full(len(atoms), 6)))) == len(atoms)


def test_content_hash_changes_with_the_atoms(sheet):
    pos = sheet.positions()
    a = PeriodicSheet(pos, sheet.size).content_hash()
    assert PeriodicSheet(pos.copy(), sheet.size).content_hash() == a
    assert PeriodicSheet(pos[1:], sheet.size).content_hash() != a
    assert PeriodicSheet(pos, sheet.size, numbers=7).content_hash() != a
    assert PorousSheet((1, 2), seed=4).content_hash() == sheet.content_hash() != PorousSheet((1, 2), 5).content_hash()
