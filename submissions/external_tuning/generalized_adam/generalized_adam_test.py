"""Generalized Adam: both update rules against numpy, and the search space."""
from submissions.common import testing

FOLDER = 'external_tuning/generalized_adam'


def test_nadamw_branch_against_numpy():
  h = testing.point(FOLDER, 1)
  assert not h.disable_preconditioning
  testing.check_nadamw_rule(h.beta1, h.beta2, h.weight_decay)


def test_sgd_branch_against_numpy():
  h = testing.point(FOLDER, 0)
  assert h.disable_preconditioning
  testing.check_nesterov_sgd_rule(h.beta1, h.weight_decay)


def test_search_space():
  testing.check_search_space(FOLDER, bad={'learning_rate': -1.0, 'beta1': 1.0, 'nesterov': False})
