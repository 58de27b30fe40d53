#!/bin/bash
# Data-parallel SchNet training on QM9 across nodes with tf.distribute.MultiWorkerMirroredStrategy
# (tfatoms.train.distribute): one worker per Slurm task, gradients all-reduced over gRPC, the same global
# batch of 32 molecules as one process, so the same model to float32 round-off (tests/test_distributed_training.py).
# The thesis protocol (110k training molecules, up to 10M steps) on 4 nodes:
#SBATCH --job-name=schnet-qm9-dp
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=28
#SBATCH --mem=32G
#SBATCH --time=24:00:00
#SBATCH --output=schnet-qm9-dp-%j.out
# GPU nodes: add `#SBATCH --gres=gpu:4` and `--ntasks-per-node=4`: TensorFlow's SlurmClusterResolver gives each
# task one GPU (CUDA_VISIBLE_DEVICES); on CPU nodes each task is one worker on its cores.

set -euo pipefail
# A venv and a cache directory on a shared filesystem: every worker reads QM9 and the chief's checkpoints there
# (the chief alone writes them, and the results; a resubmitted job resumes from the last finished epoch).
source "${TFATOMS_VENV:-$HOME/tfatoms/.venv}/bin/activate"
export TF_CPP_MIN_LOG_LEVEL=2
export TFATOMS_PORT_BASE="${TFATOMS_PORT_BASE:-8888}"      # ports base, base+1, ... on each node
CACHE="${TFATOMS_CACHE:-$HOME/tfatoms/cache}"
cd "${SLURM_SUBMIT_DIR}"

# Parse QM9 once before the workers start (each would otherwise race to build the same cache file).
python -c "from tfatoms.data.qm9 import load_qm9; load_qm9('$CACHE')"
srun --cpu-bind=none python reproductions/schnet_qm9.py --strategy multi-worker --full --n-train 110000 \
     --cache-dir "$CACHE" --tag "dp${SLURM_JOB_ID}"
