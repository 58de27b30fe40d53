"""How the pretrained porous graphene EDNNs hold up off the paper's training distribution, kind by kind.

Held-out sheets of every kind a user of a porous graphene model meets (``tfatoms.data.porous_kinds``: the paper's
circular pruned holes, pristine, single vacancies, divacancies, unpruned and elliptical holes, 300 K and 1500 K,
flat 0 K lattices, ripples, and +-1 % / +-2 % uniaxial strain in long cells), REBO MD (LAMMPS) as the reference,
seeds disjoint from every training set. For each model: MAE and mean signed error per atom, median |error| per
area, the reference's spread, and the share of sheets the model's out-of-distribution check
(``tfatoms.inference.domain``) flags; for the strained cells also the strain energy of the flat lattices, REBO's
against the model's. Pooled rows: the MAE over the configurations of all kinds and the mean of the kinds' MAEs (the
regenerated test set of the paper-distribution run, the in-distribution check, is reported alone).

    python reproductions/ednn_porous_graphene_kinds.py [--quick] [--models ednn_porous_graphene_holes ednn_porous_graphene]

Budgets: --quick (a minute, 2 geometries per kind, short MD; tests); default (16 geometries x 3 snapshots per
2 x 2-block kind, 4 x 2 per long strained kind; about 8 minutes of MD on 2 cores, then a minute per model).
The held-out sets are cached under --cache-dir (one keyed file per kind, resumable by kind).
"""
from __future__ import annotations

import sys
from pathlib import Path

from tfatoms.reproduce.cli import budget_name, positive, reproduction_parser, results_name

MODELS = ("ednn_porous_graphene_holes", "ednn_porous_graphene")
EVAL_SEED = 5_000_000           # disjoint from the training recipes' and the transfer sheets' seeds

#: (row key, description, recipe fields, strained). Strained rows use long cells (16 x 1 or 32 x 1 blocks).
ROWS = (
    ("paper_test", "the held-out test sheets of ednn_porous_graphene.py (default budget), 1000 K",
     dict(kind="holes", paper_test=True), False),
    ("holes", "circular pruned holes (the paper's kind), 1000 K", dict(kind="holes"), False),
    ("pristine", "pristine, 1000 K", dict(kind="pristine"), False),
    ("vacancies", "single vacancies, 1000 K", dict(kind="vacancies"), False),
    ("divacancies", "divacancies, 1000 K", dict(kind="divacancies"), False),
    ("unpruned_holes", "holes with unpruned edges, 1000 K", dict(kind="unpruned_holes"), False),
    ("elliptical_holes", "elliptical holes, 1000 K", dict(kind="elliptical_holes"), False),
    ("holes_300K", "circular pruned holes, 300 K", dict(kind="holes", temperature=300.0), False),
    ("holes_1500K", "circular pruned holes, 1500 K", dict(kind="holes", temperature=1500.0), False),
    ("vacancies_300K", "single vacancies, 300 K", dict(kind="vacancies", temperature=300.0), False),
    ("flat_pristine", "flat pristine lattice, 0 K", dict(kind="pristine", temperature=0.0), False),
    ("flat_holes", "flat porous lattice (circular pruned holes), 0 K", dict(kind="holes", temperature=0.0), False),
    ("rippled_holes", "circular pruned holes rippled 0.3-1 A, 1000 K", dict(kind="holes", ripple=-1.0), False),
    ("strain_p2", "uniaxial strain +2.08 % (16 x 1 blocks), holes, 1000 K",
     dict(kind="holes", blocks=(16, 1), strain_tiles=1), True),
    ("strain_m2", "uniaxial strain -2.08 % (16 x 1 blocks), holes, 1000 K",
     dict(kind="holes", blocks=(16, 1), strain_tiles=-1), True),
    ("strain_p1", "uniaxial strain +1.04 % (32 x 1 blocks), holes, 1000 K",
     dict(kind="holes", blocks=(32, 1), strain_tiles=1), True),
    ("strain_m1", "uniaxial strain -1.04 % (32 x 1 blocks), holes, 1000 K",
     dict(kind="holes", blocks=(32, 1), strain_tiles=-1), True),
)
#: The default budget's dataset of reproductions/ednn_porous_graphene.py: its test split is regenerated bit for bit
#: (same starting geometries, same MD seeds) for the ``paper_test`` row, the in-distribution check.
PAPER_DATASET = dict(n_geometries=2000, n_snapshots=6, seed=0, temperature=1000.0, n_equilibrate=600, interval=100,
                     blocks=[2, 2])
