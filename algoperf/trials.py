"""Running the trials of one submission on one workload: tuning, per-trial folders, crashes and divergence.

A trial that raises is recorded as failed (traceback in trial.log) and one whose loss or metrics become
NaN/Inf as diverged; either way its folder keeps the evals it made, it scores as not reaching the target,
and the next trial starts.
"""
import dataclasses
import os
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

from algoperf import logger_utils
from algoperf import training_loop
from algoperf import tuning
from algoperf.submission_loader import SubmissionError


@dataclasses.dataclass
class TrialResult:
  trial_dir: str
  status: str  # 'completed', 'diverged' or 'failed'.
  submission_time: float
  global_step: int
  reason: str = ''
  last_eval: Optional[Dict[str, Any]] = None
  reached_validation_target: bool = False


def get_batch_sizes(submission, workload_name: str, base_workload_name: str, workload,
                    num_devices: int) -> (int, int):
  """The submission's batch size (falling back to the base workload's name) and the eval batch size."""
  try:
    batch_size = submission.get_batch_size(workload_name)
  except ValueError:
    batch_size = submission.get_batch_size(base_workload_name)
  if hasattr(workload, 'scaled_batch_size'):
    batch_size = workload.scaled_batch_size(batch_size)  # Reduced scales shrink every submission's batch alike.
  if num_devices > 1 and batch_size % num_devices:
    raise SubmissionError(f'The batch size {batch_size} from get_batch_size({workload_name!r}) is not '
                          f'divisible by the {num_devices} devices; return a multiple of {num_devices}.')
  eval_batch_size = workload.eval_batch_size
  if hasattr(submission, 'get_eval_batch_size'):
    eval_batch_size = submission.get_eval_batch_size(workload_name)
  return batch_size, eval_batch_size


def run_trial(make_workload: Callable[[], Any], submission, batch_sizes, hyperparameters: Optional[Dict[str, Any]],
              rng_seed: int, trial_dir: str, config: training_loop.TrialConfig,
              flags: Optional[Dict[str, Any]] = None) -> TrialResult:
  """Runs (or resumes) one trial in `trial_dir` and records how it ended in status.json."""
  os.makedirs(trial_dir, exist_ok=True)
  hparams_path = os.path.join(trial_dir, 'hparams.json')
  if hyperparameters is not None:
    if os.path.exists(hparams_path):  # A resumed trial keeps its hyperparameters.
      hyperparameters = logger_utils.read_json(hparams_path)
    else:
      logger_utils.write_json(hparams_path, hyperparameters)
  preemption = len([n for n in os.listdir(trial_dir) if n.startswith('flags_')])
  logger_utils.write_flags(trial_dir, preemption, dict(flags or {}, rng_seed=rng_seed))
  status, reason, submission_time, step, eval_results = 'completed', '', float('inf'), 0, []
  workload = None
  try:
    workload = make_workload()
    submission_time, info = training_loop.train_once(
        workload, submission, batch_sizes[0], batch_sizes[1], tuning.to_hyperparameters(hyperparameters),
        rng_seed, trial_dir, config)
    step, eval_results = info['global_step'], info['eval_results']
  except training_loop.DivergedError as e:
    status, reason = 'diverged', str(e)
  except (KeyboardInterrupt, SystemExit):
    raise
  except SubmissionError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    if _is_non_finite_error(e):
      status, reason = 'diverged', f'{type(e).__name__}: {e}'
    else:
      status, reason = 'failed', f'{type(e).__name__}: {e}'
    if logger_utils.is_primary():
      with open(os.path.join(trial_dir, 'trial.log'), 'a') as f:
        f.write(time.strftime('%Y-%m-%d %H:%M:%S ') + traceback.format_exc() + '\n')
  if status != 'completed' or not eval_results:
    eval_results = _eval_rows(trial_dir)
  last_eval = eval_results[-1][1] if eval_results else None
  reached = bool(workload is not None and last_eval is not None and status == 'completed' and
                 any(workload.has_reached_validation_target(m) for _, m in eval_results))
  result = TrialResult(trial_dir, status, submission_time, step, reason, last_eval, reached)
  logger_utils.write_json(os.path.join(trial_dir, 'status.json'), {
      'status': status, 'reason': reason, 'global_step': step, 'submission_time': submission_time,
      'reached_validation_target': reached})
  return result


def _is_non_finite_error(error: Exception) -> bool:
  text = str(error).lower()
  return isinstance(error, FloatingPointError) or 'nan' in text.split() or 'non-finite' in text


def _eval_rows(trial_dir: str) -> List:
  path = os.path.join(trial_dir, 'eval_measurements.csv')
  if not os.path.exists(path):
    return []
  log = logger_utils.CsvLog(path)
  rows = []
  for row in log.rows:
    parsed = {}
    for k, v in row.items():
      try:
        parsed[k] = float(v)
      except (TypeError, ValueError):
        parsed[k] = v
    rows.append((int(float(row.get('global_step', 0) or 0)), parsed))
  return rows
