"""One trial, from a plain description to a recorded result: the entry point every command shares.

`run_trial(TrialSpec)` is what the runner (submission_runner.py), the benchmark (tools/benchmark.py) and any
executor that runs a trial elsewhere call: it loads the submission and the workload, checks the data, picks
the batch sizes, trains (or resumes) in the trial folder and records how the trial ended. `plan_trials` turns
a study's hyperparameter points into TrialSpecs, with each trial's seed derived from (base seed, submission,
workload, study, trial), so the same trial gets the same seed whichever command starts it.

A trial that raises is recorded as failed (traceback in trial.log) and one whose loss or metrics become
NaN/Inf as diverged; either way its folder keeps the evals it made, it scores as not reaching the target,
and the next trial starts. A submission that cannot run at all (SubmissionError) stops its study.
"""
import contextlib
import dataclasses
import os
import re
import sys
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Sequence

from algoperf import logger_utils
from algoperf import training_loop
from algoperf import tuning
from algoperf.atomic_files import DiskFullError
from algoperf.submission_loader import SubmissionError


@dataclasses.dataclass(frozen=True)
class TrialSpec:
  """Everything one trial needs, as plain values (a child process or a remote task can receive it)."""
  submission_path: str
  workload: str
  framework: str
  ruleset: str  # 'external' or 'self'.
  rules_version: str
  scale: str
  data_dir: str
  trial_dir: str
  seed: int
  hyperparameters: Optional[Dict[str, Any]] = None  # None for self-tuning.
  imagenet_v2_data_dir: Optional[str] = None
  max_global_steps: Optional[int] = None
  save_checkpoints: bool = True
  checkpoint_period_sec: float = 0.0  # training_loop.TrialConfig's.
  skip_evals: bool = False
  flags: Dict[str, Any] = dataclasses.field(default_factory=dict)  # Recorded in flags_<n>.json.
  label: str = ''  # Prefix of the trial's progress lines.
  progress_every_sec: Optional[float] = None  # None: a progress line at every eval.
  jax_layout: str = 'auto'  # JAX: 'pmap' (v0.5 runner), 'jit' (v0.6) or 'auto' (submission_loader.jax_layout).
  # Extra keyword arguments of the workload's constructor (tools/set_targets: {'target_setting': {...}}).
  workload_kwargs: Dict[str, Any] = dataclasses.field(default_factory=dict)
  # Extra environment of the trial (e.g. ALGOPERF_KERNELS=off): set before the submission is imported and
  # restored when the trial ends, so a reused worker does not carry it into the next trial.
  env: Dict[str, str] = dataclasses.field(default_factory=dict)


def submission_name(submission_path: str) -> str:
  """A submission's name is its folder's (upstream's layout: one folder per submission)."""
  return os.path.basename(os.path.dirname(os.path.abspath(submission_path)))


def study_index(experiment_name: str) -> int:
  """The study of an experiment named upstream's way (`study_<k>`); any other name is study 0."""
  match = re.fullmatch(r'study_(\d+)', experiment_name or '')
  return int(match.group(1)) if match else 0


def plan_trials(points: Sequence[Optional[Dict[str, Any]]], *, submission_path: str, workload: str,
                framework: str, study: int, base_seed: int, log_dir: str, first_trial: int = 0,
                label: str = '', **common) -> List[TrialSpec]:
  """The TrialSpecs of one study: trial i (0-based) runs points[i] in <log_dir>/trial_<i+1>.

  `common` holds the TrialSpec fields every trial of the study shares (ruleset, scale, data_dir, ...).
  """
  name = submission_name(submission_path)
  specs = []
  for i in range(first_trial, len(points)):
    specs.append(TrialSpec(
        submission_path=submission_path, workload=workload, framework=framework,
        trial_dir=os.path.join(log_dir, f'trial_{i + 1}'), hyperparameters=points[i],
        seed=tuning.trial_seed(base_seed, name, workload, study, i),
        label=f'{label}trial {i + 1}' if label else f'{name} {workload} {framework} trial {i + 1}', **common))
  return specs


