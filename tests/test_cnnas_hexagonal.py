"""CNNAS on the hexagonal sheets (CNNAS sec. 3.3, Table 1's last row, Figs. 6-7, the poster's independent-MD test).

Fast: the poster's frames are exactly every 100th MD step of the hbn_pristine independent run, in MD order; the
--full learning rate drops from 1e-5 to 1e-6 after 300 epochs; the per-atom errors; --translate is off by default.
Slow: ``reproductions/cnnas_hexagonal.py --quick`` end to end (xTB data, training, tables, figures)."""
import csv
import json

import numpy as np
import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def module():
    return load_script("reproductions/cnnas_hexagonal.py")


def _synthetic_frames(module, steps_per_run=320, runs=2):
    """Two structures x ``runs`` runs of ``steps_per_run`` MD steps (a frame per step, md_step 1 ...), splits by
    the dataset's own rule, frames stored in a shuffled order; two atoms per frame."""
    from tfatoms.data.atoms import AtomsData
    from tfatoms.data.hexagonal import PAPER_CELL, frame_splits

    names = ["graphene_pristine", "hbn_pristine"]
    structure, run, md_step = (np.array(a).ravel() for a in np.meshgrid(
        np.arange(2), np.arange(runs), np.arange(1, steps_per_run + 1), indexing="ij"))
    order = np.random.default_rng(0).permutation(len(structure))
    structure, run, md_step = structure[order], run[order], md_step[order]
    n = len(structure)
    split = frame_splits(run, md_step, runs, steps_per_run, 1)
    numbers = np.where(structure[:, None] == 0, 6, [[5, 7]]).ravel()
    positions = np.random.default_rng(1).random((2 * n, 3)) * [PAPER_CELL[0], PAPER_CELL[1], 0.0]
    data = AtomsData(numbers, positions, np.arange(0, 2 * n + 1, 2), cell=np.diag(PAPER_CELL), pbc=True,
                     properties=dict(energy=np.arange(n, dtype=float), split=split, structure=structure, run=run,
                                     md_step=md_step),
                     metadata={"structures": names})
    return module.Frames(data), structure, run, md_step


def test_poster_frames_are_every_100th_md_step_of_the_hbn_pristine_independent_run(module):
    frames, structure, run, md_step = _synthetic_frames(module)
    sel = module.poster_frames(frames, "hbn_pristine", 100)
    assert list(md_step[sel]) == [100, 200, 300]                     # MD order, every 100th step, nothing else
    assert np.all(structure[sel] == 1) and np.all(run[sel] == 1)    # the last (independent) run of hbn_pristine
    assert np.all(frames.split[sel] == 3)                           # the "independent" set of Frames
    whole = module.poster_frames(frames, "hbn_pristine", 1)          # Fig. 7's lines: every frame of that run
    assert list(md_step[whole]) == list(range(1, 321)) and np.all(run[whole] == 1) and np.all(structure[whole] == 1)
    assert set(sel) <= set(whole)
    with pytest.raises(ValueError, match="not in the dataset"):
        module.poster_frames(frames, "hbn_vacancy", 100)
    with pytest.raises(ValueError, match="no independent-run frame"):
        module.poster_frames(frames, "hbn_pristine", 1000)


def test_full_learning_rate_is_the_papers_drop_after_300_epochs(module):
    full = module.BUDGETS["full"]
    n_batches = 45
    lr = module.learning_rate(full, n_batches, full["epochs"] * n_batches)
    assert float(lr(0)) == pytest.approx(1e-5)
    assert float(lr(300 * n_batches)) == pytest.approx(1e-5)          # the 300th epoch's last step
    assert float(lr(300 * n_batches + 1)) == pytest.approx(1e-6)
    assert float(lr(500 * n_batches)) == pytest.approx(1e-6)
    default = module.BUDGETS["default"]
    lr = module.learning_rate(default, n_batches, default["max_steps"])
    assert float(lr(0)) == pytest.approx(default["lr"]) and float(lr(default["max_steps"])) == pytest.approx(1e-6)


def test_training_frames_are_translated_only_with_translate(module):
    assert module.parse_args(["--quick"]).translate is False
    assert module.parse_args(["--quick", "--translate"]).translate is True


def test_per_atom_errors(module):
    e = module.per_atom([1.0, -0.5], [0.0, 0.0], np.array([50, 25]), 2.0)
    assert e["mae_eV"] == pytest.approx(0.75)
    assert e["mae_atom"] == pytest.approx((20 + 20) / 2) and e["max_atom"] == pytest.approx(20)
    assert e["mean_signed_atom"] == pytest.approx(0.0) and e["mse_eV2"] == pytest.approx(0.625)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, module):
    pytest.importorskip("tblite")
    out, cache = tmp_path_factory.mktemp("out"), tmp_path_factory.mktemp("cache")
    return module.main(["--quick", "--out", str(out), "--cache-dir", str(cache), "--workers", "1"])


@pytest.mark.slow
def test_quick_run_writes_table_1_the_posters_test_and_figures(quick_run):
    result = quick_run
    metrics = json.loads((result.dir / "metrics.json").read_text())
    for key in ("test.mae_eV", "test.mae_meV_atom", "test.max_meV_atom", "test.mse_eV2", "test.mae_meV_A2",
                "independent.mae_eV", "independent.mae_meV_atom", "independent.max_meV_atom",
                "independent.mse_eV2", "independent.mae_meV_A2", "poster.mae_meV_atom", "poster.max_meV_atom",
                "poster.all_frames.mae_meV_atom", "mean_predictor.mae_meV_atom",
                "atom_reference_predictor.mae_meV_atom", "structure_mean_predictor.mae_meV_atom",
                "atom_reference_predictor.independent.mae_meV_atom", "reference.std_meV_atom.test",
                "reference.within_structure_std_meV_atom.test", "independent.mae_meV_atom.graphene_pristine",
                "independent.mae_meV_atom.hbn_vacancy", "seconds_per_frame_predict"):
        assert np.isfinite(metrics[key]), key
    assert not any(k.startswith("val.") for k in metrics)             # the test set is the paper's split now
    assert metrics["poster.n_frames"] == 4 and metrics["poster.every_md_steps"] == 2   # steps 2, 4, 6, 8 of 8
    rows = {r["quantity"]: r for r in csv.DictReader(open(result.dir / "table.csv"))}
    poster = [r for q, r in rows.items() if q.startswith("poster's test")]
    assert len(poster) == 3 and float(poster[0]["paper"]) == pytest.approx(6.85)
    assert float(rows["Table 1: test MAE of the total energy"]["paper"]) == pytest.approx(0.0119)
    assert float(rows["Table 1: test MSE of the total energy"]["paper"]) == pytest.approx(3.11e-4)
    assert "MAE per atom on the independent runs" in rows
    assert not any(q.startswith("validation") or "validation MSE" in q for q in rows)
    assert float(rows["image grid (pixels per side)"]["ours"]) == 64
    per_structure = (result.dir / "per_structure.md").read_text()
    assert "graphene_pristine" in per_structure and "hbn_vacancy" in per_structure
    for fig in ("fig6_training", "fig7_hbn_md"):
        assert (result.dir / f"{fig}.png").stat().st_size > 1000
    provenance = json.loads((result.dir / "provenance.json").read_text())
    assert provenance["training"]["grid"] == 64 and provenance["poster"]["md_step"] == [2, 4, 6, 8]
    assert np.all(np.isfinite(provenance["poster"]["predicted_eV"]))       # the independent run is predicted
    assert "random translations" not in provenance["protocol"]
