"""CIFAR-10 (development workload): ResNet-18 for 32 x 32 images, 11,173,962 parameters.

Framework-neutral: sizes, targets, budgets, output-layer names and the input pipeline. spec/harness.md §3.4,
spec/variants.md §3.
"""
from typing import Dict, Iterator

from algoperf import random_utils as prng
from algoperf import spec
from workloads.cifar import input_pipeline
from workloads.common.base import ReplayableIterator, ScaleConfig, ScaledWorkload


class BaseCifarWorkload(ScaledWorkload):
  SCALES = {
      # Upstream: train[:45000] / train[45000:] / test, eval_train 10,000 training images (upstream's
      # num_eval_train_examples), targets accuracy > 0.85, budget 3,600 s, eval every 600 s, eval bs 1,024.
      'full': ScaleConfig(
          num_train_examples=45_000, num_validation_examples=5_000, num_test_examples=10_000,
          num_eval_train_examples=10_000, eval_batch_size=1_024, validation_target_value=0.85,
          test_target_value=0.85, max_allowed_runtime_sec=3_600, eval_period_time_sec=600, step_hint=4_883),
      # ResNet-18 at a quarter of the width (16-32-64-128) with one BasicBlock per stage, on the Fashion-MNIST
      # build of tools:make_datasets (real 28x28 images zero-padded to 32x32 in the CIFAR-10 pickles); batch 128.
      # Evals on 600 images per split in batches of 300: three 2,000-image splits in batches of 1,000 cost
      # 1.75 s in PyTorch, 55 % of a trial at a tenth of its time to target (300 steps take ~14.5 s); batches
      # above ~300 fall out of cache on a 2-core CPU (5,300 images/s at 200-300, 3,300 at 600-1,000).
      'lite': ScaleConfig(
          num_train_examples=20_000, num_validation_examples=600, num_test_examples=600,
          num_eval_train_examples=600, eval_batch_size=300, batch_size_divisor=1,
          model={'num_filters': 16, 'stage_sizes': (1, 1, 1, 1)}),
      # Unit tests: the 20 real CIFAR-10 images of `make_datasets --source=foolbox` (16 in the data
      # batches, 4 in test_batch); batch 128 / 32 = 4. The budget leaves room for JAX's compile time on a
      # busy CPU: smoke runs are bounded by --max_global_steps.
      'smoke': ScaleConfig(
          num_train_examples=12, num_validation_examples=4, num_test_examples=4, num_eval_train_examples=8,
          eval_batch_size=4, validation_target_value=0.85, test_target_value=0.85,
          max_allowed_runtime_sec=3_600, eval_period_time_sec=1, step_hint=20, batch_size_divisor=32,
          provisional_targets=True,
          model={'num_filters': 8, 'stage_sizes': (1, 1, 1, 1)}),
  }
  target_metric_name = 'accuracy'
  target_metric_minimized = False

  @property
  def loss_type(self) -> spec.LossType:
    return spec.LossType.SOFTMAX_CROSS_ENTROPY

  @property
  def train_mean(self):
    return list(input_pipeline.TRAIN_MEAN)

  @property
  def train_stddev(self):
    return list(input_pipeline.TRAIN_STDDEV)

  @property
  def model_kwargs(self) -> Dict:
    """Widths and depths of this scale (full: ResNet-18, 64 filters, stages 2-2-2-2)."""
    return dict(self.config.model)

  def is_output_params(self, param_key: str) -> bool:
    """The classifier: Flax `Dense_0`, PyTorch `fc` (DDP's `module.` prefix ignored)."""
    if param_key.startswith('module.'):
      param_key = param_key[len('module.'):]
    return 'Dense_0' in param_key or param_key.split('.')[0] == 'fc'

  def _load_splits(self, data_dir: str) -> Dict[str, Dict]:
    if getattr(self, '_splits_dir', None) != data_dir:
      self._splits = input_pipeline.load_splits(data_dir, self.num_train_examples, self.num_validation_examples,
                                                self.num_test_examples, self.num_eval_train_examples)
      self._splits_dir = data_dir
    return self._splits

  def check_data(self, data_dir: str) -> None:
    input_pipeline.check_files(data_dir)
    self._load_splits(data_dir)

  def _build_numpy_queue(self, data_rng: spec.RandomState, split: str, data_dir: str, global_batch_size: int,
                         start_step: int = 0) -> Iterator[Dict]:
    splits = self._load_splits(data_dir)
    if split == 'train':
      return input_pipeline.train_batches(splits['train'], global_batch_size, prng.to_seed(data_rng),
                                          start_step=start_step)
    num_examples = {'eval_train': self.num_eval_train_examples, 'validation': self.num_validation_examples,
                    'test': self.num_test_examples}[split]
    return ReplayableIterator(lambda: input_pipeline.eval_batches(splits[split], global_batch_size, num_examples))
