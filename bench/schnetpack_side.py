"""schnetpack (PyTorch) side of the SchNet throughput benchmark.

Runs in its own virtual environment (see bench/README_schnetpack.md); it must
not import tfatoms or tensorflow.

    /work/spvenv/bin/python bench/schnetpack_side.py \
        --molecules /tmp/qm9_bench_molecules.npz --batch-size 32 \
        --n-rbf 100 --rbf-cutoff 10.0 --features 64 --interactions 6 \
        --threads 2 --train-batches 50 --infer-batches 100 --out result.json

Input npz: ``numbers`` (total_atoms,) int, ``positions`` (total_atoms, 3)
Angstrom, ``offsets`` (n_mol+1,) int64 (molecule m is atoms
offsets[m]:offsets[m+1]), ``energy`` (n_mol,) eV, and with ``--forces``
``forces`` (total_atoms, 3) eV/A.  Extra keys are ignored.

``--forces`` (energy+force training, thesis eq. 5.7): the training step is
forward, -dE/dR by autograd with ``create_graph=True``, the loss
``rho (E - E_hat)^2 + (1/N_s) sum_i |F_i - F_hat_i|^2`` averaged over the
molecules of the batch (exactly tfatoms' ``EnergyForceLoss``), backward through
the force graph, Adam.  The energies are then used as given (no per-element
reference is fitted).  ``--weights W.npz`` loads a state dict (schnetpack key
names, as ``bench/bench_schnet_forces.py`` exports tfatoms' weights) before
anything runs, and ``--check-out C.npz`` writes energy, forces, loss and the
loss gradient of every parameter on batch 0, to compare both frameworks on the
same weights.

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
    p.add_argument("--forces", action="store_true",
                   help="train on energies and forces (the npz needs 'forces'); see the module docstring")
    p.add_argument("--rho", type=float, default=0.01, help="energy weight of the --forces loss (thesis: 0.01)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--weights", help="state dict .npz (schnetpack key names) to load into the model")
    p.add_argument("--check-out", help="with --forces: write batch 0's energy, forces, loss and gradients here")
    p.add_argument("--serve", action="store_true",
                   help="set up, then time phases on request (JSON lines on stdin; see serve())")
    p.add_argument("--out", default=None, help="write the result JSON here")
    return p.parse_args(argv)


def load_molecules(path):
    d = np.load(path)
    numbers = np.asarray(d["numbers"], dtype=np.int64)
    positions = np.asarray(d["positions"], dtype=np.float64)
    offsets = np.asarray(d["offsets"], dtype=np.int64)
    energy = np.asarray(d["energy"], dtype=np.float64)
    forces = np.asarray(d["forces"], dtype=np.float64) if "forces" in d.files else None
    n_mol = len(offsets) - 1
    if positions.shape != (len(numbers), 3):
        raise ValueError("positions must be (total_atoms, 3)")
    if offsets[0] != 0 or offsets[-1] != len(numbers) or np.any(np.diff(offsets) < 1):
        raise ValueError("bad offsets")
    if energy.shape != (n_mol,):
        raise ValueError("energy must be (n_mol,)")
    if forces is not None and forces.shape != positions.shape:
        raise ValueError("forces must be (total_atoms, 3)")
    return numbers, positions, offsets, energy, forces


def collate(numbers, positions, offsets, energy, start, stop, forces=None):
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
    batch = {
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
    if forces is not None:
        batch[P.forces] = torch.from_numpy(forces[a0:a1].astype(np.float32))
    return batch


def energy_force_loss(energy, forces, e_ref, f_ref, idx_m, n_atoms, rho):
    """tfatoms' EnergyForceLoss: mean over molecules of rho dE^2 + (1/N_s) sum_i |dF_i|^2."""
    n_mol = n_atoms.shape[0]
    per_atom = 1.0 / n_atoms.to(forces.dtype)[idx_m]
    sq = ((forces - f_ref) ** 2).sum(dim=1)
    return rho * ((energy - e_ref) ** 2).mean() + (per_atom * sq).sum() / n_mol


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