@dataclasses.dataclass
class TrialResult:
  trial_dir: str
  status: str  # 'completed', 'diverged' or 'failed'.
  submission_time: float
  global_step: int
  reason: str = ''
  last_eval: Optional[Dict[str, Any]] = None
  reached_validation_target: bool = False
  target_metric: Optional[str] = None  # The workload's target metric name (e.g. 'accuracy').
  wall_sec: Optional[float] = None  # The trial's wall time, where the executor measured it (not recorded).


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


def run_trial(spec: TrialSpec, on_start: Optional[Callable[[float, str], None]] = None) -> TrialResult:
  """Runs (or resumes) one trial in spec.trial_dir and records how it ended in status.json.

  on_start(budget_sec, target_metric) is called once the workload is built and the data checked. The
  trial runs with spec.env added to the process environment (restored afterwards).
  """
  with environment(spec.env):
    return _run_trial(spec, on_start)


@contextlib.contextmanager
def environment(env: Dict[str, str]):
  """os.environ with `env` added for the duration; every variable it touched is restored (or removed)."""
  saved = {name: os.environ.get(name) for name in env}
  os.environ.update({name: str(value) for name, value in env.items()})
  try:
    yield
  finally:
    for name, value in saved.items():
      if value is None:
        os.environ.pop(name, None)
      else:
        os.environ[name] = value


def _run_trial(spec: TrialSpec, on_start: Optional[Callable[[float, str], None]]) -> TrialResult:
  from algoperf import random_utils as prng  # pylint: disable=import-outside-toplevel
  from algoperf import rules as rules_lib  # pylint: disable=import-outside-toplevel
  from algoperf import submission_loader  # pylint: disable=import-outside-toplevel
  from workloads import registry  # pylint: disable=import-outside-toplevel

  prng.set_framework(spec.framework)
  submission = submission_loader.load_submission(spec.submission_path)

  layout = {}
  if spec.framework == 'jax':  # pmap for a file written for upstream's v0.5 runner under the v0.5 rules.
    layout['jax_layout'] = submission_loader.jax_layout(spec.submission_path, spec.rules_version, spec.jax_layout)

  def make_workload():
    return registry.import_workload(spec.workload, spec.framework, scale=spec.scale,
                                    rules_version=spec.rules_version, **layout, **spec.workload_kwargs)

  probe = make_workload()
  if hasattr(probe, 'check_data'):
    probe.check_data(spec.data_dir)  # A missing dataset stops here, with the command that builds it.
  batch_sizes = get_batch_sizes(submission, spec.workload, registry.get_base_workload_name(spec.workload), probe,
                                num_devices(spec.framework))
  rules = rules_lib.get_rules(spec.rules_version)
  if on_start is not None:
    on_start(rules_lib.budget_sec(probe.max_allowed_runtime_sec, spec.ruleset, rules), probe.target_metric_name)
  config = training_loop.TrialConfig(
      framework=spec.framework, ruleset=spec.ruleset, rules=rules,
      data_dir=spec.data_dir, imagenet_v2_data_dir=spec.imagenet_v2_data_dir,
      max_global_steps=spec.max_global_steps, save_checkpoints=spec.save_checkpoints,
      checkpoint_period_sec=spec.checkpoint_period_sec, skip_evals=spec.skip_evals,
      progress=_progress_printer(spec.label, spec.progress_every_sec))
  flags = dict(spec.flags, rng_seed=spec.seed, **({'env': dict(spec.env)} if spec.env else {}))
  return _train_and_record(make_workload, submission, batch_sizes, spec.hyperparameters, spec.seed,
                           spec.trial_dir, config, flags)


def num_devices(framework: str) -> int:
  """Devices one trial spans: JAX's local devices, or the DDP world size."""
  if framework == 'jax':
    import jax  # pylint: disable=import-outside-toplevel
    return jax.local_device_count()
  import torch.distributed as dist  # pylint: disable=import-outside-toplevel
  return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def result_line(label: str, result: TrialResult, wall_sec: float) -> str:
  """The one line each command prints when a trial ends."""
  metric = f'validation/{result.target_metric}' if result.target_metric else None
  last = result.last_eval.get(metric) if (result.last_eval and metric) else None
  reached = 'reached target' if result.reached_validation_target else 'missed target'
  last_text = f'{metric} {last:.4f}' if isinstance(last, float) else 'no eval'
  return (f'{label}: {result.status}, {reached}; step {result.global_step}, submission time '
          f'{result.submission_time:.1f}s, last {last_text} ({wall_sec:.0f}s wall)'
          f'{" - " + result.reason if result.reason else ""}')


