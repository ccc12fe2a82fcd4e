"""A trial killed with SIGKILL after an eval and resumed with --resume_last_run ends with the same eval
metrics as an uninterrupted run (v0.6 rules, so evals go through prepare_for_eval)."""
import os

import pytest

from submissions.common import resume_testing

FOLDER = os.path.dirname(os.path.abspath(__file__))
STEPS = {'jax': 5000, 'pytorch': 4000}


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path, framework):
  reference, resumed, killed = resume_testing.reference_and_resumed(tmp_path, FOLDER, framework, STEPS[framework])
  assert int(reference['global_step']) == STEPS[framework]
  assert killed and int(killed[-1]['global_step']) < STEPS[framework], 'the run finished before it was killed'
  assert resumed['preemption_count'] == '1'
  for key in ('global_step', 'validation/accuracy', 'validation/loss', 'test/loss', 'train/loss'):
    assert resumed[key] == reference[key], key
