"""MNIST (development workload): an MLP 784-128-10 with a sigmoid, on real handwritten digits.

Framework-neutral: sizes, targets, budgets and the input pipeline. spec/harness.md §3.4.
"""
from typing import Dict, Iterator, Optional

from algoperf import random_utils as prng
from algoperf import spec
from workloads.common import array_pipeline
from workloads.common.base import ReplayableIterator, ScaleConfig, ScaledWorkload
from workloads.mnist import input_pipeline


class BaseMnistWorkload(ScaledWorkload):
  SCALES = {
      # Upstream: train[:50000] / train[50000:] / t10k, eval batch 10,000, targets accuracy > 0.97.
      'full': ScaleConfig(
          num_train_examples=50_000, num_validation_examples=10_000, num_test_examples=10_000,
          eval_batch_size=10_000, validation_target_value=0.97, test_target_value=0.97,
          max_allowed_runtime_sec=60, eval_period_time_sec=10, step_hint=7_813),
      # The 10,000 distinct real digits of tools:make_datasets (8,000 in the train file, 2,000 in t10k).
      'lite': ScaleConfig(
          num_train_examples=7_000, num_validation_examples=1_000, num_test_examples=2_000,
          eval_batch_size=2_000),
      # Unit tests: a slice of the digits that any build of the dataset holds. The targets are the
      # published ones, out of reach here, so that tests control when a run stops.
      'smoke': ScaleConfig(
          num_train_examples=2_000, num_validation_examples=500, num_test_examples=500,
          eval_batch_size=500, validation_target_value=0.97, test_target_value=0.97,
          max_allowed_runtime_sec=600, eval_period_time_sec=1, step_hint=500,
          provisional_targets=True),
  }
  target_metric_name = 'accuracy'
  target_metric_minimized = False

  @property
  def loss_type(self) -> spec.LossType:
    return spec.LossType.SOFTMAX_CROSS_ENTROPY

  @property
  def train_mean(self) -> float:
    return input_pipeline.TRAIN_MEAN

  @property
  def train_stddev(self) -> float:
    return input_pipeline.TRAIN_STDDEV

  def is_output_params(self, param_key: str) -> bool:
    return 'Dense_1' in param_key or param_key.startswith('net.layer2') or param_key.startswith('layer2')

  def _load_splits(self, data_dir: str) -> Dict[str, Dict]:
    if not hasattr(self, '_splits') or self._splits_dir != data_dir:
      self._splits = input_pipeline.load_splits(
          data_dir, self.num_train_examples, self.num_validation_examples, self.num_test_examples)
      self._splits_dir = data_dir
    return self._splits

  def check_data(self, data_dir: str) -> None:
    self._load_splits(data_dir)

  def _build_numpy_queue(self, data_rng: spec.RandomState, split: str, data_dir: str, global_batch_size: int,
                         start_step: int = 0) -> Iterator[Dict]:
    splits = self._load_splits(data_dir)
    if split == 'train':
      return array_pipeline.train_batches(
          splits['train'], global_batch_size, prng.to_seed(data_rng), start_step=start_step)
    num_examples = {'eval_train': self.num_eval_train_examples, 'validation': self.num_validation_examples,
                    'test': self.num_test_examples}[split]
    return ReplayableIterator(lambda: array_pipeline.eval_batches(splits[split], global_batch_size, num_examples))
