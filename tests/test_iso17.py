"""ISO17 (tfatoms.data.iso17): isomers drawn from the real QM9, the thesis' known/unknown split, parallel MD
generation equal to serial (ASE EMT as the reference here, GFN2-xTB in the reproduction)."""
import numpy as np
import pytest

from tfatoms.data.iso17 import ISO17_FORMULA, iso17_datasets, iso17_isomers, iso17_split


def test_isomers_are_distinct_c7o2h10_molecules_of_qm9_and_seeded(qm9):
    isomers = iso17_isomers(qm9, 129, seed=0)
    assert len({a.info["index"] for a in isomers}) == 129
    assert all(a.get_chemical_formula(mode="hill") == "C7H10O2" for a in isomers)
    assert [a.info["index"] for a in iso17_isomers(qm9, 129, seed=0)] == [a.info["index"] for a in isomers]
    assert [a.info["index"] for a in iso17_isomers(qm9, 129, seed=1)] != [a.info["index"] for a in isomers]
    with pytest.raises(ValueError, match=f"cannot draw 10000 {ISO17_FORMULA} isomers: QM9 here holds 6094"):
        iso17_isomers(qm9, 10_000)


def test_split_is_the_thesis_scheme():
    counts = [50] * 129
    s = iso17_split(counts, seed=0)
    assert len(s["known_molecules"]) == 103 and len(s["unknown_molecules"]) == 26      # 80 % / 20 %
    molecule_of = np.repeat(np.arange(129), 50)
    known, within, other = s["known"], s["test_within"], s["test_other"]
    # disjoint and complete
    assert len(np.unique(np.concatenate([known, within, other]))) == 129 * 50
    # test-other holds every frame of the unknown molecules and nothing else; the known frames never meet them
    assert set(molecule_of[other]) == set(s["unknown_molecules"]) and len(other) == 26 * 50
    assert not set(molecule_of[known]) & set(s["unknown_molecules"])
    assert set(molecule_of[within]) == set(molecule_of[known]) == set(s["known_molecules"])
    # 80 % of each known molecule's frames are known configurations
    assert (np.bincount(molecule_of[known], minlength=129)[s["known_molecules"]] == 40).all()
    np.testing.assert_array_equal(iso17_split(counts, seed=0)["test_within"], within)
    with pytest.raises(ValueError, match="at least 2 molecules"):
        iso17_split([5])


def test_parallel_generation_equals_serial_and_labels_are_the_reference(qm9, tmp_path):
    from tfatoms.data.reference import reference_calculator

    isomers = iso17_isomers(qm9, 2, seed=0)
    two = iso17_datasets(tmp_path / "a", isomers, steps=20, interval=5, calculator="emt", workers=2, progress=False)
    one = iso17_datasets(tmp_path / "b", isomers, steps=20, interval=5, calculator="emt", workers=1, progress=False)
    assert list(two) == [a.info["index"] for a in isomers]
    for k in two:
        assert len(two[k]) == 4
        np.testing.assert_array_equal(two[k].positions, one[k].positions)
        np.testing.assert_array_equal(two[k].properties["energy"], one[k].properties["energy"])
        assert two[k].metadata["params"]["timestep_fs"] == 1.0
    frame = two[isomers[0].info["index"]][2]
    frame.calc = reference_calculator("emt")
    np.testing.assert_allclose(frame.get_potential_energy(),
                               two[isomers[0].info["index"]].properties["energy"][2], atol=1e-10)
    assert len(list((tmp_path / "a").glob("md_iso17_*.h5"))) == 2


def test_script_names_a_bad_reference_before_any_work(tmp_path, capsys):
    from conftest import load_script

    script = load_script("reproductions/schnet_iso17.py")
    with pytest.raises(SystemExit) as exc:
        script.main(["--quick", "--reference", "dftb", "--out", str(tmp_path), "--cache-dir", str(tmp_path / "c")])
    assert exc.value.code == 2 and "--reference dftb: unknown reference calculator" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_script_quick_run_writes_table_5_5(tmp_path):
    import json

    from conftest import load_script

    script = load_script("reproductions/schnet_iso17.py")
    errors = script.main(["--quick", "--reference", "emt", "--out", str(tmp_path), "--cache-dir", str(tmp_path / "c")])
    metrics = json.loads((tmp_path / "schnet_iso17_quick" / "metrics.json").read_text())
    assert {f"{q}.{t}.{m}" for q in ("energy_mae", "forces_mae") for t in ("test_within", "test_other")
            for m in ("mean_predictor", "energy", "energy_forces")} <= set(metrics)
    # the mean predictor's force error is the mean |F| component of the test frames: every model must do better
    assert errors["energy_forces"]["test_within"]["forces_mae"] < errors["mean_predictor"]["test_within"]["forces_mae"]
