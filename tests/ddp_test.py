"""One PyTorch trial over two DDP processes (torchrun, gloo on the CPU) trains like a single process: the
global batch is split over the ranks, gradients are averaged, evals are summed over the ranks, and only
rank 0 writes the logs."""
import csv
import os
import shutil
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))
SUBMISSION_DIR = os.path.join(ROOT, 'tests', 'testdata', 'upstream_submission')  # Plain SGD: scale-sensitive.
# A two-process launch failed once on a fresh machine and never again; its cause went unrecorded. Launches that
# die setting up their sockets (torchrun's free-port race, pytorch/pytorch#65463, is the known one) are retried,
# as c10d's own tests do; a deterministic bug still fails after the last attempt, with the ranks' stderr.
PORT_RACE_MARKERS = ('Address already in use', 'EADDRINUSE', 'Connection refused', 'DistNetworkError',
                     'RendezvousConnectionError')
LAUNCH_ATTEMPTS = 3


def _run(experiment_dir, processes):
  env = dict(os.environ, PYTHONPATH=os.path.abspath(ROOT), OMP_NUM_THREADS='1')
  env.pop('BUILD_WORKING_DIRECTORY', None)
  launcher = [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={processes}'] \
      if processes > 1 else [sys.executable]
  command = launcher + [
      os.path.join(ROOT, 'algoperf', 'submission_runner.py'), '--framework=pytorch', '--workload=mnist',
      '--scale=smoke', f'--data_dir={DATA_DIR}', f'--experiment_dir={experiment_dir}', '--experiment_name=ddp',
      f'--submission_path={SUBMISSION_DIR}/submission.py',
      f'--tuning_search_space={SUBMISSION_DIR}/tuning_search_space.json', '--num_tuning_trials=1',
      '--rng_seed=2', '--max_global_steps=60', '--save_checkpoints=false']
  for attempt in range(1, LAUNCH_ATTEMPTS + 1):
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    port_race = processes > 1 and any(marker in result.stderr for marker in PORT_RACE_MARKERS)
    if result.returncode == 0 or not port_race or attempt == LAUNCH_ATTEMPTS:
      break
    shutil.rmtree(experiment_dir, ignore_errors=True)
  # A failed launch shows the ranks' own output, not just the exit code.
  assert result.returncode == 0, f'{processes} process(es) exited {result.returncode}:\n{result.stderr[-6000:]}'
  with open(os.path.join(experiment_dir, 'ddp', 'mnist_pytorch', 'trial_1', 'eval_measurements.csv')) as f:
    return list(csv.DictReader(f))


def test_two_ddp_processes_train_like_one(tmp_path):
  two = _run(str(tmp_path / 'two'), 2)
  one = _run(str(tmp_path / 'one'), 1)
  assert int(two[-1]['global_step']) == 60
  assert len({r['global_step'] for r in two}) == len(two)  # One writer: no duplicated rows.
  for key in ('validation/loss', 'train/loss', 'test/accuracy'):
    assert abs(float(two[-1][key]) - float(one[-1][key])) < 1e-4, key
