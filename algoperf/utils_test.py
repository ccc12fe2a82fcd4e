"""Unit tests of the runner's small pieces: search spaces, keys, parameter types, logs, paths."""
import collections
import csv
import os

import numpy as np
import pytest

from algoperf import halton
from algoperf import logger_utils
from algoperf import param_utils
from algoperf import random_utils as prng
from algoperf import spec
from algoperf import tuning

SPACE = {
    'learning_rate': {'min': 1e-4, 'max': 1e-1, 'scaling': 'log'},
    'weight_decay': {'min': 0.0, 'max': 0.5, 'scaling': 'linear'},
    'label_smoothing': {'feasible_points': [0.0, 0.1, 0.2]},
}


def test_halton_search_is_seeded_in_range_and_spread():
  a = halton.generate_search(SPACE, 20, seed=5)
  assert a == halton.generate_search(SPACE, 20, seed=5)
  assert a != halton.generate_search(SPACE, 20, seed=6)
  lrs = np.array([p['learning_rate'] for p in a])
  assert (lrs >= 1e-4).all() and (lrs <= 1e-1).all()
  # Log scaling: about as many points per decade (a linear draw would put most above 1e-2).
  assert 3 <= (lrs < 1e-3).sum() <= 10 and 3 <= (lrs > 1e-2).sum() <= 10
  assert {p['label_smoothing'] for p in a} == {0.0, 0.1, 0.2}


def test_studies_of_a_list_space_sample_without_replacement():
  points = [{'i': i} for i in range(5)]
  studies = tuning.trials_for_studies(points, 3, 5, seed=1)
  assert len(studies) == 3
  for study in studies:
    assert sorted(p['i'] for p in study) == list(range(5))
  assert studies[0] != studies[1] or studies[1] != studies[2]  # Each study deals its own order.


def test_studies_of_a_dict_space_share_out_distinct_points():
  studies = tuning.trials_for_studies(SPACE, 3, 5, seed=2)
  flat = [tuple(sorted(p.items())) for s in studies for p in s]
  assert len(flat) == 15 and len(set(flat)) == 15


def test_hyperparameters_are_attributes():
  hp = tuning.to_hyperparameters({'learning_rate': 0.1, 'beta2': 0.99})
  assert hp.learning_rate == 0.1 and hp.beta2 == 0.99
  assert tuning.to_hyperparameters(None) is None


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_keys_split_and_fold_deterministically(framework):
  prng.set_framework(framework)
  key = prng.PRNGKey(42)
  a, b = prng.split(key, 2)
  assert prng.bits(a) != prng.bits(b)
  assert prng.bits(prng.fold_in(key, 1)) != prng.bits(prng.fold_in(key, 2))
  assert prng.bits(prng.fold_in(key, 1)) == prng.bits(prng.fold_in(prng.PRNGKey(42), 1))
  prng.set_framework('jax')


def test_step_rngs_blocks_equal_one_step_at_a_time():
  import jax  # pylint: disable=import-outside-toplevel
  from algoperf.step_rngs import StepRngs  # pylint: disable=import-outside-toplevel
  key = jax.random.PRNGKey(3)
  rngs = StepRngs(key, 4, 'jax')
  for step in (0, 5, 255, 256, 700):
    expected = jax.random.split(jax.random.fold_in(key, step), 4)
    np.testing.assert_array_equal(np.stack(rngs(step)), np.asarray(expected))


def test_step_rngs_for_numpy_keys_equal_fold_in_then_split():
  from algoperf.step_rngs import StepRngs  # pylint: disable=import-outside-toplevel
  prng.set_framework('pytorch')
  key = prng.PRNGKey(3)
  rngs = StepRngs(key, 3, 'pytorch')
  for step in (0, 1, 255, 256, 999):
    np.testing.assert_array_equal(np.stack(rngs(step)), prng.split(prng.fold_in(key, step), 3))
  prng.set_framework('jax')


def test_param_types_from_names():
  kinds = param_utils.jax_param_types({'Conv_0': {'kernel': 0}, 'BatchNorm_0': {'scale': 0, 'bias': 0},
                                       'Dense_0': {'kernel': 0, 'bias': 0}, 'LayerNorm_1': {'scale': 0}})
  assert kinds['Conv_0']['kernel'] == spec.ParameterType.CONV_WEIGHT
  assert kinds['BatchNorm_0']['bias'] == spec.ParameterType.BATCH_NORM_BIAS
  assert kinds['Dense_0']['bias'] == spec.ParameterType.BIAS
  assert kinds['LayerNorm_1']['scale'] == spec.ParameterType.LAYER_NORM_SCALE
  torch_kinds = param_utils.pytorch_param_types(collections.OrderedDict(
      [('encoder.self_attn.in_proj_weight', 0), ('bn1.weight', 0), ('fc.weight', 0)]))
  assert torch_kinds == {'encoder.self_attn.in_proj_weight': spec.ParameterType.ATTENTION_QKV,
                         'bn1.weight': spec.ParameterType.BATCH_NORM_SCALE, 'fc.weight': spec.ParameterType.WEIGHT}


def test_csv_log_grows_its_header_and_survives_reopening(tmp_path):
  path = str(tmp_path / 'eval_measurements.csv')
  log = logger_utils.CsvLog(path)
  log.append({'global_step': 1, 'loss': 2.0})
  log.append({'global_step': 2, 'loss': 1.5, 'accuracy': 0.5})
  logger_utils.CsvLog(path).append({'global_step': 3, 'loss': 1.0})
  with open(path) as f:
    rows = list(csv.DictReader(f))
  assert [r['global_step'] for r in rows] == ['1', '2', '3']
  assert rows[0]['accuracy'] == '' and rows[1]['accuracy'] == '0.5'


def test_existing_experiment_needs_overwrite_or_resume(tmp_path):
  first = logger_utils.get_log_dir(str(tmp_path), 'mnist', 'jax', 'exp', False, False)
  open(os.path.join(first, 'x'), 'w').close()
  with pytest.raises(ValueError, match='--overwrite'):
    logger_utils.get_log_dir(str(tmp_path), 'mnist', 'jax', 'exp', False, False)
  assert logger_utils.get_log_dir(str(tmp_path), 'mnist', 'jax', 'exp', True, False) == first
  assert os.path.exists(os.path.join(first, 'x'))
  logger_utils.get_log_dir(str(tmp_path), 'mnist', 'jax', 'exp', False, True)
  assert not os.path.exists(os.path.join(first, 'x'))


def test_v05_alias_shares_classes():
  import algorithmic_efficiency  # pylint: disable=import-outside-toplevel
  from algorithmic_efficiency import spec as old_spec  # pylint: disable=import-outside-toplevel
  from algorithmic_efficiency import random_utils  # pylint: disable=import-outside-toplevel
  assert old_spec.Workload is spec.Workload and random_utils is prng
  assert algorithmic_efficiency.pytorch_utils.pytorch_setup is not None