BUDGETS = {"quick": dict(geometries=2, snapshots=1, strained_geometries=1, strained_snapshots=1, n_equilibrate=100,
                         interval=50, rows=("paper_test", "holes", "vacancies", "flat_holes", "strain_p2"), paper_geometries=2),
           "default": dict(geometries=16, snapshots=3, strained_geometries=4, strained_snapshots=2, n_equilibrate=600,
                           interval=100, rows=None, paper_geometries=None)}


def parse_args(argv=None):
    p, g = reproduction_parser(__doc__, "ednn_porous_graphene_kinds", "(same as the default)")
    p.add_argument("--models", nargs="+", default=list(MODELS), help="pretrained EDNNs to evaluate (names or paths)")
    p.add_argument("--workers", type=positive(int), default=2, help="processes for the REBO MD")
    return p.parse_args(argv)


if __name__ == "__main__":
    parse_args()            # --help and bad switches answer before TensorFlow loads

import numpy as np  # noqa: E402

from tfatoms.data.atoms import AtomsData  # noqa: E402
from tfatoms.data.cache import DatasetCache  # noqa: E402
from tfatoms.data.lammps_rebo import REFERENCE as REBO, rebo_energy  # noqa: E402
from tfatoms.data.porous_kinds import SheetRecipe, recipe_snapshots  # noqa: E402

CACHE = DatasetCache("porous graphene kinds")


def recipe(fields: dict, g: int) -> SheetRecipe:
    """Held-out geometry ``g`` of a row: its own seed, hole density 0-2.5x the paper's (its spread), ripple."""
    rng = np.random.default_rng([EVAL_SEED, g, 3])
    f = dict(fields)
    f["density"] = float(rng.uniform(0.0 if f["kind"] == "holes" else 0.25, 2.5))
    if f.pop("ripple", 0.0) < 0:
        f.update(ripple=float(rng.uniform(0.3, 1.0)), ripple_waves=int(rng.integers(1, 3)))
    return SheetRecipe(seed=EVAL_SEED + g, **f)


def flat_pair(fields, g) -> tuple[SheetRecipe, SheetRecipe]:
    """The flat 0 K lattices of a strained row's geometry ``g``: strained, and the same atoms unstrained."""
    flat = dict(fields, temperature=0.0)
    return recipe(flat, g), recipe(dict(flat, strain_tiles=0), g)


def _row_job(args):
    fields, g, snapshots, n_equilibrate, interval, strained = args
    r = recipe(fields, g)
    snaps = recipe_snapshots(r, snapshots, n_equilibrate, interval, seed=1 + (EVAL_SEED + 7919 * g) % 900_000_000)
    out = dict(positions=[s.positions for s in snaps], energy=[s.energy for s in snaps],
               temperature=[s.temperature for s in snaps])
    if strained:        # the flat lattices, strained and not: the strain energy
        strained_flat, flat = flat_pair(fields, g)
        out["strain_energy"] = (rebo_energy(strained_flat.positions(), strained_flat.cell).energy
                                - rebo_energy(flat.positions(), flat.cell).energy)
        out["flat_atoms"] = len(flat.positions())
    return out


def _map(job, args, workers):
    """``[job(a) for a in args]``, in ``workers`` forked processes when there are more than one."""
    if workers > 1 and len(args) > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(min(workers, len(args))) as pool:
            return pool.map(job, args)
    return [job(a) for a in args]


def _paper_job(g):
    from tfatoms.data.porous_graphene import _chunk_job

    return _chunk_job((g, g + 1, PAPER_DATASET))


