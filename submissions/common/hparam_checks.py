"""Checks of hyperparameter domains, shared by every submission.

A value outside its domain ends the trial before training with one sentence naming the hyperparameter, the
value and the allowed range. It raises ValueError (not SubmissionError), so the runner records the trial as
failed with that sentence and the study goes on.
"""
import math
from typing import Any, Optional


def _get(hyperparameters: Any, name: str):
  if isinstance(hyperparameters, dict):
    return hyperparameters.get(name)
  return getattr(hyperparameters, name, None)


def check_range(hyperparameters: Any, name: str, low: Optional[float] = None, high: Optional[float] = None,
                low_inclusive: bool = True, high_inclusive: bool = True, required: bool = True) -> None:
  """Raises ValueError unless low <(=) hyperparameters.name <(=) high (a bound of None is open)."""
  value = _get(hyperparameters, name)
  if value is None:
    if required:
      raise ValueError(f'Hyperparameter {name} is missing; add it to the search space (or the fixed point).')
    return
  try:
    number = float(value)
  except (TypeError, ValueError):
    raise ValueError(f'Hyperparameter {name}={value!r} is not a number.') from None
  ok = math.isfinite(number)
  if low is not None:
    ok = ok and (number >= low if low_inclusive else number > low)
  if high is not None:
    ok = ok and (number <= high if high_inclusive else number < high)
  if not ok:
    left = '-inf' if low is None else f'{low:g}'
    right = 'inf' if high is None else f'{high:g}'
    interval = f'{"[" if low_inclusive and low is not None else "("}{left}, {right}{"]" if high_inclusive and high is not None else ")"}'
    raise ValueError(f'Hyperparameter {name}={value!r} is outside its domain {interval}; pick a value in it.')
