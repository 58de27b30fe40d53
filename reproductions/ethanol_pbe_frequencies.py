"""Reference harmonic frequencies of ethanol at PBE/def2-SVP, the method of rMD17, with PySCF.

The shipped SchNet (``tfatoms.pretrained``, ``schnet_rmd17_ethanol``) was trained on rMD17 ethanol energies and
forces (Christensen & von Lilienfeld 2020: ORCA 4.2, PBE, def2-SVP, VeryTightSCF, Grid 7). Its harmonic
frequencies at its own minimum (notebook 05, ``tests/test_ethanol_reference.py``) are only meaningful next to
those of the method it learned. This script computes them:

1. the starting geometry is one rMD17 configuration (``--config``; default 977, the first test configuration of
   the shipped model's seeded split, never seen in training); PySCF's energy and forces there are compared with
   the rMD17 file, which checks that the settings below reproduce the reference method;
2. ASE's BFGS relaxes it with PySCF energies and analytic gradients (a small ASE calculator below) to
   ``fmax`` (eV/A);
3. PySCF's analytic Hessian (``mf.Hessian()``) at the minimum gives the harmonic frequencies through
   ``ase.vibrations.VibrationsData`` (ASE's average atomic masses, the masses ``ase.vibrations`` uses on the
   model side), all 3N = 27 of them (imaginary ones as negative numbers), and PySCF's
   ``thermo.harmonic_analysis`` gives the 3N - 6 = 21 with translations and rotations projected out.

Method: restricted Kohn-Sham PBE, def2-SVP, with density fitting of the Coulomb term (RI-J,
``def2-universal-jfit``; ORCA uses RI-J with def2/J for GGA functionals by default); measured here at the first
rMD17 configuration, RI-J at grid level 5 reproduces the rMD17 energy to 0.8 meV and the forces to 0.03 meV/A
(component MAE), without RI-J the energy is 7 meV off.

Budgets:
  --quick    STO-3G, grid level 1, fmax 0.1 eV/A, at most 30 steps (wiring only, a few minutes; ..._quick/).
  default    def2-SVP, grid level 5, SCF conv_tol 1e-11 Ha, fmax 0.001 eV/A (minutes on 2 cores).
  --full     def2-SVP, grid level 7 (ORCA Grid 7 is a dense grid too), fmax 0.0005 eV/A.

    python reproductions/ethanol_pbe_frequencies.py --data ../shared/data/rmd17_ethanol/train.xyz

Writes ``results/ethanol_pbe_frequencies/results.json`` (frequencies in cm^-1, geometries, energies, Hessian,
method, basis, grid, PySCF version, command, wall time) next to the usual ``table.md``, ``metrics.json`` and
``provenance.json``. Needs PySCF (``pip install pyscf``), which the package itself does not require.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from tfatoms.reproduce.cli import budget_name, positive, reproduction_parser, results_name

BUDGETS = {
    "quick": dict(basis="sto-3g", grid_level=1, conv_tol=1e-8, fmax=0.1, max_steps=30),
    "default": dict(basis="def2-svp", grid_level=5, conv_tol=1e-11, fmax=0.001, max_steps=300),
    "full": dict(basis="def2-svp", grid_level=7, conv_tol=1e-12, fmax=0.0005, max_steps=500),
}
XC = "PBE"
AUXBASIS = "def2-universal-jfit"
DEFAULT_CONFIG = 977         # first test configuration of schnet_rmd17_ethanol's split (seed 0)
HOCC = (8, 2, 0, 1)          # rMD17 atom order: C C O H H H H H H(O); H8-O2-C0-C1 dihedral names the conformer
MEV = 1000.0


def parse_args(argv=None):
    p, _ = reproduction_parser(__doc__, "ethanol_pbe_frequencies",
                               "grid level 7 and fmax 0.0005 eV/A (a few times the default's cost)")
    p.add_argument("--data", help="rMD17 ethanol extended XYZ (energy in eV, forces in eV/A), e.g. "
                                   "../shared/data/rmd17_ethanol/train.xyz")
    p.add_argument("--config", type=int, default=DEFAULT_CONFIG,
                   help="index of the starting configuration in --data (default %(default)s: the first test "
                        "configuration of the shipped SchNet's split)")
    p.add_argument("--fmax", type=positive(float), help="BFGS convergence, eV/A (overrides the budget's)")
    p.add_argument("--threads", type=positive(int), default=2, help="PySCF OpenMP threads (default 2)")
    args = p.parse_args(argv)
    if not args.data:
        p.error("--data is required: the rMD17 ethanol extended XYZ file (e.g. ../shared/data/rmd17_ethanol/train.xyz)")
    if not Path(args.data).is_file():
        p.error(f"--data {args.data}: no such file")
    try:
        import pyscf  # noqa: F401
    except ImportError:
        p.error("PySCF is not installed: pip install 'tfatoms[dft]' (an optional dependency)")
    return p, args


if __name__ == "__main__":
    parse_args()            # --help and bad switches answer before PySCF loads

import numpy as np  # noqa: E402
from ase import units  # noqa: E402

from tfatoms._io import write_json  # noqa: E402
from tfatoms.data.dft import PySCFKS  # noqa: E402
from tfatoms.data.atoms import AtomsData  # noqa: E402
from tfatoms.reproduce import ResultsWriter  # noqa: E402


def dihedral_hocc(atoms) -> float:
    """H-O-C-C dihedral in degrees, -180 .. 180."""
    return float((atoms.get_dihedral(*HOCC) + 180.0) % 360.0 - 180.0)


def conformer(dihedral: float) -> str:
    """trans (anti) near 180 degrees, gauche near +-60."""
    return "trans" if abs(dihedral) > 120.0 else "gauche"


def frequencies(atoms, mf):
    """Analytic Hessian at the minimum: all 3N frequencies (ASE masses) and PySCF's 3N - 6 projected ones."""
    from ase.vibrations import VibrationsData
    from pyscf.hessian import thermo

    t0 = time.perf_counter()
    h = mf.Hessian().kernel()                                        # (n, n, 3, 3), Hartree/Bohr^2
    seconds = time.perf_counter() - t0
    n = len(atoms)
    hessian = np.asarray(h).transpose(0, 2, 1, 3).reshape(3 * n, 3 * n) * units.Hartree / units.Bohr**2
    hessian = 0.5 * (hessian + hessian.T)                            # eV/A^2
    freqs = VibrationsData.from_2d(atoms, hessian).get_frequencies()  # complex cm^-1 (imaginary: j)
    signed = np.where(np.abs(freqs.imag) > np.abs(freqs.real), -np.abs(freqs.imag), freqs.real)
    projected = thermo.harmonic_analysis(mf.mol, h, imaginary_freq=False)["freq_wavenumber"]
    return hessian, np.sort(signed), np.sort(np.asarray(projected, float)), seconds


