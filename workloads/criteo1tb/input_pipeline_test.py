"""The Criteo pipeline: FarmHash as TensorFlow's, TSV parsing with missing values, the split layout of the
fixture that tools:make_datasets builds, padded eval batches, reproducible train batches, clear errors."""
import collections
import json
import os

import numpy as np
import pytest

from tools.datasets import criteo1tb as builder
from workloads import registry
from workloads.criteo1tb import farmhash
from workloads.criteo1tb import input_pipeline

DATA_DIR = os.environ.get('CRITEO1TB_SMOKE_DATA_DIR', os.path.join(os.path.dirname(__file__), 'smoke'))

# FarmHash Fingerprint64 (farmhash::Fingerprint64, what TensorFlow's to_hash_bucket_fast uses), from the
# reference C++ implementation (pyfarmhash 0.5.1), one string per code path (lengths 0, 1-3, 4-7, 8-16, 17-32).
FINGERPRINTS = {
    b'': 11160318154034397263,
    b'a': 12917804110809363939,
    b'abc': 2640714258260161385,
    b'abcd': 1897425971756105985,
    b'0123456': 2092326130583504517,
    b'00000000': 18217482073141499014,
    b'000000000': 2271946735276985195,
    b'68fd1e6412': 12150655336600237049,
    b'0123456789abcdef': 6105018409752412263,
    b'0123456789abcdefg': 12024047538191061578,
    b'0123456789abcdef0123456789abcdef': 1958373538681310840,
}


def test_fingerprint64_matches_the_reference():
  tokens = list(FINGERPRINTS)
  np.testing.assert_array_equal(farmhash.fingerprint64(tokens),
                                np.array([FINGERPRINTS[t] for t in tokens], dtype=np.uint64))
  with pytest.raises(ValueError, match='bytes long'):
    farmhash.fingerprint64([b'x' * 33])


def _line(label, ints, cats):
  return ('\t'.join([label] + ints + cats) + '\n').encode()


def test_parse_lines_transforms_integers_and_hashes_categories():
  cats = ['68fd1e64'] + [''] * 24 + ['-1']
  ints = ['5', '', '-1', '-3', '0', '1', '2', '3', '100', '7', '8', '9', '1000000']
  parsed = input_pipeline.parse_lines([_line('1', ints, cats), _line('0', ['0'] * 13, ['00000000'] * 26)])
  assert parsed['inputs'].shape == (2, 39) and parsed['inputs'].dtype == np.float32
  np.testing.assert_array_equal(parsed['targets'], [1.0, 0.0])
  expected_ints = np.log(np.maximum([5, 0, 0, -3, 0, 1, 2, 3, 100, 7, 8, 9, 1e6], 0) + 1.0)
  np.testing.assert_allclose(parsed['inputs'][0, :13], expected_ints, rtol=1e-6)
  # Column 0: Fingerprint64('68fd1e64' + '0') mod 39,884,406, then mod 2**22.
  first = int(farmhash.fingerprint64([b'68fd1e640'])[0])
  assert parsed['inputs'][0, 13] == (first % 39_884_406) % 2**22
  # Missing (empty or -1) categories hash as '00000000', so row 1 equals row 2 there.
  np.testing.assert_array_equal(parsed['inputs'][0, 14:], parsed['inputs'][1, 14:])
  assert parsed['inputs'][1, 13] == (FINGERPRINTS[b'000000000'] % 39_884_406) % 2**22  # '00000000' + '0'.
  ids = parsed['inputs'][:, 13:]
  assert np.all(ids == np.round(ids)) and ids.max() < 2**22


def test_parse_lines_rejects_a_short_line():
  with pytest.raises(ValueError, match='line 2 .* 3 tab-separated fields'):
    input_pipeline.parse_lines([_line('0', ['0'] * 13, ['0'] * 26), b'1\t2\t3\n'])


def test_fixture_has_criteo_layout_and_provenance():
  directory = input_pipeline.dataset_dir(DATA_DIR)
  names = set(os.listdir(directory))
  assert set(builder.train_file_names()) <= names and set(builder.eval_file_names()) <= names
  with open(os.path.join(directory, 'provenance.json')) as f:
    provenance = json.load(f)
  assert provenance['sources'][0]['name'] == 'obp' and provenance['sources'][0]['version'] == '0.4.1'
  assert set(provenance['files']) == names - {'provenance.json'}
  splits = {s: input_pipeline.split_files(DATA_DIR, s) for s in ('train', 'validation', 'test')}
  assert [os.path.basename(f) for f in splits['test']] == [f'day_23_{i:02d}' for i in range(19)]
  assert [os.path.basename(f) for f in splits['validation']] == [f'day_23_{i:02d}' for i in range(19, 36)]
  lite = registry.import_workload('criteo1tb', 'jax', scale='lite')
  counts = {s: sum(1 for f in files for _ in open(f, 'rb')) for s, files in splits.items()}
  assert counts == {'train': lite.num_train_examples, 'validation': lite.num_validation_examples,
                    'test': lite.num_test_examples}


