"""Training: error metrics, losses keyed by property and a resumable fit with the best checkpoint restored."""
import tfatoms._tensorflow  # noqa: F401  (TensorFlow without its start-up log lines)
from tfatoms.train.fit import fit_resumable
from tfatoms.train.losses import DirectForceLoss, EnergyForceLoss, EnergyLoss
from tfatoms.train.metrics import energy_force_metrics, error_metrics

__all__ = ["fit_resumable", "error_metrics", "energy_force_metrics", "EnergyLoss", "EnergyForceLoss",
           "DirectForceLoss"]
