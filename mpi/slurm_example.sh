#!/bin/bash
# EDNN energy of the paper's 1 um^2 porous graphene sheet (35.2 M atoms) on 16 nodes x 28 cores = 448 ranks,
# the EDNN paper's setting (sec. 3.3, Fig. 12: 24.7 min with its distributed TensorFlow).
# One rank per core, one thread per rank; each rank generates only the atoms of its own windows, so nothing
# is staged to the nodes and memory per rank stays at about 1.5 GB (TensorFlow + one window).
#SBATCH --job-name=ednn-sheet
#SBATCH --nodes=16
#SBATCH --ntasks-per-node=28
#SBATCH --cpus-per-task=1
#SBATCH --mem-per-cpu=2G
#SBATCH --time=00:30:00
#SBATCH --output=ednn-sheet-%j.out

set -euo pipefail
# A venv on a shared filesystem with tfatoms installed: pip install -e ".[mpi]" (or use the cluster's MPI:
# pip install mpi4py against its mpicc, and leave out the pip mpich).
source "${TFATOMS_VENV:-$HOME/tfatoms/.venv}/bin/activate"
export TF_CPP_MIN_LOG_LEVEL=2 OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
cd "${SLURM_SUBMIT_DIR}"

# srun starts the ranks with Slurm's PMI; with the pip mpich, `mpirun -n "$SLURM_NTASKS"` works as well.
srun --cpu-bind=cores python mpi/infer_sheet.py --threads 1 --out "sheet_1um2_${SLURM_JOB_ID}.json" \
     --map "sheet_1um2_${SLURM_JOB_ID}_map.npy" --map-downsample 8