def test_real_rows_have_the_documented_values():
  rows = input_pipeline.read_rows(input_pipeline.split_files(DATA_DIR, 'test'))
  assert rows['inputs'].shape == (4_232, 39)
  assert set(np.unique(rows['targets'])) == {0.0, 1.0}
  assert 0.001 < rows['targets'].mean() < 0.02  # A real click log: clicks are rare.
  dense, ids = rows['inputs'][:, :13], rows['inputs'][:, 13:]
  assert dense.min() >= 0
  assert set(np.round(np.expm1(dense[:, 0])).astype(int)) == {1, 2, 3}  # I1 is the slot position.
  assert np.all(ids < np.array(input_pipeline.VOCAB_SIZES))  # Each column within its hash buckets.


@pytest.mark.parametrize('split,size', [('validation', 1_024), ('test', 1_024), ('eval_train', 1_024)])
def test_eval_batches_are_padded_with_a_mask(split, size):
  workload = registry.import_workload('criteo1tb', 'jax', scale='smoke')
  batches = list(workload._build_numpy_queue(None, split, DATA_DIR, 300))  # pylint: disable=protected-access
  assert [len(b['weights']) for b in batches] == [300] * 4
  assert sum(b['weights'].sum() for b in batches) == size
  last = batches[-1]
  assert last['weights'][:size - 900].all() and not last['weights'][size - 900:].any()
  assert not last['inputs'][size - 900:].any() and last['targets'].dtype == np.float32
  again = list(workload._build_numpy_queue(None, split, DATA_DIR, 300))  # pylint: disable=protected-access
  np.testing.assert_array_equal(again[0]['inputs'], batches[0]['inputs'])


def test_train_batches_are_a_pure_function_of_seed_and_step():
  workload = registry.import_workload('criteo1tb', 'pytorch', scale='smoke')
  seed = np.array([0, 5], np.int32)
  queue = workload._build_numpy_queue(seed, 'train', DATA_DIR, 256)  # pylint: disable=protected-access
  batches = [next(queue) for _ in range(20)]  # 4,096 / 256 = 16 per epoch: crosses an epoch boundary.
  assert batches[0]['inputs'].shape == (256, 39) and batches[0]['weights'].all()
  resumed = workload._build_numpy_queue(seed, 'train', DATA_DIR, 256, start_step=17)  # pylint: disable=protected-access
  np.testing.assert_array_equal(next(resumed)['inputs'], batches[17]['inputs'])
  epoch = np.concatenate([b['targets'] for b in batches[:16]])
  assert len(epoch) == 4_096 and not np.array_equal(batches[0]['inputs'], batches[16]['inputs'])


def test_streaming_train_batches_cover_each_row_once_per_epoch():
  """The path for splits too large for memory: shuffled files and windows, full batches, resumable."""
  files = input_pipeline.split_files(DATA_DIR, 'test')
  rows = input_pipeline.read_rows(files)
  stream = input_pipeline.stream_train_batches(files, 500, seed=3, window_rows=1_000)
  epoch = [next(stream) for _ in range(len(rows['targets']) // 500)]
  seen = np.concatenate([b['inputs'] for b in epoch])
  available = collections.Counter(r.tobytes() for r in rows['inputs'])
  used = collections.Counter(r.tobytes() for r in seen)
  assert all(used[k] <= available[k] for k in used)  # No row twice in one epoch (beyond its duplicates).
  assert not np.array_equal(seen[:500], rows['inputs'][:500])  # Shuffled.
  following = next(stream)
  resumed = input_pipeline.stream_train_batches(files, 500, seed=3, start_step=len(epoch), window_rows=1_000)
  np.testing.assert_array_equal(next(resumed)['inputs'], following['inputs'])


def test_streaming_eval_batches_equal_the_in_memory_ones():
  files = input_pipeline.split_files(DATA_DIR, 'validation')
  streamed = list(input_pipeline.stream_eval_batches(files, 400, 1_000))
  workload = registry.import_workload('criteo1tb', 'jax', scale='smoke')
  in_memory = list(workload._build_numpy_queue(None, 'validation', DATA_DIR, 400))  # pylint: disable=protected-access
  assert len(streamed) == 3 and streamed[-1]['weights'].sum() == 200
  np.testing.assert_array_equal(streamed[0]['inputs'], in_memory[0]['inputs'])


def test_missing_data_names_the_command(tmp_path):
  workload = registry.import_workload('criteo1tb', 'jax', scale='lite')
  with pytest.raises(FileNotFoundError, match='make_datasets -- --dataset=criteo1tb --data_dir='):
    workload.check_data(str(tmp_path))


def test_too_little_data_for_the_scale_says_which_scale_to_use():
  workload = registry.import_workload('criteo1tb', 'jax', scale='full')
  workload.config = type(workload.config)(**{**workload.config.__dict__, 'num_validation_examples': 10**6})
  with pytest.raises(ValueError, match='--scale=lite'):
    list(workload._build_numpy_queue(None, 'validation', DATA_DIR, 1_000))  # pylint: disable=protected-access
