"""fastMRI end to end: a few NAdamW steps through the real runner at smoke scale in both frameworks (the
loss goes down and eval_measurements.csv is written)."""
import csv
import os

import pytest

from algoperf import runner
from workloads.fastmri import fastmri_fixtures

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')
BASELINE = os.path.join(ROOT, 'submissions', 'external_tuning', 'nadamw_baseline')


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_baseline_trains_a_few_steps_through_the_runner(tmp_path, framework):
  space = tmp_path / 'space.json'
  space.write_text('[{"learning_rate": 0.01, "one_minus_beta1": 0.1, "beta2": 0.999, "weight_decay": 0.0, '
                   '"warmup_factor": 0.05, "label_smoothing": 0.0, "dropout_rate": 0.0}]')
  results = runner.score_submission_on_workload(
      os.path.join(BASELINE, f'{framework}_submission.py'), 'fastmri', framework, 'external', str(space), 1,
      fastmri_fixtures.DATA_DIR, str(tmp_path / 'logs'), 0, 'smoke', 'v0.6', max_global_steps=25,
      save_checkpoints=False)
  assert [r.status for r in results] == ['completed'] and results[0].global_step == 25
  with open(os.path.join(results[0].trial_dir, 'eval_measurements.csv')) as f:
    rows = list(csv.DictReader(f))
  assert rows and {'validation/ssim', 'train/loss', 'test/ssim', 'score'} <= set(rows[0])
  assert int(rows[-1]['global_step']) == 25
  losses = [float(r['train/loss']) for r in rows]
  assert losses[-1] < 0.8 * losses[0]  # The L1 loss of normalised images starts near 1.
  assert float(rows[-1]['validation/ssim']) > float(rows[0]['validation/ssim'])
