"""AtomsData, the one container for atomistic datasets: construction checks, ase.Atoms round trips, HDF5,
subsets, concatenation, require(), units, and the real published files in ../shared/data when they exist."""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from tfatoms.data import AtomsData
from tfatoms.data.atoms import FORMAT_VERSION, AtomsDataFileError, unit_factor

SHARED = Path(os.environ.get("TFATOMS_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def shared_file(relative: str) -> Path:
    path = SHARED / relative
    if not path.is_file():
        pytest.skip(f"reference data {path} not present")
    return path


def labelled_molecules(n=5, seed=0, forces=True):
    """Rattled ethanol/water molecules with energy, forces and assorted info/arrays."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a = molecule("CH3CH2OH" if k % 2 == 0 else "H2O")
        a.positions += rng.normal(scale=0.05, size=a.positions.shape)
        results = {"energy": float(rng.normal(-100, 5))}
        if forces:
            results["forces"] = rng.normal(size=(len(a), 3))
        a.calc = SinglePointCalculator(a, **results)
        a.info.update({"config_type": f"type{k % 3}", "temperature": 300.0 + k, "step": k})
        a.set_array("charges_guess", rng.normal(size=len(a)))
        out.append(a)
    return out


def emt_copper(n=3, seed=0):
    """Rattled, slightly strained fcc Cu cells (one triclinic) labelled by ASE's EMT: energy, forces, stress."""
    out = []
    for k in range(n):
        a = bulk("Cu", "fcc", a=3.6, cubic=(k != 1)) * ((2, 2, 2) if k != 1 else (2, 2, 3))
        a.set_cell(a.cell.array @ (np.eye(3) + 0.01 * k * np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0.5]])),
                   scale_atoms=True)
        a.rattle(0.05, seed=seed + k)
        a.calc = EMT()
        a.get_potential_energy()
        a.get_forces()
        a.get_stress()
        out.append(a)
    return out


