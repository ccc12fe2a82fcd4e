"""LibriSpeech DeepSpeech trains through the real runner with the NAdamW baseline, in both frameworks."""
import os

os.environ.setdefault('XLA_FLAGS', '--xla_backend_optimization_level=0')

import pytest  # pylint: disable=wrong-import-position

from workloads.librispeech_common import testing  # pylint: disable=wrong-import-position


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_smoke_training_through_the_runner_lowers_the_loss(framework, tmp_path):
  rows = testing.run_runner('librispeech_deepspeech', framework, str(tmp_path), steps=8)
  assert rows[0]['global_step'] == '1' and rows[-1]['global_step'] == '8'  # The first step is always evaluated.
  for key in ('train/ctc_loss', 'train/wer', 'validation/ctc_loss', 'validation/wer', 'test/wer'):
    assert key in rows[-1]
  assert float(rows[-1]['train/ctc_loss']) < float(rows[0]['train/ctc_loss'])
