"""Pretrained models shipped with the package, loadable by one call.

``ednn_porous_graphene`` (the default of :func:`load_ednn`): the EDNN tile CNN (EDNN sec. 2.1, f = 64, c = 32,
gamma = 0.2 A) trained by ``reproductions/ednn_porous_graphene.py --distribution mixed`` on REBO energies of
porous graphene of many kinds (:mod:`tfatoms.data.porous_kinds`: circular and elliptical holes, pruned and unpruned
edges, vacancies and divacancies, pristine; flat 0 K lattices and 300-1500 K MD; ripples; strain is tested, not
trained), fine-tuned from ``ednn_porous_graphene_holes``, the model of the paper's distribution alone
(circular pruned holes, 1000 K; ``--distribution holes``), which is kept because earlier results were made with it.
``ednn_porous_graphene_strained`` continues the default with +-2.08 % strained long sheets (its ``initial_weights``
say so): strain right, unstrained kinds less accurate, and bfloat16 moves it by 7-8 meV/atom (README, "What the
porous graphene model covers").
The JSON says what each was trained on (``trained_on``, ``covers``, ``does_not_cover``) and holds the training ranges
of :class:`~tfatoms.inference.domain.DomainCheck` (``domain``), the out-of-distribution check. Weights are stored as float16
(8.5 M parameters, 17 MB) in ``<name>.npz``; ``<name>.json`` holds the pixel
spacing, f, c, gamma, the output scaling, the training summary and the
``check`` entry that vouches for the weights:

* ``check.weights_sha256``: a SHA-256 of the stored weight arrays (shapes,
  dtype and bytes, :func:`weights_digest`), verified on every load (about
  30 ms), so altered, truncated or swapped weights never load silently;
* ``check.blocks``, ``check.seed``, ``check.energy`` (optional): one stored
  prediction, the energy of a porous sheet, recomputed by :func:`load_ednn`
  with ``check=True`` (the default), which also catches a change in the code
  that evaluates the model.

``ednn_hexagonal`` (``load_ednn("ednn_hexagonal")``): the same tile CNN (f = 64, c = 32, 256 x 256 pixels over the
12.53 x 13.02 A cell, gamma = 0.2 A) trained by ``reproductions/ednn_hexagonal.py`` on GFN1-xTB energies of 1000 K
MD frames of graphene, hBN and the graphene-hBN heterostructure, pristine and with a vacancy or a Stone-Wales defect.
It predicts the energy less per-element references (``atom_reference_eV`` in its JSON: add ``sum_i mu_{Z_i}`` for
the total energy); its JSON says what it was trained on, its test error and its limits (it was trained at the lattice
registry of its training runs and does not transfer to arbitrary translations of the sheet). Its check is the energy
of a ``hexagonal_sheet("heterostructure", "vacancy")``.

``schnet_rmd17_ethanol`` (:func:`load_model`, or ``TfatomsCalculator("schnet_rmd17_ethanol")``): the
thesis ch. 5 SchNet trained on energies and forces of rMD17 ethanol by ``reproductions/schnet_md17.py``,
stored as ``<name>.keras`` with ``<name>.json`` (what it was trained on, its test errors, the command,
``check.file_sha256`` of the ``.keras`` file, verified on every load).

``local_force_si_mlearn`` (:func:`load_model`, or ``LocalForceCalculator("local_force_si_mlearn")``): the local
force DNN of Kuritz et al. (N = 12 neighbours, L = 1,000, trained with rotation augmentation; forces only, no
energy) trained on the mlearn Si DFT set
(Zuo et al. 2020) by ``reproductions/local_force_si_mlearn.py``, stored the same way; its JSON records the split
(by configuration, stratified by type), the test force MAE overall and per configuration type, and SNAP's
(in-sample) error on the same configurations. The paper's Si width L = 3,800 would be a 40 MB file; the results of
that script compare the two.

A JSON without its ``check`` entry or its weights hash is refused. Every
problem with the files (unreadable or truncated npz, broken JSON, missing
keys, weights that do not fit the architecture) is a ``ValueError`` naming the
file and the cause. :func:`save_ednn` writes both files atomically, the npz
first and the JSON, which vouches for it, last.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from tfatoms._io import atomic_path, file_sha256, write_json

PRETRAINED_DIR = Path(__file__).parent

#: Keys every pretrained EDNN JSON must hold.
REQUIRED_KEYS = ("spacing", "gamma", "tile_network", "focus", "context", "check")


def weights_digest(weights) -> str:
    """SHA-256 (hex) of a list of weight arrays: index, dtype, shape and bytes (C order) of each."""
    h = hashlib.sha256()
    for k, w in enumerate(weights):
        w = np.ascontiguousarray(w)
        h.update(f"{k}:{w.dtype.str}:{w.shape};".encode())
        h.update(w.tobytes())
    return h.hexdigest()


def save_ednn(model, metadata: dict, name: str, directory=PRETRAINED_DIR, check_sheet=None) -> Path:
    """Store an EDNN's tile network as float16 ``<name>.npz`` plus ``<name>.json`` (atomically).

    ``metadata`` must hold ``spacing``, ``gamma`` and ``tile_network`` (the keyword arguments of
    :func:`~tfatoms.models.ednn.dft_tile_cnn`); ``focus`` and ``context`` are taken from the model.
    ``metadata["check"]["weights_sha256"]`` is always set to the hash of the stored weights.
    With ``check_sheet = (blocks, seed)`` the energy of that porous sheet (or, with a dict
    ``{"kind", "defect", "seed"}``, of that :func:`~tfatoms.data.hexagonal.hexagonal_sheet`), predicted with the
    float16-rounded weights as stored, is added as ``metadata["check"]`` for :func:`load_ednn`.
    The npz is written first and the JSON last (each through a temporary file and a rename), so
    a crash in between leaves a JSON whose hash no longer matches: a clear error on load.
    """
    directory = Path(directory)
    missing = {"spacing", "gamma", "tile_network"} - set(metadata)
    if missing:
        raise ValueError(f"metadata lacks {sorted(missing)}")
    weights = [np.asarray(w, np.float16) for w in model.tile_network.get_weights()]
    if not all(np.all(np.isfinite(w)) for w in weights):
        raise ValueError("a weight overflows float16; cannot store this model in half precision")
    meta = dict(metadata, focus=model.focus, context=model.context, weights_dtype="float16", format=1)
    meta["check"] = dict(meta.get("check") or {})
    if check_sheet is not None:
        from tfatoms.models.ednn import EDNN, dft_tile_cnn

        stored = dft_tile_cnn(**meta["tile_network"])
        stored.set_weights([w.astype(np.float32) for w in weights])
        if isinstance(check_sheet, dict):
            meta["check"] = dict(hexagonal=dict(kind=str(check_sheet["kind"]), defect=check_sheet.get("defect"),
                                                seed=int(check_sheet.get("seed", 0))))
        else:
            blocks, seed = check_sheet
            meta["check"] = dict(blocks=[int(b) for b in blocks], seed=int(seed))
        meta["check"]["energy"] = predict_check_sheet(EDNN(stored, model.focus, model.context), meta)
    meta["check"]["weights_sha256"] = weights_digest(weights)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / f"{name}.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, *weights)
    write_json(directory / f"{name}.json", meta)
    return directory / f"{name}.npz"


def _read_json(meta_path: Path) -> dict:
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{meta_path}: cannot read the pretrained model's metadata "
                         f"({type(exc).__name__}: {exc}); damaged file?") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"{meta_path}: the metadata must be a JSON object, got {type(meta).__name__}")
    return meta


def _read_metadata(meta_path: Path) -> dict:
    meta = _read_json(meta_path)
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        hint = (" (the check entry vouches for the weights; save the model again with "
                "tfatoms.pretrained.save_ednn)") if "check" in missing else ""
        raise ValueError(f"{meta_path}: metadata lacks {missing}{hint}")
    if not isinstance(meta["check"], dict) or not isinstance(meta["check"].get("weights_sha256"), str):
        raise ValueError(f"{meta_path}: the check entry lacks weights_sha256, the hash that vouches for the "
                         f"weights (save the model again with tfatoms.pretrained.save_ednn)")
    if not isinstance(meta["tile_network"], dict):
        raise ValueError(f"{meta_path}: tile_network must be a JSON object of dft_tile_cnn arguments, "
                         f"got {meta['tile_network']!r}")
    return meta


def _read_weights(weights_path: Path) -> list[np.ndarray]:
    try:
        stored = np.load(weights_path, allow_pickle=False)
        if not isinstance(stored, np.lib.npyio.NpzFile):
            raise ValueError("not an npz archive of weight arrays")
        with stored:
            return [stored[f"arr_{k}"] for k in range(len(stored.files))]
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{weights_path}: cannot read the pretrained weights ({type(exc).__name__}: {exc}); "
                         f"truncated or damaged file?") from exc


def model_location(spec: str) -> tuple[str, Path]:
    """``(name, directory)`` of a model given by the name of a shipped one (``"ednn_porous_graphene"``) or by a path
    to its files, with or without the ``.npz``/``.json`` suffix (``runs/my_model``, ``runs/my_model.npz``)."""
    path = Path(spec)
    if path.suffix in (".npz", ".json") or path.parent != Path("."):
        return path.with_suffix("").name if path.suffix in (".npz", ".json") else path.name, path.parent
    return str(spec), PRETRAINED_DIR


def load_ednn(name: str = "ednn_porous_graphene", directory=PRETRAINED_DIR, check: bool = True):
    """``(model, metadata)``: the stored EDNN (float32 weights) and its metadata.

    The weights must match ``metadata["check"]["weights_sha256"]`` (always checked). With
    ``check``, the stored prediction ``metadata["check"]["energy"]`` (the energy of one sheet),
    if present, is recomputed and must agree to 1e-5 relative (2e-3 under a mixed bfloat16
    policy). Any damaged, mismatched or incomplete file raises ``ValueError`` naming it.
    """
    from tfatoms.models.ednn import EDNN, dft_tile_cnn

    directory = Path(directory)
    meta_path, weights_path = directory / f"{name}.json", directory / f"{name}.npz"
    if not meta_path.exists() or not weights_path.exists():
        raise FileNotFoundError(f"no pretrained model {name!r} in {directory} (expected {meta_path.name} and "
                                f"{weights_path.name}; train one with reproductions/ednn_porous_graphene.py or "
                                f"reproductions/ednn_hexagonal.py)")
    meta = _read_metadata(meta_path)
    stored = _read_weights(weights_path)
    digest = weights_digest(stored)
    if digest != meta["check"]["weights_sha256"]:
        raise ValueError(f"{weights_path}: the weights do not match the hash in {meta_path.name} (sha256 {digest}, "
                         f"expected {meta['check']['weights_sha256']}): damaged, altered or from another model?")
    try:
        tile_net = dft_tile_cnn(**meta["tile_network"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{meta_path}: cannot build the tile network from tile_network={meta['tile_network']!r} "
                         f"({exc})") from exc
    weights = [w.astype(np.float32) for w in stored]
    expected = [w.shape for w in tile_net.get_weights()]
    if [w.shape for w in weights] != expected:
        raise ValueError(f"{weights_path}: weight shapes {[w.shape for w in weights]} do not match the "
                         f"architecture in {meta_path.name} ({expected})")
    tile_net.set_weights(weights)
    try:
        model = EDNN(tile_net, meta["focus"], meta["context"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{meta_path}: bad focus/context ({exc})") from exc
    if check and "energy" in meta["check"]:
        import keras

        try:
            got = predict_check_sheet(model, meta)
            want = float(meta["check"]["energy"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{meta_path}: cannot recompute the stored check prediction ({type(exc).__name__}: "
                             f"{exc})") from exc
        # the stored energy was computed in float32; a mixed (bfloat16) policy moves it by ~1e-4
        rtol = 1e-5 if keras.mixed_precision.global_policy().compute_dtype == "float32" else 2e-3
        if not abs(got - want) <= rtol * abs(want):
            raise ValueError(f"{weights_path}: stored check energy {want} eV, recomputed {got} eV: damaged file?")
    return model, meta


def check_sheet(meta: dict):
    """The sheet whose energy is stored as the load-time check: a porous sheet (``blocks``, ``seed``) or a
    hexagonal sheet (``hexagonal``: kind, defect, seed)."""
    if "hexagonal" in meta["check"]:
        from tfatoms.data.hexagonal import hexagonal_sheet

        return hexagonal_sheet(**meta["check"]["hexagonal"])
    from tfatoms.data.sheets import PorousSheet

    return PorousSheet(tuple(meta["check"]["blocks"]), seed=meta["check"]["seed"])


def predict_check_sheet(model, meta: dict) -> float:
    from tfatoms.inference.sheet import SheetPredictor

    return SheetPredictor.from_ednn(model, meta["spacing"], meta["gamma"]).energy(check_sheet(meta)).energy


def available_models(directory=PRETRAINED_DIR) -> list[str]:
    """Names of the atomistic models stored as ``<name>.keras`` (with their ``<name>.json``)."""
    directory = Path(directory)
    return sorted(p.stem for p in directory.glob("*.keras") if p.with_suffix(".json").is_file())


def save_model(model, name: str, metadata: dict, directory=PRETRAINED_DIR) -> Path:
    """Store a Keras atomistic model as ``<name>.keras`` plus ``<name>.json`` (atomically, the JSON last).

    ``metadata`` should say what the model was trained on (``trained_on``, ``reference_method``,
    ``units``, test errors, the command); ``check.file_sha256`` is added."""
    directory = Path(directory)
    path = directory / f"{name}.keras"
    with atomic_path(path) as tmp:
        model.save(tmp)
    meta = dict(metadata)
    meta["check"] = dict(meta.get("check", {}), file_sha256=file_sha256(path))
    write_json(directory / f"{name}.json", meta)
    return path


def load_model(name: str, directory=PRETRAINED_DIR):
    """``(model, metadata)`` of the atomistic model ``name`` stored by :func:`save_model`.

    The ``.keras`` file must match the SHA-256 its JSON records; anything wrong with either
    file is a ``ValueError`` naming it."""
    import keras

    import tfatoms.models  # noqa: F401  (registers the tfatoms layers and models with Keras)

    directory = Path(directory)
    path, meta_path = directory / f"{name}.keras", directory / f"{name}.json"
    if not path.is_file() or not meta_path.is_file():
        raise ValueError(f"no pretrained model {name!r} in {directory} (available: {available_models(directory)})")
    meta = _read_json(meta_path)
    digest = meta.get("check", {}).get("file_sha256") if isinstance(meta.get("check"), dict) else None
    if not isinstance(digest, str):
        raise ValueError(f"{meta_path}: the check entry lacks file_sha256, the hash that vouches for {path.name}")
    if file_sha256(path) != digest:
        raise ValueError(f"{path}: its SHA-256 differs from the one {meta_path.name} records; altered or damaged file")
    try:
        model = keras.saving.load_model(path)
    except Exception as exc:  # noqa: BLE001  (name the file whatever Keras raised)
        raise ValueError(f"{path}: cannot load the Keras model ({type(exc).__name__}: {exc})") from exc
    return model, meta
