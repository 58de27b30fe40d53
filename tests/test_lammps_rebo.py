"""REBO reference (``tfatoms.data.lammps_rebo``): ReboSheet on the package's one LAMMPS wrapper
(``reference_calculator("lammps:rebo")``) gives the porous graphene data of the former stand-alone LAMMPS set-up,
and works in triclinic (hexagonal) cells."""
import numpy as np
import pytest

lammps_rebo = pytest.importorskip("tfatoms.data.lammps_rebo")


@pytest.fixture(autouse=True)
def _needs_lammps():
    try:
        lammps_rebo.import_lammps()
    except ImportError as exc:
        pytest.skip(str(exc))


# Computed by the former ReboSheet (its own LAMMPS instance: orthogonal `region block`, z from -lz/2 to lz/2,
# mass 12.011; tfatoms/data/lammps_rebo.py at commit 1622268), on 2026-12-02, with
#   python -c "from tfatoms.data.porous_graphene import _chunk_job; print([repr(float(e)) for e in _chunk_job((0, 3,
#     dict(seed=0, temperature=1000.0, n_snapshots=8, n_equilibrate=600, interval=100, blocks=[2, 2])))['energy']])"
# and, for the single point, rebo_energy(s.positions(), [*s.size, VACUUM]) of s = starting_geometry(0).
OLD_MD_ENERGIES = [  # eV; starting geometries 0, 1, 2 (392, 417, 337 atoms), 8 snapshots each
    -2794.3409731922075, -2796.77941753639, -2796.204823476844, -2793.5019189665672, -2790.8591666013144,
    -2795.7916605767464, -2796.321393732148, -2793.592828803647,
    -2992.8157745380913, -2994.9485552509473, -2994.4924895196937, -2992.329671582577, -2991.8757428383974,
    -2991.7241771215076, -2996.0048757245527, -2997.341381725757,
    -2301.668744516306, -2300.8615970778196, -2301.141380572865, -2300.046097581771, -2301.726023377001,
    -2303.704959171926, -2302.289546485578, -2302.9261145826217,
]
OLD_SINGLE_POINT = (-2842.41966160937, 90.143106298989)   # starting geometry 0: energy (eV), sum |F| (eV/A)


def test_porous_graphene_data_are_those_of_the_former_lammps_setup(tmp_path):
    """Same MD (LAMMPS' Nose-Hoover, same seeds, same carbon mass), same energies to 1e-10 eV after 1,400 steps.

    Not bit for bit: LAMMPSlib's box is a prism from z = 0 (the former one an orthogonal block centred on z = 0),
    which moves the last bit of some coordinates; measured difference at most 1.4e-11 eV."""
    from tfatoms.data import porous_graphene as pg

    path = pg.generate_porous_graphene(tmp_path / "pg.h5", n_geometries=3, n_snapshots=8, seed=0,
                                       n_equilibrate=600, interval=100, progress=False)
    data = pg.load_porous_graphene(path)
    assert data.n_atoms.tolist() == [392] * 8 + [417] * 8 + [337] * 8
    np.testing.assert_allclose(data.energy, OLD_MD_ENERGIES, rtol=0, atol=1e-10)
    # snapshot positions in the former frame: x, y in the cell as LAMMPS last wrapped them (atoms may have moved a
    # little past an edge since), the sheet at z = 0 (not wrapped to z = lz)
    lx, ly, _ = data.cell
    assert -1 < data.positions[:, 0].min() and data.positions[:, 0].max() < lx + 1
    assert -1 < data.positions[:, 1].min() and data.positions[:, 1].max() < ly + 1
    assert np.abs(data.positions[:, 2]).max() < 5.0         # 20 A of vacuum: wrapped atoms would be near 20


def test_single_point_equals_the_former_setup():
    from tfatoms.data.porous_graphene import starting_geometry
    from tfatoms.data.sheets import VACUUM

    sheet = starting_geometry(0, 0, (2, 2))
    snap = lammps_rebo.rebo_energy(sheet.positions(), [*sheet.size, VACUUM])
    assert snap.energy == pytest.approx(OLD_SINGLE_POINT[0], abs=1e-10)
    assert np.abs(snap.forces).sum() == pytest.approx(OLD_SINGLE_POINT[1], abs=1e-9)
    np.testing.assert_allclose(snap.positions, sheet.positions(), rtol=0, atol=1e-12)


