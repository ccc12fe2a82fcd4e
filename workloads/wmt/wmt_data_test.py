"""WMT data: the pinned DDTP file, the builder's segmentation, packing, and the pipeline on the fixture."""
import os

import numpy as np
import pytest

from tools.datasets import wmt as wmt_builder
from workloads import registry
from workloads.wmt import input_pipeline
from workloads.wmt import model_config
from workloads.wmt import packing
from workloads.wmt.wmt_fixtures import DATA_DIR

# The genrule's copy under Bazel; the source tree's file when run by hand.
PINNED = next(p for p in (os.path.join(os.path.dirname(__file__), 'pinned', wmt_builder.PINNED_NAME),
                          os.path.join(os.path.dirname(__file__), '..', '..', 'tools', 'datasets',
                                       wmt_builder.PINNED_NAME)) if os.path.exists(p))

STANZA = """# provenance: {"note": "a hand-written example"}

Package: demo
Description-md5: 0123
Description-en: A demo tool
 It does one thing
 well.
 .
 It is small.
Description-de: Ein Demo-Werkzeug
 Es macht eine Sache
 gut.
 .
 Es ist klein.

Package: demo-doc
Description-md5: 4567
Description-en: Documentation for demo
 .
 Two paragraphs in English.
Description-de: Dokumentation für demo
"""


def test_the_pinned_file_is_small_verified_and_carries_its_provenance():
  assert os.path.getsize(PINNED) <= 5 * 2**20
  text = wmt_builder.read_pinned(PINNED)  # Checks the sha256 pinned in the builder.
  provenance = wmt_builder.pinned_provenance(text)
  assert provenance['archive'] == 'http://deb.debian.org/debian' and len(provenance['indexes']) == 2
  assert text.count('\nDescription-md5: ') == provenance['stanzas'] == 13_163


def test_descriptions_split_into_title_and_paragraph_pairs():
  stanzas = wmt_builder.parse_stanzas(STANZA)
  assert [s['Package'][0] for s in stanzas] == ['demo', 'demo-doc']
  assert wmt_builder.segments(stanzas[0]['Description-en']) == ['A demo tool', 'It does one thing well.',
                                                                'It is small.']
  # demo-doc has 2 English segments but 1 German one: it is left out rather than misaligned.
  assert wmt_builder.aligned_pairs(stanzas + stanzas) == [
      ('Ein Demo-Werkzeug', 'A demo tool'), ('Es macht eine Sache gut.', 'It does one thing well.'),
      ('Es ist klein.', 'It is small.')]


def test_splits_never_share_an_english_sentence():
  pairs = [(f'de {i}', f'en {i % 50}') for i in range(400)]
  splits = wmt_builder.split_pairs(pairs)
  english = [{en for _, en in splits[name]} for name in wmt_builder.SPLITS]
  assert sum(len(s) for s in splits.values()) == 400
  assert not (english[0] & english[1]) and not (english[0] & english[2]) and not (english[1] & english[2])
  assert splits == wmt_builder.split_pairs(list(reversed(pairs)))  # Independent of the input order.


def test_packing_by_hand():
  a, b, c = np.array([5, 6, 1]), np.array([7, 1]), np.array([8, 9, 3, 1])
  rows = packing.pack([a, b, c], [np.array([4, 1]), np.array([2, 3, 1]), np.array([1])], length=5)
  np.testing.assert_array_equal(rows['inputs'], [[5, 6, 1, 7, 1], [8, 9, 3, 1, 0]])
  np.testing.assert_array_equal(rows['inputs_segmentation'], [[1, 1, 1, 2, 2], [1, 1, 1, 1, 0]])
  np.testing.assert_array_equal(rows['inputs_position'], [[0, 1, 2, 0, 1], [0, 1, 2, 3, 0]])
  np.testing.assert_array_equal(rows['targets'], [[4, 1, 2, 3, 1], [1, 0, 0, 0, 0]])
  np.testing.assert_array_equal(rows['targets_segmentation'], [[1, 1, 2, 2, 2], [1, 0, 0, 0, 0]])
  with pytest.raises(ValueError, match='at most 5'):
    packing.pack([np.arange(6)], [np.arange(2)], length=5)


def _workload():
  workload = registry.import_workload('wmt', 'jax', scale='smoke')
  workload.check_data(DATA_DIR)
  return workload


def test_training_rows_are_packed_real_examples():
  workload = _workload()
  rows = workload._split_arrays(DATA_DIR, 'train')  # pylint: disable=protected-access
  length = workload.max_len
  assert rows['inputs'].shape[1] == length == 32 and rows['inputs'].dtype == np.int32
  np.testing.assert_array_equal(rows['weights'], rows['targets'] > 0)
  examples = 0
  for key in ('inputs', 'targets'):
    tokens, segments, positions = rows[key], rows[f'{key}_segmentation'], rows[f'{key}_position']
    assert np.array_equal(tokens > 0, segments > 0)
    ends = (tokens == model_config.EOS_ID)
    assert ends.sum() == segments.max(axis=1).sum()  # Every packed example ends in EOS...
    starts = (positions == 0) & (segments > 0)
    assert starts.sum() == ends.sum()  # ...and its positions restart at 0.
    examples = ends.sum()
  assert rows['inputs'].shape[0] < examples <= 2_000  # Several examples per row; overlong ones dropped.
  # The source of the first packed example is the first short enough German line, tokenised.
  with open(os.path.join(DATA_DIR, 'wmt', 'train.de'), encoding='utf-8') as f:
    lines = f.read().split('\n')
  tok = workload._tok  # pylint: disable=protected-access
  first = next(ids for ids in tok.encode(lines[:20]) if len(ids) <= length)
  np.testing.assert_array_equal(rows['inputs'][0, :len(first)], first)


