"""fastMRI knee single-coil reconstruction with a U-Net: framework-neutral sizes, targets, budgets and data.

spec/harness.md §3.1-3.3 and spec/variants.md §8. Full scale is the published workload (and its three
held-out variants); lite is the same U-Net family, narrower and shallower, on the 80 x 80 real MR slices
that tools:make_datasets builds; smoke is tiny, for unit tests.
"""
import dataclasses
from typing import Dict, Iterator, Tuple

import numpy as np

from algoperf import data_utils
from algoperf import random_utils as prng
from algoperf import spec
from workloads.common import array_pipeline
from workloads.common.base import ReplayableIterator, ScaleConfig, ScaledWorkload
from workloads.fastmri import input_pipeline

SPLIT_NAMES = ('train', 'eval_train', 'validation', 'test')


class BaseFastMRIWorkload(ScaledWorkload):
  SCALES = {
      # Upstream: 34,742 train slices; the val folder's first 100 volumes (3,554 slices) are validation, the
      # other 99 (3,581) test; eval_train is validation's size rounded up to the eval batch (3,584).
      'full': ScaleConfig(
          num_train_examples=34_742, num_validation_examples=3_554, num_test_examples=3_581,
          num_eval_train_examples=3_584, eval_batch_size=256,
          validation_target_value=0.723653, test_target_value=0.740633,
          max_allowed_runtime_sec=4_430, max_allowed_runtime_sec_v05=8_859,
          step_hint=18_094, step_hint_v05=36_189, eval_period_time_sec=80,
          model={'num_channels': 32, 'num_pool_layers': 4}),
      # The 89 / 10 / 24 real slices of tools:make_datasets (80 x 80 targets), a U-Net of width 4 with 2
      # pools, batch 32 / 4: sized so that a lite trial takes seconds on 2 CPU cores (the quick suite, issue 17).
      'lite': ScaleConfig(
          num_train_examples=89, num_validation_examples=10, num_test_examples=24,
          num_eval_train_examples=16, eval_batch_size=16,
          batch_size_divisor=4, model={'num_channels': 4, 'num_pool_layers': 2}),
      # Unit tests: a few slices, a 2-level U-Net of width 4. Targets out of reach: test runs end at their
      # max_global_steps.
      'smoke': ScaleConfig(
          num_train_examples=32, num_validation_examples=8, num_test_examples=8,
          num_eval_train_examples=8, eval_batch_size=8,
          validation_target_value=0.99, test_target_value=0.99,
          # Generous: tests stop by max_global_steps, and XLA compiles slowly on a busy 2-core machine.
          max_allowed_runtime_sec=600, eval_period_time_sec=1, step_hint=100,
          batch_size_divisor=8, provisional_targets=True,
          model={'num_channels': 4, 'num_pool_layers': 2}),
  }
  # Validation is the first N volumes of the sorted val folder, test the rest (upstream: 100).
  VALIDATION_VOLUMES = {'full': 100, 'lite': 1, 'smoke': 1}
  target_metric_name = 'ssim'
  target_metric_minimized = False
  use_tanh = False
  use_layer_norm = False

  @property
  def num_channels(self) -> int:
    return self.config.model['num_channels']

  @property
  def num_pool_layers(self) -> int:
    return self.config.model['num_pool_layers']

  @property
  def loss_type(self) -> spec.LossType:
    return spec.LossType.MEAN_ABSOLUTE_ERROR

  @property
  def center_fractions(self) -> Tuple[float, ...]:
    return (input_pipeline.CENTER_FRACTION,)

  @property
  def accelerations(self) -> Tuple[int, ...]:
    return (input_pipeline.ACCELERATION,)

  # Data -------------------------------------------------------------------------------------------

  def _split_size(self, split: str) -> int:
    return {'train': self.num_train_examples, 'eval_train': self.num_eval_train_examples,
            'validation': self.num_validation_examples, 'test': self.num_test_examples}[split]

  def _source(self, data_dir: str, split: str) -> input_pipeline.SliceSource:
    """The slices of a split, opened once per data_dir (eval_train shares train's)."""
    key = (data_dir, 'train' if split == 'eval_train' else split)
    sources = self.__dict__.setdefault('_sources', {})
    if key not in sources:
      paths = input_pipeline.split_volumes(data_dir, key[1], self.VALIDATION_VOLUMES[self.scale])
      sources[key] = input_pipeline.SliceSource(paths, self._split_size(key[1]))
    return sources[key]

  def check_data(self, data_dir: str) -> None:
    for split in ('train', 'validation', 'test'):
      self._source(data_dir, split)

  def _build_numpy_queue(self, data_rng: spec.RandomState, split: str, data_dir: str, global_batch_size: int,
                         start_step: int = 0) -> Iterator[Dict[str, np.ndarray]]:
    if split not in SPLIT_NAMES:
      raise ValueError(f'Unknown split {split!r}; use one of {", ".join(SPLIT_NAMES)}.')
    source = self._source(data_dir, split)
    if split == 'train':
      seed = prng.to_seed(data_rng)
      slices = input_pipeline.ProcessedSlices(source, seed)
      return array_pipeline.train_batches(
          {'index': np.arange(len(source))}, global_batch_size, seed, start_step=start_step,
          transform=lambda batch, _: slices.batch(batch['index']))
    num_examples = min(self._split_size(split), len(source))
    slices = input_pipeline.ProcessedSlices(source, seed=None)  # Kept across the replays of every eval.

    def batches():
      for start in range(0, num_examples, global_batch_size):
        rows = range(start, min(start + global_batch_size, num_examples))
        yield data_utils.pad_batch(slices.batch(rows), global_batch_size)

    return ReplayableIterator(batches)


def with_targets(scales: Dict[str, ScaleConfig], targets: Dict[str, Tuple[float, float]]
                 ) -> Dict[str, ScaleConfig]:
  """A variant's scales: the base's with its own (validation, test) targets."""
  return {name: dataclasses.replace(config, validation_target_value=targets[name][0],
                                    test_target_value=targets[name][1]) if name in targets else config
          for name, config in scales.items()}


# The held-out variants, framework-neutral: each framework module mixes one in before its base workload.


class ModelSizeVariant:
  """fastmri_model_size: 64 channels and 3 pool layers at full scale, i.e. twice as wide, one level less."""
  SCALES = with_targets(BaseFastMRIWorkload.SCALES, {
      'full': (0.723559, 0.740726), 'smoke': (0.99, 0.99)})

  @property
  def num_channels(self) -> int:
    return 2 * self.config.model['num_channels']

  @property
  def num_pool_layers(self) -> int:
    return self.config.model['num_pool_layers'] - 1


class TanhVariant:
  """fastmri_tanh: tanh instead of LeakyReLU(0.2) in every conv and transpose-conv block."""
  SCALES = with_targets(BaseFastMRIWorkload.SCALES, {
      'full': (0.717840, 0.734505), 'smoke': (0.99, 0.99)})
  use_tanh = True


class LayerNormVariant:
  """fastmri_layernorm: LayerNorm over (H, W, C) with a per-channel scale and bias in the conv blocks."""
  SCALES = with_targets(BaseFastMRIWorkload.SCALES, {
      'full': (0.723284, 0.739996), 'smoke': (0.99, 0.99)})
  use_layer_norm = True
