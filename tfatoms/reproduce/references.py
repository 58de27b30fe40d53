"""Numbers the papers report, as data, keyed ``"<paper>/<experiment>/<quantity>"``.

Papers (see ``shared/papers/INDEX.md``):
``ednn`` Mills et al., Chem. Sci. 10, 4129 (2019);
``cnnas`` Ryczko et al., Comput. Mater. Sci. 149 (2018);
``thesis`` Schuett, PhD thesis, TU Berlin (2018);
``localforce`` Kuritz, Gordon, Natan.
Each reproduction adds the numbers it compares with here, citing table or section.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    """One number from a paper: value, unit, and where it is printed."""
    value: float
    unit: str
    source: str
    note: str = ""


REFERENCES: dict[str, Reference] = {
    # EDNN, Ising model (sec. 3.1, Figs. 3 and 8): "median absolute error" printed as J/L^2.
    "ednn/ising_8x8/median_abs_error_f1_c1": Reference(0.028, "J", "EDNN sec. 3.1, Fig. 3", "printed as 0.028/JL^2"),
    "ednn/ising_8x8/median_abs_error_f1_c2": Reference(1.090, "J", "EDNN sec. 3.1"),
    "ednn/ising_8x8/median_abs_error_f1_c3": Reference(14.816, "J", "EDNN sec. 3.1"),
    "ednn/ising_8x8/param_ratio_c3_c1": Reference(7.0, "", "EDNN sec. 3.1", "'over 7 times the parameters'"),
    "ednn/ising_128x128/median_abs_error": Reference(2.055, "J", "EDNN sec. 3.3, Fig. 8", "printed as 2.055 J/L^2"),
    # EDNN, DFT systems and scale-out.
    "ednn/porous_graphene/median_abs_error": Reference(1.685, "meV/A^2", "EDNN sec. 3.2.2, Fig. 7"),
    "ednn/hexagonal/mae": Reference(1.122, "meV/A^2", "EDNN sec. 3.2.1, Fig. 5", "f = 64, c = 32, 500 epochs"),
    "ednn/hexagonal/mae_whole_image": Reference(2.529, "meV/A^2", "EDNN sec. 3.2.1 (ref. 42, CNNAS)",
                                                "traditional (non-EDNN) network"),
    "ednn/hexagonal/mc_seconds_per_energy": Reference(0.39, "s", "EDNN sec. 3.3, Fig. 13", "DFT MD: 9.9 s per step"),
    "ednn/hexagonal/dft_md_seconds_per_step": Reference(9.9, "s", "EDNN sec. 3.3, Fig. 13"),
    "ednn/sheet_1um2/n_atoms": Reference(35.2e6, "atoms", "EDNN sec. 3.3, Fig. 12"),
    "ednn/sheet_1um2/wall_time": Reference(24.7, "min", "EDNN sec. 3.3, Fig. 12", "448 cores on 16 nodes"),
    "ednn/sheet_1um2/cores": Reference(448, "cores", "EDNN sec. 3.3"),
    # CNNAS, Lennard-Jones dimers (Table 1, test-set MAE).
    "cnnas/dimer_2d/r12_1_3/mae": Reference(1.58e-3, "A", "CNNAS Table 1"),
    "cnnas/dimer_2d/r12_1_2/mae": Reference(9.99e-4, "A", "CNNAS Table 1"),
    "cnnas/dimer_2d/r12_2_3/mae": Reference(9.72e-4, "A", "CNNAS Table 1"),
    "cnnas/dimer_2d/r12_interp/mae": Reference(3.52e-3, "A", "CNNAS Table 1", "1-1.67 & 2.33-3 A"),
    "cnnas/dimer_3d/r12_1_3/mae": Reference(3.21e-3, "A", "CNNAS Table 1"),
    "cnnas/dimer_3d/r12_1_2/mae": Reference(1.58e-3, "A", "CNNAS Table 1"),
    "cnnas/dimer_3d/r12_2_3/mae": Reference(1.72e-3, "A", "CNNAS Table 1"),
    "cnnas/dimer_3d/r12_interp/mae": Reference(2.93e-3, "A", "CNNAS Table 1", "1-1.67 & 2.33-3 A"),
    "cnnas/dimer_2d/u_-1_0/mae": Reference(1.41e-3, "epsilon", "CNNAS Table 1"),
    "cnnas/dimer_2d/u_-0.5_0/mae": Reference(1.62e-3, "epsilon", "CNNAS Table 1"),
    "cnnas/dimer_2d/u_-1_-0.5/mae": Reference(1.62e-3, "epsilon", "CNNAS Table 1"),
    "cnnas/dimer_2d/u_interp/mae": Reference(1.41e-3, "epsilon", "CNNAS Table 1"),
    "cnnas/dimer_3d/u_-1_0/mae": Reference(5.11e-3, "epsilon", "CNNAS Table 1"),
    "cnnas/dimer_3d/u_-0.5_0/mae": Reference(1.14e-2, "epsilon", "CNNAS Table 1"),
    "cnnas/dimer_3d/u_interp/mae": Reference(9.43e-3, "epsilon", "CNNAS Table 1"),
    "cnnas/dimer_2d_grid32/u_-1_0/mae": Reference(4.99e-1, "epsilon", "CNNAS Table 1"),
    "cnnas/dimer_2d_grid64/u_-1_0/mae": Reference(1.70e-3, "epsilon", "CNNAS Table 1"),
    "cnnas/dimer_2d_grid128/u_-1_0/mae": Reference(1.06e-3, "epsilon", "CNNAS Table 1"),
    "cnnas/baseline/random_forest/mae": Reference(1.68e-2, "A", "CNNAS Table 1"),
    "cnnas/baseline/krr_linear/mae": Reference(1.24e-1, "A", "CNNAS Table 1"),
    "cnnas/baseline/krr_gaussian/mae": Reference(2.47e-1, "A", "CNNAS Table 1"),
    "cnnas/baseline/mlp/mae": Reference(1.24e-1, "A", "CNNAS Table 1"),
    # CNNAS, hexagonal sheets (Network 2, four shifted copies, 256 x 256; sec. 3.3, Table 1 last row, Figs. 6-7).
    "cnnas/hexagonal/mae_total": Reference(0.0119, "eV", "CNNAS Table 1 (last row), sec. 3.3",
                                           "total energy; test set a random 30 % of the MD frames"),
    "cnnas/hexagonal/mae_atom": Reference(0.198, "meV/atom", "CNNAS abstract, sec. 3.3; poster",
                                          "0.0119 eV / 60 atoms; 'correlated with the training set' (poster)"),
    "cnnas/hexagonal/max_error_atom": Reference(16.1, "meV/atom", "CNNAS abstract", "maximum absolute error, test set"),
    "cnnas/hexagonal/mse_val": Reference(3.11e-4, "eV^2", "CNNAS Table 1 (last row)", "validation set, epoch 500"),
    "cnnas/hexagonal/md_mae_atom": Reference(6.85, "meV/atom", "CNNAS sec. 3.3, Fig. 7; poster",
                                             "independent hBN MD, 5 ps at 20.7 a.u., every 100 steps"),
    "cnnas/hexagonal/md_max_error_atom": Reference(38.8, "meV/atom", "CNNAS sec. 3.3, Fig. 7",
                                                   "independent hBN MD, every 100 steps"),
    # Schuett thesis, QM9. Table 4.2: SchNet (T = 6) with 110k training molecules, MAE, mean of 3 runs.
    # SchNet energy+force training on MD17 ethanol, 1,000 training configurations (thesis Table 5.1, original MD17).
    "thesis/schnet_md17/ethanol/energy_mae": Reference(0.08, "kcal/mol", "thesis Table 5.1", "original MD17, N = 1,000"),
    "thesis/schnet_md17/ethanol/forces_mae": Reference(0.39, "kcal/mol/A", "thesis Table 5.1", "original MD17, N = 1,000"),
    # Thesis Table 5.1 (ethanol, N = 1,000, unshared filters, rho = 0.01) and Tables 5.3/5.4 (ethanol, N = 1,000).
    "thesis/schnet_md17/ethanol_T1/energy_mae": Reference(0.43, "kcal/mol", "thesis Table 5.1", "original MD17, N = 1,000"),
    "thesis/schnet_md17/ethanol_T1/energy_rmse": Reference(0.57, "kcal/mol", "thesis Table 5.1", "original MD17, N = 1,000"),
    "thesis/schnet_md17/ethanol_T1/forces_mae": Reference(1.72, "kcal/mol/A", "thesis Table 5.1", "original MD17, N = 1,000"),
    "thesis/schnet_md17/ethanol_T1/forces_rmse": Reference(2.52, "kcal/mol/A", "thesis Table 5.1", "original MD17, N = 1,000"),
    "thesis/schnet_md17/ethanol_T2/energy_mae": Reference(0.08, "kcal/mol", "thesis Table 5.1", "original MD17, N = 1,000"),
    "thesis/schnet_md17/ethanol_T2/energy_rmse": Reference(0.13, "kcal/mol", "thesis Table 5.1", "original MD17, N = 1,000"),
    "thesis/schnet_md17/ethanol_T2/forces_mae": Reference(0.4, "kcal/mol/A", "thesis Table 5.1", "original MD17, N = 1,000"),
    "thesis/schnet_md17/ethanol_T2/forces_rmse": Reference(0.7, "kcal/mol/A", "thesis Table 5.1", "original MD17, N = 1,000"),
    "thesis/schnet_md17/ethanol_T3/energy_mae": Reference(0.08, "kcal/mol", "thesis Table 5.1", "original MD17, N = 1,000"),
    "thesis/schnet_md17/ethanol_T3/energy_rmse": Reference(0.14, "kcal/mol", "thesis Table 5.1", "original MD17, N = 1,000"),
    "thesis/schnet_md17/ethanol_T3/forces_mae": Reference(0.39, "kcal/mol/A", "thesis Table 5.1", "original MD17, N = 1,000"),
    "thesis/schnet_md17/ethanol_T3/forces_rmse": Reference(0.72, "kcal/mol/A", "thesis Table 5.1", "original MD17, N = 1,000"),
    "thesis/schnet_md17/ethanol_T6/energy_mae": Reference(0.09, "kcal/mol", "thesis Table 5.1", "original MD17, N = 1,000"),
    "thesis/schnet_md17/ethanol_T6/energy_rmse": Reference(0.14, "kcal/mol", "thesis Table 5.1", "original MD17, N = 1,000"),
    "thesis/schnet_md17/ethanol_T6/forces_mae": Reference(0.42, "kcal/mol/A", "thesis Table 5.1", "original MD17, N = 1,000"),
    "thesis/schnet_md17/ethanol_T6/forces_rmse": Reference(0.69, "kcal/mol/A", "thesis Table 5.1", "original MD17, N = 1,000"),
    "thesis/schnet_md17/ethanol_energy_only/energy_mae": Reference(0.93, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 trained on energies only, N = 1,000"),
    "thesis/schnet_md17/ethanol_energy_only/forces_mae": Reference(6.56, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 trained on energies only, N = 1,000"),
    "thesis/gdml_md17/ethanol/energy_mae": Reference(0.15, "kcal/mol", "thesis Table 5.3", "GDML, N = 1,000"),
    "thesis/gdml_md17/ethanol/forces_mae": Reference(0.79, "kcal/mol/A", "thesis Table 5.4", "GDML, N = 1,000"),
    # SchNet on C20 (thesis sec. 5.3): Table 5.6 MAEs (PBE+vdW-TS MD at 500 K, ~30k frames), Figs. 5.4-5.5.
    "thesis/schnet_c20/T3_F64_rho0.01/energy_mae": Reference(0.228, "kcal/mol", "thesis Table 5.6"),
    "thesis/schnet_c20/T3_F64_rho0.01/forces_mae": Reference(0.401, "kcal/mol/A", "thesis Table 5.6"),
    "thesis/schnet_c20/T6_F64_rho0.01/energy_mae": Reference(0.202, "kcal/mol", "thesis Table 5.6"),
    "thesis/schnet_c20/T6_F64_rho0.01/forces_mae": Reference(0.217, "kcal/mol/A", "thesis Table 5.6"),
    "thesis/schnet_c20/T3_F128_rho0.01/energy_mae": Reference(0.188, "kcal/mol", "thesis Table 5.6"),
    "thesis/schnet_c20/T3_F128_rho0.01/forces_mae": Reference(0.197, "kcal/mol/A", "thesis Table 5.6"),
    "thesis/schnet_c20/T6_F128_rho0.01/energy_mae": Reference(0.1002, "kcal/mol", "thesis Table 5.6"),
    "thesis/schnet_c20/T6_F128_rho0.01/forces_mae": Reference(0.12, "kcal/mol/A", "thesis Table 5.6"),
    "thesis/schnet_c20/T6_F128_rho0.1/energy_mae": Reference(0.027, "kcal/mol", "thesis Table 5.6"),
    "thesis/schnet_c20/T6_F128_rho0.1/forces_mae": Reference(0.171, "kcal/mol/A", "thesis Table 5.6"),
    "thesis/schnet_c20/T6_F128_rho0.001/energy_mae": Reference(0.238, "kcal/mol", "thesis Table 5.6"),
    "thesis/schnet_c20/T6_F128_rho0.001/forces_mae": Reference(0.061, "kcal/mol/A", "thesis Table 5.6"),
    "thesis/schnet_c20/T6_F128_rho0/energy_mae": Reference(0.26, "kcal/mol", "thesis Table 5.6"),
    "thesis/schnet_c20/T6_F128_rho0/forces_mae": Reference(0.058, "kcal/mol/A", "thesis Table 5.6"),
    "thesis/schnet_c20/bond_lengths": Reference(1.41, "A", "thesis sec. 5.3, Fig. 5.4", "three distinct lengths 1.41, 1.45, 1.52 A, as DFT"),
    "thesis/schnet_c20/max_frequency_error": Reference(1.0, "%", "thesis sec. 5.3, Fig. 5.5", "largest error ~1 % of the DFT frequency"),
    "thesis/schnet_c20/dft_seconds": Reference(11.0, "s", "thesis sec. 5.3", "one DFT single point on 32 CPU cores"),
    "thesis/schnet_c20/schnet_seconds": Reference(0.010, "s", "thesis sec. 5.3", "one SchNet prediction, GTX1080"),
    "thesis/schnet_qm9_110k/homo/mae": Reference(0.95, "kcal/mol", "thesis Table 4.2"),
    "thesis/schnet_qm9_110k/lumo/mae": Reference(0.78, "kcal/mol", "thesis Table 4.2"),
    "thesis/schnet_qm9_110k/gap/mae": Reference(1.45, "kcal/mol", "thesis Table 4.2"),
    "thesis/schnet_qm9_110k/zpve/mae": Reference(0.039, "kcal/mol", "thesis Table 4.2"),
    "thesis/schnet_qm9_110k/mu/mae": Reference(0.033, "Debye", "thesis Table 4.2"),
    "thesis/schnet_qm9_110k/alpha/mae": Reference(0.235, "Bohr^3", "thesis Table 4.2"),
    "thesis/schnet_qm9_110k/r2/mae": Reference(0.073, "Bohr^2", "thesis Table 4.2"),
    "thesis/schnet_qm9_110k/U0/mae": Reference(0.32, "kcal/mol", "thesis Table 4.2"),
    "thesis/schnet_qm9_110k/U/mae": Reference(0.44, "kcal/mol", "thesis Table 4.2"),
    "thesis/schnet_qm9_110k/H/mae": Reference(0.32, "kcal/mol", "thesis Table 4.2"),
    "thesis/schnet_qm9_110k/G/mae": Reference(0.32, "kcal/mol", "thesis Table 4.2"),
    "thesis/schnet_qm9_110k/Cv/mae": Reference(0.033, "cal/(mol K)", "thesis Table 4.2"),
    # Thesis sec. 4.4.1 text (Fig. 4.6 itself gives no numbers): SchNet U0 with 100k training molecules.
    "thesis/schnet_qm9_100k/U0/mae_T2": Reference(0.35, "kcal/mol", "thesis sec. 4.4.1"),
    "thesis/schnet_qm9_100k/U0/mae_T6": Reference(0.32, "kcal/mol", "thesis sec. 4.4.1"),
    # Table 4.1: parameter updates until the best validation model, SchNet T = 6.
    "thesis/schnet_qm9_10k/steps_to_best_T6": Reference(0.93e6, "steps", "thesis Table 4.1"),
    # Table 3.1: DTNN U0 MAE on QM9, mean of 5 runs, N training molecules, T interaction passes.
    "thesis/dtnn_qm9_25k/U0/mae_T1": Reference(1.61, "kcal/mol", "thesis Table 3.1"),
    "thesis/dtnn_qm9_25k/U0/mae_T2": Reference(1.09, "kcal/mol", "thesis Table 3.1"),
    "thesis/dtnn_qm9_25k/U0/mae_T3": Reference(1.04, "kcal/mol", "thesis Table 3.1"),
    "thesis/dtnn_qm9_50k/U0/mae_T1": Reference(1.49, "kcal/mol", "thesis Table 3.1"),
    "thesis/dtnn_qm9_50k/U0/mae_T2": Reference(0.96, "kcal/mol", "thesis Table 3.1"),
    "thesis/dtnn_qm9_50k/U0/mae_T3": Reference(0.94, "kcal/mol", "thesis Table 3.1"),
    "thesis/dtnn_qm9_100k/U0/mae_T1": Reference(1.54, "kcal/mol", "thesis Table 3.1"),
    "thesis/dtnn_qm9_100k/U0/mae_T2": Reference(0.93, "kcal/mol", "thesis Table 3.1"),
    "thesis/dtnn_qm9_100k/U0/mae_T3": Reference(0.84, "kcal/mol", "thesis Table 3.1"),
    # Fig. 3.7: DTNN trained on QM9, the 6,095 C7O2H10 isomers.
    "thesis/dtnn_qm9_isomers/U0/mae": Reference(0.89, "kcal/mol", "thesis sec. 3.5.1, Fig. 3.7"),
    "thesis/dtnn_qm9_isomers/U0/kendall_tau": Reference(0.969, "", "thesis sec. 3.5.1, Fig. 3.7"),
    # Local force DNN (Kuritz, Gordon, Natan), Table 1: validation force MAE, train and test at one temperature and
    # cell (Al, Na 27 atoms; Si 16), N = 12; PBE (VASP) forces. "literature": the paper's last column.
    "localforce/table1/Al_2000K/mae": Reference(0.025, "eV/A", "Kuritz et al. Table 1"),
    "localforce/table1/Al_300K/mae": Reference(0.022, "eV/A", "Kuritz et al. Table 1"),
    "localforce/table1/Na_2000K/mae": Reference(0.014, "eV/A", "Kuritz et al. Table 1"),
    "localforce/table1/Na_300K/mae": Reference(0.004, "eV/A", "Kuritz et al. Table 1"),
    "localforce/table1/Si_2000K/mae": Reference(0.058, "eV/A", "Kuritz et al. Table 1"),
    "localforce/table1/Si_300K/mae": Reference(0.030, "eV/A", "Kuritz et al. Table 1"),
    "localforce/table1/Al_2000K/mae_literature": Reference(0.02, "eV/A", "Kuritz et al. Table 1",
                                                           "ref. 23 (Botu, Ramprasad)"),
    "localforce/table1/Al_300K/mae_literature": Reference(0.01, "eV/A", "Kuritz et al. Table 1",
                                                          "ref. 58 (Huan et al.)"),
    "localforce/table1/Si_2000K/mae_literature": Reference(0.08, "eV/A", "Kuritz et al. Table 1",
                                                           "ref. 58 (Huan et al.)"),
    "localforce/table1/Si_300K/mae_literature": Reference(0.1, "eV/A", "Kuritz et al. Table 1",
                                                          "refs. 18, 19 (Li et al.; Glielmo et al.)"),
    # Fig. 6 text: trained on the small cell, tested on the large one.
    "localforce/size_transfer/Al_2000K_27_125/mae": Reference(0.03, "eV/A", "Kuritz et al. Fig. 6 text", "'~0.03'"),
    "localforce/size_transfer/Na_2000K_27_125/mae": Reference(0.03, "eV/A", "Kuritz et al. Fig. 6 text", "'~0.03'"),
    "localforce/size_transfer/Si_300K_16_128/mae": Reference(0.12, "eV/A", "Kuritz et al. Fig. 6 text"),
    "localforce/size_transfer/Al_2000K_27_125/ratio": Reference(0.03 / 0.025, "", "Kuritz et al. Fig. 6 / Table 1",
                                                              "0.03 / 0.025"),
    "localforce/size_transfer/Na_2000K_27_125/ratio": Reference(0.03 / 0.014, "", "Kuritz et al. Fig. 6 / Table 1",
                                                              "0.03 / 0.014"),
    "localforce/size_transfer/Si_300K_16_128/ratio": Reference(0.12 / 0.030, "", "Kuritz et al. Fig. 6 / Table 1",
                                                             "0.12 / 0.03"),
    # Summary: neighbours needed ("Si ... needs at least four neighbors"; at 2000 K "more than 12 neighbors are
    # required for Al, and more than 6 neighbors are needed for Na").
    "localforce/neighbours/Si_needed": Reference(4, "neighbours", "Kuritz et al. Summary, Fig. 3", "'at least four'"),
    "localforce/neighbours/Al_2000K_needed": Reference(12, "neighbours", "Kuritz et al. Summary", "'more than 12'"),
    "localforce/neighbours/Na_2000K_needed": Reference(6, "neighbours", "Kuritz et al. Summary", "'more than 6'"),
    # Fig. 7 text: "for T=300K, In Na and Al, we can reduce L to ~250"; Si improves up to L ~ 2000.
    "localforce/width/AlNa_300K_enough": Reference(250, "nodes", "Kuritz et al. Fig. 7a text"),
    "localforce/width/Si_improves_until": Reference(2000, "nodes", "Kuritz et al. Fig. 7a text"),
    # Fig. 8: "increasing the number of hidden layers beyond two does not improve the error".
    "localforce/depth/enough": Reference(2, "hidden layers", "Kuritz et al. Fig. 8 text"),
    # MD17, eight molecules (thesis Tables 5.3 energies / 5.4 forces; original MD17, PBE+vdW-TS): MAE of GDML and SchNet.
    "thesis/md17/benzene/gdml/energy_mae": Reference(0.07, "kcal/mol", "thesis Table 5.3", "GDML (forces), N = 1,000"),
    "thesis/md17/benzene/gdml/forces_mae": Reference(0.23, "kcal/mol/A", "thesis Table 5.4", "GDML (forces), N = 1,000"),
    "thesis/md17/benzene/energy_1k/energy_mae": Reference(1.19, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies, N = 1,000"),
    "thesis/md17/benzene/energy_1k/forces_mae": Reference(14.12, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies, N = 1,000"),
    "thesis/md17/benzene/energy_forces_1k/energy_mae": Reference(0.08, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies+forces, N = 1,000"),
    "thesis/md17/benzene/energy_forces_1k/forces_mae": Reference(0.31, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies+forces, N = 1,000"),
    "thesis/md17/benzene/energy_50k/energy_mae": Reference(0.08, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies, N = 50,000"),
    "thesis/md17/benzene/energy_50k/forces_mae": Reference(1.23, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies, N = 50,000"),
    "thesis/md17/benzene/energy_forces_50k/energy_mae": Reference(0.07, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies+forces, N = 50,000"),
    "thesis/md17/benzene/energy_forces_50k/forces_mae": Reference(0.17, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies+forces, N = 50,000"),
    "thesis/md17/toluene/gdml/energy_mae": Reference(0.12, "kcal/mol", "thesis Table 5.3", "GDML (forces), N = 1,000"),
    "thesis/md17/toluene/gdml/forces_mae": Reference(0.24, "kcal/mol/A", "thesis Table 5.4", "GDML (forces), N = 1,000"),
    "thesis/md17/toluene/energy_1k/energy_mae": Reference(2.95, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies, N = 1,000"),
    "thesis/md17/toluene/energy_1k/forces_mae": Reference(22.31, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies, N = 1,000"),
    "thesis/md17/toluene/energy_forces_1k/energy_mae": Reference(0.12, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies+forces, N = 1,000"),
    "thesis/md17/toluene/energy_forces_1k/forces_mae": Reference(0.57, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies+forces, N = 1,000"),
    "thesis/md17/toluene/energy_50k/energy_mae": Reference(0.16, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies, N = 50,000"),
    "thesis/md17/toluene/energy_50k/forces_mae": Reference(1.79, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies, N = 50,000"),
    "thesis/md17/toluene/energy_forces_50k/energy_mae": Reference(0.09, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies+forces, N = 50,000"),
    "thesis/md17/toluene/energy_forces_50k/forces_mae": Reference(0.09, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies+forces, N = 50,000"),
    "thesis/md17/malonaldehyde/gdml/energy_mae": Reference(0.16, "kcal/mol", "thesis Table 5.3", "GDML (forces), N = 1,000"),
    "thesis/md17/malonaldehyde/gdml/forces_mae": Reference(0.8, "kcal/mol/A", "thesis Table 5.4", "GDML (forces), N = 1,000"),
    "thesis/md17/malonaldehyde/energy_1k/energy_mae": Reference(2.03, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies, N = 1,000"),
    "thesis/md17/malonaldehyde/energy_1k/forces_mae": Reference(20.41, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies, N = 1,000"),
    "thesis/md17/malonaldehyde/energy_forces_1k/energy_mae": Reference(0.13, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies+forces, N = 1,000"),
    "thesis/md17/malonaldehyde/energy_forces_1k/forces_mae": Reference(0.66, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies+forces, N = 1,000"),
    "thesis/md17/malonaldehyde/energy_50k/energy_mae": Reference(0.13, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies, N = 50,000"),
    "thesis/md17/malonaldehyde/energy_50k/forces_mae": Reference(1.51, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies, N = 50,000"),
    "thesis/md17/malonaldehyde/energy_forces_50k/energy_mae": Reference(0.08, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies+forces, N = 50,000"),
    "thesis/md17/malonaldehyde/energy_forces_50k/forces_mae": Reference(0.08, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies+forces, N = 50,000"),
    "thesis/md17/salicylic_acid/gdml/energy_mae": Reference(0.12, "kcal/mol", "thesis Table 5.3", "GDML (forces), N = 1,000"),
    "thesis/md17/salicylic_acid/gdml/forces_mae": Reference(0.28, "kcal/mol/A", "thesis Table 5.4", "GDML (forces), N = 1,000"),
    "thesis/md17/salicylic_acid/energy_1k/energy_mae": Reference(3.27, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies, N = 1,000"),
    "thesis/md17/salicylic_acid/energy_1k/forces_mae": Reference(23.21, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies, N = 1,000"),
    "thesis/md17/salicylic_acid/energy_forces_1k/energy_mae": Reference(0.2, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies+forces, N = 1,000"),
    "thesis/md17/salicylic_acid/energy_forces_1k/forces_mae": Reference(0.85, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies+forces, N = 1,000"),
    "thesis/md17/salicylic_acid/energy_50k/energy_mae": Reference(0.25, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies, N = 50,000"),
    "thesis/md17/salicylic_acid/energy_50k/forces_mae": Reference(3.72, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies, N = 50,000"),
    "thesis/md17/salicylic_acid/energy_forces_50k/energy_mae": Reference(0.1, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies+forces, N = 50,000"),
    "thesis/md17/salicylic_acid/energy_forces_50k/forces_mae": Reference(0.19, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies+forces, N = 50,000"),
    "thesis/md17/aspirin/gdml/energy_mae": Reference(0.27, "kcal/mol", "thesis Table 5.3", "GDML (forces), N = 1,000"),
    "thesis/md17/aspirin/gdml/forces_mae": Reference(0.99, "kcal/mol/A", "thesis Table 5.4", "GDML (forces), N = 1,000"),
    "thesis/md17/aspirin/energy_1k/energy_mae": Reference(4.2, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies, N = 1,000"),
    "thesis/md17/aspirin/energy_1k/forces_mae": Reference(23.54, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies, N = 1,000"),
    "thesis/md17/aspirin/energy_forces_1k/energy_mae": Reference(0.37, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies+forces, N = 1,000"),
    "thesis/md17/aspirin/energy_forces_1k/forces_mae": Reference(1.35, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies+forces, N = 1,000"),
    "thesis/md17/aspirin/energy_50k/energy_mae": Reference(0.25, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies, N = 50,000"),
    "thesis/md17/aspirin/energy_50k/forces_mae": Reference(7.36, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies, N = 50,000"),
    "thesis/md17/aspirin/energy_forces_50k/energy_mae": Reference(0.12, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies+forces, N = 50,000"),
    "thesis/md17/aspirin/energy_forces_50k/forces_mae": Reference(0.33, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies+forces, N = 50,000"),
    "thesis/md17/ethanol/gdml/energy_mae": Reference(0.15, "kcal/mol", "thesis Table 5.3", "GDML (forces), N = 1,000"),
    "thesis/md17/ethanol/gdml/forces_mae": Reference(0.79, "kcal/mol/A", "thesis Table 5.4", "GDML (forces), N = 1,000"),
    "thesis/md17/ethanol/energy_1k/energy_mae": Reference(0.93, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies, N = 1,000"),
    "thesis/md17/ethanol/energy_1k/forces_mae": Reference(6.56, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies, N = 1,000"),
    "thesis/md17/ethanol/energy_forces_1k/energy_mae": Reference(0.08, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies+forces, N = 1,000"),
    "thesis/md17/ethanol/energy_forces_1k/forces_mae": Reference(0.39, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies+forces, N = 1,000"),
    "thesis/md17/ethanol/energy_50k/energy_mae": Reference(0.07, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies, N = 50,000"),
    "thesis/md17/ethanol/energy_50k/forces_mae": Reference(0.76, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies, N = 50,000"),
    "thesis/md17/ethanol/energy_forces_50k/energy_mae": Reference(0.05, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies+forces, N = 50,000"),
    "thesis/md17/ethanol/energy_forces_50k/forces_mae": Reference(0.05, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies+forces, N = 50,000"),
    "thesis/md17/uracil/gdml/energy_mae": Reference(0.11, "kcal/mol", "thesis Table 5.3", "GDML (forces), N = 1,000"),
    "thesis/md17/uracil/gdml/forces_mae": Reference(0.24, "kcal/mol/A", "thesis Table 5.4", "GDML (forces), N = 1,000"),
    "thesis/md17/uracil/energy_1k/energy_mae": Reference(2.26, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies, N = 1,000"),
    "thesis/md17/uracil/energy_1k/forces_mae": Reference(20.08, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies, N = 1,000"),
    "thesis/md17/uracil/energy_forces_1k/energy_mae": Reference(0.14, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies+forces, N = 1,000"),
    "thesis/md17/uracil/energy_forces_1k/forces_mae": Reference(0.56, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies+forces, N = 1,000"),
    "thesis/md17/uracil/energy_50k/energy_mae": Reference(0.13, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies, N = 50,000"),
    "thesis/md17/uracil/energy_50k/forces_mae": Reference(3.28, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies, N = 50,000"),
    "thesis/md17/uracil/energy_forces_50k/energy_mae": Reference(0.1, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies+forces, N = 50,000"),
    "thesis/md17/uracil/energy_forces_50k/forces_mae": Reference(0.11, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies+forces, N = 50,000"),
    "thesis/md17/naphthalene/gdml/energy_mae": Reference(0.12, "kcal/mol", "thesis Table 5.3", "GDML (forces), N = 1,000"),
    "thesis/md17/naphthalene/gdml/forces_mae": Reference(0.23, "kcal/mol/A", "thesis Table 5.4", "GDML (forces), N = 1,000"),
    "thesis/md17/naphthalene/energy_1k/energy_mae": Reference(3.58, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies, N = 1,000"),
    "thesis/md17/naphthalene/energy_1k/forces_mae": Reference(25.36, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies, N = 1,000"),
    "thesis/md17/naphthalene/energy_forces_1k/energy_mae": Reference(0.16, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies+forces, N = 1,000"),
    "thesis/md17/naphthalene/energy_forces_1k/forces_mae": Reference(0.58, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies+forces, N = 1,000"),
    "thesis/md17/naphthalene/energy_50k/energy_mae": Reference(0.2, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies, N = 50,000"),
    "thesis/md17/naphthalene/energy_50k/forces_mae": Reference(2.58, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies, N = 50,000"),
    "thesis/md17/naphthalene/energy_forces_50k/energy_mae": Reference(0.11, "kcal/mol", "thesis Table 5.3", "SchNet T = 3 on energies+forces, N = 50,000"),
    "thesis/md17/naphthalene/energy_forces_50k/forces_mae": Reference(0.11, "kcal/mol/A", "thesis Table 5.4", "SchNet T = 3 on energies+forces, N = 50,000"),
}


def reference(key: str) -> Reference:
    """Look up a paper's number; a ``KeyError`` lists the keys of the same paper."""
    try:
        return REFERENCES[key]
    except KeyError:
        paper = key.split("/")[0]
        known = sorted(k for k in REFERENCES if k.startswith(paper + "/"))
        raise KeyError(f"no reference number {key!r}; known for {paper!r}: {known}") from None
