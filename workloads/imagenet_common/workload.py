"""What the ImageNet workloads share, framework-neutral: data, preprocessing sizes, loss type and metric.

The ResNet-50 and ViT-S/16 workloads differ in their models, targets and budgets and in the ViT's extra
augmentation (RandAugment + mixup); everything else is here. A held-out variant is a subclass that changes
only what it changes: `MODEL_OVERRIDES` (merged into the scale's model kwargs) and its targets
(`with_targets`).
"""
import dataclasses
import re
from typing import Any, Dict, Iterator, Mapping, Tuple

from algoperf import data_utils
from algoperf import random_utils as prng
from algoperf import spec
from workloads.common.base import ScaleConfig, ScaledWorkload
from workloads.imagenet_common import input_pipeline
from workloads.imagenet_common import transforms

# (model resolution, eval resize of the shorter side): 224 / 256 at full scale, the same 7:8 ratio below.
IMAGE_SIZES = {'full': (224, 256), 'lite': (32, 36), 'smoke': (32, 36)}
# The lite data of both ImageNet models: the Fashion-MNIST images that tools:make_datasets writes as ImageNet
# folders (10 wnids, 28x28 JPEGs), baseline batches of 1024 / 16 = 64. Evals on a fixed random 600 of the 2,000
# validation and test images (and 600 train images), in batches of 300: the three 2,000-image splits cost
# 0.68-0.74 s, 35-45 % of a trial at the protocol's eval period (a tenth of the time to target); 600 images in
# one batch cost 0.19-0.21 s (ViT: 24 %), and in two batches of 300 ~45 % less (ViT, JAX), since a batch of
# 600 falls out of a 2-core CPU's caches.
LITE_DATA = {'num_train_examples': 60_000, 'num_validation_examples': 600, 'num_test_examples': 600,
             'eval_batch_size': 300, 'batch_size_divisor': 16}


def with_targets(scales: Mapping[str, ScaleConfig], targets: Mapping[str, Tuple[float, float]]
                 ) -> Dict[str, ScaleConfig]:
  """A variant's scales: the base's, with (validation, test) targets replaced where given."""
  out = dict(scales)
  for scale, (validation, test) in targets.items():
    out[scale] = dataclasses.replace(scales[scale], validation_target_value=validation, test_target_value=test)
  return out


def param_name_tokens(param_key: Any) -> Tuple[str, ...]:
  """'fc.weight', "['Dense_0']['kernel']", ('head', 'bias') -> name pieces, without a DDP 'module.' prefix."""
  if isinstance(param_key, (tuple, list)):
    param_key = '/'.join(str(getattr(p, 'key', p)) for p in param_key)
  tokens = tuple(t for t in re.split(r"[^\w]+", str(param_key)) if t)
  return tokens[1:] if tokens[:1] == ('module',) else tokens


class BaseImagenetWorkload(ScaledWorkload):
  """ImageNet classification: top-1 accuracy, softmax cross-entropy, JPEG folders on disk."""
  target_metric_name = 'accuracy'
  target_metric_minimized = False
  MODEL_OVERRIDES: Mapping[str, Any] = {}
  use_randaug = False
  use_mixup = False

  @property
  def loss_type(self) -> spec.LossType:
    return spec.LossType.SOFTMAX_CROSS_ENTROPY

  @property
  def train_mean(self):
    return transforms.MEAN_RGB.tolist()

  @property
  def train_stddev(self):
    return transforms.STDDEV_RGB.tolist()

  @property
  def image_size(self) -> int:
    return IMAGE_SIZES[self.scale][0]

  @property
  def resize_size(self) -> int:
    return IMAGE_SIZES[self.scale][1]

  @property
  def model_kwargs(self) -> Dict[str, Any]:
    return {**self.config.model, **self.MODEL_OVERRIDES}

  @property
  def num_classes(self) -> int:
    return self.model_kwargs['num_classes']

  def _pipeline(self, data_dir: str) -> input_pipeline.ImagenetPipeline:
    if not hasattr(self, '_pipelines'):
      self._pipelines = {}
    if data_dir not in self._pipelines:
      self._pipelines[data_dir] = input_pipeline.ImagenetPipeline(
          data_dir, self.image_size, self.resize_size, self.num_classes, self.use_randaug, self.use_mixup)
    return self._pipelines[data_dir]

  def check_data(self, data_dir: str) -> None:
    """Every split this scale reads exists and is large enough (full-scale ImageNet-v2 may sit elsewhere)."""
    pipeline = self._pipeline(data_dir)
    pipeline.check_classes()
    pipeline.eval_files('eval_train', self.num_train_examples)
    pipeline.eval_files('validation', self.num_validation_examples)
    if self.scale != 'full':
      pipeline.eval_files('test', self.num_test_examples)

  def _build_numpy_queue(self, data_rng: spec.RandomState, split: str, data_dir: str, global_batch_size: int,
                         start_step: int = 0) -> Iterator[Dict]:
    pipeline = self._pipeline(data_dir)
    if split == 'train':
      # Decoding and augmenting the next batches on a background thread overlaps them with the step.
      return data_utils.prefetch(pipeline.train_batches(self.num_train_examples, global_batch_size,
                                                        prng.to_seed(data_rng), start_step=start_step), size=2)
    num_examples = {'eval_train': self.num_eval_train_examples, 'validation': self.num_validation_examples,
                    'test': self.num_test_examples}[split]
    return pipeline.eval_batches(split, num_examples, global_batch_size)
