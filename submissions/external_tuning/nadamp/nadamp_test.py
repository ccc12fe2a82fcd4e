"""NadamP: the p-th root update against numpy, and the search space."""
import pytest

from submissions.common import testing

FOLDER = 'external_tuning/nadamp'


@pytest.mark.parametrize('index', [0, 3])  # power 2 and power 1.5
def test_update_rule_against_numpy(index):
  h = testing.point(FOLDER, index)
  testing.check_nadamw_rule(h.beta1, h.beta2, h.weight_decay, power=h.power)


def test_search_space():
  testing.check_search_space(FOLDER, bad={'power': 0.0, 'beta1': -0.1, 'learning_rate': -1e-3})
