"""Trial folders and log files, with upstream's names and columns.

<experiment_dir>/<experiment_name>/<workload>_<framework>/trial_<i>/ holds hparams.json,
meta_data_<preemption>.json, flags_<preemption>.json, measurements.csv (every scalar row, including the
submission's own loss and grad_norm) and eval_measurements.csv (eval rows only: what the scorer reads).
We add status.json (completed, diverged or failed, with the reason) and trial.log (a failure's traceback).
"""
import csv
import json
import math
import os
import platform
import shutil
import subprocess
import sys
from typing import Any, Dict, List, Optional

from algoperf.atomic_files import atomic_write

# How a trial ended (algoperf/trials.py record_status); the planner and the scorer read it too.
STATUS_FILE = 'status.json'

EVAL_TIME_COLUMNS = ('score', 'total_duration', 'accumulated_submission_time', 'accumulated_eval_time',
                     'accumulated_logging_time')


def is_primary() -> bool:
  """Whether this process writes logs and checkpoints: PyTorch DDP runs one process per device, and only
  rank 0 writes (the others compute the same metrics through all-reduces)."""
  dist = sys.modules.get('torch.distributed')
  if dist is None or not dist.is_available() or not dist.is_initialized():
    return True
  return dist.get_rank() == 0


def get_log_dir(experiment_dir: str, workload: str, framework: str, experiment_name: str,
                resume_last_run: bool, overwrite: bool) -> str:
  """The run folder; an existing one needs --overwrite or --resume_last_run (no interactive prompt)."""
  log_dir = os.path.join(os.path.expanduser(experiment_dir), experiment_name, f'{workload}_{framework}')
  if not is_primary():
    return log_dir
  if os.path.exists(log_dir) and os.listdir(log_dir) and not resume_last_run:
    if not overwrite:
      raise ValueError(f'Experiment folder {log_dir} already exists; pass --overwrite to replace it or '
                       '--resume_last_run to continue it.')
    shutil.rmtree(log_dir)
  os.makedirs(log_dir, exist_ok=True)
  return log_dir


def write_json(path: str, value: Any) -> None:
  """Writes atomically (atomic_files): a kill leaves the previous complete file."""
  if not is_primary():
    return
  with atomic_write(path) as f:
    json.dump(value, f, indent=2, sort_keys=True, default=str)
    f.write('\n')


def read_json(path: str) -> Any:
  with open(path) as f:
    return json.load(f)


def _scalar(value: Any) -> Any:
  try:
    import numpy as np  # pylint: disable=import-outside-toplevel
    if isinstance(value, np.ndarray) or type(value).__module__.startswith(('jax', 'torch', 'numpy')):
      return float(np.asarray(value if not hasattr(value, 'detach') else value.detach().cpu()))
  except (TypeError, ValueError):
    pass
  return value


class CsvLog:
  """A CSV of rows whose header grows when a row brings a new column (the file is then rewritten atomically).

  With atomic_appends every append rewrites the file atomically, so a kill at any instant leaves it as it
  was after some complete append (eval_measurements.csv: what scoring reads, tens of rows). Without, rows
  are appended in place (measurements.csv, which a submission may write every step); a kill can tear the
  last line only.
  """

  def __init__(self, path: str, atomic_appends: bool = True):
    self.path = path
    self.atomic_appends = atomic_appends
    self.columns: List[str] = []
    self.rows: List[Dict[str, Any]] = []
    if os.path.exists(path):
      with open(path, newline='') as f:
        reader = csv.DictReader(f)
        self.columns = list(reader.fieldnames or [])
        self.rows = list(reader)

  def append(self, row: Dict[str, Any]) -> None:
    row = {k: _scalar(v) for k, v in row.items()}
    if not is_primary():
      return
    new_columns = [k for k in row if k not in self.columns]
    self.columns += new_columns
    self.rows.append(row)
    if self.atomic_appends or new_columns or not os.path.exists(self.path):
      self._write()
    else:
      with open(self.path, 'a', newline='') as f:
        csv.DictWriter(f, fieldnames=self.columns, restval='').writerow(row)

  def drop_rows_after(self, global_step: int) -> None:
    """Forgets rows logged after `global_step` (a resume from an earlier checkpoint logs them again)."""
    kept = [r for r in self.rows if float(r.get('global_step') or 0) <= global_step]
    if len(kept) != len(self.rows) and is_primary():
      self.rows = kept
      self._write()

  def _write(self) -> None:
    with atomic_write(self.path, newline='') as f:
      writer = csv.DictWriter(f, fieldnames=self.columns, restval='')
      writer.writeheader()
      writer.writerows(self.rows)


