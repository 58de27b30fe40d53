"""What the thesis' chapter-5 scripts share (``schnet_md17.py``, ``schnet_c20.py``): the split of one trajectory,
its batches, the thesis SchNet with references and scaling fitted on the training part, and the integration
constant of a force-only model (thesis sec. 5.3, Table 5.6, rho = 0)."""
from __future__ import annotations

import numpy as np

BATCH = 32          # thesis: 32 molecules per batch


def split(n: int, n_train: int, n_val: int, n_test: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded permutation of ``n`` frames: the first ``n_train`` train, the next ``n_val`` validation, the last
    ``n_test`` test (disjoint)."""
    if n_train + n_val + n_test > n:
        raise ValueError(f"the dataset has {n} configurations, fewer than the {n_train} + {n_val} + {n_test} of "
                         f"the split")
    perm = np.random.default_rng(seed).permutation(n)
    return {"train": perm[:n_train], "val": perm[n_train:n_train + n_val], "test": perm[n - n_test:]}


def batches(data, idx, batch_size: int = BATCH, what: str = "configuration", forces: bool = True):
    """:class:`~tfatoms.representations.padded.MoleculeBatches` of frames ``idx`` of ``data`` (energy, and forces
    unless ``forces=False``: energy-only training)."""
    from tfatoms.representations.padded import MoleculeBatches

    sub = data.subset(idx)
    return MoleculeBatches(sub.numbers, sub.positions, sub.ptr, sub.properties["energy"], batch_size=batch_size,
                           forces=sub.properties["forces"] if forces else None,
                           names=[f"{what} {int(k)}" for k in idx])


def mean_predictor(data, train, test) -> dict:
    """The mean predictor's errors on frames ``test`` of ``data`` (``energy_force_metrics``: eV, eV/A): the mean
    training energy for every frame and the mean training force component for every component (about zero for MD
    frames, whose forces sum to zero)."""
    from tfatoms.train.metrics import energy_force_metrics

    tr, te = data.subset(train), data.subset(test)
    e, f = te.properties["energy"], te.properties["forces"]
    return energy_force_metrics(np.full(len(te), tr.properties["energy"].mean()), e, np.diff(te.ptr),
                                np.full_like(f, tr.properties["forces"].mean()), f)


def all_pairs_rbf_cutoff(data) -> float:
    """RBF centres up to the largest distance in ``data`` + 1 A, rounded up: the thesis' centres further out than
    any pair of the molecule would be zero."""
    d_max = max(float(np.linalg.norm(a.positions[:, None] - a.positions[None], axis=-1).max()) for a in data)
    return float(np.ceil(d_max + 1.0))


def thesis_schnet(train, rbf_cutoff: float, n_features: int = 64, n_interactions: int = 3,
                  shared_filters: bool = False):
    """The thesis SchNet (all pairs), references and per-atom scaling fitted on the training part ``train``;
    ``shared_filters=True``: one filter-generating network for all interaction blocks (thesis sec. 5.2.1, Table 5.1
    "shared")."""
    from tfatoms.models import SchNet, fit_atom_refs, per_atom_scaling

    numbers = [train.numbers[train.atom_slice(k)] for k in range(len(train))]
    energies = train.properties["energy"]
    refs = fit_atom_refs(numbers, energies)
    e_mu, e_sigma = per_atom_scaling(numbers, energies, refs)
    return SchNet(n_features=n_features, n_interactions=n_interactions, rbf_cutoff=rbf_cutoff, e_mu=e_mu,
                  e_sigma=e_sigma, element_references=refs, shared_filters=shared_filters)


def thesis_loss(rho: float | None):
    """Thesis eq. 5.7 with trade-off ``rho``; ``rho=None`` trains on energies only (the force term weighted 0:
    Tables 5.3/5.4's "energy" columns), the forces still evaluated as -dE/dr."""
    from tfatoms.train.losses import EnergyForceLoss

    return EnergyForceLoss(rho=1.0, forces_weight=0.0) if rho is None else EnergyForceLoss(rho=rho)


def fit_thesis_schnet(data, parts: dict, src: dict, checkpoint, steps: int, lr=(1e-3, 1e-5), n_features: int = 64,
                      n_interactions: int = 3, rho: float | None = 0.01, rbf_cutoff: float | None = None,
                      seed: int = 0, shared_filters: bool = False, **fit_kwargs):
    """Train :func:`thesis_schnet` on ``parts["train"]`` of ``data`` (batches ``src``) with :func:`thesis_loss`
    for ``steps`` steps, Adam with a cosine decay ``lr = (start, end)`` or (``lr=None``) the thesis' schedule;
    resumable from ``checkpoint``; the best validation epoch kept. ``fit_kwargs`` go to ``BatchTrainer.fit``
    (``time_limit_s``, ``patience``, ``progress``); ``shared_filters`` goes to :func:`thesis_schnet`. Returns
    ``(model, trainer, result)``."""
    from tfatoms.train.trainer import BatchTrainer, budget_learning_rate, thesis_learning_rate

    rbf_cutoff = all_pairs_rbf_cutoff(data) if rbf_cutoff is None else rbf_cutoff
    model = thesis_schnet(data.subset(parts["train"]), rbf_cutoff, n_features, n_interactions, shared_filters)
    schedule = thesis_learning_rate() if lr is None else budget_learning_rate(*lr, steps)
    trainer = BatchTrainer(model, learning_rate=schedule, loss=thesis_loss(rho), monitor="combined_mae")
    result = trainer.fit(src["train"], src["val"], checkpoint, max_steps=steps, seed=seed, **fit_kwargs)
    return model, trainer, result


def model_copy(model, batch, per_atom_shift: float = 0.0, dtype: str | None = None):
    """A copy of the SchNet/DTNN ``model`` with its weights, built on ``batch``: its energy higher by
    ``per_atom_shift`` eV per atom (the readout's ``e_mu``; forces unchanged) and/or computing in ``dtype``
    (``"float64"`` for relaxations to 1e-6 eV/A and finite-difference Hessians, where float32 round-off shows).

    The shift is the integration constant of a force-only model (thesis sec. 5.3, Table 5.6, rho = 0: "for the
    energy prediction, we have to additionally fit the bias of the last layer")."""
    from tfatoms.train.trainer import batch_tensors

    config = model.get_config()
    e_mu = config["e_mu"]
    config["e_mu"] = [v + float(per_atom_shift) for v in e_mu] if isinstance(e_mu, list) else \
        float(e_mu) + float(per_atom_shift)
    if dtype is not None:
        config["dtype"] = dtype
    copy = type(model).from_config(config)
    tensors = batch_tensors(batch)
    if dtype is not None:
        import tensorflow as tf

        tensors = {k: tf.cast(v, dtype) if v.dtype.is_floating else v for k, v in tensors.items()}
    copy(tensors)
    copy.set_weights([np.asarray(w, dtype=copy.weights[k].dtype) for k, w in enumerate(model.get_weights())])
    return copy
