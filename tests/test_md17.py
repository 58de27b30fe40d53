"""The MD17 molecules and their MD protocol (tfatoms.data.md17): starting geometries from QM9 or RDKit, the
dataset through the molecular-MD generator with a real reference (ASE EMT here, GFN2-xTB in the reproduction)."""
import numpy as np
import pytest

pytest.importorskip("rdkit")

from tfatoms.data.md17 import (MD17_FORMULAS, MD17_PROTOCOL, MD17_SMILES, canonical_smiles, find_in_qm9,  # noqa: E402
                               md17_dataset, md17_start, rdkit_geometry)


def _bonded_pairs(atoms, scale=1.2):
    from ase.data import covalent_radii

    d = atoms.get_all_distances()
    r = covalent_radii[atoms.numbers]
    return d < scale * (r[:, None] + r[None, :]) - np.eye(len(atoms)) * 10


@pytest.mark.parametrize("name", sorted(MD17_SMILES))
def test_rdkit_start_is_the_molecule(name):
    atoms, source = md17_start(name)
    assert atoms.get_chemical_formula(mode="hill") == MD17_FORMULAS[name]
    assert "RDKit" in source
    bonded = _bonded_pairs(atoms)
    # connected, and every hydrogen has exactly one bond: a molecule, not a cloud of fragments
    n = len(atoms)
    reach = bonded | np.eye(n, dtype=bool)
    for _ in range(n):
        reach = (reach.astype(int) @ reach.astype(int)) > 0
    assert reach.all()
    assert (bonded[atoms.numbers == 1].sum(axis=1) == 1).all()
    d = atoms.get_all_distances() + np.eye(n) * 10
    assert d.min() > 0.9


@pytest.mark.parametrize("name", ["malonaldehyde", "salicylic_acid"])
def test_rdkit_start_keeps_the_intramolecular_hydrogen_bond(name):
    atoms, _ = md17_start(name)
    d = atoms.get_all_distances()
    o, h = atoms.numbers == 8, atoms.numbers == 1
    oh = d[np.ix_(o, h)]
    hydroxyl_h = (oh < 1.1).any(axis=0)
    # the hydroxyl hydrogen points at an oxygen it is not bonded to (O...H 1.6-2.3 A)
    assert ((oh[:, hydroxyl_h] > 1.5) & (oh[:, hydroxyl_h] < 2.3)).any()


def test_seeded_geometry_is_deterministic():
    a, b = rdkit_geometry(MD17_SMILES["salicylic_acid"], seed=3), rdkit_geometry(MD17_SMILES["salicylic_acid"], seed=3)
    np.testing.assert_array_equal(a.positions, b.positions)


def _small_qm9():
    from tfatoms.data.qm9 import PROPERTIES, _concat

    mols = []
    for index, smiles in ((11, "COC"), (13, "CCO"), (17, "O")):      # dimethyl ether: same formula as ethanol
        atoms = rdkit_geometry(smiles)
        mols.append((index, smiles, atoms.numbers, atoms.positions, {k: 0.0 for k in PROPERTIES}))
    return _concat(mols)


def test_qm9_match_by_canonical_smiles_not_by_formula():
    qm9 = _small_qm9()
    found = find_in_qm9(qm9, "OCC", "C2H6O")          # another spelling of ethanol
    assert found.info["index"] == 13
    assert find_in_qm9(qm9, MD17_SMILES["benzene"], "C6H6") is None
    atoms, source = md17_start("ethanol", qm9)
    assert source.startswith("QM9 gdb 13")
    np.testing.assert_allclose(atoms.positions, qm9.atoms(1).positions)
    assert "RDKit" in md17_start("benzene", qm9)[1]      # not in this QM9: built from SMILES
    assert canonical_smiles("not a smiles") is None


def test_unknown_molecule_is_named():
    with pytest.raises(ValueError, match="'caffeine' is not an MD17 molecule.*benzene"):
        md17_start("caffeine")


