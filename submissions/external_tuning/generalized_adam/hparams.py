"""Generalized Adam's hyperparameter domains and schedule horizon (shared by the JAX and PyTorch files)."""
from submissions.common import hparam_checks
from submissions.common import schedules


def check(hyperparameters) -> None:
  hparam_checks.check_range(hyperparameters, 'learning_rate', low=0.0, low_inclusive=False)
  hparam_checks.check_range(hyperparameters, 'beta1', low=0.0, high=1.0, high_inclusive=False)
  hparam_checks.check_range(hyperparameters, 'beta2', low=0.0, high=1.0, high_inclusive=False)
  hparam_checks.check_range(hyperparameters, 'weight_decay', low=0.0)
  hparam_checks.check_range(hyperparameters, 'warmup_steps_fraction', low=0.0, high=1.0)
  hparam_checks.check_range(hyperparameters, 'cosine_decay_fraction', low=0.0, high=1.0, low_inclusive=False)
  if not getattr(hyperparameters, 'nesterov', True):
    raise ValueError('Hyperparameter nesterov=False is outside its domain {True}; the published points all use '
                     'Nesterov momentum, the only form implemented here.')


def horizon(hyperparameters, step_hint: int):
  """(W, T) of the (S-optax) schedule."""
  return schedules.google_horizon(step_hint, hyperparameters.cosine_decay_fraction,
                                  hyperparameters.warmup_steps_fraction)
