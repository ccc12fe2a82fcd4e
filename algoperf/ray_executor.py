"""Trials as Ray tasks (`--executor=ray`): a run's trials spread over the machines of a Ray cluster.

Each trial is one Ray task that reserves `trial_cpus` CPUs and `trial_gpus` GPUs and runs the trial as the
local executor does: a trial_process.TrialExecutor inside the task starts a fresh process that calls
trials.run_trial(spec) in the trial folder. So a trial's own faults (a crash, the --trial_memory_gb or
--trial_timeout_sec limit) are recorded as its failure, with the reason, exactly as on one machine, and are
not retried (a retry would only repeat them). Ray retries a task when its Ray worker dies (a node lost, the
worker killed), up to `max_retries` times; the retried trial finds its folder and resumes from the last
checkpoint there (training_loop.train_once restores it and counts a preemption). A task that fails for good
records its trial as failed, with Ray's reason. Every trial runs in a fresh process (the task's TrialExecutor
starts it and ends it with the trial), so JAX and torch start clean in each trial and on the GPUs Ray gave the
task; the Ray worker around it imports neither (nor is the trial process reused, unlike the local executor's),
so Ray may reuse it for the next task (no max_calls=1: that would start a second fresh process per trial).

Results are read back from the trial folders (status.json), so --experiment_dir (and --data_dir) must be on
storage every node sees at the same path: a shared file system such as NFS. The workers import the project
from the driver's PYTHONPATH (Bazel's runfiles: the repository must be built at the same path on every node)
and get the environment variables trials read (ALGOPERF_*, thread counts, JAX/XLA settings) through the
tasks' runtime_env; Ray sets CUDA_VISIBLE_DEVICES to each task's GPUs itself.

Ctrl-C (or any error that stops the run) cancels the trials that have not ended, recording nothing for them:
finished trials keep their folders, and a stopped one keeps its last checkpoint (a trial run again in that
folder resumes from it). A cluster the executor started (no address) is stopped by close(); one it joined
keeps running.
"""
import os
import time
from typing import Dict, Iterator, Optional, Sequence, Tuple

from algoperf import trial_process
from algoperf import trials as trials_lib
from algoperf.submission_loader import SubmissionError

MAX_RETRIES = 3  # Ray worker deaths a trial survives (each retry resumes from the trial's last checkpoint).
# The environment a trial reads, passed from the driver to the workers.
ENV_NAMES = ('PYTHONPATH', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'OPENBLAS_CORETYPE',
             'OPENBLAS_L2_SIZE')
ENV_PREFIXES = ('ALGOPERF_', 'JAX_', 'XLA_', 'TF_CPP_')
LOCAL_OBJECT_STORE_BYTES = 2**28  # Specs and short messages only travel through Ray; results are in files.


def worker_env(environ: Optional[Dict[str, str]] = None) -> Dict[str, str]:
  """The variables of `environ` (default os.environ) that the Ray workers get."""
  environ = os.environ if environ is None else environ
  return {k: v for k, v in environ.items() if k in ENV_NAMES or k.startswith(ENV_PREFIXES)}


def _run_trial_task(spec: trials_lib.TrialSpec, memory_gb: Optional[float],
                    timeout_sec: Optional[float]) -> Tuple[str, str, float]:
  """The Ray task: one trial through a TrialExecutor; (kind, message, wall seconds) back to the driver."""
  start = time.time()
  with trial_process.TrialExecutor(memory_gb=memory_gb, timeout_sec=timeout_sec) as executor:
    try:
      executor.run(spec)
      kind, message = 'done', ''
    except SubmissionError as e:
      kind, message = 'submission_error', str(e)
    except ValueError as e:
      kind, message = 'error', str(e)
  return kind, message, time.time() - start


