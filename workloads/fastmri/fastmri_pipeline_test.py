"""fastMRI data: the builder's h5 files, masking, reconstruction, normalisation, splits and properties."""
import gzip
import json
import os
import struct

import h5py
import numpy as np
import pytest

from tools.datasets import fastmri as builder
from tools.datasets import sources
from workloads import registry
from workloads.fastmri import fastmri_fixtures
from workloads.fastmri import h5_format
from workloads.fastmri import input_pipeline

DATA = os.path.join(fastmri_fixtures.DATA_DIR, 'fastmri')


def _volumes(directory):
  return h5_format.list_volumes(os.path.join(DATA, directory))


def test_the_builder_writes_fastmri_single_coil_files_with_provenance():
  assert (builder.SPLIT_DIRS, builder.KSPACE_KEY, builder.TARGET_KEY) == (
      {'train': h5_format.TRAIN_DIR, 'val': h5_format.VAL_DIR}, h5_format.KSPACE, h5_format.TARGET)
  paths = _volumes(h5_format.TRAIN_DIR) + _volumes(h5_format.VAL_DIR)
  assert sorted(os.path.relpath(p, DATA) for p in paths) == sorted(builder.output_files()[:-1])
  for path in paths:
    with h5py.File(path, 'r') as f:
      kspace, target = f['kspace'], f['reconstruction_esc']
      assert kspace.dtype == np.complex64 and kspace.shape[1:] == builder.KSPACE_SHAPE
      assert target.dtype == np.float32 and target.shape[1:] == (builder.TARGET_SIZE,) * 2
      assert kspace.shape[0] == target.shape[0] >= 1
      np.testing.assert_allclose(f.attrs['max'], target[()].max(), rtol=1e-6)
      np.testing.assert_allclose(f.attrs['norm'], np.linalg.norm(target[()].astype(np.float64)), rtol=1e-5)
  with open(os.path.join(DATA, 'provenance.json')) as f:
    record = json.load(f)
  assert {s['name'] for s in record['sources']} == {'dipy', 'nibabel', 'matplotlib'}
  for name, digest in record['files'].items():
    assert sources.sha256_file(os.path.join(DATA, name)) == digest


def test_fully_sampled_kspace_reconstructs_the_stored_target():
  """The pipeline's inverse FFT, crop and magnitude give reconstruction_esc: k-space and target agree."""
  with h5py.File(_volumes(h5_format.VAL_DIR)[0], 'r') as f:
    kspace, target = f['kspace'][3], f['reconstruction_esc'][3]
  image = np.abs(input_pipeline.center_crop(input_pipeline.ifft2c(kspace), target.shape))
  np.testing.assert_allclose(image, target, atol=1e-3 * target.max())
  # Real MR content: a bright object on a dark background, not noise.
  assert (target > 0.1 * target.max()).mean() > 0.05 and np.median(target) < 0.2 * target.max()


def test_column_mask_keeps_the_centre_and_a_quarter_of_the_columns():
  masks = np.stack([input_pipeline.column_mask(368, np.random.RandomState(s)) for s in range(400)])
  num_low = int(368 * 0.08)  # 29 central columns, always kept.
  start = (368 - num_low + 1) // 2
  assert (masks[:, start:start + num_low] == 1).all()
  assert set(np.unique(masks)) == {0.0, 1.0}
  assert abs(masks.mean() - 0.25) < 0.01  # Acceleration 4 on average.
  again = input_pipeline.column_mask(368, np.random.RandomState(7))
  np.testing.assert_array_equal(again, masks[7])


def test_process_slice_normalises_input_and_target_with_the_input_statistics():
  with h5py.File(_volumes(h5_format.TRAIN_DIR)[0], 'r') as f:
    kspace, target, volume_max = f['kspace'][0], f['reconstruction_esc'][0], f.attrs['max']
  example = input_pipeline.process_slice(kspace, target, volume_max, np.random.RandomState(0))
  assert example['inputs'].shape == example['targets'].shape == target.shape
  assert example['inputs'].dtype == np.float32 and example['volume_max'] == np.float32(volume_max)
  assert abs(example['inputs'].mean()) < 0.05 and abs(example['inputs'].std() - 1) < 0.05
  assert np.abs(example['inputs']).max() <= 6 and np.abs(example['targets']).max() <= 6
  restored = example['targets'] * example['std'] + example['mean']
  unclipped = np.abs(example['targets']) < 6
  np.testing.assert_allclose(restored[unclipped], target[unclipped], atol=1e-6 * target.max())
  assert not np.allclose(example['inputs'], example['targets'], atol=0.05)  # Undersampling changed it.


