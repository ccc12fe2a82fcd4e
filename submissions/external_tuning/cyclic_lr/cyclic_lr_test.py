"""Cyclic LR: the NAdamW update against numpy, the search space, batch sizes."""
import pytest

from submissions.common import testing
from submissions.external_tuning.cyclic_lr import hparams

FOLDER = 'external_tuning/cyclic_lr'


def test_update_rule_against_numpy():
  h = testing.point(FOLDER, 3)
  testing.check_nadamw_rule(1 - h.one_minus_beta1, h.beta2, h.weight_decay)


def test_search_space():
  testing.check_search_space(FOLDER, bad={'cycles': 0, 'learning_rate': 0.0, 'beta2': -0.5})
  with pytest.raises(ValueError, match='cycles=1.5'):
    hparams.check(testing.point(FOLDER, 0, cycles=1.5))


def test_batch_sizes_as_published():
  assert hparams.get_batch_size('imagenet_resnet') == 512 and hparams.get_batch_size('mnist') == 16
  with pytest.raises(ValueError):
    hparams.get_batch_size('imagenet_resnet_silu')  # the runner then falls back to the base name