def main(argv=None):
    p, args = parse_args(argv)
    from ase.optimize import BFGS
    from pyscf import __version__ as pyscf_version
    from pyscf import lib

    lib.num_threads(args.threads)
    budget_key = budget_name(args)
    b = dict(BUDGETS[budget_key])
    if args.fmax is not None:
        b["fmax"] = args.fmax
    argv_list = ["reproductions/ethanol_pbe_frequencies.py", *(sys.argv[1:] if argv is None else argv)]
    out = ResultsWriter(results_name("ethanol_pbe_frequencies", budget_key), root=args.out, seed=args.seed,
                        budget=budget_key, reference_method=f"{XC}/{b['basis']} (PySCF {pyscf_version}, RI-J "
                                                            f"{AUXBASIS}, grid level {b['grid_level']})",
                        argv=argv_list)
    t_start = time.perf_counter()

    data = AtomsData.read(args.data).require("energy", "forces")
    if data.units.get("energy", "eV") != "eV" or data.units.get("forces", "eV/A") != "eV/A":
        data = data.to_units({"energy": "eV", "forces": "eV/A"})
    if not 0 <= args.config < len(data):
        p.error(f"--config {args.config}: {args.data} has configurations 0 .. {len(data) - 1}")
    start = data.subset([args.config])
    atoms = next(iter(start))
    e_ref = float(start.properties["energy"][0])
    f_ref = np.asarray(start.properties["forces"], float).reshape(-1, 3)
    atoms.calc = calc = PySCFKS(basis=b["basis"], grid_level=b["grid_level"], conv_tol=b["conv_tol"])
    print(f"{XC}/{b['basis']} (RI-J {AUXBASIS}, grid level {b['grid_level']}), {args.threads} threads; "
          f"configuration {args.config} of {args.data}", flush=True)
    t0 = time.perf_counter()
    e0, f0 = atoms.get_potential_energy(), atoms.get_forces()
    first_call_s = time.perf_counter() - t0
    print(f"start: E - E(rMD17) = {(e0 - e_ref) * MEV:.2f} meV, force MAE vs rMD17 "
          f"{np.abs(f0 - f_ref).mean() * MEV:.3f} meV/A; one energy + gradient {first_call_s:.1f} s", flush=True)
    start_positions = atoms.positions.copy()

    energies = []
    opt = BFGS(atoms, logfile="-" if budget_key != "quick" else None)
    opt.attach(lambda: energies.append(float(atoms.get_potential_energy())))
    t0 = time.perf_counter()
    converged = bool(opt.run(fmax=b["fmax"], steps=b["max_steps"]))
    relax_s = time.perf_counter() - t0
    fmax_reached = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
    if not converged:
        print(f"warning: BFGS stopped after {b['max_steps']} steps at max force {fmax_reached:.2e} eV/A")
    dih = dihedral_hocc(atoms)
    print(f"relaxed in {opt.get_number_of_steps()} steps ({relax_s:.0f} s): E = {energies[-1]:.6f} eV, "
          f"max force {fmax_reached:.1e} eV/A, H-O-C-C {dih:.1f} deg ({conformer(dih)})", flush=True)

    hessian, freqs, projected, hessian_s = frequencies(atoms, calc.mf)
    print(f"analytic Hessian {hessian_s:.0f} s; frequencies (cm^-1): {np.round(projected, 1).tolist()}", flush=True)
    wall = time.perf_counter() - t_start

    results = dict(
        method=XC, basis=b["basis"], density_fitting=f"RI-J, auxiliary basis {AUXBASIS}",
        grid_level=b["grid_level"], scf_conv_tol_hartree=b["conv_tol"], pyscf_version=pyscf_version,
        reference="rMD17 (Christensen & von Lilienfeld 2020): ORCA 4.2, PBE/def2-SVP, VeryTightSCF, Grid 7",
        data_file=Path(args.data).name, start_configuration=args.config, budget=budget_key,
        units=dict(energy="eV", positions="A", forces="eV/A", frequencies="cm^-1", hessian="eV/A^2"),
        symbols=atoms.get_chemical_symbols(), numbers=atoms.numbers.tolist(),
        start=dict(positions=start_positions.tolist(), energy=e0, rmd17_energy=e_ref,
                   energy_minus_rmd17_meV=(e0 - e_ref) * MEV,
                   forces_mae_vs_rmd17_meV_A=float(np.abs(f0 - f_ref).mean() * MEV),
                   forces_max_abs_diff_vs_rmd17_meV_A=float(np.abs(f0 - f_ref).max() * MEV)),
        relaxation=dict(optimizer="ase.optimize.BFGS", fmax=b["fmax"], steps=int(opt.get_number_of_steps()),
                        converged=converged, max_force=fmax_reached, energies=energies),
        relaxed=dict(positions=atoms.positions.tolist(), energy=energies[-1], dihedral_HOCC_deg=dih,
                     conformer=conformer(dih)),
        frequencies_cm1=freqs.tolist(),
        frequencies_note="all 3N from the analytic Hessian with ASE's average masses (ase.vibrations."
                         "VibrationsData), ascending, imaginary ones as negative numbers; the six near zero are "
                         "translations and rotations",
        frequencies_projected_cm1=projected.tolist(),
        frequencies_projected_note="3N - 6, translations and rotations projected out (pyscf.hessian.thermo."
                                   "harmonic_analysis, PySCF's masses)",
        hessian=hessian.tolist(),
        timings_s=dict(first_energy_gradient=first_call_s, relaxation=relax_s, hessian=hessian_s,
                       scf_and_gradients=calc.scf_seconds, total=wall),
        scf_calls=calc.n_calls, threads=args.threads, command="python " + " ".join(argv_list), wall_time_s=wall)
    out.data_source = f"rMD17 ethanol ({args.data}), configuration {args.config}"
    out.protocol = f"BFGS to fmax {b['fmax']} eV/A ({results['relaxation']['steps']} steps), analytic Hessian"
    with out:
        out.add_row("energy - rMD17 at the start", results["start"]["energy_minus_rmd17_meV"], "meV", paper=0.0,
                    note="same method: should be ~0", metric="start_energy_minus_rmd17_meV")
        out.add_row("force MAE vs rMD17 at the start", results["start"]["forces_mae_vs_rmd17_meV_A"], "meV/A",
                    paper=0.0, note="same method: should be ~0", metric="start_forces_mae_vs_rmd17_meV_A")
        out.add_row("relaxation energy", (energies[-1] - e0) * MEV, "meV", metric="relaxation_energy_meV")
        out.add_row("H-O-C-C dihedral at the minimum", dih, "deg", note=conformer(dih), metric="dihedral_HOCC_deg")
        for k, f in enumerate(projected):
            out.metric(f"frequency_cm1.mode{k + 1:02d}", f)
        out.add_row("lowest real frequency", projected[0], "cm^-1", metric="frequency_cm1.lowest")
        out.add_row("highest frequency (O-H stretch)", projected[-1], "cm^-1", metric="frequency_cm1.highest")
        out.add_row("wall time", wall, "s", metric="wall_time_s")
        out.extra.update(pyscf_version=pyscf_version, timings_s=results["timings_s"])
        write_json(out.dir / "results.json", results)
    print(f"results written to {out.dir}")
    return results


if __name__ == "__main__":
    main()
