"""Time-to-target rules: per trial, per study (best trial) and per workload (median over studies)."""
import dataclasses
import math

import numpy as np

BY_TIME = 'time'
BY_EVAL_INDEX = 'eval_index'
BEST_TRIAL_CHOICES = (BY_TIME, BY_EVAL_INDEX)


@dataclasses.dataclass(frozen=True)
class Hit:
  """The first eval of a trial that reached the validation target."""
  eval_index: int
  time_sec: float


def first_hit(times, values, target, budget_sec=math.inf):
  """First eval reaching the target (non-strict); None if none does, or only after the budget.

  NaN metrics never reach a target. Evals are taken in file order, which is time order.
  """
  values = np.asarray(values, dtype=float)
  with np.errstate(invalid='ignore'):
    reached = np.array([target.reached(v) for v in values], dtype=bool) if values.size else values
  if not np.any(reached):
    return None
  index = int(np.argmax(reached))
  time_sec = float(times[index])
  if time_sec > budget_sec:
    return None
  return Hit(index, time_sec)


def best_trial(hits, by=BY_TIME):
  """Index of the trial that counts for its study, or None if no trial reached the target.

  by='time' (default, the rules' min over trials) keeps the trial with the smallest time.
  by='eval_index' reproduces upstream's scorer, which keeps the trial whose first hit has the
  smallest eval index; ties go to the earliest trial. The two differ when evals are not equally
  spaced in time across trials, e.g. a trial that reaches the target at eval 3 after 900 s loses,
  under the rules, to one that reaches it at eval 5 after 700 s, but wins under upstream's choice.
  """
  if by not in BEST_TRIAL_CHOICES:
    raise ValueError(f'best trial by {by!r}; use one of {BEST_TRIAL_CHOICES}')
  candidates = [(i, h) for i, h in enumerate(hits) if h is not None]
  if not candidates:
    return None
  if by == BY_TIME:
    return min(candidates, key=lambda c: (c[1].time_sec, c[0]))[0]
  return min(candidates, key=lambda c: (c[1].eval_index, c[0]))[0]


def study_time(hits, by=BY_TIME):
  """The time of a study: its best trial's time to target, infinite when no trial reached it."""
  index = best_trial(hits, by)
  return math.inf if index is None else hits[index].time_sec


def workload_time(study_times, num_studies):
  """Median over studies, infinity included; studies missing from the data count as infinite.

  NaN (e.g. a crashed run) counts as infinite as well. With more studies than the rules ask for,
  all of them are used.
  """
  values = [math.inf if math.isnan(t) else float(t) for t in study_times]
  values += [math.inf] * max(0, num_studies - len(values))
  if not values:
    return math.inf
  return float(np.median(np.asarray(values, dtype=float)))
