"""The shared ImageNet pieces: the builder's folders, the pipeline's batches, augmentations and losses."""
import hashlib
import io
import json
import os
import tarfile

import numpy as np
import pytest
from PIL import Image

from tools.datasets import imagenet as builder
from workloads import registry
from workloads.imagenet_common import folders
from workloads.imagenet_common import input_pipeline
from workloads.imagenet_common import randaugment
from workloads.imagenet_common import smoke_fixture
from workloads.imagenet_common import transforms
from workloads.imagenet_common.workload import param_name_tokens

SEED = np.array([0, 7], np.uint32)


@pytest.fixture(scope='module')
def data_dir():
  return smoke_fixture.data_dir()


def _workload(key='imagenet_resnet', scale='smoke'):
  return registry.import_workload(key, 'jax', scale=scale)


# The fixture the builder wrote ------------------------------------------------------------------------


def test_builder_writes_imagenet_folders_with_a_manifest(data_dir):
  root = os.path.join(data_dir, 'imagenet')
  with open(os.path.join(root, 'provenance.json')) as f:
    provenance = json.load(f)
  assert [s['name'] for s in provenance['sources']] == ['foolbox', 'tensorflow-datasets']
  with open(os.path.join(root, 'MANIFEST.sha256')) as f:
    manifest = [line.split() for line in f]
  assert len(manifest) == 40  # 20 train + 10 val + 10 ImageNet-v2.
  for digest, relative in manifest:
    with open(os.path.join(root, relative), 'rb') as image:
      assert hashlib.sha256(image.read()).hexdigest() == digest, relative
  wnids = folders.class_names(data_dir)
  assert len(wnids) == 19 and wnids == sorted(wnids) and all(w.startswith('n') and len(w) == 9 for w in wnids)
  # foolbox's imagenet_00_243.jpg is class 243 (bull mastiff), n02108422 in the standard order.
  assert os.path.exists(os.path.join(root, 'train', 'n02108422', 'n02108422_0.JPEG'))


def test_splits_are_listed_with_their_class_indices(data_dir):
  wnids = folders.class_names(data_dir)
  paths, labels = folders.list_split(data_dir, 'val')
  assert len(paths) == 10
  assert [wnids[label] for label in labels] == [os.path.basename(os.path.dirname(p)) for p in paths]
  paths, labels = folders.list_split(data_dir, 'test')
  assert len(paths) == 10 and all(p.endswith('.jpeg') for p in paths)
  assert labels == [int(os.path.basename(os.path.dirname(p))) for p in paths]
  # The same ImageNet-v2 folder, passed the way --imagenet_v2_data_dir passes it.
  v2 = os.path.join(data_dir, 'imagenet', 'imagenet_v2')
  assert folders.list_split(v2, 'test') == (paths, labels)


def test_read_deb_member_reads_the_data_tarball(tmp_path):
  payload = b'hello fashion'
  data = io.BytesIO()
  with tarfile.open(fileobj=data, mode='w:gz') as t:
    info = tarfile.TarInfo('./usr/share/x.bin')
    info.size = len(payload)
    t.addfile(info, io.BytesIO(payload))

  def member(name, body):
    header = f'{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n'.encode()
    return header + body + (b'\n' if len(body) % 2 else b'')

  deb = tmp_path / 'x.deb'
  deb.write_bytes(b'!<arch>\n' + member('debian-binary', b'2.0\n') + member('control.tar.xz', b'xyz')
                  + member('data.tar.gz', data.getvalue()))
  assert builder.read_deb_member(str(deb), './usr/share/x.bin') == payload
  with pytest.raises(KeyError):
    builder.read_deb_member(str(deb), './usr/share/missing')


# Train batches ---------------------------------------------------------------------------------------


