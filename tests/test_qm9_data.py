"""QM9 loader (tfatoms.data.qm9): qm9pack CSV parsing and cache, original .xyz reader, splits, targets."""
import csv
import importlib.util
import json
import sys

import h5py
import numpy as np
import pytest
from ase import units

pytest.importorskip("qm9pack")

from tfatoms.data import qm9 as qm9mod  # noqa: E402
from tfatoms.data.atoms import AtomsData  # noqa: E402
from tfatoms.data.qm9 import (ATOM_REFERENCES, KCAL_MOL_PER_EV, PROPERTIES, QM9, THESIS_SPLITS,  # noqa: E402
                              load_qm9, load_qm9_xyz_dir, qm9_split, read_qm9_xyz)

HA = units.Hartree
N_QM9PACK = 130_831

# dsgdb9nsd_000001.xyz of the original archive, one coordinate written with a Mathematica exponent
METHANE_XYZ = """5
gdb 1\t157.7118\t157.70997\t157.70699\t0.\t13.21\t-0.3877\t0.1171\t0.5048\t35.3641\t0.044749\t-40.47893\t\
-40.476062\t-40.475117\t-40.498597\t6.469\t
C\t-0.0126981359\t 1.0858041578\t 0.0080009958\t-0.535689
H\t 0.002150416\t-0.0060313176\t 1.9761204*^-3\t 0.133921
H\t 1.0117308433\t 1.4637511618\t 0.0002765748\t 0.133922
H\t-0.540815069\t 1.4475266138\t-0.8766437152\t 0.133923
H\t-0.5238136345\t 1.4379326443\t 0.9063972942\t 0.133923
1341.307\t1341.3284\t1341.365\t1562.6731\t1562.7453\t3038.3205\t3151.6034\t3151.6788\t3151.7078
C\tC\t
InChI=1S/CH4/h1H4\tInChI=1S/CH4/h1H4
"""

AMMONIA_XYZ = """4
gdb 2\t293.60975\t293.54111\t191.39397\t1.6256\t9.46\t-0.257\t0.0829\t0.3399\t26.1563\t0.034358\t-56.525887\t\
-56.523026\t-56.522082\t-56.544961\t6.316\t
N\t-0.0404260543\t 1.0241077531\t 0.0625637998\t-0.707143
H\t 0.0172574639\t 0.0125452063\t-0.0273771593\t 0.235712
H\t 0.9157893661\t 1.3587451948\t-0.0287577581\t 0.235712
H\t-0.5202777357\t 1.3435321258\t-0.7755426124\t 0.23572
1103.8733\t1684.1158\t1684.3072\t3458.7145\t3575.2414\t3575.3343
N\tN\t
InChI=1S/H3N/h1H3\tInChI=1S/H3N/h1H3
"""


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("qm9cache")


@pytest.fixture(scope="module")
def qm9(cache_dir):
    """The full dataset, parsed once per session into a temporary cache (about 5 s)."""
    return load_qm9(cache_dir=cache_dir, progress=False)


def _csv_rows(n_per_file=200):
    """The first ``n_per_file`` rows of each qm9pack CSV, as dicts."""
    _, folder = qm9mod._qm9pack_source()
    csv.field_size_limit(sys.maxsize)
    rows = []
    for name in qm9mod._QM9PACK_FILES:
        with (folder / name).open(newline="") as f:
            for k, row in enumerate(csv.DictReader(f)):
                if k >= n_per_file:
                    break
                rows.append(row)
    return rows


# ----------------------------------------------------------------------------- constants

def test_property_table():
    assert list(PROPERTIES) == ["homo", "lumo", "gap", "zpve", "mu", "alpha", "r2", "U0", "U", "H", "G", "Cv"]
    assert KCAL_MOL_PER_EV == pytest.approx(23.0605, abs=1e-3)
    for name, spec in PROPERTIES.items():
        assert spec.name == name
        assert spec.aggregation == ("mean" if name in ("homo", "lumo", "gap") else "sum")
        assert spec.has_atomref == (name in ("U0", "U", "H", "G", "Cv"))
        if spec.unit == "eV":
            assert spec.table_unit == "kcal/mol" and spec.to_table == KCAL_MOL_PER_EV
        else:
            assert spec.table_unit == spec.unit and spec.to_table == 1.0
    assert set(ATOM_REFERENCES) == {"U0", "U", "H", "G", "Cv"}
    assert ATOM_REFERENCES["U0"][1] == pytest.approx(-0.500273 * HA)
    assert ATOM_REFERENCES["G"][9] == pytest.approx(-99.733544 * HA)
    assert ATOM_REFERENCES["Cv"] == {z: 2.981 for z in (1, 6, 7, 8, 9)}
    assert THESIS_SPLITS["schnet"] == (110_000, 10_000)