class Bench:
    """Collated batches, the model (an energy and an energy+forces head on shared modules), one step per phase.

    Phases: ``train`` (energy MSE, or with ``--forces`` the eq. 5.7 loss with the second-order graph),
    ``infer`` (energy, ``no_grad``) and ``infer_forces`` (energy and -dE/dR, eval mode).
    """

    PHASES = ("train", "infer", "infer_forces")

    def __init__(self, args):
        self.args = args
        torch.manual_seed(args.seed)
        torch.set_num_threads(args.threads)
        try:
            torch.set_num_interop_threads(args.threads)
        except RuntimeError:
            pass

        numbers, positions, offsets, energy, forces = load_molecules(args.molecules)
        if args.forces and forces is None:
            raise ValueError(f"--forces needs 'forces' in {args.molecules}")
        n_mol = len(offsets) - 1
        bs = self.bs = args.batch_size
        n_batches = self.n_batches = n_mol // bs
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
        # with --forces the caller's energies are used as given (the same targets on both sides)
        target = energy if args.forces else energy - counts @ atomref

        self.batches = [
            collate(numbers, positions, offsets, target, b * bs, (b + 1) * bs,
                    forces if args.forces else None)
            for b in range(n_batches)
        ]
        self.used_atoms = int(offsets[n_batches * bs])
        self.used_pairs = int(sum(len(b[P.idx_i]) for b in self.batches))
        self.n_used = n_batches * bs

        self.model, self.model_forces = build_model(args)
        if args.weights:
            with np.load(args.weights) as w:
                state = {k: torch.from_numpy(np.asarray(w[k], dtype=np.float32)) for k in w.files}
            missing, unexpected = self.model_forces.load_state_dict(state, strict=False)
            # buffers (RBF centres and widths, the cutoff) stay as constructed; every parameter must be given
            params = {k for k, _ in self.model_forces.named_parameters()}
            if unexpected or params & set(missing):
                raise ValueError(f"{args.weights}: unexpected {unexpected}, missing {sorted(params & set(missing))}")
        self.check = None
        if args.check_out:
            if not args.forces:
                raise ValueError("--check-out needs --forces")
            self.check = check_batch(self.model_forces, self.batches[0], args.rho)
            np.savez(args.check_out, **self.check)
        self.n_params = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=args.lr)
        self.loss_fn = torch.nn.MSELoss()
        self.losses = []
        self.k = 0  # batches are taken in turn across all phases

    def batch(self):
        # the model writes intermediate tensors into the dict it gets: always pass
        # a shallow copy so that pre-collated batches keep no graphs alive
        b = dict(self.batches[self.k % self.n_batches])
        self.k += 1
        return b

    def train_step_forces(self):
        inp = self.batch()
        # targets first: Atomwise and Forces write their predictions under the same keys
        e_ref, f_ref = inp[P.energy], inp[P.forces]
        inp[P.R] = inp[P.R].clone()  # the model sets requires_grad on R
        self.opt.zero_grad(set_to_none=True)
        out = self.model_forces(inp)
        loss = energy_force_loss(out[P.energy], out[P.forces], e_ref, f_ref, inp[P.idx_m], inp[P.n_atoms],
                                 self.args.rho)
        loss.backward()
        self.opt.step()
        return loss

    def train_step(self):
        inp = self.batch()
        # read the target first: Atomwise writes its prediction into the
        # dict under the same key ("energy")
        target = inp[P.energy]
        self.opt.zero_grad(set_to_none=True)
        out = self.model(inp)
        loss = self.loss_fn(out[P.energy], target)
        loss.backward()
        self.opt.step()
        return loss

    def infer_step(self):
        with torch.no_grad():
            return self.model(self.batch())[P.energy]

    def forces_step(self):
        inp = self.batch()
        inp[P.R] = inp[P.R].clone()  # the model sets requires_grad on R
        return self.model_forces(inp)[P.forces]

    def step_fn(self, phase):
        """Set the modules' mode for ``phase`` and return its step function."""
        if phase == "train":
            self.model.train()
            self.model_forces.train()  # Forces: create_graph = training = True (second-order graph)
            step = self.train_step_forces if self.args.forces else self.train_step
            return lambda: self.losses.append(float(step().detach()))
        if phase == "infer":
            self.model.eval()
            return self.infer_step
        if phase == "infer_forces":
            self.model_forces.eval()  # Forces: create_graph = training = False
            return self.forces_step
        raise ValueError(f"unknown phase {phase!r}")

    def timed(self, phase, n_steps, warmup):
        """``warmup`` untimed steps, then time ``n_steps``; returns (total seconds, per-step list)."""
        step = self.step_fn(phase)
        for _ in range(warmup):
            step()
        per_step = []
        t0 = time.perf_counter()
        for _ in range(n_steps):
            t = time.perf_counter()
            step()
            per_step.append(time.perf_counter() - t)
        return time.perf_counter() - t0, per_step

    def info(self):
        args, model = self.args, self.model
        max_d = 0.0
        for b in self.batches:
            R = b[P.R]
            max_d = max(max_d, float((R[b[P.idx_j]] - R[b[P.idx_i]]).norm(dim=1).max()))
        info = {
            "framework": "schnetpack",
            "schnetpack_version": spk.__version__,
            "torch_version": torch.__version__,
            "threads": args.threads,
            "batch_size": self.bs,
            "n_rbf": args.n_rbf,
            "rbf_cutoff": args.rbf_cutoff,
            "rbf_width": float(model.representation.radial_basis.widths[0]),
            "rbf_gamma": 0.5 / float(model.representation.radial_basis.widths[0]) ** 2,
            "head_activation": args.head_activation,
            "features": args.features,
            "interactions": args.interactions,
            "n_params": int(self.n_params),
            "n_molecules_used": self.n_used,
            "n_distinct_batches": self.n_batches,
            "mean_atoms_per_molecule": self.used_atoms / self.n_used,
            "mean_pairs_per_molecule": self.used_pairs / self.n_used,
            "max_pair_distance": max_d,
            "train_loss": ("thesis eq. 5.7, rho = %g, forces by autograd (create_graph)" % args.rho
                           if args.forces else "MSE of the energy"),
        }
        if self.losses:
            info.update(first_train_loss=self.losses[0], last_train_loss=self.losses[-1])
        if self.check is not None:
            info["check_loss"] = float(self.check["loss"])
        return info


