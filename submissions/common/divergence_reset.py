"""The divergence reset of the self-tuning Schedule-Free AdamW (submissions.md §3.1), framework-neutral part.

Once global_step > 0.1 step_hint, each time a new eval has appeared and at least 4 are available, the run is
restarted from its initial weights at half the learning rate when it has made no progress: with M the
validation target metric (negated for "loss" and "wer", so higher is better),
M[-1] - M[0] < 0.01 and M[-1] - M[-2] < 0.01 and M[-2] - M[-3] < 0.01 and M[-3] - M[-4] < 0.01.
Restart: parameters = z = x0, v = 0, step count, lr_max and the weight sum 0, lr halved (again at each reset).
"""
from typing import Any, List, Sequence, Tuple

MIN_EVALS = 4
THRESHOLD = 0.01
START_FRACTION = 0.1


def higher_is_better(metric_name: str) -> float:
  """+1, or -1 for losses and word error rates."""
  return -1.0 if ('loss' in metric_name or 'wer' in metric_name) else 1.0


def no_progress(m: Sequence[float]) -> bool:
  """The published test on the signed metric history (at least MIN_EVALS values)."""
  return (m[-1] - m[0] < THRESHOLD and m[-1] - m[-2] < THRESHOLD and m[-2] - m[-3] < THRESHOLD and
          m[-3] - m[-4] < THRESHOLD)


def check(workload, eval_results: List[Tuple[int, Any]], global_step: int, evals_seen: int) -> Tuple[bool, int]:
  """(whether to reset now, the number of evals seen). eval_results: the runner's (step, metrics) list."""
  if global_step <= START_FRACTION * workload.step_hint or len(eval_results) == evals_seen:
    return False, evals_seen
  evals_seen = len(eval_results)
  if evals_seen < MIN_EVALS:
    return False, evals_seen
  name = workload.target_metric_name
  sign = higher_is_better(name)
  m = [sign * float(metrics['validation/' + name]) for _, metrics in eval_results]
  return no_progress(m), evals_seen
