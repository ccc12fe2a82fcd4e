"""OGBG end to end: a few NAdamW steps through the real runner at smoke scale in both frameworks (the loss
goes down and eval_measurements.csv is written), and eval metrics equal across frameworks on mapped weights."""
import csv
import os

import jax
import numpy as np
import pytest

from algoperf import random_utils as prng
from algoperf import runner
from workloads.ogbg import ogbg_fixtures

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')
BASELINE = os.path.join(ROOT, 'submissions', 'external_tuning', 'nadamw_baseline')


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_baseline_trains_a_few_steps_through_the_runner(tmp_path, framework):
  space = tmp_path / 'space.json'
  space.write_text('[{"learning_rate": 0.003, "one_minus_beta1": 0.1, "beta2": 0.999, "weight_decay": 0.0, '
                   '"warmup_factor": 0.02, "label_smoothing": 0.0, "dropout_rate": 0.0}]')
  results = runner.score_submission_on_workload(
      os.path.join(BASELINE, f'{framework}_submission.py'), 'ogbg', framework, 'external', str(space), 1,
      ogbg_fixtures.DATA_DIR, str(tmp_path / 'logs'), 0, 'smoke', 'v0.6', max_global_steps=20,
      save_checkpoints=False)
  assert [r.status for r in results] == ['completed'] and results[0].global_step == 20
  with open(os.path.join(results[0].trial_dir, 'eval_measurements.csv')) as f:
    rows = list(csv.DictReader(f))
  assert rows and {'validation/mean_average_precision', 'train/loss', 'test/accuracy', 'score'} <= set(rows[0])
  losses = [float(r['train/loss']) for r in rows]
  assert losses[-1] < losses[0] - 0.05  # An untrained GNN starts near log 2 = 0.69 per label.
  assert 0.0 < float(rows[-1]['validation/mean_average_precision']) <= 1.0


def test_eval_metrics_match_across_frameworks_on_mapped_weights():
  jax_workload, torch_workload, params, model = ogbg_fixtures.mapped_models('ogbg_model_size')
  prng.set_framework('jax')
  jax_metrics = jax_workload.eval_model(64, params, None, jax.random.PRNGKey(0), ogbg_fixtures.DATA_DIR, None, 0)
  prng.set_framework('pytorch')
  torch_metrics = torch_workload.eval_model(64, model, None, prng.PRNGKey(0), ogbg_fixtures.DATA_DIR, None, 0)
  assert set(jax_metrics) == set(torch_metrics) >= {'validation/mean_average_precision', 'train/loss',
                                                     'test/accuracy', 'validation/num_examples'}
  for key, value in jax_metrics.items():
    np.testing.assert_allclose(value, torch_metrics[key], rtol=1e-4, err_msg=key)
  assert 0.3 < jax_metrics['validation/mean_average_precision'] < 0.8  # Untrained, on real labels.
