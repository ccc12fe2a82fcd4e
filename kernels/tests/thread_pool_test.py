"""The CPU kernels' own thread pool (csrc/thread_pool.cc): concurrent callers, fork, idle workers.

Every call here is past the parallel threshold (131,072 elements), so it runs on the pool."""
import os
import threading
import time

import numpy as np

import algoperf_kernels as ak
from algoperf_kernels import numpy_ops as K

N = 3 * 65536 + 11  # several work items, and a scalar tail


def triad_inputs(seed):
  rng = np.random.default_rng(seed)
  return rng.standard_normal(N).astype(np.float32), rng.standard_normal(N).astype(np.float32)


def run_triad(b, c, scalar):
  a = np.zeros(N, np.float32)
  K.triad([a], [b], [c], scalar=scalar)
  return a


def serial_results(seeds):
  threads = ak.num_threads()
  ak.set_num_threads(1)
  try:
    return {s: run_triad(*triad_inputs(s), scalar=0.5 + s) for s in seeds}
  finally:
    ak.set_num_threads(threads)


def test_concurrent_callers_get_the_serial_results():
  # While one thread's call holds the pool, the others' calls run on their own threads; every
  # result must match the one-thread result bit for bit, and no call may wait forever.
  seeds = list(range(6))
  expected = serial_results(seeds)
  ak.set_num_threads(2)
  errors = []

  def caller(seed):
    b, c = triad_inputs(seed)
    for _ in range(30):
      if not np.array_equal(run_triad(b, c, 0.5 + seed), expected[seed]):
        errors.append(seed)
        return

  threads = [threading.Thread(target=caller, args=(s,)) for s in seeds]
  for t in threads:
    t.start()
  for t in threads:
    t.join(timeout=120)
  assert not any(t.is_alive() for t in threads), 'a concurrent kernel call never returned'
  assert not errors, f'callers {errors} got results that differ from the serial ones'


def test_a_forked_child_runs_kernels_on_a_fresh_pool():
  # The parent's workers do not exist in a forked child; the child must start its own, not wait on them.
  ak.set_num_threads(2)
  expected = serial_results([7])[7]
  b, c = triad_inputs(7)
  assert np.array_equal(run_triad(b, c, 7.5), expected)  # the parent's pool is up
  pid = os.fork()
  if pid == 0:
    threads_before = len(os.listdir('/proc/self/task'))  # the forking thread alone
    ok = all(np.array_equal(run_triad(b, c, 7.5), expected) for _ in range(5))
    started = len(os.listdir('/proc/self/task')) - threads_before  # the fresh pool's one worker
    os._exit(0 if ok and started == 1 else 1 if not ok else 2)
  deadline = time.monotonic() + 60
  while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
      code = os.waitstatus_to_exitcode(status)
      assert code != 1, 'the child computed a wrong result'
      assert code != 2, 'the child started no worker of its own (it would run every call on one thread)'
      assert code == 0, code
      return
    time.sleep(0.05)
  os.kill(pid, 9)
  os.waitpid(pid, 0)
  raise AssertionError('a kernel call in a forked child hung')


def test_idle_workers_sleep_instead_of_spinning():
  # Workers may spin 30 us after a call; a worker that kept spinning would burn a core while the
  # process sleeps (as OpenMP's spin-waiting did for milliseconds after every call).
  ak.set_num_threads(2)
  b, c = triad_inputs(1)
  for _ in range(20):
    run_triad(b, c, 1.0)
  cpu0, wall0 = time.process_time(), time.monotonic()
  time.sleep(0.5)
  cpu = time.process_time() - cpu0
  wall = time.monotonic() - wall0
  assert cpu < 0.1 * wall, f'the process used {cpu:.3f} s of CPU while idle for {wall:.3f} s'


def test_thread_count_is_settable_and_results_do_not_depend_on_it():
  seeds = [3]
  expected = serial_results(seeds)[3]
  before = ak.num_threads()
  try:
    for n in (2, 3, 1, 4):
      ak.set_num_threads(n)
      assert ak.num_threads() == n
      assert np.array_equal(run_triad(*triad_inputs(3), scalar=3.5), expected)
    ak.set_num_threads(0)
    assert ak.num_threads() == 1  # clamped: at least the caller
  finally:
    ak.set_num_threads(before)


def default_threads_in_child(omp_num_threads):
  import subprocess
  import sys
  env = {k: v for k, v in os.environ.items() if k != 'OMP_NUM_THREADS'}
  env['PYTHONPATH'] = os.pathsep.join(p for p in sys.path if p)
  if omp_num_threads is not None:
    env['OMP_NUM_THREADS'] = omp_num_threads
  out = subprocess.run([sys.executable, '-c', 'import algoperf_kernels as ak; print(ak.num_threads())'], env=env,
                       capture_output=True, text=True, check=True)
  return int(out.stdout)


def test_default_thread_count_follows_omp_num_threads_else_the_usable_cpus():
  assert default_threads_in_child('3') == 3
  assert default_threads_in_child(None) == len(os.sched_getaffinity(0))