def run(args):
    bench = Bench(args)
    bs = bench.bs
    t_train, s_train = bench.timed("train", args.train_batches, args.warmup)
    t_infer, s_infer = bench.timed("infer", args.infer_batches, args.warmup)
    t_forces, s_forces = bench.timed("infer_forces", args.infer_batches, args.warmup)
    result = bench.info()
    result.update({
        "train_molecules_per_s": args.train_batches * bs / t_train,
        "infer_molecules_per_s": args.infer_batches * bs / t_infer,
        "infer_forces_molecules_per_s": args.infer_batches * bs / t_forces,
        "train_seconds": t_train,
        "infer_seconds": t_infer,
        "infer_forces_seconds": t_forces,
        "train_batches": args.train_batches,
        "infer_batches": args.infer_batches,
        "train_molecules_per_s_median_step": bs / float(np.median(s_train)),
        "infer_molecules_per_s_median_step": bs / float(np.median(s_infer)),
        "infer_forces_molecules_per_s_median_step": bs / float(np.median(s_forces)),
        "warmup_steps": args.warmup,
    })
    return result


#: prefix of the reply lines of --serve (anything else on stdout is not a reply)
REPLY = "@@ "


def serve(args):
    """``--serve``: set up once, then answer JSON commands, one a line on stdin, with one reply line each.

    ``{"phase": P, "steps": N, "warmup": W}`` -> ``{"seconds": ..., "per_step": [...]}`` (W untimed steps
    first, default ``--warmup``); ``{"info": true}`` -> :meth:`Bench.info`. Replies start with ``@@ ``;
    end of input ends the process. Lets a harness interleave short phases of both frameworks.
    """
    bench = Bench(args)

    def reply(obj):
        sys.stdout.write(REPLY + json.dumps(obj) + "\n")
        sys.stdout.flush()

    reply({"ready": True})
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        if cmd.get("info"):
            reply(bench.info())
            continue
        seconds, per_step = bench.timed(cmd["phase"], int(cmd["steps"]), int(cmd.get("warmup", args.warmup)))
        reply({"seconds": seconds, "per_step": per_step})


def check_batch(model_forces, batch, rho):
    """Energy, forces, loss and d loss / d parameter (by state-dict key) on one batch, in train mode."""
    model_forces.train()
    model_forces.zero_grad(set_to_none=True)
    inp = dict(batch)
    e_ref, f_ref = inp[P.energy], inp[P.forces]
    inp[P.R] = inp[P.R].clone()
    out = model_forces(inp)
    loss = energy_force_loss(out[P.energy], out[P.forces], e_ref, f_ref, inp[P.idx_m], inp[P.n_atoms], rho)
    loss.backward()
    check = {"energy": out[P.energy].detach().numpy(), "forces": out[P.forces].detach().numpy(),
             "loss": np.float64(loss.item())}
    for name, param in model_forces.named_parameters():
        check["grad/" + name] = param.grad.numpy().copy()
    model_forces.zero_grad(set_to_none=True)
    return check


def main(argv=None):
    args = parse_args(argv)
    if args.serve:
        serve(args)
        return 0
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