# ----------------------------------------------------------------------------- qm9pack CSV

def test_full_load(qm9):
    assert len(qm9) == N_QM9PACK
    assert qm9.offsets[-1] == len(qm9.numbers) == len(qm9.positions)
    # the AtomsData's own arrays (int64 numbers, as every AtomsData; the cache before the AtomsData view had int8)
    assert qm9.numbers.dtype == np.int64 and qm9.positions.dtype == np.float64 and qm9.offsets.dtype == np.int64
    assert qm9.numbers is qm9.to_atoms_data().numbers and qm9.offsets is qm9.atoms_data.ptr
    assert set(np.unique(qm9.numbers)) == {1, 6, 7, 8, 9}
    assert np.all(np.diff(qm9.index) > 0) and qm9.index[0] == 1 and qm9.index[-1] == 133_885
    assert qm9.n_atoms.min() == 3 and qm9.n_atoms.max() == 29
    assert all(np.all(np.isfinite(v)) for v in qm9.properties.values())


def test_methane(qm9):
    numbers, positions = qm9.molecule(0)
    assert qm9.index[0] == 1 and qm9.smiles[0] == "C"
    assert numbers.tolist() == [6, 1, 1, 1, 1]
    np.testing.assert_array_equal(positions[0], [-0.0126981359, 1.0858041578, 0.0080009958])
    atoms = qm9.atoms(0)
    assert atoms.get_chemical_formula() == "CH4" and not atoms.pbc.any() and atoms.info["index"] == 1
    assert qm9.properties["U0"][0] == pytest.approx(-40.47893 * HA, abs=1e-9)
    assert qm9.properties["homo"][0] == pytest.approx(-0.3877 * HA, abs=1e-9)
    assert qm9.properties["mu"][0] == 0.0 and qm9.properties["Cv"][0] == 6.469
    # U0 atomization energy of methane: -0.631066 Ha = -17.17 eV = -396.0 kcal/mol (it includes the ZPVE)
    expected = (-40.47893 - (-37.846772 + 4 * -0.500273)) * HA
    assert qm9.target("U0")[0] == pytest.approx(expected, abs=1e-9)
    assert qm9.target("U0")[0] * KCAL_MOL_PER_EV == pytest.approx(-396.0, abs=0.1)


def test_rows_match_csv(qm9):
    rows = _csv_rows(200)
    m = np.searchsorted(qm9.index, [int(r["Index"]) for r in rows])
    assert np.all(qm9.index[m] == [int(r["Index"]) for r in rows])
    assert qm9.n_atoms[m].tolist() == [int(r["N_atoms"]) for r in rows]
    for k, row in zip(m[::37], rows[::37]):
        numbers, positions = qm9.molecule(k)
        symbols = [s.strip("'") for s in row["Elements"].strip("[]").split(",")]
        assert [int(z) for z in numbers] == [qm9mod._SYMBOL_TO_Z[s] for s in symbols]
        assert qm9.smiles[k] == row["SMILES"]
        for name, spec in PROPERTIES.items():
            assert qm9.properties[name][k] == pytest.approx(float(row[spec.column]) * qm9mod._FROM_SOURCE[name])
    # coordinates such as "0." and "1." (acetylene, gdb 4, lies on the line y = 0, z = 1)
    _, positions = qm9.molecule(np.searchsorted(qm9.index, 4))
    np.testing.assert_array_equal(positions[:, 1:], [[0.0, 1.0]] * 4)


