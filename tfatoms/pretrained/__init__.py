"""Pretrained models shipped with the package, loadable by one call.

``ednn_porous_graphene``: the EDNN tile CNN (EDNN sec. 2.1, f = 64, c = 32,
gamma = 0.2 A) trained by ``reproductions/ednn_porous_graphene.py`` on porous
graphene sheets with REBO reference energies. Weights are stored as float16
(8.5 M parameters, 17 MB) in ``<name>.npz``; ``<name>.json`` holds the pixel
spacing, f, c, gamma, the output scaling, the training summary and one stored
prediction that :func:`load_ednn` checks on every load.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

PRETRAINED_DIR = Path(__file__).parent


def save_ednn(model, metadata: dict, name: str, directory=PRETRAINED_DIR, check_sheet=None) -> Path:
    """Store an EDNN's tile network as float16 ``<name>.npz`` plus ``<name>.json`` (atomically).

    ``metadata`` must hold ``spacing``, ``gamma`` and ``tile_network`` (the keyword arguments of
    :func:`~tfatoms.models.ednn.dft_tile_cnn`); ``focus`` and ``context`` are taken from the model.
    With ``check_sheet = (blocks, seed)`` the energy of that porous sheet, predicted with the
    float16-rounded weights as stored, is added as ``metadata["check"]`` for :func:`load_ednn`.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    missing = {"spacing", "gamma", "tile_network"} - set(metadata)
    if missing:
        raise ValueError(f"metadata lacks {sorted(missing)}")
    weights = [np.asarray(w, np.float16) for w in model.tile_network.get_weights()]
    if not all(np.all(np.isfinite(w)) for w in weights):
        raise ValueError("a weight overflows float16; cannot store this model in half precision")
    meta = dict(metadata, focus=model.focus, context=model.context, weights_dtype="float16", format=1)
    if check_sheet is not None:
        from tfatoms.models.ednn import EDNN, dft_tile_cnn

        stored = dft_tile_cnn(**meta["tile_network"])
        stored.set_weights([w.astype(np.float32) for w in weights])
        blocks, seed = check_sheet
        meta["check"] = dict(blocks=[int(b) for b in blocks], seed=int(seed))
        meta["check"]["energy"] = predict_check_sheet(EDNN(stored, model.focus, model.context), meta)
    tmp = directory / f"tmp-{os.getpid()}-{name}.npz"
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, *weights)
    os.replace(tmp, directory / f"{name}.npz")
    tmp = directory / f"tmp-{os.getpid()}-{name}.json"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, directory / f"{name}.json")
    return directory / f"{name}.npz"


def load_ednn(name: str = "ednn_porous_graphene", directory=PRETRAINED_DIR, check: bool = True):
    """``(model, metadata)``: the stored EDNN (float32 weights) and its metadata.

    With ``check``, the stored prediction ``metadata["check"]`` (the energy of one
    sheet) is recomputed and must agree to 1e-5 relative (2e-3 under a mixed
    bfloat16 policy), so a damaged file is caught at load time.
    """
    from tfatoms.models.ednn import EDNN, dft_tile_cnn

    directory = Path(directory)
    meta_path, weights_path = directory / f"{name}.json", directory / f"{name}.npz"
    if not meta_path.exists() or not weights_path.exists():
        raise FileNotFoundError(f"no pretrained model {name!r} in {directory} (expected {meta_path.name} and "
                                f"{weights_path.name}; train one with reproductions/ednn_porous_graphene.py)")
    meta = json.loads(meta_path.read_text())
    tile_net = dft_tile_cnn(**meta["tile_network"])
    with np.load(weights_path) as stored:
        weights = [stored[f"arr_{k}"].astype(np.float32) for k in range(len(stored.files))]
    expected = [w.shape for w in tile_net.get_weights()]
    if [w.shape for w in weights] != expected:
        raise ValueError(f"{weights_path}: weight shapes {[w.shape for w in weights]} do not match the "
                         f"architecture in {meta_path.name} ({expected})")
    tile_net.set_weights(weights)
    model = EDNN(tile_net, meta["focus"], meta["context"])
    if check and "check" in meta:
        import keras

        got = predict_check_sheet(model, meta)
        want = meta["check"]["energy"]
        # the stored energy was computed in float32; a mixed (bfloat16) policy moves it by ~1e-4
        rtol = 1e-5 if keras.mixed_precision.global_policy().compute_dtype == "float32" else 2e-3
        if abs(got - want) > rtol * abs(want):
            raise ValueError(f"{weights_path}: stored check energy {want} eV, recomputed {got} eV: damaged file?")
    return model, meta


def check_sheet(meta: dict):
    """The porous sheet whose energy is stored as the load-time check."""
    from tfatoms.data.sheets import PorousSheet

    return PorousSheet(tuple(meta["check"]["blocks"]), seed=meta["check"]["seed"])


def predict_check_sheet(model, meta: dict) -> float:
    from tfatoms.inference.sheet import SheetPredictor

    return SheetPredictor.from_ednn(model, meta["spacing"], meta["gamma"]).energy(check_sheet(meta)).energy
