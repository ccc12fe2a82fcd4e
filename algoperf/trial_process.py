"""Trials in child processes: a submission that segfaults, aborts, exhausts memory or hangs fails its trial only.

`TrialExecutor.run(spec)` sends the TrialSpec to a worker process (spawned, not forked, so JAX and CUDA start
clean) that calls trials.run_trial, and reads the result back from the trial folder. The parent watches the
worker: a death by a signal, a resident memory above `memory_gb` (the worker and its children, checked every
`poll_sec`) or a wall time above the limit ends the trial as failed, with the reason in status.json and the
last lines of the worker's stderr in trial.log; the next trial gets a fresh worker. A worker that finished its
trial normally is reused for the next one of the same framework (start-up and imports are paid once; the
test suite checks that a reused worker gives the same eval metrics as a fresh one), and JAX's persistent
compilation cache is shared by all workers.

`run_many(specs)` runs a list of trials and yields (index, TrialResult) as each ends: one after another here,
in parallel over a cluster with `--executor=ray` (algoperf/ray_executor.py, which runs this same executor in
each Ray task). `executor_from_flags` builds either from the command line.

The wall limit counts from the trial's start (the worker reports it, with the budget, once the workload is
built; start-up before that has TIMEOUT_STARTUP_SEC): `timeout_sec`, or by default TIMEOUT_BUDGET_FACTOR x
the trial's budget plus TIMEOUT_STARTUP_SEC for compilation.
"""
import multiprocessing
import os
import signal
import time
import traceback
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from algoperf import trials as trials_lib
from algoperf.submission_loader import SubmissionError

TIMEOUT_BUDGET_FACTOR = 3.0
TIMEOUT_STARTUP_SEC = 300.0
STDERR_TAIL_LINES = 40
STDERR_NAME = 'stderr.log'


def single_thread_env() -> Dict[str, str]:
  """The variables that keep torch (and BLAS) in a trial process on one thread, for trials run side by side on
  one machine. XLA takes no thread count from the environment: it sizes its CPU pool by the CPUs the process
  may run on, so side-by-side workers are also pinned to one CPU each (`TrialExecutor(cpus=...)`, `one_cpu`);
  its Eigen flag keeps single ops on the calling thread. XLA flags already set here are kept."""
  xla = ' '.join(filter(None, [os.environ.get('XLA_FLAGS', ''), '--xla_cpu_multi_thread_eigen=false']))
  return {'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', 'OPENBLAS_NUM_THREADS': '1', 'XLA_FLAGS': xla}


def one_cpu(k: int) -> List[int]:
  """The k-th CPU this process may run on (round robin): worker k of a side-by-side run is pinned to it.
  Measured under a protocol of two JAX workers with the variables alone: each still ran two busy XLA Eigen
  threads (load ~4 on 2 cores); pinned before JAX is imported, a worker runs XLA's work on its own thread."""
  cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else list(range(os.cpu_count() or 1))
  return [cpus[k % len(cpus)]]