def test_resnet_train_batches_have_the_documented_shapes(data_dir):
  batch = next(_workload()._build_numpy_queue(SEED, 'train', data_dir, 8))  # pylint: disable=protected-access
  assert batch['inputs'].shape == (8, 32, 32, 3) and batch['inputs'].dtype == np.float32
  assert batch['targets'].shape == (8,) and batch['targets'].dtype == np.int32
  assert batch['targets'].max() < 19
  np.testing.assert_array_equal(batch['weights'], np.ones(8, np.float32))
  # Standardised with the ImageNet mean and std: pixel values 0..255 map inside these bounds.
  assert batch['inputs'].min() >= (0 - transforms.MEAN_RGB.max()) / transforms.STDDEV_RGB.min() - 1e-4
  assert batch['inputs'].max() <= (255 - transforms.MEAN_RGB.min()) / transforms.STDDEV_RGB.min() + 1e-4


def test_train_batches_are_a_pure_function_of_seed_and_step(data_dir):
  workload = _workload()
  queue = workload._build_numpy_queue(SEED, 'train', data_dir, 8)  # pylint: disable=protected-access
  batches = [next(queue) for _ in range(5)]  # 20 images, 2 batches an epoch: crosses two epoch boundaries.
  resumed = workload._build_numpy_queue(SEED, 'train', data_dir, 8, start_step=3)  # pylint: disable=protected-access
  np.testing.assert_array_equal(next(resumed)['inputs'], batches[3]['inputs'])
  other_seed = next(workload._build_numpy_queue(np.array([0, 8], np.uint32), 'train', data_dir, 8))  # pylint: disable=protected-access
  assert not np.array_equal(other_seed['inputs'], batches[0]['inputs'])
  assert not np.array_equal(batches[0]['inputs'], batches[2]['inputs'])  # Crops differ from epoch to epoch.


def test_vit_train_batches_are_mixed_up(data_dir):
  batch = next(_workload('imagenet_vit')._build_numpy_queue(SEED, 'train', data_dir, 8))  # pylint: disable=protected-access
  targets = batch['targets']
  assert targets.shape == (8, 19) and targets.dtype == np.float32
  np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)
  assert ((targets > 0).sum(axis=1) <= 2).all()


def test_mixup_mixes_each_example_with_its_neighbour():
  inputs = np.arange(4, dtype=np.float32).reshape(4, 1, 1, 1) * np.ones((4, 2, 2, 3), np.float32)
  labels = np.array([0, 1, 2, 3])
  rng = np.random.RandomState(3)
  weight = np.random.RandomState(3).beta(input_pipeline.MIXUP_ALPHA, input_pipeline.MIXUP_ALPHA)
  mixed, targets = input_pipeline.mixup(inputs, labels, 5, rng)
  np.testing.assert_allclose(mixed[1, 0, 0, 0], weight * 1 + (1 - weight) * 0, rtol=1e-6)
  np.testing.assert_allclose(mixed[0, 0, 0, 0], weight * 0 + (1 - weight) * 3, rtol=1e-6)
  np.testing.assert_allclose(targets[2], [0, (1 - weight), weight, 0, 0], rtol=1e-6, atol=1e-7)


def test_random_crops_respect_the_area_and_aspect_ranges():
  rng = np.random.default_rng(0)
  for _ in range(200):
    left, top, w, h = transforms.random_crop_box(500, 375, rng)
    assert 0 <= left and left + w <= 500 and 0 <= top and top + h <= 375
  # A strip no in-range crop fits: the fallback is the centred crop of the widest allowed aspect ratio.
  assert transforms.random_crop_box(400, 10, np.random.default_rng(0)) == (193, 0, 13, 10)


@pytest.mark.parametrize('name', randaugment.OP_NAMES)
def test_every_randaugment_op_keeps_size_and_mode(name):
  image = Image.fromarray(np.random.RandomState(0).randint(60, 190, (32, 40, 3), dtype=np.uint8))  # Low contrast.
  out = randaugment.apply_op(image, name, 10, np.random.default_rng(1))
  assert out.size == image.size and out.mode == 'RGB'
  changed = not np.array_equal(np.asarray(out), np.asarray(image))
  assert changed == (name != 'Solarize')  # At magnitude 10 the published solarize threshold is 256.


def test_randaugment_is_deterministic_given_its_seed():
  image = Image.fromarray(np.random.RandomState(0).randint(0, 256, (32, 32, 3), dtype=np.uint8))
  first = randaugment.randaugment(image, np.random.default_rng(5))
  again = randaugment.randaugment(image, np.random.default_rng(5))
  np.testing.assert_array_equal(np.asarray(first), np.asarray(again))