def test_train_batches_are_a_pure_function_of_seed_and_step_with_fixed_masks_per_slice():
  workload = registry.import_workload('fastmri', 'jax', scale='smoke')
  seed = np.array([0, 7], np.uint32)
  queue = workload._build_numpy_queue(seed, 'train', fastmri_fixtures.DATA_DIR, 4)  # pylint: disable=protected-access
  batches = [next(queue) for _ in range(10)]  # 32 slices / 4 = 8 batches per epoch: crosses into epoch 2.
  first = batches[0]
  assert first['inputs'].shape == first['targets'].shape == (4, 80, 80)
  assert {k: v.shape for k, v in first.items() if v.ndim == 1} == {k: (4,) for k in
                                                                  ('mean', 'std', 'volume_max', 'weights')}
  assert all(v.dtype == np.float32 for v in first.values()) and (first['weights'] == 1).all()
  resumed = workload._build_numpy_queue(seed, 'train', fastmri_fixtures.DATA_DIR, 4, start_step=9)  # pylint: disable=protected-access
  np.testing.assert_array_equal(next(resumed)['inputs'], batches[9]['inputs'])
  # Upstream seeds each example's mask by its index, so a slice has the same input in every epoch.
  epoch_one = {float(t.sum()): i for b in batches[:8] for t, i in zip(b['targets'], b['inputs'])}
  repeats = [(epoch_one[float(t.sum())], i) for t, i in zip(batches[8]['targets'], batches[8]['inputs'])]
  assert repeats and all(np.array_equal(a, b) for a, b in repeats)
  other = workload._build_numpy_queue(np.array([0, 8], np.uint32), 'train', fastmri_fixtures.DATA_DIR, 4)  # pylint: disable=protected-access
  assert not np.array_equal(next(other)['inputs'], first['inputs'])


def test_processed_slices_are_kept_and_equal_to_slices_processed_afresh():
  """The kept slices are what process_slice makes with each slice's own mask, and a batch is a new array."""
  workload = registry.import_workload('fastmri', 'jax', scale='smoke')
  source = workload._source(fastmri_fixtures.DATA_DIR, 'train')  # pylint: disable=protected-access
  assert source.in_memory
  for seed, rng_of in ((5, lambda i: input_pipeline.example_rng(5, i)),
                       (None, lambda i: np.random.RandomState(input_pipeline.EVAL_SEED))):
    slices = input_pipeline.ProcessedSlices(source, seed)
    first = slices.batch([3, 1])
    first['inputs'][:] = 0.0  # A consumer writing into its batch leaves the kept slices alone.
    again = slices.batch([3, 1])
    assert slices.example(3) is slices.example(3)
    fresh = [input_pipeline.process_slice(*source.read(i), rng_of(i)) for i in (3, 1)]
    for key, value in again.items():
      np.testing.assert_array_equal(value, np.stack([e[key] for e in fresh]), err_msg=key)


def test_eval_splits_are_padded_masked_fixed_and_from_disjoint_volumes():
  workload = registry.import_workload('fastmri', 'jax', scale='lite')
  queue = workload._build_numpy_queue(None, 'validation', fastmri_fixtures.DATA_DIR, 16)  # pylint: disable=protected-access
  (batch,) = list(queue)  # The 10 validation slices in one padded batch.
  assert batch['inputs'].shape == (16, 80, 80)
  np.testing.assert_array_equal(batch['weights'], [1] * 10 + [0] * 6)
  assert (batch['inputs'][10:] == 0).all() and (batch['volume_max'][10:] == 0).all()
  (again,) = list(queue)  # Replayed: the fixed eval masks give the same inputs every eval.
  np.testing.assert_array_equal(again['inputs'], batch['inputs'])
  test_batches = list(workload._build_numpy_queue(None, 'test', fastmri_fixtures.DATA_DIR, 16))  # pylint: disable=protected-access
  assert [int(b['weights'].sum()) for b in test_batches] == [16, 8]
  validation_volume, test_volume = _volumes(h5_format.VAL_DIR)
  with h5py.File(validation_volume, 'r') as f:
    assert batch['volume_max'][0] == np.float32(f.attrs['max'])
  with h5py.File(test_volume, 'r') as f:
    assert test_batches[0]['volume_max'][0] == np.float32(f.attrs['max'])


