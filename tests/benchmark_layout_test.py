"""The main job's experiment folder, both rulesets and both frameworks in one run, read as upstream's scorer
reads folders (scoring/upstream_reader.py): each ruleset's folder is an upstream-format experiment folder,
one framework per submission folder, the leaderboard beside them; our leaderboard still pairs the frameworks."""
import csv
import os
import subprocess
import sys

from scoring import upstream_reader
from tools.testing.child_env import child_env

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))


def test_both_rulesets_and_frameworks_give_upstream_format_folders(tmp_path):
  experiment = tmp_path / 'bench'
  env = child_env(OMP_NUM_THREADS='1')
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'tools', 'benchmark.py'), '--workloads=mnist',
       '--submissions=nadamw_baseline', '--framework=both', '--ruleset=both', '--num_studies=1', '--num_trials=1',
       '--scale=smoke', '--max_global_steps=3', f'--data_dir={DATA_DIR}', f'--experiment_dir={experiment}'],
      env=env, capture_output=True, text=True)
  assert result.returncode == 0, result.stderr[-4000:]
  assert sorted(os.listdir(experiment)) == ['external_tuning', 'leaderboard', 'self_tuning']
  for ruleset in ('external_tuning', 'self_tuning'):
    folder = experiment / ruleset
    assert sorted(os.listdir(folder)) == ['nadamw_baseline_jax', 'nadamw_baseline_pytorch']
    times = upstream_reader.read(str(folder), {'mnist': ('accuracy', 0.97, False)})
    assert sorted(times) == ['nadamw_baseline_jax', 'nadamw_baseline_pytorch']
    assert all(list(t) == ['mnist'] for t in times.values())
    with open(experiment / 'leaderboard' / ruleset / 'scores.csv') as f:
      rows = list(csv.DictReader(f))
    assert sorted(r['submission'] for r in rows) == ['nadamw_baseline[jax]', 'nadamw_baseline[pytorch]']