def assert_same(a: AtomsData, b: AtomsData):
    for name in ("numbers", "positions", "cell", "pbc", "ptr"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert getattr(a, name).dtype == getattr(b, name).dtype, name
    assert list(a.properties) == list(b.properties)
    for name in a.properties:
        np.testing.assert_array_equal(a.properties[name], b.properties[name], err_msg=name)
        assert a.properties[name].dtype.kind == b.properties[name].dtype.kind, name
    assert a.per_atom == b.per_atom
    assert a.units == b.units
    assert a.metadata == b.metadata


# ------------------------------------------------------------------------------------------ construction
def test_interface_dtypes_and_shapes():
    mols = labelled_molecules()
    d = AtomsData.from_atoms(mols, metadata={"source": "test", "reference": "random numbers"})
    n_total = sum(len(m) for m in mols)
    assert len(d) == 5 and d.n_atoms_total == n_total
    assert d.numbers.shape == (n_total,) and d.numbers.dtype == np.int64
    assert d.positions.shape == (n_total, 3) and d.positions.dtype == np.float64
    assert d.cell.shape == (5, 3, 3) and not d.cell.any()
    assert d.pbc.shape == (5, 3) and d.pbc.dtype == bool and not d.pbc.any()
    assert d.ptr.dtype == np.int64 and d.ptr[0] == 0 and d.ptr[-1] == n_total
    np.testing.assert_array_equal(d.n_atoms, [len(m) for m in mols])
    assert d.n_atoms.dtype == np.int64
    assert d.per_atom == {"forces", "charges_guess"}
    assert d.properties["energy"].shape == (5,) and d.properties["forces"].shape == (n_total, 3)
    assert d.properties["step"].dtype == np.int64 and d.properties["config_type"].dtype.kind == "U"
    assert d.units == {"positions": "A", "energy": "eV", "forces": "eV/A"}
    np.testing.assert_array_equal(d.structure_index, np.repeat(np.arange(5), d.n_atoms))
    np.testing.assert_array_equal(d.get("forces", 1), mols[1].get_forces())
    assert "5 structures" in repr(d)


def test_explicit_properties_and_missing_values_are_nan():
    mols = labelled_molecules(4)
    mols[2].calc = SinglePointCalculator(mols[2], energy=-1.0)          # no forces
    d = AtomsData.from_atoms(mols, properties=("energy", "forces"))
    assert set(d.properties) == {"energy", "forces"}
    assert np.isnan(d.get("forces", 2)).all() and np.isfinite(d.get("forces", 1)).all()
    np.testing.assert_array_equal(d.missing("forces"), [False, False, True, False])
    assert d[2].calc.results == {"energy": -1.0}                          # missing forces are not invented
    with pytest.raises(ValueError, match="no structure holds 'stress'"):
        AtomsData.from_atoms(mols, properties=("energy", "stress"))


@pytest.mark.parametrize("change, message", [
    (lambda a: a.numbers.__setitem__(3, 0), r"structure 2 of mybad\.xyz: atom 3 has atomic number 0"),
    (lambda a: a.numbers.__setitem__(0, 119), r"structure 2 of mybad\.xyz: atom 0 has atomic number 119"),
    (lambda a: a.positions.__setitem__((1, 2), np.nan), r"structure 2 of mybad\.xyz: atom 1 has non-finite"),
    (lambda a: a.set_pbc(True), r"structure 2 of mybad\.xyz is periodic along cell vector 0"),
])
def test_construction_errors_name_structure_and_source(change, message):
    mols = labelled_molecules(4)
    change(mols[2])
    with pytest.raises(ValueError, match=message):
        AtomsData.from_atoms(mols, metadata={"source": "mybad.xyz"})


def test_construction_checks_shapes():
    z, pos = np.ones(5, int), np.zeros((5, 3))
    pos[:, 0] = np.arange(5)
    with pytest.raises(ValueError, match="end at the number of atoms"):
        AtomsData(z, pos, [0, 2, 4])
    with pytest.raises(ValueError, match="structure 1 has -1 atoms"):
        AtomsData(z, pos, [0, 3, 2, 5])
    with pytest.raises(ValueError, match="structure 1 has 0 atoms"):
        AtomsData(z, pos, [0, 3, 3, 5])
    with pytest.raises(ValueError, match=r"positions must have shape \(5, 3\)"):
        AtomsData(z, pos[:4], [0, 2, 5])
    with pytest.raises(ValueError, match="'forces' has 4 rows"):
        AtomsData(z, pos, [0, 2, 5], properties={"forces": np.zeros((4, 3))}, per_atom={"forces"})
    with pytest.raises(ValueError, match="'energy' has 3 rows"):
        AtomsData(z, pos, [0, 2, 5], properties={"energy": np.zeros(3)})
    with pytest.raises(ValueError, match=r"cell must have shape \(2, 3, 3\)"):
        AtomsData(z, pos, [0, 2, 5], cell=np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="periodic along cell vector 2"):
        AtomsData(z, pos, [0, 2, 5], cell=np.diag([5.0, 5.0, 0.0]), pbc=[True, True, True])
    with pytest.raises(ValueError, match="not JSON-serialisable|JSON-serialisable"):
        AtomsData(z, pos, [0, 2, 5], metadata={"bad": object()})
    with pytest.raises(ValueError, match="unknown unit 'eVV'"):
        AtomsData(z, pos, [0, 2, 5], properties={"energy": np.zeros(2)}, units={"energy": "eVV"})
    with pytest.raises(ValueError, match="not a property"):
        AtomsData(z, pos, [0, 2, 5], properties={"energy": np.zeros(2)}, units={"energies": "eV"})
    # a 2-D periodic sheet: pbc along the two non-zero vectors only is fine
    d = AtomsData(z, pos, [0, 2, 5], cell=np.diag([5.0, 5.0, 0.0]), pbc=[True, True, False])
    assert d.pbc.tolist() == [[True, True, False]] * 2
    # per-atom inference when there are as many atoms as structures
    one = AtomsData([1, 1], [[0, 0, 0], [0, 0, 1]], [0, 1, 2],
                    properties={"forces": np.zeros((2, 3)), "energy": np.zeros(2)})
    assert one.per_atom == {"forces"}


# ------------------------------------------------------------------------------------------ round trips
def test_from_atoms_hdf5_round_trip_and_iteration(tmp_path):
    mols = labelled_molecules(6, seed=3)
    meta = {"source": "generated", "reference": "random", "params": {"seed": 3, "sizes": [1, 2]}}
    d = AtomsData.from_atoms(mols, metadata=meta)
    path = d.write_hdf5(tmp_path / "mols.h5")
    with h5py.File(path, "r") as f:
        assert f.attrs["format_version"] == FORMAT_VERSION
    back = AtomsData.read_hdf5(path)
    assert_same(d, back)
    assert back.metadata["params"] == {"seed": 3, "sizes": [1, 2]}
    assert len(list(back)) == len(mols)
    for a, b in zip(mols, back):
        np.testing.assert_array_equal(b.positions, a.positions)
        np.testing.assert_array_equal(b.numbers, a.numbers)
        np.testing.assert_array_equal(b.cell.array, a.cell.array)
        np.testing.assert_array_equal(b.pbc, a.pbc)
        assert b.get_potential_energy() == a.get_potential_energy()
        np.testing.assert_array_equal(b.get_forces(), a.get_forces())
        assert b.info == a.info
        np.testing.assert_array_equal(b.arrays["charges_guess"], a.arrays["charges_guess"])
    # negative index and errors
    np.testing.assert_array_equal(back[-1].positions, mols[-1].positions)
    with pytest.raises(IndexError, match="structure 6 out of range"):
        back[6]


def test_emt_copper_round_trip_with_stress(tmp_path):
    cells = emt_copper()
    d = AtomsData.from_atoms(cells, properties=("energy", "forces", "stress"),
                             metadata={"source": "EMT", "reference": "ase.calculators.emt.EMT"})
    assert d.pbc.all() and d.properties["stress"].shape == (3, 6)
    assert d.units["stress"] == "eV/A^3"
    back = AtomsData.read_hdf5(d.write_hdf5(tmp_path / "cu.h5"))
    assert_same(d, back)
    for a, b in zip(cells, back):
        np.testing.assert_array_equal(b.cell.array, a.cell.array)
        assert b.get_potential_energy() == a.get_potential_energy()
        np.testing.assert_array_equal(b.get_forces(), a.get_forces())
        np.testing.assert_array_equal(b.get_stress(), a.get_stress())
        np.testing.assert_allclose(b.get_stress(voigt=False), a.get_stress(voigt=False), rtol=0, atol=0)
    # a 3 x 3 stress is stored as Voigt (xx yy zz yz xz xy)
    a = cells[1].copy()
    a.calc = SinglePointCalculator(a, energy=0.0, stress=cells[1].get_stress(voigt=False))
    np.testing.assert_array_equal(AtomsData.from_atoms([a]).properties["stress"][0], cells[1].get_stress())
    # the whole set through extended XYZ (anything ase.io writes, AtomsData.read reads)
    import ase.io

    ase.io.write(tmp_path / "cu.xyz", list(back), format="extxyz")
    again = AtomsData.read(tmp_path / "cu.xyz")
    np.testing.assert_allclose(again.positions, d.positions, atol=1e-8)
    np.testing.assert_allclose(again.properties["forces"], d.properties["forces"], atol=1e-8)
    np.testing.assert_allclose(again.properties["stress"], d.properties["stress"], atol=1e-10)
    assert again.metadata["format"] == "extxyz" and again.metadata["source"] == str(tmp_path / "cu.xyz")


# ------------------------------------------------------------------------------------------ HDF5 failures
def test_truncated_hdf5_names_the_file(tmp_path):
    path = AtomsData.from_atoms(emt_copper(2)).write_hdf5(tmp_path / "cu.h5")
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AtomsDataFileError, match=r"cut\.h5.*truncated or corrupt"):
        AtomsData.read_hdf5(cut)
    (tmp_path / "empty.h5").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.h5"):
        AtomsData.read_hdf5(tmp_path / "empty.h5")
    with pytest.raises(ValueError, match=r"no such file: .*absent\.h5"):
        AtomsData.read_hdf5(tmp_path / "absent.h5")


