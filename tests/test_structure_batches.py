"""The one structures-to-batch path (StructureBatches): QM9 predictions unchanged, periodic cells with integer
cell shifts (energy, forces and stress of a padded batch equal each structure on its own and ASE's numerical
stress), stress training batches, isolated atoms, and errors that name the record."""
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from tfatoms import keys
from tfatoms.data.atoms import AtomsData
from tfatoms.models import DTNN, Potential, SchNet
from tfatoms.representations import build_batch
from tfatoms.representations.padded import MoleculeBatches, StructureBatches
from tfatoms.train.losses import EnergyForceLoss


def hand_built_batch(atoms_list):
    """The batch layout before integer cell shifts, written out by hand: every ordered pair i != j of each
    molecule, Cartesian OFFSETS of zero, positions centred on each molecule's centroid, no padding."""
    numbers, positions, idx_i, idx_j, n_atoms, first = [], [], [], [], [], 0
    for atoms in atoms_list:
        n = len(atoms)
        i, j = np.nonzero(~np.eye(n, dtype=bool))
        numbers.append(atoms.numbers)
        positions.append(atoms.positions - atoms.positions.mean(axis=0))
        idx_i.append(i + first)
        idx_j.append(j + first)
        n_atoms.append(n)
        first += n
    n_atoms = np.array(n_atoms, np.int32)
    return {keys.ATOMIC_NUMBERS: np.concatenate(numbers).astype(np.int32),
            keys.POSITIONS: np.concatenate(positions),
            keys.CELL: np.zeros((len(n_atoms), 3, 3)), keys.PBC: np.zeros((len(n_atoms), 3), bool),
            keys.STRUCTURE_INDEX: np.repeat(np.arange(len(n_atoms), dtype=np.int32), n_atoms),
            keys.N_ATOMS: n_atoms,
            keys.IDX_I: np.concatenate(idx_i).astype(np.int32), keys.IDX_J: np.concatenate(idx_j).astype(np.int32),
            keys.OFFSETS: np.zeros((first * 0 + sum(len(x) for x in idx_i), 3))}


@pytest.mark.parametrize("model_cls", [SchNet, DTNN])
def test_qm9_predictions_equal_the_hand_built_batch_to_1e10(qm9, model_cls):
    """64 real QM9 molecules in padded batches of 32 (integer shifts, cell, dummy structure) give the energies
    and forces of the old layout (Cartesian offsets, no padding) to 1e-10 eV in float64."""
    kw = dict(n_features=16, n_interactions=2, dtype="float64")
    model = SchNet(rbf_cutoff=12.5, **kw) if model_cls is SchNet else DTNN(n_factors=10, **kw)
    idx = np.arange(64) * 997 % len(qm9)
    atoms_list = [qm9.atoms(int(k)) for k in idx]
    data = MoleculeBatches.from_atoms(atoms_list, batch_size=32, dtype=np.float64)
    potential = Potential(model)
    new_e, new_f = [], []
    for sel, batch, _, weights in data.batches():
        out = potential(batch)
        new_e.append(np.asarray(out[keys.ENERGY])[:len(sel)])
        new_f.append(np.asarray(out[keys.FORCES])[:int(batch[keys.N_ATOMS][:len(sel)].sum())])
    old = potential(hand_built_batch(atoms_list))
    np.testing.assert_allclose(np.concatenate(new_e), np.asarray(old[keys.ENERGY]), rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.concatenate(new_f), np.asarray(old[keys.FORCES]), rtol=0, atol=1e-10)


def triclinic_cells():
    """Two rattled triclinic periodic cells (fcc Cu primitive 2x2x1, hcp Mg) and a molecule."""
    cu = bulk("Cu", "fcc", a=3.6) * (2, 2, 1)          # primitive fcc cell: 60 degree angles
    cu.rattle(0.08, seed=1)
    mg = bulk("Mg", "hcp", a=3.2, c=5.2)
    mg.rattle(0.08, seed=2)
    mg.positions += [30.0, -20.0, 7.0]                  # far outside its cell: wrapped before the cast
    return [cu, molecule("CH3CH2OH"), mg]


def schnet_with_cutoff():
    import keras

    keras.utils.set_random_seed(3)
    return SchNet(n_features=16, n_interactions=2, cutoff=4.0, rbf_cutoff=4.0, max_z=30, dtype="float64")


