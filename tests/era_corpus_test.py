"""Submission files in each era's style run unchanged through the runner binary's entry point on MNIST smoke.

The corpus (tests/testdata/era_corpus/): v0.5 JAX (pmap, `flax.jax_utils.replicate`, chex dataclasses,
`algorithmic_efficiency` imports, `jax.tree_map`), v0.5 PyTorch (DDP all-reduce of the loss), v0.6 JAX (jit
with shardings), v0.6 PyTorch. Each runs as a user would run it, `submission_runner.py` in its own process;
the v0.5 PyTorch file also runs over two DDP processes (torchrun, gloo) and trains like one process. A
v0.5-era JAX file under the v0.6 rules fails its trial (shapes of the jit layout), the runner says why and
how to run it, and exits 1 as no trial completed.
"""
import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

from tools.testing.child_env import child_env

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))
CORPUS = os.path.join(ROOT, 'tests', 'testdata', 'era_corpus')
STEPS = 80
PORT_RACE_MARKERS = ('Address already in use', 'EADDRINUSE', 'Connection refused', 'DistNetworkError',
                     'RendezvousConnectionError')


def _run(experiment_dir, style, framework, rules_version, processes=1):
  env = child_env(OMP_NUM_THREADS='1')
  launcher = [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={processes}'] \
      if processes > 1 else [sys.executable]
  folder = os.path.join(CORPUS, style)
  command = launcher + [
      os.path.join(ROOT, 'algoperf', 'submission_runner.py'), f'--framework={framework}', '--workload=mnist',
      '--scale=smoke', f'--rules_version={rules_version}', f'--data_dir={DATA_DIR}',
      f'--experiment_dir={experiment_dir}', '--experiment_name=corpus',
      f'--submission_path={folder}/submission.py', f'--tuning_search_space={folder}/tuning_search_space.json',
      '--num_tuning_trials=1', '--rng_seed=3', f'--max_global_steps={STEPS}', '--save_checkpoints=false']
  for attempt in range(3):  # torchrun's free-port race (see ddp_test.py) is retried; nothing else is.
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if processes == 1 or result.returncode == 0 or attempt == 2 or \
        not any(m in result.stderr for m in PORT_RACE_MARKERS):
      break
    shutil.rmtree(experiment_dir, ignore_errors=True)
  trial = os.path.join(experiment_dir, 'corpus', f'mnist_{framework}', 'trial_1')
  rows = []
  if os.path.exists(os.path.join(trial, 'eval_measurements.csv')):
    with open(os.path.join(trial, 'eval_measurements.csv')) as f:
      rows = list(csv.DictReader(f))
  status = {}
  if os.path.exists(os.path.join(trial, 'status.json')):
    with open(os.path.join(trial, 'status.json')) as f:
      status = json.load(f)
  return result, rows, status


RUNS = [
    ('v05_jax_pmap', 'jax', 'v0.5'),
    ('v05_pytorch_ddp', 'pytorch', 'v0.5'),
    ('v06_jax_jit', 'jax', 'v0.6'),
    ('v06_pytorch', 'pytorch', 'v0.6'),
    ('v06_jax_jit', 'jax', 'v0.5'),  # A v0.6-format file under the v0.5 rules profile keeps the jit layout.
]
_CACHE = {}


def _cached(run, tmp_path_factory):
  if run not in _CACHE:
    _CACHE[run] = _run(str(tmp_path_factory.mktemp('_'.join(run).replace('.', ''))), *run)
  return _CACHE[run]


# Test names carry the era of the file (v05/v06): BUILD runs each era in its own target, -k v05 / -k v06.
@pytest.mark.parametrize('run', RUNS, ids=['-'.join(r) for r in RUNS])
def test_each_style_runs_unchanged(tmp_path_factory, run):
  result, rows, status = _cached(run, tmp_path_factory)
  assert result.returncode == 0, result.stderr[-4000:]
  assert status['status'] == 'completed' and status['global_step'] == STEPS
  assert int(rows[-1]['global_step']) == STEPS
  assert float(rows[-1]['validation/accuracy']) > 0.6  # It learned (chance is 0.1).


def test_two_ddp_processes_of_the_pytorch_era_file_train_like_one(tmp_path_factory, tmp_path):
  _, one, _ = _cached(('v05_pytorch_ddp', 'pytorch', 'v0.5'), tmp_path_factory)
  result, two, _ = _run(str(tmp_path / 'two'), 'v05_pytorch_ddp', 'pytorch', 'v0.5', processes=2)
  assert result.returncode == 0, result.stderr[-4000:]
  assert int(two[-1]['global_step']) == STEPS
  for key in ('validation/loss', 'train/loss'):
    assert abs(float(two[-1][key]) - float(one[-1][key])) < 1e-4, key


def test_v05_jax_file_in_the_jit_layout_fails_and_the_runner_says_so(tmp_path):
  result, _, status = _run(str(tmp_path / 'v05_under_v06'), 'v05_jax_pmap', 'jax', 'v0.6')
  assert status['status'] == 'failed'
  assert result.returncode == 1
  assert 'error: no trial completed (1 failed)' in result.stderr
  assert '--rules_version=v0.5' in result.stderr  # The note on the pmap-era file names the fix.
