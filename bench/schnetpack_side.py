"""schnetpack (PyTorch) side of the SchNet throughput benchmark.

Runs in its own virtual environment (see bench/README_schnetpack.md); it must
not import tfatoms or tensorflow.

    /work/spvenv/bin/python bench/schnetpack_side.py \
        --molecules /tmp/qm9_bench_molecules.npz --batch-size 32 \
        --n-rbf 100 --rbf-cutoff 10.0 --features 64 --interactions 6 \
        --threads 2 --train-batches 50 --infer-batches 100 --out result.json

Input npz: ``numbers`` (total_atoms,) int, ``positions`` (total_atoms, 3)
Angstrom, ``offsets`` (n_mol+1,) int64 (molecule m is atoms
offsets[m]:offsets[m+1]), ``energy`` (n_mol,) eV.  Extra keys are ignored.

Every ordered pair i != j inside a molecule is a neighbour pair (no
neighbour-list cutoff); ``--rbf-cutoff`` only sets the Gaussian centres
(linspace(0, rc, n_rbf)) and the cosine cutoff.  All batches (consecutive
molecules, ``batch_size`` each) are collated into schnetpack input dicts before
any timing, so data loading is excluded.  When more timed steps are requested
than there are batches, batches are reused cyclically.
"""

import argparse
import json
import math
import sys
import time
import typing

import numpy as np
import torch
import torch.utils.data.dataloader as _tdl

# schnetpack 2.0.x/2.1.x import ``T_co`` from torch.utils.data.dataloader, which
# recent torch releases (e.g. 2.13) no longer define.  Only the data loader
# module needs it (never used here); provide it so that the package imports.
if not hasattr(_tdl, "T_co"):
    _tdl.T_co = typing.TypeVar("T_co", covariant=True)

import schnetpack as spk  # noqa: E402
import schnetpack.properties as P  # noqa: E402

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--molecules", required=True, help="input .npz")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--n-rbf", type=int, default=100)
    p.add_argument("--rbf-cutoff", type=float, default=10.0)
    p.add_argument(
        "--rbf-gamma",
        type=float,
        default=None,
        help="if given, override schnetpack's Gaussian width (default: width "
        "= centre spacing, i.e. exp(-0.5 (d-mu)^2 / spacing^2)) so that the "
        "basis is exp(-gamma (d-mu)^2); does not change the cost",
    )
    p.add_argument("--features", type=int, default=64)
    p.add_argument("--interactions", type=int, default=6)
    p.add_argument(
        "--head-activation",
        choices=["silu", "ssp"],
        default="silu",
        help="activation of the Atomwise head's hidden layer (F -> F/2); "
        "schnetpack's default is silu, original SchNet uses shifted softplus",
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--train-batches", type=int, default=50)
    p.add_argument("--infer-batches", type=int, default=100)
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per phase")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the result JSON here")
    return p.parse_args(argv)


def load_molecules(path):
    d = np.load(path)
    numbers = np.asarray(d["numbers"], dtype=np.int64)
    positions = np.asarray(d["positions"], dtype=np.float64)
    offsets = np.asarray(d["offsets"], dtype=np.int64)
    energy = np.asarray(d["energy"], dtype=np.float64)
    n_mol = len(offsets) - 1
    if positions.shape != (len(numbers), 3):
        raise ValueError("positions must be (total_atoms, 3)")
    if offsets[0] != 0 or offsets[-1] != len(numbers) or np.any(np.diff(offsets) < 1):
        raise ValueError("bad offsets")
    if energy.shape != (n_mol,):
        raise ValueError("energy must be (n_mol,)")
    return numbers, positions, offsets, energy


def collate(numbers, positions, offsets, energy, start, stop):
    """schnetpack input dict for molecules start..stop-1 (all pairs i != j)."""
    a0, a1 = offsets[start], offsets[stop]
    n_atoms = np.diff(offsets[start : stop + 1])
    idx_m = np.repeat(np.arange(stop - start), n_atoms)
    idx_i, idx_j = [], []
    for m in range(stop - start):
        s = offsets[start + m] - a0
        n = n_atoms[m]
        ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        mask = ii != jj
        idx_i.append(ii[mask] + s)
        idx_j.append(jj[mask] + s)
    idx_i = np.concatenate(idx_i)
    idx_j = np.concatenate(idx_j)
    n_mol = stop - start
    return {
        P.Z: torch.from_numpy(numbers[a0:a1].copy()),
        P.R: torch.from_numpy(positions[a0:a1].astype(np.float32)),
        P.idx_m: torch.from_numpy(idx_m),
        P.idx_i: torch.from_numpy(idx_i),
        P.idx_j: torch.from_numpy(idx_j),
        P.offsets: torch.zeros((len(idx_i), 3), dtype=torch.float32),
        P.n_atoms: torch.from_numpy(n_atoms),
        P.cell: torch.zeros((n_mol, 3, 3), dtype=torch.float32),
        P.pbc: torch.zeros((n_mol, 3), dtype=torch.bool),
        P.energy: torch.from_numpy(energy[start:stop].astype(np.float32)),
    }