def test_lite_sizes_are_the_slice_counts_of_the_built_dataset():
  workload = registry.import_workload('fastmri', 'jax', scale='lite')
  counts = {}
  for split in ('train', 'validation', 'test'):
    paths = input_pipeline.split_volumes(fastmri_fixtures.DATA_DIR, split, 1)
    counts[split] = sum(h5_format.read_header(p)['num_slices'] for p in paths)
  assert counts == {'train': workload.num_train_examples, 'validation': workload.num_validation_examples,
                    'test': workload.num_test_examples}
  workload.check_data(fastmri_fixtures.DATA_DIR)
  workload.check_data(DATA)  # Upstream's layout: data_dir is the folder holding knee_singlecoil_*.


def test_missing_data_names_the_command(tmp_path):
  workload = registry.import_workload('fastmri', 'pytorch', scale='lite')
  with pytest.raises(FileNotFoundError, match='make_datasets -- --dataset=fastmri'):
    workload.check_data(str(tmp_path))
  full = registry.import_workload('fastmri', 'jax', scale='full')
  with pytest.raises(ValueError, match='scale'):
    full.check_data(fastmri_fixtures.DATA_DIR)  # 100 validation volumes wanted, 2 there.


def test_read_nifti_handles_byte_order_and_scaling():
  data = np.arange(24, dtype='>i2').reshape((2, 3, 4), order='F')
  header = bytearray(352)
  struct.pack_into('>i', header, 0, 348)
  struct.pack_into('>8h', header, 40, 3, 2, 3, 4, 1, 1, 1, 1)
  struct.pack_into('>2h', header, 70, 4, 16)
  struct.pack_into('>3f', header, 108, 352.0, 2.0, 1.0)
  raw = gzip.compress(bytes(header) + data.tobytes(order='F'))
  np.testing.assert_array_equal(builder.read_nifti(raw), data.astype(np.float64) * 2 + 1)


FULL = {
    # key: (validation target, test target)
    'fastmri': (0.723653, 0.740633),
    'fastmri_model_size': (0.723559, 0.740726),
    'fastmri_tanh': (0.717840, 0.734505),
    'fastmri_layernorm': (0.723284, 0.739996),
}


@pytest.mark.parametrize('key', list(FULL))
def test_full_scale_properties_are_the_published_ones(key):
  v06 = registry.import_workload(key, 'jax', scale='full')
  v05 = registry.import_workload(key, 'pytorch', scale='full', rules_version='v0.5')
  for workload in (v06, v05):
    assert (workload.validation_target_value, workload.test_target_value) == FULL[key]
    assert workload.target_metric_name == 'ssim' and not workload.target_metric_minimized
    assert workload.loss_type.name == 'MEAN_ABSOLUTE_ERROR'
    assert (workload.num_train_examples, workload.num_validation_examples, workload.num_test_examples,
            workload.num_eval_train_examples, workload.eval_batch_size) == (34_742, 3_554, 3_581, 3_584, 256)
    assert workload.eval_period_time_sec == 80 and not workload.provisional_targets
    assert workload.center_fractions == (0.08,) and workload.accelerations == (4,)
  assert (v06.max_allowed_runtime_sec, v06.step_hint) == (4_430, 18_094)
  assert (v05.max_allowed_runtime_sec, v05.step_hint) == (8_859, 36_189)
  assert v06.has_reached_validation_target({'validation/ssim': FULL[key][0] + 1e-6})
  assert not v06.has_reached_validation_target({'validation/ssim': FULL[key][0]})  # Strictly above.
  model = {'fastmri_model_size': (64, 3)}.get(key, (32, 4))
  assert (v06.num_channels, v06.num_pool_layers) == model
  assert (v06.use_tanh, v06.use_layer_norm) == (key == 'fastmri_tanh', key == 'fastmri_layernorm')
