"""TfatomsCalculator: the ASE calculator around tfatoms energy models (issue 15, item 5).

Energies, forces and stress equal the Potential wrapper on the same batch and central finite
differences of the calculator's own energy (float64, molecule and triclinic cell, stress against
ASE's numerical stress); the skin neighbour list is reused across MD steps without changing a
result; energy and forces are continuous where a pair crosses the cutoff; ase.optimize,
ase.md and ase.vibrations run on it; a saved model gives identical results; bad input is a
clear error.
"""
import ase
import ase.build
import keras
import numpy as np
import pytest
from ase.calculators.calculator import PropertyNotImplementedError
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS
from ase.stress import full_3x3_to_voigt_6_stress
from ase.units import fs
from ase.vibrations import Vibrations

from tfatoms.calculators import TfatomsCalculator, model_cutoff
from tfatoms.data.reference import thermalize
from tfatoms.models import DTNN, Potential, SchNet, example_batch
from tfatoms.representations import build_batch

CUTOFF = 3.0

try:                                   # ase >= 3.24
    from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
except ImportError:                    # ase 3.23: the Calculator methods
    def calculate_numerical_forces(atoms, eps, iatoms=None, icarts=None):
        forces = atoms.calc.calculate_numerical_forces(atoms, d=eps)
        return forces if iatoms is None else forces[np.ix_(list(iatoms), list(icarts))]

    def calculate_numerical_stress(atoms, eps):
        return atoms.calc.calculate_numerical_stress(atoms, d=eps)


def small_schnet(cutoff=CUTOFF, seed=0, **kwargs):
    """A small float64 SchNet (F = 16, T = 2), cosine cutoff ``cutoff`` (None: all pairs)."""
    keras.utils.set_random_seed(seed)
    kwargs.setdefault("max_z", 20)
    return SchNet(n_features=16, n_interactions=2, cutoff=cutoff, rbf_cutoff=6.0, rbf_spacing=0.2,
                  dtype="float64", **kwargs)


@pytest.fixture(scope="module")
def schnet():
    return small_schnet()


@pytest.fixture(scope="module")
def schnet_all_pairs():
    return small_schnet(cutoff=None, seed=1)


def ethanol():
    return ase.build.molecule("CH3CH2OH")


def triclinic_si():
    """Rattled, sheared 4-atom Si cell: no two cell vectors orthogonal."""
    atoms = ase.build.bulk("Si", "diamond", a=5.43) * (2, 1, 1)
    cell = atoms.cell[:] @ np.array([[1.0, 0.03, -0.02], [0.01, 0.97, 0.04], [0.0, 0.05, 1.02]])
    atoms.set_cell(cell, scale_atoms=True)
    atoms.rattle(0.08, seed=3)
    return atoms


def potential_reference(model, atoms, cutoff, stress=False):
    out = Potential(model, compute_stress=stress)(build_batch([atoms], cutoff=cutoff, dtype=np.float64))
    return {k: v.numpy() for k, v in out.items()}


def test_model_cutoff_is_read_from_the_model(schnet, schnet_all_pairs):
    assert model_cutoff(schnet) == CUTOFF and model_cutoff(Potential(schnet)) == CUTOFF
    assert model_cutoff(schnet_all_pairs) is None and model_cutoff(DTNN(n_interactions=1)) is None
    assert TfatomsCalculator(schnet).cutoff == CUTOFF
    assert TfatomsCalculator(schnet, cutoff=CUTOFF).cutoff == CUTOFF
    assert TfatomsCalculator(schnet).dtype == np.float64
    with pytest.raises(ValueError, match=r"cutoff=4.0 A contradicts the cutoff of the SchNet.*3.0 A"):
        TfatomsCalculator(schnet, cutoff=4.0)