def test_unknown_format_version_names_the_file(tmp_path):
    path = AtomsData.from_atoms(labelled_molecules(2)).write_hdf5(tmp_path / "future.h5")
    with h5py.File(path, "a") as f:
        f.attrs["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(AtomsDataFileError, match=rf"future\.h5 has .*format version {FORMAT_VERSION + 1}"):
        AtomsData.read_hdf5(path)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(AtomsDataFileError, match=r"other\.h5 is not a tfatoms\.AtomsData file"):
        AtomsData.read_hdf5(tmp_path / "other.h5")


def test_layout_in_an_open_file_or_group(tmp_path):
    """write_hdf5_group / read_hdf5_group: the same layout inside a file that carries other attributes (the
    dataset caches) or in a group; problems name the file."""
    d = AtomsData.from_atoms(labelled_molecules(3), metadata={"source": "mols"})
    with h5py.File(tmp_path / "two.h5", "w") as f:
        d.write_hdf5_group(f)
        d.subset([2]).write_hdf5_group(f.create_group("sub"))
        f.attrs["params"] = '{"seed": 1}'
    assert_same(AtomsData.read_hdf5(tmp_path / "two.h5"), d)
    with h5py.File(tmp_path / "two.h5", "r") as f:
        assert_same(AtomsData.read_hdf5_group(f), d)
        assert len(AtomsData.read_hdf5_group(f["sub"])) == 1
        with pytest.raises(AtomsDataFileError, match=r"two\.h5 is not a tfatoms\.AtomsData file"):
            AtomsData.read_hdf5_group(f["properties"])
    with h5py.File(tmp_path / "two.h5", "a") as f:
        del f["positions"]
    with h5py.File(tmp_path / "two.h5", "r") as f:
        with pytest.raises(AtomsDataFileError, match=r"cannot read .*two\.h5: truncated or corrupt"):
            AtomsData.read_hdf5_group(f)


def test_loaders_are_views_of_one_atoms_data():
    """QM9, Dimers and PorousGrapheneData hold an AtomsData; their flat arrays are its arrays, not copies."""
    from tfatoms.data.atoms import AtomsDataView
    from tfatoms.data.dimers import Dimers, Selection, generate_dimers
    from tfatoms.data.porous_graphene import PorousGrapheneData
    from tfatoms.data.qm9 import PROPERTIES, QM9

    d = generate_dimers(4, 3, Selection("distance", [(1.0, 2.0)]), seed=0)
    mols = AtomsData.from_atoms(labelled_molecules(2))
    q = QM9(mols.numbers, mols.positions, mols.ptr, [7, 9], ["CCO", "O"], {k: [1.0, 2.0] for k in PROPERTIES})
    for view, cls in ((d, Dimers), (q, QM9)):
        assert isinstance(view, AtomsDataView) and isinstance(view, cls)
        data = view.to_atoms_data()
        assert view.numbers is data.numbers and view.offsets is data.ptr and len(view) == len(data)
        np.testing.assert_array_equal(view.n_atoms, data.n_atoms)
    assert issubclass(PorousGrapheneData, AtomsDataView)
    assert q.to_atoms_data()[1].info["smiles"] == "O" and q.atoms(1).info["index"] == 9


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    d = AtomsData.from_atoms(labelled_molecules(3))
    original = h5py.Group.create_dataset

    def failing(self, name, *args, **kwargs):
        if name == "energy":
            raise OSError("No space left on device")
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(OSError, match="No space left"):
        d.write_hdf5(tmp_path / "out.h5")
    assert list(tmp_path.iterdir()) == []
    # an existing good file survives a failed overwrite
    monkeypatch.setattr(h5py.Group, "create_dataset", original)
    d.write_hdf5(tmp_path / "out.h5")
    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(OSError):
        AtomsData.from_atoms(labelled_molecules(4)).write_hdf5(tmp_path / "out.h5")
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]
    monkeypatch.setattr(h5py.Group, "create_dataset", original)
    assert len(AtomsData.read_hdf5(tmp_path / "out.h5")) == 3


