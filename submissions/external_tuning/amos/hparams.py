"""Amos's hyperparameter domains (shared by the JAX and PyTorch files)."""
from submissions.common import hparam_checks


def check(hyperparameters) -> None:
  style = getattr(hyperparameters, 'style', None)
  if style not in ('adam', 'reduced'):
    raise ValueError(f'Hyperparameter style={style!r} is outside its domain {{"adam", "reduced"}}; pick one.')
  hparam_checks.check_range(hyperparameters, 'beta1', low=0.0, high=1.0, high_inclusive=False)
  hparam_checks.check_range(hyperparameters, 'beta2', low=0.0, high=1.0, high_inclusive=False)
  hparam_checks.check_range(hyperparameters, 'converge', low=0.0, low_inclusive=False)
  hparam_checks.check_range(hyperparameters, 'l2', low=0.0)
  hparam_checks.check_range(hyperparameters, 'warmup', low=0.0, high=1.0, high_inclusive=False)
  override = getattr(hyperparameters, 'eta_overrides', -1)
  if override != -1:
    hparam_checks.check_range(hyperparameters, 'eta_overrides', low=0.0, low_inclusive=False)


def optimizer_args(hyperparameters, step_hint: int) -> dict:
  return dict(style=hyperparameters.style, b1=hyperparameters.beta1, b2=hyperparameters.beta2,
              l2=hyperparameters.l2, converge=hyperparameters.converge, warmup=hyperparameters.warmup,
              step_hint=step_hint, eta_override=float(getattr(hyperparameters, 'eta_overrides', -1)))