def test_padded_periodic_batch_equals_each_structure_alone():
    structures = triclinic_cells()
    model = schnet_with_cutoff()
    potential = Potential(model, compute_stress=True)
    data = StructureBatches.from_atoms(structures, cutoff=model.cutoff, batch_size=4, dtype=np.float64)
    batch, _, weights = data.collate(np.arange(3))
    assert batch[keys.CELL_SHIFTS].dtype == np.int32 and batch[keys.CELL_SHIFTS].any()
    out = potential(batch)
    first = 0
    for s, atoms in enumerate(structures):
        alone = potential(build_batch(atoms, cutoff=model.cutoff, dtype=np.float64))
        np.testing.assert_allclose(out[keys.ENERGY][s], alone[keys.ENERGY][0], rtol=0, atol=1e-10)
        n = len(atoms)
        np.testing.assert_allclose(out[keys.FORCES][first:first + n], alone[keys.FORCES], rtol=0, atol=1e-10)
        if atoms.pbc.all():
            np.testing.assert_allclose(out[keys.STRESS][s], alone[keys.STRESS][0], rtol=0, atol=1e-12)
        first += n
    # the empty slot and the dummy structure: no energy, finite zero stress
    np.testing.assert_array_equal(weights, [1, 1, 1, 0, 0])
    assert np.all(np.isfinite(np.asarray(out[keys.STRESS])[3:]))


def test_stress_of_a_padded_batch_equals_ase_numerical_stress():
    from tfatoms.calculators import TfatomsCalculator

    model = schnet_with_cutoff()
    cu = triclinic_cells()[0]
    data = StructureBatches.from_atoms([cu], cutoff=model.cutoff, batch_size=2, dtype=np.float64)
    batch, _, _ = data.collate([0])
    stress = np.asarray(Potential(model, compute_stress=True)(batch)[keys.STRESS])[0]
    atoms = cu.copy()
    atoms.calc = TfatomsCalculator(model, dtype="float64")
    from ase.stress import voigt_6_to_full_3x3_stress

    numerical = voigt_6_to_full_3x3_stress(atoms.calc.calculate_numerical_stress(atoms, d=1e-5))
    assert np.abs(numerical).max() > 1e-4
    np.testing.assert_allclose(stress, numerical, rtol=0, atol=1e-8)


def test_cell_shifts_follow_a_changed_cell():
    """The same batch with the cell scaled by 1 % (positions scaled with it): the energy equals a fresh build
    of the scaled structure; with Cartesian offsets precomputed the images would stay behind."""
    model = schnet_with_cutoff()
    cu = triclinic_cells()[0]
    cu.wrap()
    batch = build_batch(cu, cutoff=model.cutoff, dtype=np.float64)
    scaled = cu.copy()
    scaled.set_cell(cu.cell[:] * 1.01, scale_atoms=True)
    moved = dict(batch, **{keys.CELL: batch[keys.CELL] * 1.01, keys.POSITIONS: batch[keys.POSITIONS] * 1.01})
    fresh = build_batch(scaled, cutoff=model.cutoff, dtype=np.float64)
    assert len(fresh[keys.IDX_I]) == len(batch[keys.IDX_I])           # no pair crossed the cutoff
    np.testing.assert_allclose(np.asarray(model(moved)), np.asarray(model(fresh)), rtol=0, atol=1e-10)


def test_a_batch_with_both_shifts_and_offsets_is_refused():
    model = schnet_with_cutoff()
    batch = build_batch(bulk("Cu"), cutoff=model.cutoff, dtype=np.float64)
    batch[keys.OFFSETS] = np.zeros((len(batch[keys.IDX_I]), 3))
    with pytest.raises(ValueError, match="both 'cell_shifts' and 'offsets'"):
        model(batch)


def test_an_atom_without_neighbours_is_valid():
    """A 3-atom structure whose third atom has no neighbour within the cutoff: its energy is the isolated
    atom's, its force is zero, and the other two interact as on their own."""
    model = schnet_with_cutoff()
    potential = Potential(model)
    pair = Atoms("CO", positions=[[0, 0, 0], [1.13, 0, 0]])
    three = Atoms("COH", positions=[[0, 0, 0], [1.13, 0, 0], [20.0, 0, 0]])
    data = StructureBatches.from_atoms([three], cutoff=model.cutoff, batch_size=1, dtype=np.float64)
    assert 2 not in data._pair_i and 2 not in data._pair_j
    batch, _, _ = data.collate([0])
    out = potential(batch)
    h = potential(build_batch(Atoms("H"), cutoff=model.cutoff, dtype=np.float64))
    co = potential(build_batch(pair, cutoff=model.cutoff, dtype=np.float64))
    np.testing.assert_allclose(out[keys.ENERGY][0], co[keys.ENERGY][0] + h[keys.ENERGY][0], atol=1e-10)
    np.testing.assert_allclose(out[keys.FORCES][2], 0.0, atol=1e-12)
    np.testing.assert_allclose(out[keys.FORCES][:2], co[keys.FORCES], atol=1e-10)


