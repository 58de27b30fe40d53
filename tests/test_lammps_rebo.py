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