def test_float32_model(schnet):
    keras.utils.set_random_seed(0)
    model = SchNet(n_features=16, n_interactions=2, cutoff=CUTOFF, rbf_cutoff=6.0, rbf_spacing=0.2, max_z=20)
    for m in (model, schnet):
        m(example_batch(m.compute_dtype))     # build, so the weights exist
    model.set_weights(schnet.get_weights())
    atoms = ethanol()
    atoms.calc = TfatomsCalculator(model)
    assert atoms.calc.dtype == np.float32
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    assert forces.dtype == np.float64
    out = Potential(model)(build_batch([atoms], cutoff=CUTOFF, dtype=np.float32))
    np.testing.assert_allclose(energy, out["energy"].numpy()[0], rtol=1e-6)
    np.testing.assert_allclose(forces, out["forces"].numpy(), rtol=1e-4, atol=1e-6)
    # against the float64 model with the same weights: float32 round-off only
    atoms.calc = TfatomsCalculator(schnet)
    np.testing.assert_allclose(energy, atoms.get_potential_energy(), rtol=1e-5)
    np.testing.assert_allclose(forces, atoms.get_forces(), rtol=0, atol=1e-4)


@pytest.mark.parametrize("which", ["cutoff", "all_pairs"])
def test_molecule_matches_potential_and_finite_differences(which, schnet, schnet_all_pairs):
    model, cutoff = (schnet, CUTOFF) if which == "cutoff" else (schnet_all_pairs, None)
    atoms = ethanol()
    atoms.rattle(0.05, seed=1)
    atoms.calc = TfatomsCalculator(model)
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    ref = potential_reference(model, atoms, cutoff)
    assert abs(energy) > 1e-3 and np.abs(forces).max() > 1e-3
    np.testing.assert_allclose(energy, ref["energy"][0], rtol=1e-12)
    np.testing.assert_allclose(forces, ref["forces"], rtol=1e-10, atol=1e-12)
    assert atoms.get_potential_energy(force_consistent=True) == energy   # free_energy
    np.testing.assert_allclose(forces, calculate_numerical_forces(atoms, eps=1e-5), rtol=0, atol=1e-8)
    with pytest.raises(PropertyNotImplementedError, match="periodic along all three axes"):
        atoms.get_stress()


def test_triclinic_cell_matches_potential_and_finite_differences(schnet):
    atoms = triclinic_si()
    calc = TfatomsCalculator(schnet)
    atoms.calc = calc
    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    ref = potential_reference(schnet, atoms, CUTOFF, stress=True)
    np.testing.assert_allclose(energy, ref["energy"][0], rtol=1e-12)
    np.testing.assert_allclose(forces, ref["forces"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stress, full_3x3_to_voigt_6_stress(ref["stress"][0]), rtol=1e-10, atol=1e-12)
    assert np.abs(forces).max() > 1e-3 and np.abs(stress).max() > 1e-4
    np.testing.assert_allclose(forces, calculate_numerical_forces(atoms, eps=1e-5), rtol=0, atol=1e-8)
    np.testing.assert_allclose(stress, calculate_numerical_stress(atoms, eps=1e-6), rtol=0, atol=1e-8)

    # A move smaller than skin / 2 reuses the pairs and equals a fresh search; wrapping the atoms
    # (a move by cell vectors) searches again and changes nothing.
    atoms.get_potential_energy()     # the search for the restored cell (the last strain changed it)
    builds = calc.n_neighbor_builds
    atoms.rattle(0.1, seed=5)
    moved = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    assert calc.n_neighbor_builds == builds
    fresh = atoms.copy()
    fresh.calc = TfatomsCalculator(schnet)
    for a, b in zip(moved, (fresh.get_potential_energy(), fresh.get_forces(), fresh.get_stress())):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    atoms.positions += atoms.cell[0] - 2 * atoms.cell[2]
    np.testing.assert_allclose(atoms.get_potential_energy(), moved[0], rtol=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), moved[1], rtol=1e-10, atol=1e-12)
    assert calc.n_neighbor_builds == builds + 1