# ------------------------------------------------------------------------------------------ operations
def test_subset_copies_and_records_indices():
    mols = labelled_molecules(6)
    d = AtomsData.from_atoms(mols, metadata={"source": "mols"})
    s = d.subset([4, 1, 1])
    assert len(s) == 3 and s.units == d.units and s.metadata["source"] == "mols"
    assert s.metadata["subset"] == {"n_original": 6, "indices": [4, 1, 1]}
    np.testing.assert_array_equal(s.n_atoms, d.n_atoms[[4, 1, 1]])
    for k, orig in enumerate([4, 1, 1]):
        np.testing.assert_array_equal(s[k].positions, mols[orig].positions)
        np.testing.assert_array_equal(s.get("forces", k), mols[orig].get_forces())
        assert s.properties["energy"][k] == d.properties["energy"][orig]
    s.positions[:] = 0.0                                    # a copy: the parent is untouched
    s.properties["forces"][:] = 0.0
    np.testing.assert_array_equal(d[4].positions, mols[4].positions)
    np.testing.assert_array_equal(d.get("forces", 4), mols[4].get_forces())
    # subsets of subsets record indices into the original set; masks and slices work
    ss = d.subset([5, 3, 2, 0]).subset(np.array([False, True, True, False]))
    assert ss.metadata["subset"] == {"n_original": 6, "indices": [3, 2]}
    assert d[1:3].metadata["subset"]["indices"] == [1, 2]
    with pytest.raises(IndexError, match="structure 9 out of range"):
        d.subset([0, 9])
    with pytest.raises(ValueError, match="boolean mask must have 6"):
        d.subset([True, False])