def paper_test_data(geometries, workers) -> AtomsData:
    """The test configurations of the paper-distribution dataset (``PAPER_DATASET``), its starting geometries
    ``geometries`` only, regenerated by the dataset's own MD job."""
    from tfatoms.data.sheets import VACUUM
    from tfatoms.data.porous_graphene import starting_geometry

    results = _map(_paper_job, geometries, workers)
    counts = np.concatenate([r["counts"] for r in results])
    cell = np.array([*starting_geometry(0, PAPER_DATASET["seed"]).size, VACUUM])
    return AtomsData(np.full(int(counts.sum()), 6), np.concatenate([r["positions"] for r in results]),
                     np.concatenate([[0], np.cumsum(counts)]), cell=np.diag(cell), pbc=(True, True, False),
                     properties=dict(energy=np.concatenate([r["energy"] for r in results]),
                                     geometry=np.concatenate([r["geometry"] for r in results]),
                                     temperature=np.concatenate([r["temperature"] for r in results])),
                     units={"energy": "eV"}, metadata=dict(row="paper_test", cell=cell.tolist(), reference=REBO))


def row_data(key, fields, strained, b, cache_dir, workers) -> AtomsData:
    """The REBO configurations of one row (cached, keyed by everything they depend on)."""
    n_geo = b["strained_geometries"] if strained else b["geometries"]
    n_snap = b["strained_snapshots"] if strained else b["snapshots"]
    if fields.get("paper_test"):
        from tfatoms.data.porous_graphene import geometry_splits

        test = np.flatnonzero(geometry_splits(PAPER_DATASET["n_geometries"], PAPER_DATASET["seed"]) == 2)
        params = dict(row=key, dataset=PAPER_DATASET, geometries=b["paper_geometries"] or len(test))
        path = CACHE.path(cache_dir, params, stem=f"porous_kinds_{key}")
        data = CACHE.load(path, params)
        if data is None:
            data = paper_test_data(test[:params["geometries"]].tolist(), workers)
            CACHE.store(path, params, data)
        return data
    if fields["kind"] == "pristine" and fields.get("temperature") == 0.0:
        n_geo = 1                                                   # one flat pristine lattice exists
    params = dict(row=key, fields={k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()},
                  geometries=n_geo, snapshots=n_snap, n_equilibrate=b["n_equilibrate"], interval=b["interval"],
                  eval_seed=EVAL_SEED)
    path = CACHE.path(cache_dir, params, stem=f"porous_kinds_{key}")
    data = CACHE.load(path, params)
    if data is not None:
        return data
    jobs = [(fields, g, n_snap, b["n_equilibrate"], b["interval"], strained) for g in range(n_geo)]
    results = _map(_row_job, jobs, workers)
    pos = [p for r in results for p in r["positions"]]
    geometry = np.concatenate([[g] * len(r["energy"]) for g, r in enumerate(results)])
    cell = recipe(fields, 0).cell
    props = dict(energy=np.concatenate([r["energy"] for r in results]), geometry=geometry,
                 temperature=np.concatenate([r["temperature"] for r in results]))
    meta = dict(row=key, cell=cell.tolist(), label=recipe(fields, 0).label(), reference=REBO)
    if strained:
        meta["strain_energy_eV"] = [float(r["strain_energy"]) for r in results]
        meta["flat_atoms"] = [int(r["flat_atoms"]) for r in results]
    data = AtomsData(np.full(sum(len(p) for p in pos), 6), np.concatenate(pos),
                     np.concatenate([[0], np.cumsum([len(p) for p in pos])]), cell=np.diag(cell),
                     pbc=(True, True, False), properties=props, units={"energy": "eV"}, metadata=meta)
    CACHE.store(path, params, data)
    return data


def evaluate(predictor, check, data, strained_fields=None, n_flat=0):
    """Per-configuration predicted energies, and the out-of-distribution findings of each configuration."""
    cell = np.asarray(data.metadata["cell"])
    pred, flagged = [], []
    for k in range(len(data)):
        pos = data.positions[data.ptr[k]:data.ptr[k + 1]]
        res = predictor.energy(pos, cell[:2], energy_map=check is not None)
        pred.append(res.energy)
        flagged.append(check.check(pos, cell, res.tile_energies) if check is not None else None)
    strain = None
    if strained_fields is not None:
        strain = []
        for g in range(n_flat):
            strained_flat, flat = flat_pair(strained_fields, g)
            strain.append(predictor.energy(strained_flat.positions(), strained_flat.size).energy
                          - predictor.energy(flat.positions(), flat.size).energy)
    return np.array(pred), flagged, strain