def test_mixed_pbc_slab(schnet):
    atoms = ase.build.fcc111("Al", size=(2, 2, 2), vacuum=4.0, a=4.05)   # pbc = (True, True, False)
    atoms.rattle(0.05, seed=2)
    atoms.calc = TfatomsCalculator(schnet)
    ref = potential_reference(schnet, atoms, CUTOFF)
    np.testing.assert_allclose(atoms.get_potential_energy(), ref["energy"][0], rtol=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), ref["forces"], rtol=1e-10, atol=1e-12)
    numerical = calculate_numerical_forces(atoms, eps=1e-5, iatoms=[0, 5], icarts=[0, 2])
    np.testing.assert_allclose(atoms.get_forces()[[0, 5]][:, [0, 2]], numerical, rtol=0, atol=1e-8)
    with pytest.raises(PropertyNotImplementedError, match="pbc=\\[True, True, False\\]"):
        atoms.get_stress()


@pytest.mark.parametrize("which", ["cosine_cutoff", "truncated"])
def test_md_reuses_the_skin_list_without_changing_results(which, schnet, schnet_all_pairs):
    """Reuse is exact for any model: with a cosine cutoff, and for a model without a cutoff
    function whose pairs are truncated (there pairs in the skin would change the energy)."""
    model, cutoff = (schnet, None) if which == "cosine_cutoff" else (schnet_all_pairs, CUTOFF)
    atoms = ethanol()
    thermalize(atoms, 300, np.random.default_rng(0), stationary=False)
    calc = TfatomsCalculator(model, skin=0.5, cutoff=cutoff)
    atoms.calc = calc
    VelocityVerlet(atoms, timestep=0.5 * fs).run(20)
    assert 1 <= calc.n_neighbor_builds <= 3          # 21 force calls; measured: 2 searches
    assert calc.tracing_count == 1                   # one compiled function for every pair count
    fresh = atoms.copy()
    fresh.calc = TfatomsCalculator(model, skin=0.0, cutoff=cutoff)
    np.testing.assert_allclose(atoms.get_potential_energy(), fresh.get_potential_energy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(atoms.get_forces(), fresh.get_forces(), rtol=0, atol=1e-10)
    if which == "truncated":   # the skin pairs are there, and would count if not filtered
        pairs = calc._pairs
        d = np.linalg.norm(atoms.positions[pairs.idx_j] - atoms.positions[pairs.idx_i], axis=1)
        assert np.any(d >= CUTOFF)


def test_energy_and_forces_continuous_across_the_cutoff(schnet):
    """A C-O pair pulled through the 3 A cosine cutoff, one calculator (its skin list kept)."""
    calc = TfatomsCalculator(schnet, skin=0.5)
    steps = np.array([-1e-4, -1e-5, 0.0, 1e-5, 1e-4])
    energies, forces = [], []
    for d in CUTOFF + steps:
        atoms = ase.Atoms("CO", positions=[[0, 0, 0], [0, 0, d]], calculator=calc)
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
    energies, forces = np.array(energies), np.array(forces)
    assert calc.n_neighbor_builds == 1
    isolated = sum(ase.Atoms(s, calculator=calc).get_potential_energy() for s in "CO")
    np.testing.assert_allclose(energies[2:], isolated, rtol=0, atol=1e-12)   # d >= cutoff: no pair
    assert np.abs(forces[2:]).max() == 0.0
    # across the cutoff (3 - 1e-5 A -> 3 + 1e-5 A) nothing jumps
    assert abs(energies[1] - energies[3]) < 1e-6
    assert np.abs(forces[1] - forces[3]).max() < 1e-6
    # the pair still acts just inside, and its force vanishes linearly (f'(rc) = 0 for the cosine cutoff)
    assert energies[0] != isolated and np.abs(forces[0]).max() > 0
    ratio = np.abs(forces[0]).max() / np.abs(forces[1]).max()
    assert 5 < ratio < 20
    np.testing.assert_allclose(forces[:, 0], -forces[:, 1], rtol=1e-12, atol=0)   # Newton's third law


def test_isolated_atom_is_valid(schnet):
    atoms = ethanol() + ase.Atoms("H", positions=[[20.0, 0.0, 0.0]])
    atoms.calc = TfatomsCalculator(schnet)
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    assert np.isfinite(energy) and np.all(np.isfinite(forces))
    assert np.all(forces[-1] == 0.0)
    alone = [ethanol(), ase.Atoms("H")]
    for a in alone:
        a.calc = TfatomsCalculator(schnet)
    np.testing.assert_allclose(energy, sum(a.get_potential_energy() for a in alone), rtol=1e-12)
    np.testing.assert_allclose(forces[:-1], alone[0].get_forces(), rtol=1e-10, atol=1e-12)


def test_bfgs_lowers_energy_and_vibrations_run(schnet, tmp_path):
    atoms = ethanol()
    atoms.rattle(0.15, seed=4)
    atoms.calc = TfatomsCalculator(schnet)
    e0, f0 = atoms.get_potential_energy(), np.abs(atoms.get_forces()).max()
    BFGS(atoms, logfile=None).run(fmax=0.01, steps=60)   # measured: 2.38 -> 1.90 eV, max force 0.25 -> 0.03 eV/A
    assert atoms.get_potential_energy() < e0
    assert np.abs(atoms.get_forces()).max() < 0.5 * f0

    water = ase.build.molecule("H2O")
    water.calc = TfatomsCalculator(schnet)
    BFGS(water, logfile=None).run(fmax=1e-3, steps=50)
    vib = Vibrations(water, name=str(tmp_path / "vib"), delta=0.01)
    vib.run()
    frequencies = vib.get_frequencies()
    assert frequencies.shape == (9,) and np.all(np.isfinite(frequencies))


def test_saved_model_reloads_with_identical_results(schnet, tmp_path):
    path = tmp_path / "schnet.keras"
    schnet.save(path)
    results = []
    for model in (schnet, path, str(path)):
        atoms = triclinic_si()
        atoms.calc = TfatomsCalculator(model)
        results.append((atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="no model file"):
        TfatomsCalculator(tmp_path / "missing.keras")


def test_clear_errors(schnet, schnet_all_pairs):
    small = small_schnet(max_z=9)
    atoms = ase.build.bulk("Si", "diamond", a=5.43)
    atoms.calc = TfatomsCalculator(small)
    with pytest.raises(ValueError, match=r"element Si \(Z = 14\) is beyond max_z = 9 of the SchNet model"):
        atoms.get_potential_energy()
    atoms.calc = TfatomsCalculator(schnet_all_pairs)
    with pytest.raises(ValueError, match="has no cutoff.*periodic"):
        atoms.get_potential_energy()
    # truncating a no-cutoff model's pairs is allowed, and needed for crystals
    atoms.calc = TfatomsCalculator(schnet_all_pairs, cutoff=CUTOFF)
    assert np.isfinite(atoms.get_potential_energy())
    crowded = ase.Atoms("CC", positions=[[0, 0, 0], [0, 0, 1e-8]], calculator=TfatomsCalculator(schnet))
    with pytest.raises(ValueError, match="on top of each other"):
        crowded.get_potential_energy()
    with pytest.raises(ValueError, match="skin"):
        TfatomsCalculator(schnet, skin=-1.0)
    # a model that records the elements it was trained on refuses any other, before it runs
    trained = small_schnet()
    trained.elements = ("H", "C", "O")
    ammonia = ase.build.molecule("NH3")
    ammonia.calc = TfatomsCalculator(trained)
    with pytest.raises(ValueError, match=r"element N \(Z = 7\) is not among the elements of the SchNet.*H, C, O"):
        ammonia.get_potential_energy()