def test_large_subset_metadata_fits_in_hdf5(tmp_path):
    n = 30000
    d = AtomsData(np.ones(n, int), np.zeros((n, 3)), np.arange(n + 1), properties={"energy": np.arange(n) * 0.5})
    s = d.subset(np.arange(0, n, 2)[::-1])
    back = AtomsData.read_hdf5(s.write_hdf5(tmp_path / "big.h5"))
    assert_same(s, back)
    assert back.metadata["subset"]["indices"][:2] == [n - 2, n - 4]


def test_concatenate():
    a = AtomsData.from_atoms(labelled_molecules(3, seed=1), properties=("energy", "forces"),
                             metadata={"source": "a.xyz"})
    b = AtomsData.from_atoms(emt_copper(2), properties=("energy", "forces", "stress"), metadata={"source": "b.xyz"})
    c = AtomsData.concatenate([a, b])
    assert len(c) == 5 and c.n_atoms_total == a.n_atoms_total + b.n_atoms_total
    np.testing.assert_array_equal(c.n_atoms, np.concatenate([a.n_atoms, b.n_atoms]))
    np.testing.assert_array_equal(c.properties["forces"], np.concatenate([a.properties["forces"],
                                                                         b.properties["forces"]]))
    assert np.isnan(c.properties["stress"][:3]).all() and np.isfinite(c.properties["stress"][3:]).all()
    assert c.pbc[:3].sum() == 0 and c.pbc[3:].all()
    assert c.units == {"positions": "A", "energy": "eV", "forces": "eV/A", "stress": "eV/A^3"}
    assert [p["source"] for p in c.metadata["parts"]] == ["a.xyz", "b.xyz"]
    with pytest.raises(ValueError, match=r"structure 2 = structure 0 of part 1 \(a\.xyz\) has no 'stress'"):
        AtomsData.concatenate([b, a]).require("stress")
    # identical metadata stays as it is
    same = AtomsData.concatenate([a, a])
    assert same.metadata == a.metadata and len(same) == 6
    with pytest.raises(ValueError, match="different units"):
        AtomsData.concatenate([a, a.to_units({"energy": "kcal/mol"})])
    with pytest.raises(ValueError, match="at least one"):
        AtomsData.concatenate([])


def test_require_names_the_record_without_forces():
    mols = labelled_molecules(20, seed=2)
    mols[17].calc = SinglePointCalculator(mols[17], energy=-3.0)
    d = AtomsData.from_atoms(mols, metadata={"source": "md_run.xyz"})
    assert d.require("energy") is d
    with pytest.raises(ValueError, match=r"structure 17 of md_run\.xyz has no 'forces'.*1 of 20 structures"):
        d.require("energy", "forces")
    # NaN inside otherwise present forces is missing too
    f = d.properties["forces"].copy()
    f[d.ptr[17]:d.ptr[18]] = 1.0
    f[d.ptr[5] + 1, 2] = np.nan
    d2 = AtomsData(d.numbers, d.positions, d.ptr, properties={"energy": d.properties["energy"], "forces": f},
                   per_atom={"forces"}, metadata=d.metadata)
    with pytest.raises(ValueError, match=r"structure 5 of md_run\.xyz has no 'forces'"):
        d2.require("forces")
    with pytest.raises(ValueError, match="has no 'dipole'"):
        d.require("dipole")
    # errors in subsets name the original record too
    with pytest.raises(ValueError, match=r"structure 1 \(structure 17 before the subset\) of md_run\.xyz"):
        d.subset([3, 17]).require("forces")
    good = d.subset(~d.missing("forces"))
    assert len(good) == 19 and good.require("forces") is good