class RayExecutor:
  """Runs TrialSpecs as Ray tasks (see the module docstring); the same interface as trial_process.TrialExecutor.

  address: None starts a local cluster (stopped by close()) of `num_cpus` CPUs and `num_gpus` GPUs (default:
  the machine's); "auto" joins the cluster this machine belongs to; "HOST:PORT" joins that cluster.
  """

  def __init__(self, address: Optional[str] = None, trial_cpus: float = 1, trial_gpus: float = 0, *,
               memory_gb: Optional[float] = None, timeout_sec: Optional[float] = None,
               num_cpus: Optional[int] = None, num_gpus: Optional[int] = None, max_retries: int = MAX_RETRIES):
    if not trial_cpus > 0:
      raise ValueError(f'--trial_cpus={trial_cpus}: a trial needs more than 0 CPUs (e.g. --trial_cpus=1).')
    if not trial_gpus >= 0:
      raise ValueError(f'--trial_gpus={trial_gpus}: give 0 or more GPUs per trial.')
    os.environ.setdefault('RAY_DEDUP_LOGS', '0')  # Trials' progress lines are forwarded as they are.
    import ray  # pylint: disable=import-outside-toplevel  (only --executor=ray needs Ray)
    self._ray = ray
    self._pending = {}
    self.memory_gb, self.timeout_sec = memory_gb, timeout_sec
    runtime_env = {'env_vars': worker_env()}
    if not address:
      try:
        ray.init(address='local', num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
                 object_store_memory=LOCAL_OBJECT_STORE_BYTES, runtime_env=runtime_env)
      except OSError as e:
        if '.ray' not in str(e):
          raise
        # Ray writes a local cluster's authentication token under ~/.ray.
        raise RuntimeError(f'Ray could not write its authentication token ({e}); point HOME at a writable '
                           'folder, or set RAY_AUTH_MODE=disabled to start the local cluster without one.') from e
    else:
      try:
        ray.init(address=address, runtime_env=runtime_env)
      except ConnectionError as e:
        raise ValueError(f'--ray_address={address}: no Ray cluster found there ({e}); start one with '
                         '`ray start --head`, or leave --ray_address unset for a local cluster.') from e
    resources = ray.cluster_resources()
    for name, wanted in (('CPU', trial_cpus), ('GPU', trial_gpus)):
      if wanted > resources.get(name, 0):
        self.close()
        raise ValueError(f'--trial_{name.lower()}s={wanted:g}: the Ray cluster has {resources.get(name, 0):g} '
                         f'{name}s in all, fewer than one trial needs; lower it or add nodes.')
    self._task = ray.remote(num_cpus=trial_cpus, num_gpus=trial_gpus, max_retries=max_retries,
                            retry_exceptions=False)(_run_trial_task)
    self.max_retries = max_retries

  def __enter__(self) -> 'RayExecutor':
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  def close(self) -> None:
    """Disconnects from the cluster, and stops it when this executor started it."""
    self._cancel_pending()  # Before the shutdown, also when a caller left run_many's loop without closing it.
    if self._ray.is_initialized():
      self._ray.shutdown()

  def run(self, spec: trials_lib.TrialSpec) -> trials_lib.TrialResult:
    """One trial (as TrialExecutor.run)."""
    for _, result in self.run_many([spec]):
      return result
    raise AssertionError('unreachable')

  def run_many(self, specs: Sequence[trials_lib.TrialSpec]) -> Iterator[Tuple[int, trials_lib.TrialResult]]:
    """Submits every trial at once and yields (index in specs, result) as each ends.

    A submission that cannot run raises SubmissionError (as the local executor does); leaving the loop for any
    reason (Ctrl-C, an error) cancels the trials still running or queued.
    """
    ray = self._ray
    pending = self._pending = {self._task.remote(spec, self.memory_gb, self.timeout_sec): i
                               for i, spec in enumerate(specs)}
    try:
      while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        index = pending.pop(done[0])
        yield index, self._result(specs[index], done[0])
    finally:
      self._cancel_pending()

  def _cancel_pending(self) -> None:
    if self._ray.is_initialized():
      for ref in self._pending:
        self._ray.cancel(ref, force=True)
    self._pending = {}

  def _result(self, spec: trials_lib.TrialSpec, ref) -> trials_lib.TrialResult:
    ray = self._ray
    try:
      kind, message, wall_sec = ray.get(ref)
    except ray.exceptions.RayError as e:  # The worker died more often than max_retries, or the task was cancelled.
      first_line = (str(e).strip().splitlines() or [''])[0]
      return trial_process.record_failure(
          spec.trial_dir, f'its Ray task failed (retried up to {self.max_retries} times): '
          f'{type(e).__name__}: {first_line}')
    if kind == 'submission_error':
      raise SubmissionError(message)
    if kind == 'error':
      raise ValueError(message)
    try:
      result = trials_lib.read_result(spec.trial_dir)
    except FileNotFoundError as e:
      raise ValueError(f'{spec.trial_dir}: the trial ended on a Ray worker but its status.json is not visible '
                       'here; put --experiment_dir on storage every node sees (NFS or similar).') from e
    result.wall_sec = wall_sec
    return result
