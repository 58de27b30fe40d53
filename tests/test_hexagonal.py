"""The hexagonal sheets of CNNAS sec. 2.2: 60 atoms in 12.53 x 13.02 x 10 A, stoichiometry, defects, z fixed."""
from collections import Counter

import numpy as np
import pytest

from tfatoms.data.hexagonal import PAPER_CELL, hexagonal_sheet, nearest_neighbour_bonds, ring_sizes


@pytest.mark.parametrize("kind,counts", [
    ("graphene", {6: 60}), ("hbn", {5: 30, 7: 30}), ("heterostructure", {6: 30, 5: 15, 7: 15}),
])
def test_pristine_sheets_fill_the_papers_cell(kind, counts):
    atoms = hexagonal_sheet(kind)
    np.testing.assert_allclose(atoms.cell.lengths(), PAPER_CELL, atol=0.005)
    assert dict(Counter(atoms.numbers.tolist())) == counts
    assert np.all(atoms.positions[:, 2] == 0.0)
    bonds = nearest_neighbour_bonds(atoms)
    assert len(bonds) == 90                                       # 3 neighbours each
    np.testing.assert_allclose(atoms.get_distances(bonds[:, 0], bonds[:, 1], mic=True), 2.506 / np.sqrt(3), atol=1e-3)
    assert ring_sizes(atoms) == {6: 30}
    if kind == "hbn":                                             # every bond joins B and N
        z = atoms.numbers[bonds]
        assert set(map(tuple, np.sort(z, axis=1))) == {(5, 7)}
    if kind == "heterostructure":                                 # graphene on the left half
        assert np.all(atoms.numbers[atoms.positions[:, 0] < PAPER_CELL[0] / 2 - 1e-6] == 6)


@pytest.mark.parametrize("kind", ["graphene", "hbn", "heterostructure"])
def test_vacancy_and_stone_wales(kind):
    vac = hexagonal_sheet(kind, "vacancy", seed=3)
    assert len(vac) == 59 and vac.info["defect"] == "vacancy"
    assert hexagonal_sheet(kind, "vacancy", seed=3).positions.tolist() == vac.positions.tolist()   # seeded
    sw = hexagonal_sheet(kind, "stone_wales", seed=5)
    assert len(sw) == 60
    assert ring_sizes(sw) == {5: 2, 6: 26, 7: 2}                  # four hexagons become 5-7-7-5
    assert np.all(sw.positions[:, 2] == 0.0)
    assert len(nearest_neighbour_bonds(sw)) == 90
    sites = {tuple(np.round(hexagonal_sheet(kind, "stone_wales", seed=s).positions.sum(0), 6)) for s in range(6)}
    assert len(sites) > 1                                         # the seed moves the defect


def test_z_stays_fixed_in_md_and_bad_arguments():
    from ase.calculators.lj import LennardJones
    from ase.md.verlet import VelocityVerlet

    atoms = hexagonal_sheet("graphene")
    atoms.calc = LennardJones(sigma=1.3, epsilon=0.01, rc=3.0)
    atoms.set_velocities(np.random.default_rng(0).normal(0, 0.01, (60, 3)))
    VelocityVerlet(atoms, timestep=1.0).run(10)
    assert np.all(atoms.positions[:, 2] == 0.0) and np.abs(atoms.positions[:, :2] -
                                                          hexagonal_sheet("graphene").positions[:, :2]).max() > 0
    with pytest.raises(ValueError, match="kind must be one of"):
        hexagonal_sheet("mos2")
    with pytest.raises(ValueError, match="defect must be one of"):
        hexagonal_sheet("graphene", "divacancy")


def test_restarted_md_protocol_resumes_and_keeps_z(tmp_path):
    from tfatoms.data.hexagonal import restarted_md

    sheet = hexagonal_sheet("hbn", "vacancy", seed=1)
    kwargs = dict(calculator="lj", calculator_kwargs=dict(sigma=1.3, epsilon=0.01, rc=3.0), runs=3, steps_per_run=20,
                  interval=10, seed=4, progress=False)
    data = restarted_md(sheet, checkpoint=tmp_path / "ck", **kwargs)
    assert len(data) == 6 and data.properties["run"].tolist() == [0, 0, 1, 1, 2, 2]
    assert np.all(data.positions[:, 2] == 0.0)
    assert {"energy", "forces"} <= set(data.properties)
    # each run starts from the previous run's last frame, translated in x and y: other absolute positions
    assert not np.allclose(data[2].positions, data[1].positions, atol=0.5)
    again = restarted_md(sheet, checkpoint=tmp_path / "ck", **kwargs)      # finished: read back, not rerun
    np.testing.assert_array_equal(again.positions, data.positions)
    np.testing.assert_array_equal(again.properties["energy"], data.properties["energy"])
    fresh = restarted_md(sheet, **kwargs)                                  # no checkpoint: the same series
    np.testing.assert_allclose(fresh.properties["energy"], data.properties["energy"], rtol=0, atol=1e-10)