def main(argv=None):
    args = parse_args(argv)
    budget_key = budget_name(args)
    b = BUDGETS["quick" if budget_key == "quick" else "default"]

    import tfatoms._tensorflow  # noqa: F401
    from tfatoms.inference.domain import DomainCheck
    from tfatoms.inference.sheet import SheetPredictor
    from tfatoms.pretrained import load_ednn, model_location
    from tfatoms.reproduce import ResultsWriter
    from tfatoms.reproduce.results import atomic_write

    models = {}
    for name in args.models:
        model, meta = load_ednn(*model_location(name))
        check = DomainCheck.from_metadata(meta) if "domain" in meta else None
        models[model_location(name)[0]] = (SheetPredictor.from_ednn(model, meta["spacing"], meta["gamma"]), check, meta)
    rows = [r for r in ROWS if b["rows"] is None or r[0] in b["rows"]]
    cache_dir = Path(args.cache_dir) / "porous_graphene_kinds"
    cache_dir.mkdir(parents=True, exist_ok=True)
    datasets = {}
    from tqdm.auto import tqdm

    for key, _, fields, strained in tqdm(rows, desc="held-out kinds (REBO MD)", unit="kind"):
        datasets[key] = row_data(key, fields, strained, b, cache_dir, args.workers)

    out = ResultsWriter(results_name("ednn_porous_graphene_kinds", budget_key), root=args.out, budget=budget_key,
                        argv=["reproductions/ednn_porous_graphene_kinds.py", *(sys.argv[1:] if argv is None else argv)],
                        protocol=f"{b['geometries']} geometries x {b['snapshots']} snapshots per 2 x 2-block kind, "
                                 f"{b['strained_geometries']} x {b['strained_snapshots']} per long strained kind, "
                                 f"{b['n_equilibrate']} MD steps of 0.5 fs before the first snapshot, one every "
                                 f"{b['interval']}",
                        data_source="generated: held-out sheets of tfatoms.data.porous_kinds (seeds from 5,000,000)",
                        reference_method=REBO)
    table, pools = {}, {}
    for name, (predictor, check, meta) in models.items():
        pooled_err, row_mae = [], []
        for key, label, fields, strained in tqdm(rows, desc=f"{name}", unit="kind"):
            data = datasets[key]
            n_atoms = np.diff(data.ptr)
            area = float(np.prod(np.asarray(data.metadata["cell"])[:2]))
            pred, flagged, strain = evaluate(predictor, check, data, fields if strained else None,
                                             len(data.metadata.get("strain_energy_eV", [])))
            err = (pred - data.properties["energy"]) / n_atoms * 1e3
            ref_atom = data.properties["energy"] / n_atoms * 1e3
            mae, bias = float(np.mean(np.abs(err))), float(np.mean(err))
            med_area = float(np.median(np.abs(pred - data.properties["energy"]) / area * 1e3))
            if key != "paper_test":         # the in-distribution check, 1,338 configurations: not in the pools
                pooled_err.append(err)
                row_mae.append(mae)
            r = dict(n=len(err), mae=mae, bias=bias, median_area=med_area, spread=float(np.std(ref_atom)),
                     temperature=float(np.mean(data.properties["temperature"])),
                     flagged=None if check is None else float(np.mean([bool(f) for f in flagged])))
            if strain is not None:
                ref = np.array(data.metadata["strain_energy_eV"]) / np.array(data.metadata["flat_atoms"]) * 1e3
                got = np.array(strain) / np.array(data.metadata["flat_atoms"]) * 1e3
                r.update(strain_ref=float(ref.mean()), strain_pred=float(got.mean()),
                         strain_sign_right=float(np.mean(np.sign(ref) == np.sign(got))))
            table.setdefault(key, {})[name] = r
            tag = f"{label} [{name}]"
            out.add_row(f"{tag}: MAE per atom", mae, "meV/atom", metric=f"{name}.{key}.mae_meV_atom",
                        note=f"{len(err)} configurations; mean signed error {bias:+.1f} meV/atom; reference spread "
                             f"{r['spread']:.1f} meV/atom; mean T {r['temperature']:.0f} K"
                             + ("" if r["flagged"] is None else f"; flagged out of distribution {100 * r['flagged']:.0f} %"))
            out.metric(f"{name}.{key}.mean_signed_error_meV_atom", bias)
            out.metric(f"{name}.{key}.median_abs_error_meV_A2", med_area)
            out.metric(f"{name}.{key}.reference_std_meV_atom", r["spread"])
            if r["flagged"] is not None:
                out.metric(f"{name}.{key}.flagged_fraction", r["flagged"])
            if strain is not None:
                out.add_row(f"{tag}: strain energy of the flat lattice", r["strain_pred"], "meV/atom",
                            metric=f"{name}.{key}.strain_energy_meV_atom",
                            note=f"REBO {r['strain_ref']:+.2f} meV/atom; sign right in {100 * r['strain_sign_right']:.0f} %")
                out.metric(f"{name}.{key}.strain_energy_ref_meV_atom", r["strain_ref"])
        pooled = np.concatenate(pooled_err)
        out.add_row(f"all kinds pooled [{name}]: MAE per atom", float(np.mean(np.abs(pooled))), "meV/atom",
                    metric=f"{name}.pooled.mae_meV_atom",
                    note=f"{len(pooled)} configurations of every row but the paper's test set")
        out.add_row(f"mean of the kinds' MAEs [{name}]", float(np.mean(row_mae)), "meV/atom",
                    metric=f"{name}.kinds_mean.mae_meV_atom", note=f"{len(row_mae)} kinds")
        out.metric(f"{name}.worst_kind.mae_meV_atom", float(np.max(row_mae)))
        pools[name] = dict(n=len(pooled), pooled=float(np.mean(np.abs(pooled))), kinds_mean=float(np.mean(row_mae)),
                           worst=float(np.max(row_mae)))
    out.extra["kinds"] = table
    out.extra["rows"] = {key: label for key, label, _, _ in rows}
    out.extra["models"] = {name: dict(trained_on=meta.get("trained_on", "the paper's distribution (see its results)"),
                                      trained_by=meta.get("trained_by")) for name, (_, _, meta) in models.items()}
    out.extra["pooled"] = pools
    text = kinds_markdown(table, out.extra["rows"], pools)
    out.finish()
    atomic_write(out.dir / "kinds.md", f"# {out.name}: per kind\n\n{text}\n")
    print(text)
    return table