def test_train_batches_are_a_pure_function_of_seed_and_step():
  workload = _workload()
  seed = np.array([0, 3], np.uint32)
  queue = workload._build_numpy_queue(seed, 'train', DATA_DIR, 8)  # pylint: disable=protected-access
  batches = [next(queue) for _ in range(95)]  # Crosses an epoch (737 rows / 8 = 92 batches).
  resumed = workload._build_numpy_queue(seed, 'train', DATA_DIR, 8, start_step=93)  # pylint: disable=protected-access
  for key, value in next(resumed).items():
    np.testing.assert_array_equal(value, batches[93][key])
  assert batches[0]['inputs'].shape == (8, 32) and batches[0]['weights'].shape == (8, 32)
  assert not np.array_equal(batches[0]['inputs'], batches[92]['inputs'])


def test_eval_batches_are_padded_with_token_weights():
  workload = _workload()
  batches = list(workload._build_numpy_queue(None, 'validation', DATA_DIR, 24))  # pylint: disable=protected-access
  assert [b['inputs'].shape for b in batches] == [(24, 32), (24, 32)]
  assert set(batches[0]) == {'inputs', 'targets', 'weights'}
  last = batches[-1]
  assert last['weights'][:8].sum(axis=1).min() > 0 and last['weights'][8:].sum() == 0  # 32 = 24 + 8.
  for batch in batches:
    real = batch['weights'].sum(axis=1) > 0
    assert (batch['targets'][real] == model_config.EOS_ID).sum(axis=1).tolist() == [1] * real.sum()
  # References decode back to the English lines (up to truncation at 32 tokens).
  with open(os.path.join(DATA_DIR, 'wmt', 'validation.en'), encoding='utf-8') as f:
    english = f.read().split('\n')
  decoded = [workload._tok.decode(t) for t in batches[0]['targets']]  # pylint: disable=protected-access
  short = [i for i in range(24) if batches[0]['targets'][i, -1] == 0]
  assert short and all(decoded[i] == english[i] for i in short)
  again = workload._build_numpy_queue(None, 'validation', DATA_DIR, 24)  # pylint: disable=protected-access
  assert len(list(again)) == len(list(again)) == 2  # Re-iterable: every eval replays the split.


def test_eval_examples_are_truncated_to_max_len_with_eos():
  np.testing.assert_array_equal(input_pipeline.truncate(np.array([5, 6, 7, 8, 1]), 3), [5, 6, 1])
  np.testing.assert_array_equal(input_pipeline.truncate(np.array([5, 1]), 3), [5, 1])


def test_missing_data_names_the_command(tmp_path):
  workload = registry.import_workload('wmt', 'pytorch', scale='smoke')
  with pytest.raises(FileNotFoundError, match='make_datasets -- --dataset=wmt'):
    workload.check_data(str(tmp_path))


def test_a_scale_larger_than_the_data_says_which_scale_to_use():
  lite = registry.import_workload('wmt', 'jax', scale='lite')
  with pytest.raises(ValueError, match='--scale=lite'):
    input_pipeline.read_pairs(DATA_DIR, 'train', lite.num_train_examples)


def test_short_eval_pairs_are_the_first_that_fit_on_both_sides():
  workload = _workload()
  tok = workload._tokenizer(DATA_DIR)  # pylint: disable=protected-access
  source, target = input_pipeline.read_pairs(DATA_DIR, 'validation', None)
  ids = list(zip(tok.encode(source), tok.encode(target)))
  fits = [i for i, (s, t) in enumerate(ids) if len(s) <= 20 and len(t) <= 20]
  assert 4 <= len(fits) < len(ids)  # The fixture has pairs on both sides of the limit.
  # Chunks of 5 lines: the selection must not depend on where the tokenizer's chunks fall.
  inputs, targets = input_pipeline.short_pairs(DATA_DIR, 'validation', tok, 4, 20, chunk=5)
  for k, i in enumerate(fits[:4]):
    np.testing.assert_array_equal(inputs[k], ids[i][0])
    np.testing.assert_array_equal(targets[k], ids[i][1])
  with pytest.raises(ValueError, match=f'only {len(fits)} validation pairs have both sides within 20 tokens'):
    input_pipeline.short_pairs(DATA_DIR, 'validation', tok, len(fits) + 1, 20)
  arrays = input_pipeline.eval_arrays(DATA_DIR, 'validation', tok, 4, 24, max_tokens=20)
  assert arrays['inputs'].shape == arrays['targets'].shape == (4, 20)  # Rows as wide as the limit, not max_len.