def test_md17_dataset_is_the_protocol_with_reference_labels(tmp_path):
    from tfatoms.data.reference import reference_calculator

    data = md17_dataset(tmp_path, "ethanol", steps=20, interval=5, calculator="emt", progress=False)
    assert len(data) == 4
    params = data.metadata["params"]
    assert params["temperature"] == MD17_PROTOCOL["temperature"] == 500.0
    assert params["timestep_fs"] == MD17_PROTOCOL["timestep_fs"] == 0.5
    assert params["calculator"] == "emt" and "RDKit" in data.metadata["start_source"]
    np.testing.assert_array_equal(data.properties["md_step"], [5, 10, 15, 20])
    for k in (0, 3):
        atoms = data[k]
        atoms.calc = reference_calculator("emt")
        np.testing.assert_allclose(atoms.get_potential_energy(), data.properties["energy"][k], atol=1e-10)
        np.testing.assert_allclose(atoms.get_forces(), data.properties["forces"][data.atom_slice(k)], atol=1e-10)
    again = md17_dataset(tmp_path, "ethanol", steps=20, interval=5, calculator="emt", progress=False)
    np.testing.assert_array_equal(again.positions, data.positions)             # found in the cache
    assert len(list(tmp_path.glob("md_ethanol-*.h5"))) == 1


def test_script_names_a_bad_molecule_or_reference_before_any_work(tmp_path, capsys):
    from conftest import load_script

    script = load_script("reproductions/schnet_md17_molecules.py")
    for argv, message in ((["--molecules", "ethanol,caffeine"], "caffeine: the MD17 molecules are benzene"),
                          (["--molecules", ","], "none given"),
                          (["--reference", "dftb"], "--reference dftb: unknown reference calculator")):
        with pytest.raises(SystemExit) as exc:
            script.main(["--quick", "--out", str(tmp_path), "--cache-dir", str(tmp_path / "cache"), *argv])
        assert exc.value.code == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "cache").exists() and not list(tmp_path.iterdir())    # nothing written


@pytest.mark.slow
def test_script_quick_run_trains_both_modes_and_resumes(tmp_path, capsys):
    import importlib.util
    import json

    from conftest import load_script

    script = load_script("reproductions/schnet_md17_molecules.py")
    argv = ["--quick", "--reference", "emt", "--start", "rdkit", "--molecules", "ethanol",
            "--cache-dir", str(tmp_path / "cache")]
    argv += ["--gdml", "--gdml-sigmas", "20", "40"] if importlib.util.find_spec("sgdml") else []
    results = script.main(argv + ["--out", str(tmp_path / "a")])
    out = tmp_path / "a" / "schnet_md17_molecules_quick"
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"energy_mae.test.ethanol.energy", "forces_mae.test.ethanol.energy_forces",
            "forces_mae_ratio.ethanol"} <= set(metrics)
    if "--gdml" in argv:    # GDML on the same 50 frames: held-out forces well inside their spread
        assert metrics["forces_mae.test.ethanol.gdml"] < metrics["forces_mae.test.ethanol.energy"]
        assert "| 0.79 |" in (out / "table.md").read_text()            # the thesis' GDML ethanol force MAE
    table = (tmp_path / "a" / "schnet_md17_molecules_quick" / "table.md").read_text()
    assert "thesis Table 5.4" in table and "| 6.56 |" in table          # the thesis' ethanol energy-only force MAE
    capsys.readouterr()
    again = script.main(argv + ["--out", str(tmp_path / "b")])          # data and finished models from the cache
    captured = capsys.readouterr()
    assert "sample_md" not in captured.err
    # the finished models from the cache: the same errors (to float32 round-off: sgdml's worker pool in between
    # may leave another thread layout for TensorFlow's reductions)
    assert again["ethanol"]["energy"][0] == pytest.approx(results["ethanol"]["energy"][0], rel=1e-6)
    if "--gdml" in argv:
        assert "GDML loaded from" in captured.out                       # the fitted model from the cache