def test_partial_parse_matches_full(qm9):
    _, folder = qm9mod._qm9pack_source()
    part = qm9mod._parse_qm9pack_csv([folder / "qm9_part1.csv"], progress=False, max_rows=200)
    assert len(part) == 200
    full = qm9.subset(np.arange(200))
    for key in ("numbers", "positions", "offsets", "index", "smiles"):
        np.testing.assert_array_equal(getattr(part, key), getattr(full, key))
    for name in PROPERTIES:
        np.testing.assert_array_equal(part.properties[name], full.properties[name])


def test_malformed_csv(tmp_path):
    _, folder = qm9mod._qm9pack_source()
    with (folder / "qm9_part1.csv").open() as f:
        header, first, second = f.readline(), f.readline(), f.readline()
    bad = tmp_path / "bad.csv"
    bad.write_text(header + first + second.replace('/h1H3",4,', '/h1H3",5,'))
    with pytest.raises(ValueError, match=r"bad\.csv, line 3.*N_atoms = 5"):
        qm9mod._parse_qm9pack_csv([bad], progress=False)
    bad.write_text(header + first.replace("-40.47893", "-40.4x7893"))
    with pytest.raises(ValueError, match=r"bad\.csv, line 2"):
        qm9mod._parse_qm9pack_csv([bad], progress=False)


def _cache_path(cache_dir):
    version, folder = qm9mod._qm9pack_source()
    return qm9mod.CACHE.path(cache_dir, qm9mod.qm9_cache_params(version, folder), stem=f"qm9_qm9pack-{version}")


def test_cache(qm9, cache_dir, monkeypatch):
    path = _cache_path(cache_dir)
    assert path.name.startswith("qm9_qm9pack-1.0.3-") and len(path.stem) == len("qm9_qm9pack-1.0.3-") + 16
    # no temporary files left (.lock is the lock file of the cache generation)
    assert path.exists() and sorted(p.name for p in cache_dir.iterdir()) == [".lock", path.name]
    with h5py.File(path, "r") as f:
        params = json.loads(f.attrs["params"])
    assert params["version"] == "1.0.3" and params["package"] == "qm9pack"
    assert sorted(params["files"]) == ["qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv"]
    assert all(len(h) == 64 for h in params["files"].values())       # SHA-256 of each CSV
    stored = AtomsData.read_hdf5(path)                                # the cache is a plain AtomsData file
    assert len(stored) == N_QM9PACK and stored.metadata["rows"] == N_QM9PACK
    assert stored.units["U0"] == "eV" and stored.units["Cv"] == "cal/(mol K)"
    def no_parsing(*args, **kwargs):
        raise AssertionError("the cache should have been read, not the CSV files parsed")

    monkeypatch.setattr(qm9mod, "_parse_qm9pack_csv", no_parsing)
    again = load_qm9(cache_dir=cache_dir, progress=False)
    for key in ("numbers", "positions", "offsets", "index", "smiles"):
        np.testing.assert_array_equal(getattr(again, key), getattr(qm9, key))
    for name in PROPERTIES:
        np.testing.assert_array_equal(again.properties[name], qm9.properties[name])


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("TFATOMS_CACHE", str(tmp_path))
    assert qm9mod.default_cache_dir() == tmp_path


def test_missing_qm9pack(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "qm9pack" else real(name, *a))
    with pytest.raises(ImportError, match="pip install qm9pack"):
        load_qm9(cache_dir=tmp_path, progress=False)


# ----------------------------------------------------------------------------- targets and subsets

def test_target(qm9):
    for name in ("U0", "U", "H", "G", "Cv"):
        raw, at = qm9.target(name, atomization=False), qm9.target(name)
        np.testing.assert_allclose(raw - at, qm9.reference_sum(name), rtol=1e-12)
        np.testing.assert_array_equal(raw, qm9.properties[name])
    np.testing.assert_array_equal(qm9.target("homo"), qm9.properties["homo"])
    u0 = qm9.target("U0") * KCAL_MOL_PER_EV
    assert np.all(u0 < 0) and -1800 < u0.mean() < -1700  # mean -1755.3, std 238.1 kcal/mol
    with pytest.raises(ValueError, match="valid names.*'U0'"):
        qm9.target("energy")
    with pytest.raises(ValueError, match="no atom references"):
        qm9.reference_sum("homo")