def labelled_cells():
    from ase.calculators.emt import EMT

    cells = []
    for k, a in enumerate((3.55, 3.6, 3.65)):
        atoms = bulk("Cu", "fcc", a=a) * (2, 2, 1)
        atoms.rattle(0.05, seed=k)
        atoms.calc = EMT()
        atoms.get_potential_energy()
        cells.append(atoms)
    return AtomsData.from_atoms(cells)


def test_stress_targets_and_the_loss_with_stress():
    data = labelled_cells()
    batches = StructureBatches.from_atoms_data(data, forces="forces", stress="stress", cutoff=4.0, batch_size=4,
                                               dtype=np.float64)
    batch, targets, weights = batches.collate(np.arange(3))
    assert set(targets) == {keys.ENERGY, keys.FORCES, keys.STRESS}
    from ase.stress import voigt_6_to_full_3x3_stress

    np.testing.assert_allclose(targets[keys.STRESS][:3], voigt_6_to_full_3x3_stress(data.properties["stress"]))
    assert not targets[keys.STRESS][3:].any()
    predictions = {keys.ENERGY: targets[keys.ENERGY] + [0.1, -0.2, 0.3, 0.0, 0.0],
                   keys.FORCES: targets[keys.FORCES] + 0.01,
                   keys.STRESS: targets[keys.STRESS] + np.where(weights[keys.ENERGY][:, None, None] > 0, 0.002, 7.0)}
    loss = EnergyForceLoss(rho=0.01, stress_weight=2.0)
    value = float(loss(targets, predictions, weights, batch))
    n = np.array([4, 4, 4])
    expected = np.mean(0.01 * np.array([0.1, 0.2, 0.3]) ** 2 + (3 * 0.01 ** 2 * n) / n + 2.0 * 0.002 ** 2)
    np.testing.assert_allclose(value, expected, rtol=1e-12)


def test_bad_input_names_the_record():
    data = labelled_cells()
    with pytest.raises(ValueError, match="structure 1 has no 'forces'"):
        props = dict(data.properties)
        props["forces"] = props["forces"].copy()
        props["forces"][5] = np.nan
        broken = AtomsData(data.numbers, data.positions, data.ptr, cell=data.cell, pbc=data.pbc,
                           properties=props, units=data.units)
        StructureBatches.from_atoms_data(broken, forces="forces", cutoff=4.0)
    dipole_units = AtomsData(data.numbers, data.positions, data.ptr, cell=data.cell, pbc=data.pbc,
                             properties=data.properties, units={**data.units, "energy": "e*A"})
    with pytest.raises(ValueError, match="cannot convert 'energy'"):
        StructureBatches.from_atoms_data(dipole_units, cutoff=4.0)
    mixed = [bulk("Cu") * 2, molecule("H2O")]
    with pytest.raises(ValueError, match=r"structure 1 has stress but pbc=\[False, False, False\]"):
        StructureBatches.from_atoms(mixed, cutoff=4.0, stress=np.zeros((2, 6)))
    with pytest.raises(ValueError, match=r"molecule 0 is periodic \(pbc=\[True, True, True\]\): give a cutoff"):
        MoleculeBatches.from_atoms(mixed)
    with pytest.raises(ValueError, match=r"structure 0 \('bad cell'\).*linearly dependent"):
        flat = Atoms("Cu", cell=[[2.5, 0, 0], [5.0, 0, 0], [0, 0, 2.5]], pbc=True)
        StructureBatches.from_atoms([flat], cutoff=4.0, names=["bad cell"])


def test_batches_take_the_model_cutoff_and_the_trainer_refuses_other_pairs(tmp_path):
    from tfatoms.train.trainer import BatchTrainer

    model = schnet_with_cutoff()
    data = labelled_cells()
    batches = StructureBatches.from_atoms_data(data, forces="forces", model=model, batch_size=2)
    assert batches.cutoff == model.cutoff == 4.0
    np.testing.assert_array_equal(build_batch(bulk("Cu"), model=model)[keys.IDX_I],
                                  build_batch(bulk("Cu"), cutoff=4.0)[keys.IDX_I])
    with pytest.raises(ValueError, match="cutoff=5.0 A contradicts the cutoff of the SchNet model, 4.0 A"):
        StructureBatches.from_atoms_data(data, model=model, cutoff=5.0)
    with pytest.raises(ValueError, match=r"Cu \(Z = 29\) is beyond the model's max_z = 10"):
        StructureBatches.from_atoms_data(data, model=SchNet(n_features=8, n_interactions=1, cutoff=4.0, max_z=10))
    other = StructureBatches.from_atoms_data(data, forces="forces", cutoff=5.0, batch_size=2)
    trainer = BatchTrainer(model, loss=EnergyForceLoss())
    with pytest.raises(ValueError, match=r"training batches hold the pairs of cutoff 5.0 A, but SchNet has cutoff "
                                         r"4.0 A"):
        trainer.fit(other, batches, tmp_path / "ckpt", max_steps=1, progress=False)