def _die_with_parent() -> None:
  """Linux: the kernel kills this worker when its parent dies (a SIGKILLed runner leaves no trial running)."""
  try:
    import ctypes  # pylint: disable=import-outside-toplevel
    pr_set_pdeathsig = 1
    ctypes.CDLL('libc.so.6', use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
  except (OSError, AttributeError):
    pass  # Not Linux: the worker notices a closed pipe at its next message instead.


def _worker_main(conn, framework: str, parent_pid: int, env: Optional[Dict[str, str]] = None,
                 cpus: Optional[Sequence[int]] = None) -> None:
  """The worker's loop: one TrialSpec in, one ('done' | 'error', ...) message out, until None arrives."""
  _die_with_parent()
  if os.getppid() != parent_pid:
    return  # The parent died before the death signal was armed.
  # Before JAX or torch is imported: they read their thread counts (and XLA the CPUs it may use) once.
  os.environ.update(env or {})
  if cpus:
    os.sched_setaffinity(0, cpus)
  import faulthandler  # pylint: disable=import-outside-toplevel
  from algoperf import runner  # pylint: disable=import-outside-toplevel
  faulthandler.enable()  # A fatal signal prints the Python stack to stderr, so trial.log shows where.
  runner.configure_frameworks(framework)
  original_stderr = os.dup(2)
  while True:
    spec = conn.recv()
    if spec is None:
      return
    os.makedirs(spec.trial_dir, exist_ok=True)
    # fd 2 itself is redirected, so a native crash's last words land in the trial folder too.
    log_fd = os.open(os.path.join(spec.trial_dir, STDERR_NAME), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    try:
      trials_lib.run_trial(spec, on_start=lambda budget, metric: conn.send(('started', budget, metric)))
      message = ('done',)
    except SubmissionError as e:
      message = ('submission_error', str(e))
    except Exception as e:  # pylint: disable=broad-except
      traceback.print_exc()
      message = ('error', f'{e}' if isinstance(e, (ValueError, FileNotFoundError)) else f'{type(e).__name__}: {e}')
    finally:
      os.dup2(original_stderr, 2)
    conn.send(message)


class _Worker:

  def __init__(self, framework: str, env: Optional[Dict[str, str]] = None, cpus: Optional[Sequence[int]] = None):
    context = multiprocessing.get_context('spawn')
    self.conn, child_conn = context.Pipe()
    self.process = context.Process(target=_worker_main, args=(child_conn, framework, os.getpid(), env, cpus),
                                   daemon=True, name=f'trial-worker-{framework}')
    self.process.start()
    child_conn.close()

  def stop(self, graceful: bool = True) -> None:
    if graceful and self.process.is_alive():
      try:
        self.conn.send(None)
        self.process.join(10)
      except (BrokenPipeError, OSError):
        pass
    if self.process.is_alive():
      self.process.kill()
    self.process.join()
    self.conn.close()


def _rss_bytes(pid: int) -> int:
  """Resident memory of a process and all its descendants (0 once it is gone)."""
  import psutil  # pylint: disable=import-outside-toplevel
  try:
    root = psutil.Process(pid)
    total = root.memory_info().rss
    for child in root.children(recursive=True):
      try:
        total += child.memory_info().rss
      except psutil.Error:
        pass
    return total
  except psutil.Error:
    return 0


class TrialExecutor:
  """Runs TrialSpecs in worker processes, one reusable worker per framework (see the module docstring)."""

  def __init__(self, memory_gb: Optional[float] = None, timeout_sec: Optional[float] = None,
               poll_sec: float = 0.05, env: Optional[Dict[str, str]] = None, cpus: Optional[Sequence[int]] = None):
    """env: variables set in the trial processes (over this process's), e.g. single_thread_env(); cpus: the CPUs
    they may run on (None: this process's), e.g. one_cpu(k)."""
    self.env = env
    self.cpus = None if cpus is None else list(cpus)
    self.memory_bytes = None if memory_gb is None else int(memory_gb * 2**30)
    self.memory_gb = memory_gb
    self.timeout_sec = timeout_sec
    self.poll_sec = poll_sec
    self._workers: Dict[str, _Worker] = {}

  def __enter__(self) -> 'TrialExecutor':
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  def close(self) -> None:
    for worker in self._workers.values():
      worker.stop()
    self._workers.clear()

  def _worker(self, framework: str) -> _Worker:
    worker = self._workers.get(framework)
    if worker is None or not worker.process.is_alive():
      worker = self._workers[framework] = _Worker(framework, self.env, self.cpus)
    return worker

  def _discard(self, framework: str, graceful: bool) -> None:
    worker = self._workers.pop(framework, None)
    if worker is not None:
      worker.stop(graceful)

  def run_many(self, specs: Sequence[trials_lib.TrialSpec]) -> Iterator[Tuple[int, trials_lib.TrialResult]]:
    """Runs the trials one after another, yielding (index in specs, result) as each ends."""
    for index, spec in enumerate(specs):
      start = time.time()
      result = self.run(spec)
      result.wall_sec = time.time() - start
      yield index, result

  def run(self, spec: trials_lib.TrialSpec) -> trials_lib.TrialResult:
    """Runs one trial in a worker; raises SubmissionError / ValueError as run_trial would in-process."""
    worker = self._worker(spec.framework)
    worker.conn.send(spec)
    # Until the worker says the trial has started (its budget known), only start-up is timed.
    deadline, limit = time.time() + TIMEOUT_STARTUP_SEC, TIMEOUT_STARTUP_SEC
    target_metric, failure = None, None
    while True:
      if worker.conn.poll(self.poll_sec):
        try:
          message = worker.conn.recv()
        except (EOFError, OSError):
          failure = self._death_reason(worker)
          break
        if message[0] == 'started':
          _, budget_sec, target_metric = message
          limit = self.timeout_sec if self.timeout_sec is not None else (
              TIMEOUT_BUDGET_FACTOR * budget_sec + TIMEOUT_STARTUP_SEC)
          deadline = time.time() + limit
          continue
        if message[0] == 'submission_error':
          raise SubmissionError(message[1])
        if message[0] == 'error':
          raise ValueError(message[1])
        return trials_lib.read_result(spec.trial_dir)
      if not worker.process.is_alive():
        failure = self._death_reason(worker)
        break
      if self.memory_bytes is not None and _rss_bytes(worker.process.pid) > self.memory_bytes:
        failure = f'exceeded the memory limit of {self.memory_gb:g} GB (--trial_memory_gb)'
        break
      if time.time() > deadline:
        failure = f'exceeded the wall-time limit of {limit:.0f} s (--trial_timeout_sec)'
        break
    self._discard(spec.framework, graceful=False)
    return record_failure(spec.trial_dir, failure, target_metric)

  @staticmethod
  def _death_reason(worker: _Worker) -> str:
    worker.process.join(5)
    code = worker.process.exitcode
    if code is not None and code < 0:
      try:
        return f'the trial process was killed by signal {signal.Signals(-code).name}'
      except ValueError:
        return f'the trial process was killed by signal {-code}'
    return f'the trial process exited with status {code}'


def record_failure(trial_dir: str, reason: str, target_metric: Optional[str] = None) -> trials_lib.TrialResult:
  """Marks a trial whose process died as failed: status.json, and the reason plus stderr's tail in trial.log."""
  os.makedirs(trial_dir, exist_ok=True)
  stderr_path = os.path.join(trial_dir, STDERR_NAME)
  tail = ''
  if os.path.exists(stderr_path):
    with open(stderr_path, errors='replace') as f:
      tail = ''.join(f.readlines()[-STDERR_TAIL_LINES:])
  with open(os.path.join(trial_dir, 'trial.log'), 'a') as f:
    f.write(f'{time.strftime("%Y-%m-%d %H:%M:%S")} failed: {reason}\n')
    if tail:
      f.write(f'last lines of the trial process stderr:\n{tail}\n')
  return trials_lib.record_status(trial_dir, 'failed', reason, target_metric=target_metric)


def define_flags(flags_module) -> None:
  """The flags both commands share for trial isolation and for where trials run."""
  flags_module.DEFINE_boolean('isolate_trials', True, 'Run each trial in a child process (not under torchrun).')
  flags_module.DEFINE_float('trial_memory_gb', None, 'Resident-memory limit of a trial process, in GiB.')
  flags_module.DEFINE_float('trial_timeout_sec', None, 'Wall limit of a trial (default: '
                            f'{TIMEOUT_BUDGET_FACTOR:g} x its budget + {TIMEOUT_STARTUP_SEC:g} s).')
  flags_module.DEFINE_enum('executor', 'local', ['local', 'ray'],
                           'Where trials run: local (one after another on this machine) or ray (one Ray task '
                           'per trial, in parallel over a cluster; --experiment_dir and --data_dir must be on '
                           'storage every node sees).')
  flags_module.DEFINE_string('ray_address', None, 'With --executor=ray: "auto" (the cluster this machine belongs '
                             'to), a cluster address (HOST:PORT), or unset for a local cluster that the run '
                             'starts and stops.')
  flags_module.DEFINE_float('trial_cpus', 1, 'With --executor=ray: CPUs each trial reserves.')
  flags_module.DEFINE_float('trial_gpus', 0, 'With --executor=ray: GPUs each trial reserves.')


def executor_from_flags(flag_values):
  """A TrialExecutor or a RayExecutor (--executor=ray), or None (in-process trials) when isolation is off or
  each DDP rank is its own process."""
  if 'LOCAL_RANK' in os.environ:
    return None
  if flag_values.executor == 'ray':
    from algoperf import ray_executor  # pylint: disable=import-outside-toplevel  (only this path imports ray)
    return ray_executor.RayExecutor(flag_values.ray_address, flag_values.trial_cpus, flag_values.trial_gpus,
                                    memory_gb=flag_values.trial_memory_gb, timeout_sec=flag_values.trial_timeout_sec)
  if not flag_values.isolate_trials:
    return None
  return TrialExecutor(memory_gb=flag_values.trial_memory_gb, timeout_sec=flag_values.trial_timeout_sec)


def run_spec(spec: trials_lib.TrialSpec, executor: Optional[TrialExecutor]) -> trials_lib.TrialResult:
  """One trial through the executor, or in this process when there is none."""
  if executor is None:
    return trials_lib.run_trial(spec)
  return executor.run(spec)


def run_many(specs: Sequence[trials_lib.TrialSpec], executor) -> Iterator[Tuple[int, trials_lib.TrialResult]]:
  """(index in specs, result) for each trial as it ends: through the executor's run_many, or one after another
  in this process when there is none."""
  if executor is not None:
    yield from executor.run_many(specs)
    return
  for index, spec in enumerate(specs):
    start = time.time()
    result = trials_lib.run_trial(spec)
    result.wall_sec = time.time() - start
    yield index, result