def test_subset_and_molecule(qm9):
    sub = qm9.subset([4, 0])
    assert len(sub) == 2 and sub.index.tolist() == [qm9.index[4], 1]
    for k, m in enumerate([4, 0]):
        for a, b in zip(sub.molecule(k), qm9.molecule(m)):
            np.testing.assert_array_equal(a, b)
    assert sub.properties["U0"].tolist() == qm9.properties["U0"][[4, 0]].tolist()
    mask = np.zeros(len(qm9), bool)
    mask[[1, 2]] = True
    assert qm9.subset(mask).index.tolist() == [2, 3]
    np.testing.assert_array_equal(qm9.molecule(-1)[0], qm9.numbers[qm9.offsets[-2]:])
    with pytest.raises(IndexError):
        qm9.molecule(len(qm9))


def test_formula_indices(qm9):
    isomers = qm9.formula_indices("C7O2H10")
    # 6,095 C7O2H10 isomers in the full 133,885-molecule QM9; one is among the 3,054 molecules that
    # failed the consistency check and are not in qm9pack (its Stoichiometry column agrees: 6,094)
    assert len(isomers) == 6_094
    assert np.all(qm9.n_atoms[isomers] == 19)
    assert qm9.formula_indices("CH4").tolist() == [0] == qm9.formula_indices("H4C").tolist()
    assert len(qm9.formula_indices("C7O2H10F")) == 0
    for bad in ("c7o2", "C7Q2", ""):
        with pytest.raises(ValueError):
            qm9.formula_indices(bad)


# ----------------------------------------------------------------------------- original .xyz files

def test_read_xyz_matches_csv(qm9, tmp_path):
    path = tmp_path / "dsgdb9nsd_000001.xyz"
    path.write_text(METHANE_XYZ)
    atoms, props = read_qm9_xyz(path)
    numbers, positions = qm9.molecule(0)
    assert atoms.numbers.tolist() == numbers.tolist() and not atoms.pbc.any()
    np.testing.assert_allclose(atoms.positions, positions, rtol=1e-12, atol=0)
    assert atoms.positions[1, 2] == pytest.approx(0.0019761204, rel=1e-12)  # the *^ exponent
    assert props["index"] == 1 and props["smiles"] == "C"
    for name in PROPERTIES:
        assert props[name] == pytest.approx(qm9.properties[name][0], rel=1e-12, abs=0)


def test_load_xyz_dir(qm9, tmp_path):
    (tmp_path / "a.xyz").write_text(AMMONIA_XYZ)  # file order differs from gdb order
    (tmp_path / "b.xyz").write_text(METHANE_XYZ)
    data = load_qm9_xyz_dir(tmp_path, progress=False)
    assert data.index.tolist() == [1, 2] and data.smiles.tolist() == ["C", "N"]
    ref = qm9.subset([0, 1])
    np.testing.assert_array_equal(data.numbers, ref.numbers)
    np.testing.assert_allclose(data.positions, ref.positions, rtol=1e-12)
    for name in PROPERTIES:
        np.testing.assert_allclose(data.properties[name], ref.properties[name], rtol=1e-12)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .xyz files"):
        load_qm9_xyz_dir(tmp_path / "empty")


@pytest.mark.parametrize("edit, where", [
    (lambda t: t.replace("5\n", "4\n", 1), "line 7"),                     # too few atoms declared
    (lambda t: t.replace("5\n", "6\n", 1), "line 8"),                     # too many atoms declared
    (lambda t: t.replace("1.4637511618", "1.46x37"), "line 5"),           # non-numeric coordinate
    (lambda t: t.replace("\t-40.47893", "\tabc"), "line 2"),              # non-numeric property
    (lambda t: "\n".join(t.splitlines()[:8]), "line 9"),                  # SMILES/InChI lines missing
    (lambda t: t.replace("5\n", "five\n", 1), "line 1"),
])
def test_read_xyz_malformed(tmp_path, edit, where):
    path = tmp_path / "broken_molecule.xyz"
    path.write_text(edit(METHANE_XYZ))
    with pytest.raises(ValueError, match=rf"broken_molecule\.xyz, {where}"):
        read_qm9_xyz(path)