def _hexagonal_graphene(n: int, angle_deg: float = 0.0, rattle: float = 0.0, seed: int = 0):
    """``n x n`` primitive (2-atom, 60-degree) graphene cells, rotated in-plane by ``angle_deg``: a triclinic cell
    that LAMMPSlib must rotate into LAMMPS' form (a along x) unless the angle is 0."""
    from tfatoms.data.sheets import A_LATTICE, VACUUM

    a1, a2 = np.array([A_LATTICE, 0.0, 0.0]), np.array([A_LATTICE / 2, A_LATTICE * np.sqrt(3) / 2, 0.0])
    basis = np.array([np.zeros(3), (a1 + a2) / 3])
    pos = np.array([i * a1 + j * a2 + b for i in range(n) for j in range(n) for b in basis])
    cell = np.array([n * a1, n * a2, [0.0, 0.0, VACUUM]])
    t = np.radians(angle_deg)
    rot = np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])
    pos, cell = pos @ rot.T, cell @ rot.T
    pos += np.random.default_rng(seed).normal(0.0, rattle, pos.shape)
    return pos, cell


def _wrapper(pos, cell):
    """Energy and forces of the ``lammps:rebo`` reference calculator, the wrapper ReboSheet is built on."""
    from ase import Atoms

    from tfatoms.data.reference import reference_calculator

    atoms = Atoms(numbers=np.full(len(pos), 6), positions=pos, cell=cell, pbc=True)
    atoms.calc = reference_calculator("lammps:rebo", pair_coeff="* * CH.rebo C")
    return atoms.get_potential_energy(), atoms.get_forces()


@pytest.mark.parametrize("angle", [0.0, 25.0])
def test_triclinic_hexagonal_cell_equals_the_lammps_wrapper(angle):
    pos, cell = _hexagonal_graphene(4, angle, rattle=0.05, seed=3)
    snap = lammps_rebo.rebo_energy(pos, cell)
    energy, forces = _wrapper(pos, cell)
    assert snap.energy == pytest.approx(energy, abs=1e-10)
    np.testing.assert_allclose(snap.forces, forces, rtol=0, atol=1e-10)   # in the frame of the input (rotated)
    shift = np.linalg.solve(cell.T, (snap.positions - pos).T).T       # wrapped into the cell: lattice translations
    np.testing.assert_allclose(shift, np.round(shift), rtol=0, atol=1e-12)
    assert np.abs(forces).max() > 0.1                                    # rattled: the forces are not all zero


def test_hexagonal_and_orthogonal_cells_give_the_same_graphene():
    from tfatoms.data.sheets import graphene_sheet

    hexagonal = lammps_rebo.rebo_energy(*_hexagonal_graphene(6, 40.0))
    sheet = graphene_sheet(4, 3)
    orthogonal = lammps_rebo.rebo_energy(sheet.positions, sheet.cell.lengths())
    assert hexagonal.energy / 72 == pytest.approx(orthogonal.energy / len(sheet), abs=1e-10)
    assert np.abs(hexagonal.forces).max() < 1e-6


def test_md_in_a_triclinic_cell_keeps_the_input_frame():
    pos, cell = _hexagonal_graphene(4, 25.0, rattle=0.02, seed=1)
    with lammps_rebo.ReboSheet(pos, cell) as sheet:
        snaps = list(sheet.md(temperature=600.0, n_snapshots=2, n_equilibrate=20, interval=20, seed=5))
        again = sheet.single_point()
    for snap in snaps:
        energy, forces = _wrapper(snap.positions, cell)          # the snapshot's numbers belong to its positions
        assert snap.energy == pytest.approx(energy, abs=1e-9)
        np.testing.assert_allclose(snap.forces, forces, rtol=0, atol=1e-8)
        frac = np.linalg.solve(cell.T, snap.positions.T).T
        assert np.all((frac[:, :2] > -0.1) & (frac[:, :2] < 1.1)) and np.all(np.abs(frac[:, 2]) < 0.1)
    assert again.energy == snaps[-1].energy and snaps[0].energy != snaps[1].energy


def test_bad_cells_are_refused():
    pos = np.zeros((2, 3))
    pos[1, 0] = 1.4
    for cell, message in [([10.0, 10.0], "cell must be a \\(3, 3\\) matrix or 3 lengths"),
                          ([10.0, 10.0, 0.0], "singular"), ([10.0, -10.0, 20.0], "right-handed"),
                          ([10.0, np.nan, 20.0], "NaN")]:
        with pytest.raises(ValueError, match=message):
            lammps_rebo.ReboSheet(pos, cell)
    with pytest.raises(ValueError, match="no atoms"):
        lammps_rebo.ReboSheet(np.zeros((0, 3)), [10.0, 10.0, 20.0])
