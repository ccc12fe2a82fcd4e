"""CIFAR-10 data: the builder writes the original pickles, the pipeline reads them, augments and pads."""
import io
import json
import os
import pickle
import tarfile

import numpy as np
import pytest

from tools.datasets import cifar as builder
from tools.datasets import sources
from workloads import registry
from workloads.cifar import input_pipeline
from workloads.cifar import smoke_data


@pytest.fixture(scope='module')
def data_dir():
  return smoke_data.data_dir()


def test_fixture_holds_real_labelled_cifar_images_in_the_original_layout(data_dir):
  directory = input_pipeline.dataset_dir(data_dir)
  assert sorted(os.listdir(directory)) == sorted(['batches.meta', 'test_batch'] +
                                                 [f'data_batch_{i}' for i in range(1, 6)])
  with open(os.path.join(directory, 'data_batch_1'), 'rb') as f:
    record = pickle.load(f, encoding='bytes')  # As the CIFAR-10 web page says to read it.
  assert set(record) == {b'batch_label', b'labels', b'data', b'filenames'}
  assert record[b'data'].dtype == np.uint8 and record[b'data'].shape[1] == 3072
  total = 0
  for name in input_pipeline.TRAIN_FILES + (input_pipeline.TEST_FILE,):
    with open(os.path.join(directory, name), 'rb') as f:
      record = pickle.load(f, encoding='bytes')
    # foolbox names its files cifar10_<index>_<label>.png: the labels must be the ones the names give.
    assert record[b'labels'] == [int(n.decode()[:-4].split('_')[2]) for n in record[b'filenames']]
    total += len(record[b'labels'])
  assert total == 20
  assert input_pipeline.read_label_names(data_dir)[:3] == ['airplane', 'automobile', 'bird']
  with open(os.path.join(data_dir, 'cifar', 'provenance.json')) as f:
    provenance = json.load(f)
  assert provenance['sources'][0]['name'] == 'foolbox'
  for name, digest in provenance['files'].items():
    assert sources.sha256_file(os.path.join(directory, name)) == digest


def test_reader_decodes_planes_into_nhwc(tmp_path):
  rs = np.random.RandomState(0)
  images = rs.randint(0, 256, size=(5, 32, 32, 3)).astype(np.uint8)
  path = str(tmp_path / 'data_batch_1')
  builder.write_batch(path, builder.rgb_to_cifar_rows(images), [0, 1, 2, 3, 9], ['a'] * 5, 'training batch 1 of 5')
  decoded = input_pipeline.read_batch_file(path)
  np.testing.assert_array_equal(decoded['images'], images)
  np.testing.assert_array_equal(decoded['labels'], [0, 1, 2, 3, 9])
  assert decoded['labels'].dtype == np.int32
  # The red plane comes first in a row, as in the original files.
  np.testing.assert_array_equal(builder.rgb_to_cifar_rows(images)[0, :1024], images[0, :, :, 0].ravel())


def test_reader_takes_python2_pickles_and_refuses_other_code(tmp_path):
  path = str(tmp_path / 'batch')
  builder.write_batch(path, np.zeros((2, 3072), np.uint8), [1, 2], ['x', 'y'], 'b')
  with open(path, 'rb') as f:
    blob = f.read()
  # The original files were written by python 2's numpy, which names numpy.core.multiarray.
  old = blob.replace(b'numpy._core.multiarray', b'numpy.core.multiarray')
  assert old != blob
  with open(path, 'wb') as f:
    f.write(old)
  assert list(input_pipeline.read_batch_file(path)['labels']) == [1, 2]

  class Harmful:
    def __reduce__(self):
      return (os.getcwd, ())  # Any callable a pickle names would run while loading.

  with open(path, 'wb') as f:
    pickle.dump({b'data': Harmful(), b'labels': []}, f, protocol=2)
  with pytest.raises(ValueError, match='not a CIFAR-10 python batch file'):
    input_pipeline.read_batch_file(path)


def test_fashion_mnist_images_become_padded_grey_rgb_rows():
  images = np.arange(2 * 28 * 28, dtype=np.int64).reshape(2, 28, 28).astype(np.uint8)
  rows = builder.grey28_to_cifar_rows(images)
  assert rows.shape == (2, 3072) and rows.dtype == np.uint8
  planes = rows.reshape(2, 3, 32, 32)
  for channel in range(3):
    np.testing.assert_array_equal(planes[:, channel, 2:30, 2:30], images)
  assert planes[:, :, :2].max() == 0 and planes[:, :, :, 30:].max() == 0


def test_deb_members_are_read_without_dpkg(tmp_path):
  payload = b'IDX bytes'
  data = io.BytesIO()
  with tarfile.open(fileobj=data, mode='w:xz') as tar:
    info = tarfile.TarInfo('./usr/share/datasets/x/file.gz')
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))
  members = [(b'debian-binary', b'2.0\n'), (b'control.tar.xz', b'c'), (b'data.tar.xz', data.getvalue())]
  blob = b'!<arch>\n'
  for name, body in members:
    header = name.ljust(16) + b'0'.ljust(12) + b'0'.ljust(6) + b'0'.ljust(6) + b'100644'.ljust(8)
    blob += header + str(len(body)).encode().ljust(10) + b'`\n' + body + (b'\n' if len(body) % 2 else b'')
  deb = tmp_path / 'x.deb'
  deb.write_bytes(blob)
  assert builder.read_deb_member(str(deb), '/usr/share/datasets/x/file.gz') == payload
  with pytest.raises(KeyError):
    builder.read_deb_member(str(deb), '/usr/share/datasets/x/other.gz')