# ----------------------------------------------------------------------------- splits

def test_split_sizes_and_disjoint():
    s = qm9_split(N_QM9PACK, *THESIS_SPLITS["schnet"], seed=3)
    assert [len(s[k]) for k in ("train", "val", "test")] == [110_000, 10_000, N_QM9PACK - 120_000]
    together = np.concatenate([s["train"], s["val"], s["test"]])
    assert np.array_equal(np.sort(together), np.arange(N_QM9PACK))
    s = qm9_split(1000, 100, 50, n_test=200)
    assert [len(s[k]) for k in ("train", "val", "test")] == [100, 50, 200]
    assert len(np.unique(np.concatenate(list(s.values())))) == 350


def test_split_reproducible():
    a, b, c = qm9_split(1000, 100, 50, seed=1), qm9_split(1000, 100, 50, seed=1), qm9_split(1000, 100, 50, seed=2)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["val"], c["val"]) and not np.array_equal(a["train"], c["train"])


def test_split_learning_curve():
    small, large = qm9_split(1000, 100, 50, 200, seed=7), qm9_split(1000, 600, 50, 200, seed=7)
    np.testing.assert_array_equal(small["val"], large["val"])
    np.testing.assert_array_equal(small["test"], large["test"])
    np.testing.assert_array_equal(small["train"], large["train"][:100])  # nested training sets
    rest_small, rest_large = qm9_split(1000, 100, 50, seed=7), qm9_split(1000, 600, 50, seed=7)
    np.testing.assert_array_equal(rest_small["val"], rest_large["val"])
    assert set(rest_large["test"]) <= set(rest_small["test"])


def test_split_errors():
    with pytest.raises(ValueError, match="only 100"):
        qm9_split(100, 90, 20)
    with pytest.raises(ValueError, match="only 100"):
        qm9_split(100, 50, 20, n_test=40)
    with pytest.raises(ValueError, match="non-negative"):
        qm9_split(100, -1, 20)
    with pytest.raises(ValueError, match="non-negative"):
        qm9_split(100, 10, 2.5)
    assert len(qm9_split(100, 80, 20)["test"]) == 0


# ----------------------------------------------------------------------------- cache writes and locking

def _dead_pid() -> int:
    import subprocess

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _small(monkeypatch, n=20):
    """Make load_qm9 parse only the first ``n`` rows (fast), as if that were the whole package."""
    parse = qm9mod._parse_qm9pack_csv
    monkeypatch.setattr(qm9mod, "_parse_qm9pack_csv", lambda paths, progress=True: parse(paths[:1], False, n))


def test_cache_write_removes_stale_temporaries_and_leaves_none_on_failure(tmp_path, monkeypatch):
    """A SIGKILLed writer's ``.<name>.tmp-<pid>`` is removed by the next write; a failing write leaves nothing."""
    _small(monkeypatch)
    name = _cache_path(tmp_path).name
    stale = tmp_path / f".{name}.tmp-{_dead_pid()}.h5"
    stale.write_bytes(b"x" * 1000)
    data = load_qm9(cache_dir=tmp_path, progress=False)
    assert len(data) == 20 and not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", name]

    target = tmp_path / "failing" / name
    monkeypatch.setattr(h5py.Group, "create_group", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "disk full")))
    with pytest.raises(OSError, match="disk full"):
        qm9mod.CACHE.store(target, {"n": 20}, data)              # fails half-way through the file
    assert list(target.parent.iterdir()) == []


def test_damaged_cache_is_named_and_refresh_replaces_it(tmp_path, monkeypatch):
    from tfatoms.data.cache import CacheFileError

    _small(monkeypatch)
    path = _cache_path(tmp_path)
    load_qm9(cache_dir=tmp_path, progress=False)
    path.write_bytes(path.read_bytes()[:4000])
    with pytest.raises(CacheFileError, match=f"QM9 cache {path} is unreadable or truncated.*refresh=True"):
        load_qm9(cache_dir=tmp_path, progress=False)
    assert len(load_qm9(cache_dir=tmp_path, progress=False, refresh=True)) == 20
    assert len(load_qm9(cache_dir=tmp_path, progress=False)) == 20