def test_to_units_kcal_mol_and_ev():
    d = AtomsData.from_atoms(labelled_molecules(3), properties=("energy", "forces"))
    k = d.to_units({"energy": "kcal/mol", "forces": "kcal/mol/A"})
    assert k.units["energy"] == "kcal/mol" and k.units["forces"] == "kcal/mol/A"
    np.testing.assert_allclose(k.properties["energy"], d.properties["energy"] * 23.060548, rtol=1e-6)
    np.testing.assert_allclose(k.properties["forces"], d.properties["forces"] * 23.060548, rtol=1e-6)
    back = k.to_units({"energy": "eV", "forces": "eV/A"})
    np.testing.assert_allclose(back.properties["energy"], d.properties["energy"], rtol=1e-14)
    np.testing.assert_allclose(back.properties["forces"], d.properties["forces"], rtol=1e-14)
    assert d.units["energy"] == "eV"                               # the original is untouched
    # ase.Atoms from a kcal/mol set still carry eV in their calculator (ASE's convention)
    np.testing.assert_allclose(k[0].get_potential_energy(), d[0].get_potential_energy(), rtol=1e-14)
    np.testing.assert_allclose(k[0].get_forces(), d[0].get_forces(), rtol=1e-14)
    # values in a file given in kcal/mol
    kc = AtomsData.from_atoms(labelled_molecules(2), properties=("energy",), units={"energy": "kcal/mol"})
    np.testing.assert_allclose(kc.to_units({"energy": "eV"}).properties["energy"],
                               kc.properties["energy"] / 23.060548, rtol=1e-6)
    assert unit_factor("Hartree", "eV") == pytest.approx(27.211386, rel=1e-7)
    assert unit_factor("Hartree/Bohr", "eV/A") == pytest.approx(51.422067, rel=1e-6)
    assert unit_factor("meV", "eV") == pytest.approx(1e-3)
    assert unit_factor("GPa", "eV/A^3") == pytest.approx(1 / 160.21766, rel=1e-6)
    assert unit_factor("Debye", "e*A") == pytest.approx(0.20819434, rel=1e-6)
    assert unit_factor("cal/(mol K)", "kcal/mol/K") == pytest.approx(1e-3)     # QM9's Cv unit
    assert unit_factor("Bohr^3", "A^3") == pytest.approx(0.52917721 ** 3, rel=1e-7)
    with pytest.raises(ValueError, match="unbalanced parenthesis"):
        unit_factor("eV/(A", "eV/A")
    with pytest.raises(ValueError, match="different dimensions"):
        d.to_units({"energy": "eV/A"})
    with pytest.raises(ValueError, match="unknown unit 'furlong'"):
        d.to_units({"forces": "eV/furlong"})
    with pytest.raises(ValueError, match="no such property"):
        d.to_units({"dipole": "Debye"})
    with pytest.raises(ValueError, match="its unit is not recorded"):
        AtomsData.from_atoms(labelled_molecules(2)).to_units({"temperature": "eV"})
    with pytest.raises(ValueError, match="Angstrom"):
        d.to_units({"positions": "Bohr"})


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"no such file: .*nothing\.xyz"):
        AtomsData.read(tmp_path / "nothing.xyz")
    bad = tmp_path / "bad.xyz"
    bad.write_text("3\nenergy=1.0 Properties=species:S:1:pos:R:3\nH 0 0 0\nH 0 0 1\n")
    with pytest.raises(ValueError, match=r"bad\.xyz"):
        AtomsData.read(bad, format="extxyz")