def test_splits_follow_the_file_order(data_dir):
  splits = input_pipeline.load_splits(data_dir, 12, 4, 4, 8)
  directory = input_pipeline.dataset_dir(data_dir)
  everything = np.concatenate([input_pipeline.read_batch_file(os.path.join(directory, n))['images']
                               for n in input_pipeline.TRAIN_FILES])
  np.testing.assert_array_equal(splits['train']['inputs'], everything[:12])
  np.testing.assert_array_equal(splits['validation']['inputs'], everything[12:16])
  np.testing.assert_array_equal(splits['eval_train']['inputs'], everything[:8])
  assert len(splits['test']['targets']) == 4
  with pytest.raises(ValueError, match='choose the scale'):
    input_pipeline.load_splits(data_dir, 45_000, 5_000, 10_000, 10_000)


def test_crop_and_flip_take_a_window_of_the_zero_padded_image():
  rs = np.random.RandomState(0)
  images = rs.randint(1, 256, size=(64, 32, 32, 3)).astype(np.uint8)  # No zeros: padding is visible.
  out = input_pipeline.random_crop_and_flip(images, np.random.RandomState(1))
  assert out.shape == images.shape and out.dtype == np.uint8
  padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
  flipped, shifted = 0, 0
  for image, result in zip(padded, out):
    matches = [(dy, dx, flip) for dy in range(9) for dx in range(9) for flip in (False, True)
               if np.array_equal(result, (lambda w: w[:, ::-1] if flip else w)(image[dy:dy + 32, dx:dx + 32]))]
    assert matches, 'every output is a (flipped) window of the padded image'
    flipped += any(m[2] for m in matches)
    shifted += all(m[:2] != (4, 4) for m in matches)
  assert 16 < flipped < 48 and shifted > 32  # About half flipped; most crops are off-centre.


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_batches_have_the_documented_shapes_dtypes_and_masks(data_dir, framework):
  workload = registry.import_workload('cifar', framework, scale='smoke')
  queue = workload._build_numpy_queue(np.array([0, 3], np.uint32), 'train', data_dir, 4)  # pylint: disable=protected-access
  batch = next(queue)
  assert batch['inputs'].shape == (4, 32, 32, 3) and batch['inputs'].dtype == np.float32
  assert batch['targets'].shape == (4,) and batch['targets'].dtype == np.int32
  np.testing.assert_array_equal(batch['weights'], np.ones(4, np.float32))
  batches = list(workload._build_numpy_queue(None, 'validation', data_dir, 3))  # pylint: disable=protected-access
  assert [b['inputs'].shape for b in batches] == [(3, 32, 32, 3)] * 2
  np.testing.assert_array_equal(np.concatenate([b['weights'] for b in batches]), [1, 1, 1, 1, 0, 0])
  # Eval images are only standardised: recover the uint8 pixels exactly.
  splits = input_pipeline.load_splits(data_dir, 12, 4, 4, 8)
  pixels = batches[0]['inputs'] * np.asarray(input_pipeline.TRAIN_STDDEV) + np.asarray(input_pipeline.TRAIN_MEAN)
  np.testing.assert_allclose(pixels, splits['validation']['inputs'][:3], atol=1e-3)
  device_batches = list(workload._build_input_queue(None, 'test', data_dir, 4))  # pylint: disable=protected-access
  assert len(device_batches) == 1 and tuple(device_batches[0]['inputs'].shape) == (4, 32, 32, 3)


def test_train_batches_are_a_pure_function_of_seed_and_step(data_dir):
  workload = registry.import_workload('cifar', 'jax', scale='smoke')
  queue = workload._build_numpy_queue(np.array([0, 7], np.uint32), 'train', data_dir, 4)  # pylint: disable=protected-access
  batches = [next(queue) for _ in range(8)]  # Crosses epoch boundaries (12 / 4 = 3 per epoch).
  resumed = workload._build_numpy_queue(np.array([0, 7], np.uint32), 'train', data_dir, 4, start_step=5)  # pylint: disable=protected-access
  np.testing.assert_array_equal(next(resumed)['inputs'], batches[5]['inputs'])
  assert not np.array_equal(batches[0]['inputs'], batches[3]['inputs'])  # New epoch: new order or crops.


def test_missing_data_names_the_command(tmp_path):
  workload = registry.import_workload('cifar', 'pytorch', scale='smoke')
  with pytest.raises(FileNotFoundError, match=r'make_datasets -- --dataset=cifar --data_dir='):
    workload.check_data(str(tmp_path))


def test_builder_rejects_an_unknown_source(tmp_path):
  with pytest.raises(ValueError, match='fashion_mnist or foolbox'):
    builder.build(str(tmp_path), source='cifar100')
