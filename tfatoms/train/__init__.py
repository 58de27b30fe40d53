"""Training: error metrics and a resumable fit with the best checkpoint restored."""
from tfatoms.train.fit import fit_resumable
from tfatoms.train.metrics import error_metrics

__all__ = ["fit_resumable", "error_metrics"]