def kinds_markdown(table, labels, pools=None) -> str:
    """One line per kind: each model's MAE / mean signed error per atom (meV), median per area, flagged share; then
    the pooled MAE, the mean and the worst of the kinds' MAEs (``pools``)."""
    names = list(next(iter(table.values())))
    head = "| kind | n | REBO spread meV/atom | " + " | ".join(
        f"{n}: MAE / signed, meV/atom | {n}: median meV/A^2 | {n}: flagged" for n in names) + " |"
    lines = [head, "|" + "---|" * (3 + 3 * len(names))]
    for key, per in table.items():
        first = per[names[0]]
        cells = []
        for n in names:
            r = per[n]
            s = f"{r['mae']:.1f} / {r['bias']:+.1f}"
            if "strain_pred" in r:
                s += f" (strain energy {r['strain_pred']:+.2f} vs REBO {r['strain_ref']:+.2f})"
            cells += [s, f"{r['median_area']:.2f}", "-" if r["flagged"] is None else f"{100 * r['flagged']:.0f} %"]
        lines.append(f"| {labels[key]} | {first['n']} | {first['spread']:.1f} | " + " | ".join(cells) + " |")
    if pools:
        first = pools[names[0]]
        for what, label in (("pooled", "all kinds pooled (not the paper's test set)"),
                            ("kinds_mean", "mean of the kinds' MAEs"), ("worst", "worst kind")):
            lines.append(f"| **{label}** | {first['n'] if what == 'pooled' else '-'} | - | " + " | ".join(
                f"**{pools[n][what]:.1f}** | - | -" for n in names) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