class MetricLogger:
  """What the runner and submissions log through (`workload.metrics_logger.append_scalar_metrics`)."""

  def __init__(self, trial_dir: str):
    self.trial_dir = trial_dir
    self.measurements = CsvLog(os.path.join(trial_dir, 'measurements.csv'), atomic_appends=False)
    self.eval_measurements = CsvLog(os.path.join(trial_dir, 'eval_measurements.csv'))

  def append_scalar_metrics(self, metrics: Dict[str, Any], global_step: int,
                            preemption_count: Optional[int] = None, is_eval: bool = False) -> None:
    row = dict(metrics)
    row['global_step'] = global_step
    if preemption_count is not None:
      row['preemption_count'] = preemption_count
    self.measurements.append(row)
    if is_eval:
      self.eval_measurements.append(row)

  def finish(self) -> None:
    pass


def _git_commit() -> str:
  try:
    return subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True, text=True, timeout=5,
                          cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return ''


def workload_properties(workload: Any) -> Dict[str, Any]:
  """Every primitive property of the workload, as `workload.<name>` (what the scorer reads)."""
  props = {}
  for name in dir(type(workload)):
    if name.startswith('_') or not isinstance(getattr(type(workload), name, None), property):
      continue
    try:
      value = getattr(workload, name)
    except Exception:  # pylint: disable=broad-except
      continue
    if isinstance(value, (int, float, str, bool)) or value is None:
      if isinstance(value, float) and not math.isfinite(value):
        value = str(value)
      props[f'workload.{name}'] = value
    elif hasattr(value, 'name') and hasattr(value, 'value'):  # Enums such as loss_type.
      props[f'workload.{name}'] = str(value)
  for name in ('target_metric_name', 'target_metric_minimized', 'scale', 'rules_version'):
    value = getattr(workload, name, None)
    if value is not None:
      props[f'workload.{name}'] = value
  return props


def system_info(framework: str) -> Dict[str, Any]:
  info = {
      'python.version': sys.version.split()[0],
      'os.platform': platform.platform(),
      'cpu.count': os.cpu_count(),
      'git.commit': _git_commit(),
      # What sets the CPU threads of the trial (unset: every core), e.g. trial_process.single_thread_env()
      # and trial_process.one_cpu().
      'env.OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS'),
      'env.XLA_FLAGS': os.environ.get('XLA_FLAGS'),
      'cpu.affinity': sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else None,
  }
  try:
    import psutil  # pylint: disable=import-outside-toplevel
    info['mem.total_mb'] = psutil.virtual_memory().total // 2**20
  except ImportError:
    pass
  if framework == 'jax':
    import jax  # pylint: disable=import-outside-toplevel
    info.update({'jax.version': jax.__version__, 'devices': [str(d) for d in jax.devices()]})
  else:
    import torch  # pylint: disable=import-outside-toplevel
    info.update({'torch.version': torch.__version__, 'torch.num_threads': torch.get_num_threads(),
                 'gpu.count': torch.cuda.device_count() if torch.cuda.is_available() else 0})
  return info


def write_meta_data(trial_dir: str, preemption_count: int, workload: Any, framework: str, rng_seed: int,
                    extra: Optional[Dict[str, Any]] = None) -> None:
  meta = {'rng_seed': rng_seed, **workload_properties(workload), **system_info(framework), **(extra or {})}
  write_json(os.path.join(trial_dir, f'meta_data_{preemption_count}.json'), meta)


def write_flags(trial_dir: str, preemption_count: int, flags: Dict[str, Any]) -> None:
  write_json(os.path.join(trial_dir, f'flags_{preemption_count}.json'), flags)
