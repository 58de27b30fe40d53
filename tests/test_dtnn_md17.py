"""reproductions/dtnn_md17.py: thesis Tables 3.2 / 3.3 (DTNN on MD17 energies, KRR on the Coulomb matrix)."""
import numpy as np
import pytest

from conftest import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("reproductions/dtnn_md17.py")


@pytest.fixture(scope="module")
def ethanol(tmp_path_factory):
    """200 frames of an MD17-protocol ethanol trajectory with ASE's EMT (500 K, 0.5 fs, every 2nd of 400 steps)."""
    from tfatoms.data.md17 import md17_dataset

    return md17_dataset(tmp_path_factory.mktemp("md17_emt"), "ethanol", steps=400, interval=2, calculator="emt",
                        progress=False)


def test_script_names_a_bad_molecule_reference_or_size_before_any_work(script, tmp_path, capsys):
    for argv, message in ((["--molecules", "benzene,caffeine"], "caffeine: the MD17 molecules are benzene"),
                          (["--molecules", ","], "none given"),
                          (["--reference", "dftb"], "--reference dftb: unknown reference calculator"),
                          (["--n-train", "60"], "--n-train 60: the trajectory of this budget has 100 frames")):
        with pytest.raises(SystemExit) as exc:
            script.main(["--quick", "--out", str(tmp_path), "--cache-dir", str(tmp_path / "cache"), *argv])
        assert exc.value.code == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "cache").exists() and not list(tmp_path.iterdir())    # nothing written


def test_coulomb_matrix_is_the_naive_one_in_the_trajectory_order(script, ethanol):
    m = script.coulomb_matrices(ethanol.subset([0, 7]))
    assert m.shape == (2, 9, 9)
    for k, frame in enumerate((ethanol[0], ethanol[7])):
        z, r = frame.numbers.astype(float), frame.positions
        d = np.linalg.norm(r[:, None] - r[None], axis=-1)
        naive = np.outer(z, z) / np.where(d > 0, d, 1.0)
        np.fill_diagonal(naive, 0.5 * z ** 2.4)
        np.testing.assert_allclose(m[k], naive, rtol=1e-10)
    assert not np.allclose(m[0], m[1])                                  # the geometry changes along the trajectory
    x = script.cm_features(ethanol.subset([0, 7]))
    assert x.shape == (2, 9 * 10 // 2)
    np.testing.assert_allclose(x[0], m[0][np.triu_indices(9)])


def test_coulomb_matrix_refuses_frames_of_another_atom_order(script, ethanol):
    from tfatoms.data.atoms import AtomsData

    a, b = ethanol[0], ethanol[1]
    b = b[list(range(len(b)))[::-1]]                                   # the same molecule, atoms reversed
    with pytest.raises(ValueError, match="same order in every frame"):
        script.coulomb_matrices(AtomsData.from_atoms([a, b]))


def test_krr_cm_learns_the_trajectory_energy_far_below_the_mean_predictor(script, ethanol):
    y = np.asarray(ethanol.properties["energy"], np.float64)
    parts = script.split_frames(len(ethanol), 140, dict(n_val=20, n_test=40), 0)
    krr = script.fit_krr_cm(script.cm_features(ethanol), y, parts)
    mean = script.mean_predictor_mae(y, parts)
    assert mean == pytest.approx(np.mean(np.abs(y[parts["test"]] - y[parts["train"]].mean())))
    assert krr["n_train"] == 140 and krr["length_scale"] > 0 and krr["alpha"] in script.KRR_ALPHAS
    assert krr["test_mae"] < 0.3 * mean        # held-out frames: a real fit (0.08 x here, < 0.1 x for seeds 0-5)
    np.testing.assert_allclose(np.mean(np.abs(krr["test_pred"] - y[parts["test"]])), krr["test_mae"])
    again = script.fit_krr_cm(script.cm_features(ethanol), y, parts)
    assert again["test_mae"] == krr["test_mae"]                         # deterministic


def test_dtnn_rows_compare_with_the_same_n_or_the_thesis_smallest(script):
    ref, note = script.dtnn_reference("toluene", 2, 50_000)
    assert ref.value == 0.18 and note == ""
    ref, note = script.dtnn_reference("salicylic_acid", 3, 1_000)
    assert ref.value == 0.79 and "N = 25,000" in note                   # Table 3.2's N = 25k row
    assert script.dtnn_reference("ethanol", 2, 1_000) == (None, "")     # not in Table 3.2
    from tfatoms.reproduce.references import REFERENCES

    for name in script.MOLECULES:
        assert script.paper_key(name, "mean_predictor") in REFERENCES
        assert script.paper_key(name, "krr_cm") in REFERENCES
        assert script.paper_key(name, "dtnn_best_50k") in REFERENCES
        for t in (1, 2, 3):
            for n in (25, 50, 100):
                assert script.paper_key(name, f"T{t}_{n}k") in REFERENCES


@pytest.mark.slow
def test_script_quick_run_writes_every_row_and_resumes(script, tmp_path, capsys):
    import json

    argv = ["--quick", "--reference", "emt", "--start", "rdkit", "--molecules", "benzene",
            "--cache-dir", str(tmp_path / "cache")]
    results = script.main(argv + ["--out", str(tmp_path / "a")])
    out = tmp_path / "a" / "dtnn_md17_quick"
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"energy_mae.test.benzene.mean.n50", "energy_mae.test.benzene.dtnn_T1.n50",
            "energy_mae.test.benzene.dtnn_T2.n50", "energy_mae.test.benzene.dtnn_T3.n50",
            "energy_mae.test.benzene.krr_cm.n50", "ratio.benzene.dtnn_best_over_krr_cm"} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())
    table = (out / "table.md").read_text()
    assert "thesis Table 3.2" in table and "thesis Table 3.3" in table
    assert "| 1.86 |" in table and "| 0.04 |" in table                  # benzene: mean predictor, KRR-CM
    runs = sorted(p.name for p in (tmp_path / "cache" / "runs").iterdir())
    assert runs == [f"dtnn_md17_quick_benzene_emt_rdkit_seed0_n50_steps20_T{t}" for t in (1, 2, 3)]
    capsys.readouterr()
    again = script.main(argv + ["--out", str(tmp_path / "b")])          # data and finished models from the cache
    assert "loaded finished model" in capsys.readouterr().out
    assert again["benzene"]["n"][50]["dtnn"][3]["test_mae"] == results["benzene"]["n"][50]["dtnn"][3]["test_mae"]
