"""The NAdamW baseline's hyperparameter domains (shared by the JAX and PyTorch files)."""
from submissions.common import hparam_checks


def check(hyperparameters) -> None:
  hparam_checks.check_range(hyperparameters, 'learning_rate', low=0.0, low_inclusive=False)
  hparam_checks.check_range(hyperparameters, 'one_minus_beta1', low=0.0, high=1.0, low_inclusive=False)
  hparam_checks.check_range(hyperparameters, 'beta2', low=0.0, high=1.0, high_inclusive=False)
  hparam_checks.check_range(hyperparameters, 'weight_decay', low=0.0)
  hparam_checks.check_range(hyperparameters, 'warmup_factor', low=0.0, high=1.0)
  hparam_checks.check_range(hyperparameters, 'grad_clip', low=0.0, low_inclusive=False, required=False)
