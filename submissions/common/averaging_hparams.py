"""Domain checks of the schedule-free, Prodigy and LAWA hyperparameters (one sentence each, ValueError)."""
from submissions.common import hparam_checks as hc


def _regularisers(h) -> None:
  hc.check_range(h, 'label_smoothing', 0.0, 1.0, high_inclusive=False, required=False)
  hc.check_range(h, 'dropout_rate', 0.0, 1.0, high_inclusive=False, required=False)


def check_schedule_free(h) -> None:
  hc.check_range(h, 'learning_rate', low=0.0, low_inclusive=False)
  # beta1 = 1 - one_minus_beta1 must be positive: x = lerp(y, z, 1 - 1/beta1) divides by it.
  hc.check_range(h, 'one_minus_beta1', 0.0, 1.0, high_inclusive=False)
  hc.check_range(h, 'beta2', 0.0, 1.0, high_inclusive=False)
  hc.check_range(h, 'weight_decay', low=0.0)
  hc.check_range(h, 'warmup_factor', 0.0, 1.0)
  _regularisers(h)


def check_prodigy(h) -> None:
  hc.check_range(h, 'weight_decay', low=0.0)


def check_nadamw(h) -> None:
  hc.check_range(h, 'learning_rate', low=0.0, low_inclusive=False)
  hc.check_range(h, 'one_minus_beta1', 0.0, 1.0, low_inclusive=False)
  hc.check_range(h, 'beta2', 0.0, 1.0, high_inclusive=False)
  hc.check_range(h, 'weight_decay', low=0.0)
  hc.check_range(h, 'warmup_factor', 0.0, 1.0)
  _regularisers(h)


def check_lawa(h, averaging: str) -> None:
  """averaging: 'queue' (needs an integer k >= 1) or 'ema' (needs lawa_beta in [0, 1))."""
  check_nadamw(h)
  hc.check_range(h, 'lawa_start_factor', 0.0, 1.0)
  hc.check_range(h, 'lawa_interval_scaling', 0.0, 1.0, low_inclusive=False)
  hc.check_range(h, 'lawa_inner_steps_frac', low=0.0, low_inclusive=False)
  if averaging == 'queue':
    hc.check_range(h, 'k', low=1.0)
    k = hc._get(h, 'k')  # pylint: disable=protected-access
    if float(k) != int(float(k)):
      raise ValueError(f'Hyperparameter k={k!r} (the LAWA queue length) is not an integer; use an integer >= 1.')
  else:
    hc.check_range(h, 'lawa_beta', 0.0, 1.0, high_inclusive=False)
