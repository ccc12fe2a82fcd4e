"""What the runner should evaluate after each update_params call of a LAWA submission on the quadratic, from
numpy_references.lawa: v0.5 runs n steps per call and evaluates the average once it exists; v0.6 runs one
step per call and prepare_for_eval evaluates the average once it exists."""
import math

from submissions.common import numpy_references

STEP_HINT = 100
# n = ceil(0.25 * eval_period / (budget / step_hint)) = ceil(0.25 * 1 / 0.1) = 3 steps per v0.5 call.
WORKLOAD = dict(step_hint=STEP_HINT, max_allowed_runtime_sec=10.0, eval_period_time_sec=1.0)
STEPS_PER_V05_CALL = 3
H = {'learning_rate': 0.05, 'one_minus_beta1': 0.1, 'beta2': 0.99, 'weight_decay': 0.1, 'warmup_factor': 0.05,
     'label_smoothing': 0.0, 'dropout_rate': 0.0, 'lawa_start_factor': 0.02, 'lawa_interval_scaling': 0.02,
     'lawa_inner_steps_frac': 0.25}


def expected(h, rules: str, calls: int, averaging: str, ema_decay=None):
  """(evaluated weights after each call, training weights after each call)."""
  n = STEPS_PER_V05_CALL if rules == 'v0.5' else 1
  assert n == math.ceil(h['lawa_inner_steps_frac'] * WORKLOAD['eval_period_time_sec'] /
                        (WORKLOAD['max_allowed_runtime_sec'] / STEP_HINT)) or n == 1
  steps = numpy_references.lawa(h, calls * n, STEP_HINT, averaging, ema_decay)
  evaluated, training = [], []
  for call in range(calls):
    theta, avg = steps[(call + 1) * n - 1]
    evaluated.append(theta if avg is None else avg)
    training.append(theta)
  return evaluated, training
