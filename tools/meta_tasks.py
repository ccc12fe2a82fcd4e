"""The small training tasks tools/meta_train.py meta-trains Sinv6's scheduler on.

Built from this project's own lite data (tools:make_datasets), and only from data the benchmark's scored
workloads do not use other than MNIST, so meta-trained weights are not tuned to the rest:
- mnist_mlp:     MNIST digits (the train file), MLP 784-64-10 with a sigmoid (the MNIST workload's family).
- fashion_mlp:   Fashion-MNIST (the train batches of the `cifar` build, whose default source is Fashion-MNIST),
                 28 x 28 grey, MLP 784-64-10 with a ReLU.
- fashion_conv:  the same images at CIFAR size (32 x 32 x 3, as the `cifar` build stores them), a small conv
                 net conv3x3/2(8)-relu-conv3x3/2(16)-relu-mean-dense(10).
A task is a pure JAX (init, loss) pair and the training arrays; batches are drawn inside the meta-step.
"""
import os
from typing import Callable, Dict, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from workloads.cifar import input_pipeline as cifar_input
from workloads.mnist import input_pipeline as mnist_input

TASK_NAMES = ('mnist_mlp', 'fashion_mlp', 'fashion_conv')


class Task(NamedTuple):
  name: str
  init: Callable      # key -> params
  loss: Callable      # (params, x, y) -> mean cross-entropy
  inputs: np.ndarray  # float32, normalised
  labels: np.ndarray  # int32


def _dense_init(key, fan_in, fan_out):
  return {'w': jax.random.normal(key, (fan_in, fan_out)) / jnp.sqrt(fan_in), 'b': jnp.zeros((fan_out,))}


def _xent(logits, y):
  return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - jnp.take_along_axis(logits, y[:, None], axis=-1)[:, 0])


def _mlp(activation):

  def init(key):
    k1, k2 = jax.random.split(key)
    return {'dense_0': _dense_init(k1, 784, 64), 'dense_1': _dense_init(k2, 64, 10)}

  def loss(params, x, y):
    h = activation(x.reshape(x.shape[0], -1) @ params['dense_0']['w'] + params['dense_0']['b'])
    return _xent(h @ params['dense_1']['w'] + params['dense_1']['b'], y)

  return init, loss


def _conv_init(key, k, c_in, c_out):
  return {'w': jax.random.normal(key, (k * k * c_in, c_out)) / jnp.sqrt(k * k * c_in), 'b': jnp.zeros((c_out,))}


def _conv(x, layer):
  """3x3 stride-2 SAME convolution as patches @ w: vmapped over a population of weights it stays a batched
  matmul (a vmapped lax.conv becomes a grouped convolution, slow to compile and run on the CPU)."""
  patches = jax.lax.conv_general_dilated_patches(x, (3, 3), (2, 2), 'SAME',
                                                 dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  return jax.nn.relu(patches @ layer['w'] + layer['b'])


def _convnet():

  def init(key):
    k1, k2, k3 = jax.random.split(key, 3)
    return {'conv_0': _conv_init(k1, 3, 3, 8), 'conv_1': _conv_init(k2, 3, 8, 16), 'dense': _dense_init(k3, 16, 10)}

  def loss(params, x, y):
    h = _conv(_conv(x, params['conv_0']), params['conv_1']).mean(axis=(1, 2))
    return _xent(h @ params['dense']['w'] + params['dense']['b'], y)

  return init, loss


def _fashion(data_dir: str) -> Dict[str, np.ndarray]:
  """The Fashion-MNIST train images of the `cifar` build (refuses other sources: the real CIFAR-10 is a
  benchmark workload's data, and the foolbox fixture is 20 images)."""
  directory = cifar_input.check_files(data_dir)
  provenance = os.path.join(os.path.dirname(directory), 'provenance.json')
  text = open(provenance).read() if os.path.exists(provenance) else ''
  if 'fashion' not in text.lower():
    raise ValueError(f'{directory} is not the Fashion-MNIST build of the cifar dataset ({provenance} does not name '
                     'Fashion-MNIST); build it with: bazel run //tools:make_datasets -- --dataset=cifar '
                     f'--source=fashion_mnist --data_dir={data_dir}')
  parts = [cifar_input.read_batch_file(os.path.join(directory, name)) for name in cifar_input.TRAIN_FILES]
  images = np.concatenate([p['images'] for p in parts])
  labels = np.concatenate([p['labels'] for p in parts])
  x = images.astype(np.float32) / 255.0
  return {'images': (x - x.mean()) / x.std(), 'labels': labels.astype(np.int32)}


def load(names, data_dir: str, max_examples: int = 20_000) -> Dict[str, Task]:
  unknown = [n for n in names if n not in TASK_NAMES]
  if unknown:
    raise ValueError(f'--tasks: unknown task(s) {", ".join(unknown)}; choose from {", ".join(TASK_NAMES)}.')
  tasks = {}
  fashion = None
  for name in names:
    if name == 'mnist_mlp':
      pair = mnist_input.load_file_pair(data_dir, 'train')
      x = mnist_input.normalise(pair['inputs'])[:max_examples]
      tasks[name] = Task(name, *_mlp(jax.nn.sigmoid), x, pair['targets'][:max_examples])
      continue
    fashion = fashion if fashion is not None else _fashion(data_dir)
    x, y = fashion['images'][:max_examples], fashion['labels'][:max_examples]
    if name == 'fashion_mlp':
      tasks[name] = Task(name, *_mlp(jax.nn.relu), np.ascontiguousarray(x[:, 2:30, 2:30, :1]), y)
    else:
      tasks[name] = Task(name, *_convnet(), x, y)
  return tasks


def describe(tasks: Dict[str, Task]) -> Dict[str, dict]:
  return {name: {'examples': int(len(t.labels)), 'input_shape': list(t.inputs.shape[1:])}
          for name, t in tasks.items()}