def build_model(args):
    rbf = spk.nn.GaussianRBF(n_rbf=args.n_rbf, cutoff=args.rbf_cutoff)
    if args.rbf_gamma is not None:
        with torch.no_grad():
            rbf.widths.fill_(1.0 / math.sqrt(2.0 * args.rbf_gamma))
    schnet = spk.representation.SchNet(
        n_atom_basis=args.features,
        n_interactions=args.interactions,
        radial_basis=rbf,
        cutoff_fn=spk.nn.CosineCutoff(args.rbf_cutoff),
    )
    head_act = (
        spk.nn.shifted_softplus
        if args.head_activation == "ssp"
        else torch.nn.functional.silu
    )
    atomwise = spk.atomistic.Atomwise(
        n_in=args.features, output_key=P.energy, activation=head_act
    )
    model = spk.model.NeuralNetworkPotential(
        representation=schnet,
        input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[atomwise],
    )
    # same modules (shared weights) + Forces head: -dE/dR by autograd
    model_forces = spk.model.NeuralNetworkPotential(
        representation=schnet,
        input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[atomwise, spk.atomistic.Forces(energy_key=P.energy)],
    )
    return model, model_forces


def run(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(args.threads)
    except RuntimeError:
        pass

    numbers, positions, offsets, energy = load_molecules(args.molecules)
    n_mol = len(offsets) - 1
    bs = args.batch_size
    n_batches = n_mol // bs
    if n_batches < 1:
        raise ValueError(f"need at least {bs} molecules, got {n_mol}")

    # Remove a per-element linear reference (least-squares atomrefs) from the
    # energies so the MSE is O(1) eV^2; this keeps the optimisation sane and
    # does not change the cost.
    mol_of_atom = np.repeat(np.arange(n_mol), np.diff(offsets))
    elements, z_col = np.unique(numbers, return_inverse=True)
    counts = np.zeros((n_mol, len(elements)))
    np.add.at(counts, (mol_of_atom, z_col), 1.0)
    atomref, *_ = np.linalg.lstsq(counts, energy, rcond=None)
    target = energy - counts @ atomref

    batches = [
        collate(numbers, positions, offsets, target, b * bs, (b + 1) * bs)
        for b in range(n_batches)
    ]
    used_atoms = int(offsets[n_batches * bs])
    used_pairs = int(sum(len(b[P.idx_i]) for b in batches))
    n_used = n_batches * bs

    model, model_forces = build_model(args)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # the model writes intermediate tensors into the dict it gets: always pass
    # a shallow copy so that pre-collated batches keep no graphs alive
    def batch(k):
        return dict(batches[k % n_batches])

    # ---------------- training ----------------
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss()

    def train_step(k):
        inp = batch(k)
        # read the target first: Atomwise writes its prediction into the
        # dict under the same key ("energy")
        target = inp[P.energy]
        opt.zero_grad(set_to_none=True)
        out = model(inp)
        loss = loss_fn(out[P.energy], target)
        loss.backward()
        opt.step()
        return loss

    def timed(step, n_steps):
        """warm-up, then time n_steps; returns (total seconds, per-step list)."""
        for k in range(args.warmup):
            step(k)
        per_step = []
        t0 = time.perf_counter()
        for k in range(n_steps):
            t = time.perf_counter()
            step(args.warmup + k)
            per_step.append(time.perf_counter() - t)
        return time.perf_counter() - t0, per_step

    losses = []
    t_train, s_train = timed(
        lambda k: losses.append(float(train_step(k).detach())), args.train_batches
    )

    # ---------------- inference, energy only ----------------
    model.eval()

    def infer_step(k):
        with torch.no_grad():
            return model(batch(k))[P.energy]

    t_infer, s_infer = timed(infer_step, args.infer_batches)

    # ---------------- inference, energy + forces ----------------
    model_forces.eval()  # Forces: create_graph = training = False

    def forces_step(k):
        inp = batch(k)
        inp[P.R] = inp[P.R].clone()  # the model sets requires_grad on R
        return model_forces(inp)[P.forces]

    t_forces, s_forces = timed(forces_step, args.infer_batches)

    max_d = 0.0
    for b in batches:
        R = b[P.R]
        max_d = max(max_d, float((R[b[P.idx_j]] - R[b[P.idx_i]]).norm(dim=1).max()))

    result = {
        "framework": "schnetpack",
        "schnetpack_version": spk.__version__,
        "torch_version": torch.__version__,
        "threads": args.threads,
        "batch_size": bs,
        "n_rbf": args.n_rbf,
        "rbf_cutoff": args.rbf_cutoff,
        "rbf_width": float(model.representation.radial_basis.widths[0]),
        "rbf_gamma": 0.5 / float(model.representation.radial_basis.widths[0]) ** 2,
        "head_activation": args.head_activation,
        "features": args.features,
        "interactions": args.interactions,
        "n_params": int(n_params),
        "train_molecules_per_s": args.train_batches * bs / t_train,
        "infer_molecules_per_s": args.infer_batches * bs / t_infer,
        "infer_forces_molecules_per_s": args.infer_batches * bs / t_forces,
        "train_seconds": t_train,
        "infer_seconds": t_infer,
        "infer_forces_seconds": t_forces,
        "train_batches": args.train_batches,
        "infer_batches": args.infer_batches,
        "n_molecules_used": n_used,
        "n_distinct_batches": n_batches,
        "mean_atoms_per_molecule": used_atoms / n_used,
        "mean_pairs_per_molecule": used_pairs / n_used,
        "max_pair_distance": max_d,
        "train_molecules_per_s_median_step": bs / float(np.median(s_train)),
        "infer_molecules_per_s_median_step": bs / float(np.median(s_infer)),
        "infer_forces_molecules_per_s_median_step": bs / float(np.median(s_forces)),
        "warmup_steps": args.warmup,
        "first_train_loss": losses[0],
        "last_train_loss": losses[-1],
    }
    return result


def main(argv=None):
    args = parse_args(argv)
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
