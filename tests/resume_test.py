"""A trial killed with SIGKILL mid-training and resumed with --resume_last_run ends with the same eval
metrics as an uninterrupted run with the same seed (both frameworks, through the command line; the NAdamW
baseline; submissions/common/resume_testing.py runs the three launches)."""
import os

import pytest

from submissions.common import resume_testing

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
SUBMISSION_DIR = os.path.join(ROOT, 'submissions', 'external_tuning', 'nadamw_baseline')
STEPS = {'jax': 5000, 'pytorch': 2000}


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path, framework):
  reference, resumed, killed = resume_testing.reference_and_resumed(tmp_path, SUBMISSION_DIR, framework,
                                                                    STEPS[framework])
  assert int(reference['global_step']) == STEPS[framework]
  assert killed and int(killed[-1]['global_step']) < STEPS[framework], 'the run finished before it was killed'
  trial = os.path.join(str(tmp_path), 'killed', 'resume', f'mnist_{framework}', 'trial_1')
  assert os.path.exists(os.path.join(trial, 'meta_data_1.json'))  # The resumed run is preemption 1.
  assert resumed['preemption_count'] == '1'
  for key in ('global_step', 'validation/accuracy', 'validation/loss', 'test/loss', 'train/loss'):
    assert resumed[key] == reference[key], key