def _progress_printer(label: str, every_sec: Optional[float]) -> Callable[[str], None]:
  """Prints eval lines prefixed by the label; with every_sec, at most one per every_sec, the first after it."""
  last = [time.time()]

  def progress(line: str) -> None:
    if every_sec is None or time.time() - last[0] >= every_sec:
      last[0] = time.time()
      print(f'{label}:{line}' if label else line, flush=True)
  return progress


def _train_and_record(make_workload: Callable[[], Any], submission, batch_sizes,
                      hyperparameters: Optional[Dict[str, Any]], rng_seed: int, trial_dir: str,
                      config: training_loop.TrialConfig, flags: Dict[str, Any]) -> TrialResult:
  os.makedirs(trial_dir, exist_ok=True)
  hparams_path = os.path.join(trial_dir, 'hparams.json')
  if hyperparameters is not None:
    if os.path.exists(hparams_path):  # A resumed trial keeps its hyperparameters.
      hyperparameters = logger_utils.read_json(hparams_path)
    else:
      logger_utils.write_json(hparams_path, hyperparameters)
  preemption = len([n for n in os.listdir(trial_dir) if n.startswith('flags_')])
  logger_utils.write_flags(trial_dir, preemption, flags)
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
      with contextlib.suppress(OSError), open(os.path.join(trial_dir, 'trial.log'), 'a') as f:
        f.write(time.strftime('%Y-%m-%d %H:%M:%S ') + traceback.format_exc() + '\n')
  if status != 'completed' or not eval_results:
    eval_results = _eval_rows(trial_dir)
  reached = bool(workload is not None and eval_results and status == 'completed' and
                 any(workload.has_reached_validation_target(m) for _, m in eval_results))
  return record_status(trial_dir, status, reason, step, submission_time, reached,
                       getattr(workload, 'target_metric_name', None), eval_results)


def record_status(trial_dir: str, status: str, reason: str = '', global_step: Optional[int] = None,
                  submission_time: float = float('inf'), reached: bool = False,
                  target_metric: Optional[str] = None, eval_results: Optional[List] = None) -> TrialResult:
  """Writes status.json (atomically) and returns the TrialResult it describes.

  A trial whose process died passes no step and no evals: the folder's eval rows supply them.
  """
  path = os.path.join(trial_dir, logger_utils.STATUS_FILE)
  previous = logger_utils.read_json(path) if os.path.exists(path) else {}
  rows = eval_results if eval_results else _eval_rows(trial_dir)
  if global_step is None:
    global_step = rows[-1][0] if rows else int(previous.get('global_step', 0))
  target_metric = target_metric or previous.get('target_metric')
  last_eval = rows[-1][1] if rows else None
  try:
    logger_utils.write_json(path, {
        'status': status, 'reason': reason, 'global_step': global_step, 'submission_time': submission_time,
        'reached_validation_target': reached, 'target_metric': target_metric})
  except DiskFullError as e:  # The result still reaches the caller; the folder keeps what it had.
    print(f'warning: {trial_dir}: status.json not written: {e}', file=sys.stderr, flush=True)
  return TrialResult(trial_dir, status, submission_time, global_step, reason, last_eval, reached, target_metric)


def read_result(trial_dir: str) -> TrialResult:
  """The TrialResult recorded in a trial folder (status.json and eval_measurements.csv)."""
  status = logger_utils.read_json(os.path.join(trial_dir, logger_utils.STATUS_FILE))
  rows = _eval_rows(trial_dir)
  return TrialResult(trial_dir, status['status'], float(status['submission_time']), int(status['global_step']),
                     status.get('reason', ''), rows[-1][1] if rows else None,
                     bool(status.get('reached_validation_target')), status.get('target_metric'))


def _is_non_finite_error(error: Exception) -> bool:
  text = str(error).lower()
  return isinstance(error, FloatingPointError) or 'nan' in text.split() or 'non-finite' in text


def eval_rows(trial_dir: str) -> List:
  """The (global_step, metrics) rows of a trial folder's eval_measurements.csv (numbers as floats)."""
  return _eval_rows(trial_dir)


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
