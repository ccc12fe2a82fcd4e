"""WMT end to end: NAdamW trains a few steps through the real runner at smoke scale in both frameworks; the
token loss goes down and eval_measurements.csv holds loss, accuracy and BLEU for every split."""
import csv
import os

import pytest

from algoperf import runner
from workloads.wmt import wmt_fixtures
from workloads.wmt.wmt_fixtures import DATA_DIR

wmt_fixtures.one_thread()

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')
BASELINE = os.path.join(ROOT, 'submissions', 'external_tuning', 'nadamw_baseline')


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_baseline_trains_a_few_steps_through_the_runner(tmp_path, framework):
  space = tmp_path / 'space.json'
  space.write_text('[{"learning_rate": 0.003, "one_minus_beta1": 0.1, "beta2": 0.999, "weight_decay": 0.0, '
                   '"warmup_factor": 0.05, "label_smoothing": 0.1, "dropout_rate": 0.0}]')
  results = runner.score_submission_on_workload(
      os.path.join(BASELINE, f'{framework}_submission.py'), 'wmt', framework, 'external', str(space), 1,
      DATA_DIR, str(tmp_path / 'logs'), 0, 'smoke', 'v0.6', max_global_steps=25, save_checkpoints=False)
  assert [r.status for r in results] == ['completed'] and results[0].global_step == 25, results[0].reason
  with open(os.path.join(results[0].trial_dir, 'eval_measurements.csv')) as f:
    rows = list(csv.DictReader(f))
  assert len(rows) >= 2  # After the first step and at the end.
  assert {'train/loss', 'validation/accuracy', 'validation/bleu', 'test/bleu', 'score'} <= set(rows[0])
  assert float(rows[-1]['train/loss']) < float(rows[0]['train/loss']) - 0.5  # Untrained: ~log(400) = 6.
  assert float(rows[-1]['validation/accuracy']) > float(rows[0]['validation/accuracy'])
  assert 0.0 <= float(rows[-1]['validation/bleu']) <= 100.0
