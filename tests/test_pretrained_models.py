"""The shipped SchNet trained on rMD17 ethanol (tfatoms/pretrained/schnet_rmd17_ethanol.*): loadable by name,
says what it was trained on, gives the same results through the calculator as through Potential, refuses an
altered file, and is accurate on its own held-out configurations (when the rMD17 file is at hand)."""
import os
import shutil
from pathlib import Path

import ase.build
import numpy as np
import pytest

from tfatoms.calculators import TfatomsCalculator
from tfatoms.models import Potential
from tfatoms.pretrained import PRETRAINED_DIR, available_models, load_model
from tfatoms.representations import build_batch

NAME = "schnet_rmd17_ethanol"
ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TFATOMS_SHARED_DATA", ROOT.parent / "shared" / "data")) / "rmd17_ethanol" / "train.xyz"


def test_loadable_by_name_and_says_what_it_was_trained_on():
    assert NAME in available_models()
    model, meta = load_model(NAME)
    assert "rMD17 ethanol" in meta["trained_on"] and meta["reference_method"] == "PBE/def2-SVP"
    assert meta["units"]["energy"] == "eV" and len(meta["split"]["train"]) == 800 and len(meta["split"]["test"]) == 150
    atoms = ase.build.molecule("CH3CH2OH")
    atoms.calc = TfatomsCalculator(NAME)
    assert "rMD17" in atoms.calc.metadata["trained_on"]
    out = Potential(model)(build_batch([atoms]))
    assert atoms.get_potential_energy() == pytest.approx(float(out["energy"][0]), abs=1e-4)
    np.testing.assert_allclose(atoms.get_forces(), out["forces"].numpy(), atol=1e-4)
    assert -4300 < atoms.get_potential_energy() < -4100       # a total energy in eV (ethanol, PBE), not a residual


def test_altered_file_and_unknown_name_are_clear_errors(tmp_path):
    for suffix in (".keras", ".json"):
        shutil.copy(PRETRAINED_DIR / f"{NAME}{suffix}", tmp_path / f"{NAME}{suffix}")
    with open(tmp_path / f"{NAME}.keras", "r+b") as fh:
        fh.seek(100)
        byte = fh.read(1)
        fh.seek(100)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ValueError, match="SHA-256 differs"):
        load_model(NAME, tmp_path)
    with pytest.raises(ValueError, match="no pretrained model 'nope'.*available"):
        TfatomsCalculator("nope")


@pytest.mark.skipif(not DATA.is_file(), reason=f"rMD17 ethanol not found at {DATA}")
def test_accurate_on_its_held_out_configurations():
    from tfatoms.data.atoms import AtomsData

    _, meta = load_model(NAME)
    data = AtomsData.read(DATA)
    calc = TfatomsCalculator(NAME)
    de, df = [], []
    for k in meta["split"]["test"][:50]:
        atoms = data[int(k)]
        ref_e, ref_f = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = calc
        de.append(atoms.get_potential_energy() - ref_e)
        df.append(atoms.get_forces() - ref_f)
    e_mae, f_mae = np.mean(np.abs(de)), np.mean(np.abs(np.concatenate(df)))
    # the model's own test errors (meta) with a margin for the 50-configuration subset
    assert f_mae < 1.5 * meta["test_errors"]["forces_mae_meV_A"] / 1000, f_mae
    assert e_mae < 1.5 * meta["test_errors"]["energy_mae_meV"] / 1000 + 1e-3, e_mae