# Eval batches ----------------------------------------------------------------------------------------


@pytest.mark.parametrize('split', ['eval_train', 'validation', 'test'])
def test_eval_batches_are_padded_masked_and_replayable(data_dir, split):
  batches = list(_workload()._build_numpy_queue(None, split, data_dir, 8))  # pylint: disable=protected-access
  assert [b['inputs'].shape for b in batches] == [(8, 32, 32, 3)] * 2
  np.testing.assert_array_equal(np.concatenate([b['weights'] for b in batches]), [1] * 10 + [0] * 6)
  assert not batches[1]['inputs'][2:].any() and batches[1]['targets'].dtype == np.int32
  again = list(_workload()._build_numpy_queue(None, split, data_dir, 8))  # pylint: disable=protected-access
  np.testing.assert_array_equal(again[0]['inputs'], batches[0]['inputs'])


def test_eval_preprocessing_resizes_the_shorter_side_and_crops_the_centre(data_dir):
  path = folders.list_split(data_dir, 'val')[0][0]
  image = transforms.load_rgb(path)
  out = transforms.eval_image(image, 224, 256)
  assert out.size == (224, 224)
  scale = 256 / min(image.size)
  resized = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
  left, top = round((resized.width - 224) / 2), round((resized.height - 224) / 2)
  np.testing.assert_array_equal(np.asarray(out), np.asarray(resized.crop((left, top, left + 224, top + 224))))


# Data errors -----------------------------------------------------------------------------------------


def test_missing_data_names_the_command(tmp_path):
  with pytest.raises(FileNotFoundError, match='make_datasets -- --dataset=imagenet'):
    _workload().check_data(str(tmp_path))


def test_data_of_another_scale_is_refused(data_dir):
  _workload().check_data(data_dir)
  with pytest.raises(ValueError, match='choose the scale'):
    _workload(scale='lite').check_data(data_dir)


# Losses and names ------------------------------------------------------------------------------------


@pytest.mark.parametrize('dense', [False, True])
def test_losses_match_across_frameworks(dense):
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  jax_workload = registry.import_workload('imagenet_vit', 'jax', scale='smoke')
  torch_workload = registry.import_workload('imagenet_vit', 'pytorch', scale='smoke')
  rs = np.random.RandomState(1)
  logits = rs.normal(size=(6, 19)).astype(np.float32)
  labels = rs.randint(0, 19, size=6).astype(np.int32)
  if dense:
    labels = input_pipeline.mixup(np.zeros((6, 1, 1, 3), np.float32), labels, 19, rs)[1]
  mask = np.array([1, 1, 1, 1, 0, 0], np.float32)
  jl = jax_workload.loss_fn(jnp.asarray(labels), jnp.asarray(logits), jnp.asarray(mask), 0.1)
  tl = torch_workload.loss_fn(torch.from_numpy(labels), torch.from_numpy(logits), torch.from_numpy(mask), 0.1)
  assert float(jl['n_valid_examples']) == float(tl['n_valid_examples']) == 4
  np.testing.assert_allclose(np.asarray(jl['per_example']), tl['per_example'].numpy(), rtol=1e-5)
  np.testing.assert_allclose(float(jl['summed']), float(tl['summed']), rtol=1e-6)
  assert float(jl['per_example'][4]) == 0.0
  # By hand: smoothed targets against log-softmax.
  targets = labels if dense else np.eye(19)[labels]
  targets = targets * 0.9 + 0.1 / 19
  shifted = logits - logits.max(axis=1, keepdims=True)
  log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
  np.testing.assert_allclose(np.asarray(jl['per_example'])[:4], -(targets * log_softmax).sum(axis=1)[:4], rtol=1e-5)


def test_param_name_tokens_drop_ddp_prefixes_and_brackets():
  assert param_name_tokens("['Dense_0']['kernel']") == ('Dense_0', 'kernel')
  assert param_name_tokens('module.fc.weight') == ('fc', 'weight')
  assert param_name_tokens(('head', 'bias')) == ('head', 'bias')
