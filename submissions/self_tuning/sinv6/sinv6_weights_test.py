"""Sinv6 weights: the committed file has the published tree; the loader names what is missing or misshapen."""
import json
import os

import flax.serialization
import numpy as np
import pytest

from submissions.common.sinv6 import api
from submissions.common.sinv6 import features as F
from submissions.common.sinv6 import weights

COMMON = os.path.dirname(weights.DEFAULT_PATH)


def test_committed_weights_have_the_published_shapes():
  tree = weights.load(weights.DEFAULT_PATH)
  flat = F.flat_weights(tree)
  assert {p: v.shape for p, v in flat.items()} == F.WEIGHT_SHAPES
  assert sum(v.size for v in flat.values()) == 36_865
  assert all(v.dtype == np.float32 and np.all(np.isfinite(v)) for v in flat.values())
  # The file is plain flax msgpack: flax's own reader sees the same tree.
  with open(weights.DEFAULT_PATH, 'rb') as f:
    theirs = F.flat_weights(flax.serialization.msgpack_restore(f.read()))
  assert set(theirs) == set(flat)
  for path, value in flat.items():
    np.testing.assert_array_equal(theirs[path], value)


def test_committed_weights_come_with_provenance():
  with open(os.path.join(COMMON, 'provenance.json')) as f:
    provenance = json.load(f)
  assert provenance['command'].startswith('bazel run //tools:meta_train -- ')
  assert provenance['meta_steps'] > 0 and provenance['num_weights'] == 36_865
  assert provenance['tasks'] and provenance['code_version'] != 'unknown'


def test_round_trip_through_flax(tmp_path):
  tree = F.init_weights(3)
  path = str(tmp_path / 'w.msgpack')
  with open(path, 'wb') as f:
    f.write(flax.serialization.msgpack_serialize(tree))  # written by flax, read by us
  loaded = weights.load(path)
  for p, v in F.flat_weights(tree).items():
    np.testing.assert_array_equal(F.flat_weights(loaded)[p], v)


def test_environment_variable_selects_the_file(tmp_path, monkeypatch):
  tree = F.init_weights(5, lr_mult_bias=7.0)
  path = str(tmp_path / 'mine.msgpack')
  weights.save(tree, path)
  monkeypatch.setenv(weights.ENV_VAR, path)
  assert float(api.load_weights()['rnn_params']['step_size']['b'][0]) == 7.0


def test_loader_names_missing_and_misshapen_leaves(tmp_path):
  flat = F.flat_weights(F.init_weights(0))
  del flat[('lstm_init_state', 'cell')]
  flat[('rnn_params', 'rnn/linear', 'w')] = np.zeros((64, 256), np.float32)
  flat[('rnn_params', 'rnn_to_controls', 'w')] = np.zeros((64, 64), np.float32)
  path = str(tmp_path / 'bad.msgpack')
  with open(path, 'wb') as f:
    f.write(flax.serialization.msgpack_serialize(F.nest_weights(flat)))
  with pytest.raises(weights.WeightsError) as e:
    weights.load(path)
  message = str(e.value)
  assert 'lstm_init_state/cell is missing (want shape [1, 64])' in message
  assert 'rnn_params/rnn/linear/w has shape [64, 256], want [128, 256]' in message
  assert 'rnn_params/rnn_to_controls/w is not in the published layout' in message


def test_loader_rejects_a_missing_or_foreign_file(tmp_path, monkeypatch):
  monkeypatch.setenv(weights.ENV_VAR, str(tmp_path / 'nope.msgpack'))
  with pytest.raises(weights.WeightsError, match='does not exist; set ALGOPERF_SINV6_WEIGHTS'):
    weights.load()
  path = tmp_path / 'junk.msgpack'
  path.write_bytes(b'\xc1\xc1 not msgpack')
  with pytest.raises(weights.WeightsError, match='not a flax msgpack file'):
    weights.load(str(path))