def test_ase_db_round_trip_with_key_value_pairs_and_data(tmp_path):
    from ase.db import connect

    mols = labelled_molecules(3)
    with connect(tmp_path / "iso.db") as db:
        for m in mols:
            plain = Atoms(m.numbers, m.positions)
            db.write(plain, total_energy=m.get_potential_energy(), data={"atomic_forces": m.get_forces()})
    d = AtomsData.read(tmp_path / "iso.db")
    assert d.metadata["renamed"] == {"total_energy": "energy", "atomic_forces": "forces"}
    np.testing.assert_array_equal(d.properties["energy"], [m.get_potential_energy() for m in mols])
    np.testing.assert_array_equal(d.properties["forces"], np.concatenate([m.get_forces() for m in mols]))
    assert len(AtomsData.read(tmp_path / "iso.db", index="1:")) == 2


# ------------------------------------------------------------------------------------------ real data
def test_rmd17_ethanol():
    path = shared_file("rmd17_ethanol/train.xyz")
    d = AtomsData.read(path).require("energy", "forces")
    assert len(d) == 1000 and (d.n_atoms == 9).all()
    assert d.units["energy"] == "eV" and d.units["forces"] == "eV/A"
    assert d.metadata["source"] == str(path)
    assert not d.pbc.any()
    f = d.properties["forces"].reshape(1000, 9, 3)
    net = np.linalg.norm(f.sum(axis=1), axis=1)
    typical = np.linalg.norm(f, axis=2).mean()
    assert typical > 0.5                                       # eV/A: a thermal MD set has real forces
    assert net.max() < 1e-3 * typical                          # Newton's third law: no net force on a molecule
    e = d.properties["energy"]
    assert -4300 < e.min() and e.max() < -4100 and e.std() < 1.0     # ethanol PBE total energies in eV
    assert list(d[0].symbols) == ["C", "C", "O", "H", "H", "H", "H", "H", "H"]


def test_si_mlearn_json():
    path = shared_file("si_mlearn/training.json")
    d = AtomsData.read_mlearn_json(path).require("energy", "forces")
    assert len(d) == 214 and d.pbc.all() and (d.numbers == 14).all()
    assert d.cell.shape == (214, 3, 3) and (np.abs(np.linalg.det(d.cell)) > 10).all()
    assert d.properties["forces"].shape == (d.n_atoms_total, 3)
    assert d.properties["virial_stress"].shape == (214, 6) and d.units["virial_stress"] == "kbar"
    import json

    items = json.loads(path.read_text())
    np.testing.assert_array_equal(d.n_atoms, [len(it["structure"]["sites"]) for it in items])
    np.testing.assert_array_equal(d.properties["energy"], [it["outputs"]["energy"] for it in items])
    # Cartesian xyz agree with the fractional abc and the lattice matrix
    k = 7
    abc = np.array([s["abc"] for s in items[k]["structure"]["sites"]])
    np.testing.assert_allclose(abc @ d.cell[k], d[k].positions, atol=1e-4)
    assert (d.n_atoms == 64).sum() > 100
    assert d.properties["description"][-1] == items[-1]["description"]
    # AtomsData.read recognises mlearn JSON by itself
    assert_same(AtomsData.read(path), d)


def test_iso17_sample_db():
    path = shared_file("iso17_sample/test_iso.db")
    d = AtomsData.read(path).require("energy", "forces")
    assert len(d) == 40 and (d.n_atoms == 19).all() and not d.pbc.any()
    from ase.db import connect

    with connect(path) as db:
        expected = [row.key_value_pairs["total_energy"] for row in db.select()]
    np.testing.assert_array_equal(d.properties["energy"], expected)
    assert d.units["energy"] == "eV" and d.metadata["renamed"]["total_energy"] == "energy"
    assert d[0].get_potential_energy() == expected[0]
    assert np.all(d.properties["forces"] == 0.0)                 # as this sample ships them


def test_c60_force_key():
    path = shared_file("c60_dft/train_dft1.xyz")
    d = AtomsData.read(path).require("energy", "forces")
    assert len(d) == 366 and (d.n_atoms == 60).all() and (d.numbers == 6).all()
    assert d.metadata["renamed"] == {"force": "forces"} and "force" not in d.properties
    assert d.properties["forces"].shape == (366 * 60, 3)
    f = d.properties["forces"].reshape(366, 60, 3)
    assert np.abs(f).max() > 0.1
    np.testing.assert_array_equal(d[5].get_forces(), f[5])