def test_cache_of_an_earlier_tfatoms_is_converted_not_reparsed(tmp_path, monkeypatch):
    """The layout before the AtomsData cache (``qm9_qm9pack-<version>.h5``, ``format`` 1, flat datasets) is
    converted into the keyed AtomsData file, with a warning, and removed; nothing is parsed."""
    from tfatoms.data.cache import LegacyCacheWarning

    _small(monkeypatch)
    data = load_qm9(cache_dir=tmp_path / "new", progress=False)
    version, _ = qm9mod._qm9pack_source()
    old = tmp_path / f"qm9_qm9pack-{version}.h5"
    with h5py.File(old, "w") as f:                                  # what tfatoms wrote before
        for key in ("numbers", "positions", "offsets", "index"):
            f.create_dataset(key, data=getattr(data, key))
        f.create_dataset("smiles", data=data.smiles.tolist(), dtype=h5py.string_dtype())
        g = f.create_group("properties")
        for name, values in data.properties.items():
            g.create_dataset(name, data=values)
        f.attrs["source"] = json.dumps({"package": "qm9pack", "version": version, "rows": 20,
                                        "files": list(qm9mod._QM9PACK_FILES)})
        f.attrs["format"] = 1
    monkeypatch.setattr(qm9mod, "_parse_qm9pack_csv", lambda *a, **k: pytest.fail("converted, not parsed"))
    with pytest.warns(LegacyCacheWarning, match=f"{old.name}.*converted to.*{_cache_path(tmp_path).name}"):
        again = load_qm9(cache_dir=tmp_path, progress=False)
    assert not old.exists() and _cache_path(tmp_path).exists()
    for key in ("numbers", "positions", "offsets", "index", "smiles"):
        np.testing.assert_array_equal(getattr(again, key), getattr(data, key))
    np.testing.assert_array_equal(again.properties["U0"], data.properties["U0"])


def test_qm9_is_a_view_of_its_atoms_data(qm9):
    """subset -> AtomsData -> ase.Atoms gives back the numbers, positions and energies of the QM9 arrays."""
    sub = qm9.subset([4, 0, 130_000])
    data = sub.to_atoms_data()
    assert data is sub.atoms_data and len(data) == 3 and data.metadata["subset"]["indices"] == [4, 0, 130_000]
    for k, m in enumerate([4, 0, 130_000]):
        atoms = data[k]
        numbers, positions = qm9.molecule(m)
        np.testing.assert_array_equal(atoms.numbers, numbers)
        np.testing.assert_array_equal(atoms.positions, positions)
        assert atoms.info["U0"] == qm9.properties["U0"][m] and atoms.info["homo"] == qm9.properties["homo"][m]
        assert atoms.info["index"] == qm9.index[m] and atoms.info["smiles"] == qm9.smiles[m]
        assert not atoms.pbc.any()
    for name in PROPERTIES:
        assert data.properties[name] is sub.properties[name]
        assert data.units[name] == PROPERTIES[name].unit
    # and back: a QM9 view of an AtomsData (units converted to the package units where they differ)
    kcal = QM9.from_atoms_data(data.to_units({"U0": "kcal/mol"}))
    np.testing.assert_allclose(kcal.properties["U0"], sub.properties["U0"], rtol=1e-14)
    with pytest.raises(ValueError, match="QM9 view needs smiles, homo"):
        QM9.from_atoms_data(AtomsData(data.numbers, data.positions, data.ptr, properties={"index": data.ptr[:-1]}))


def test_cache_generation_refuses_a_second_process(tmp_path, monkeypatch):
    """While one run generates the cache, another one on the same directory gets DirectoryInUse at once."""
    from tfatoms._io import DirectoryInUse, exclusive

    _small(monkeypatch)
    with exclusive(tmp_path):   # a separate open file: flock treats it like another process
        with pytest.raises(DirectoryInUse, match="dataset cache directory .* is in use"):
            load_qm9(cache_dir=tmp_path, progress=False)
    assert len(load_qm9(cache_dir=tmp_path, progress=False)) == 20
    with exclusive(tmp_path):   # a finished cache is read without the lock
        assert len(load_qm9(cache_dir=tmp_path, progress=False)) == 20
