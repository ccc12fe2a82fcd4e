"""What the Conformer and DeepSpeech workloads share, framework-neutral: data, CTC, WER, targets.

Both train on LibriSpeech with CTC (blank 0) over a SentencePiece vocabulary and are scored by the word
error rate of greedy CTC decoding (lower is better). Eval metrics are 'ctc_loss' (summed CTC over the
target tokens) and 'wer' (corpus word errors over reference words), as upstream.
"""
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np

from algoperf import random_utils as prng
from algoperf import spec
from workloads.common.base import ReplayableIterator, ScaleConfig, ScaledWorkload
from workloads.librispeech_common import input_pipeline
from workloads.librispeech_common import tokenizer as tokenizer_lib
from workloads.librispeech_common import wer as wer_lib
from workloads.librispeech_common.input_pipeline import SpeechDataConfig
from workloads.librispeech_common.specaug import SpecAugConfig

# The data of the reduced scales, shared by both models.
# lite: the utterances of at most 2 s that tools:make_datasets builds (asterisk prompts and LibriVox clips; the
#   JAX models compute on every padded frame, and 2 s instead of 3 s took a lite Conformer step from 0.13 to
#   0.087 s while keeping 287 of the 344 training utterances of at most 3 s, 31 of 41 validation, 35 of 51 test),
#   SentencePiece vocab 128 (it beat 32 and 1024 in held-out WER at equal steps). Batches of 8 (256 / 32):
#   twice the steps of 16 in the same time, which is what gets a CTC model past its all-blank start within
#   minutes.
# smoke: the unit-test fixture (tools/datasets/librispeech.py SMOKE_PROMPTS) up to 1.5 s, which leaves out
#   its two LibriVox clips; vocab 32.
DATA = {
    'full': SpeechDataConfig(max_audio_samples=320_000, max_target_tokens=256, vocab_size=1024),
    'lite': SpeechDataConfig(max_audio_samples=32_000, max_target_tokens=64, vocab_size=128),
    'smoke': SpeechDataConfig(max_audio_samples=24_000, max_target_tokens=16, vocab_size=32),
}
# Sizes, budgets and eval settings of the reduced scales; each workload adds its model and targets.
LITE = ScaleConfig(  # Targets, budget, eval period and step hint: lite_targets.json.
    num_train_examples=287, num_validation_examples=31, num_test_examples=35, num_eval_train_examples=64,
    eval_batch_size=64, batch_size_divisor=32)
SMOKE = ScaleConfig(
    num_train_examples=20, num_validation_examples=6, num_test_examples=6, num_eval_train_examples=8,
    eval_batch_size=8, validation_target_value=0.5, test_target_value=0.5, max_allowed_runtime_sec=60,
    eval_period_time_sec=5, step_hint=100, batch_size_divisor=64, provisional_targets=True)
# The published batch norm averages over ~1,000 steps (momentum 0.999): a sliver of a full-scale run, but
# longer than a whole lite one, whose eval would see statistics still near their initial values.
LITE_BATCH_NORM_MOMENTUM = 0.99
SMOKE_BATCH_NORM_MOMENTUM = 0.9
DEFAULT_DROPOUT_RATE = 0.1  # Upstream's, when the submission passes no dropout_rate.


def group_batch(batch: Dict[str, Any]) -> Dict[str, Any]:
  """Flat device arrays -> upstream's batch: inputs and targets as (values, paddings) pairs, plus weights."""
  return {'inputs': (batch['inputs'], batch['input_paddings']),
          'targets': (batch['targets'], batch['target_paddings']), 'weights': batch['weights']}


class BaseLibriSpeechWorkload(ScaledWorkload):
  """Subclasses set SCALES, DATA (a SpeechDataConfig per scale) and, for variants, VARIANT_TARGETS."""
  DATA: Dict[str, SpeechDataConfig] = DATA
  # Variants: {scale: (validation target, test target)} replacing the scale's targets.
  VARIANT_TARGETS: Dict[str, Tuple[float, float]] = {}
  SPEC_AUG = SpecAugConfig()
  target_metric_name = 'wer'
  target_metric_minimized = True

  def __init__(self, scale: str = 'full', rules_version: str = 'v0.6', tokenizer_vocab_path: Optional[str] = None,
               use_specaug: bool = True, **kwargs) -> None:
    super().__init__(scale=scale, rules_version=rules_version, **kwargs)
    self.tokenizer_vocab_path = tokenizer_vocab_path
    self.use_specaug = use_specaug
    self._splits: Dict[str, input_pipeline.SplitData] = {}
    self._index: Dict[str, list] = {}
    self._data_dir: Optional[str] = None
    self._tokenizer = None

  @property
  def data_config(self) -> SpeechDataConfig:
    return self.DATA[self.scale]

  @property
  def vocab_size(self) -> int:
    return self.data_config.vocab_size

  @property
  def validation_target_value(self) -> float:
    targets = self.VARIANT_TARGETS.get(self.scale)
    return targets[0] if targets else super().validation_target_value

  @property
  def test_target_value(self) -> float:
    targets = self.VARIANT_TARGETS.get(self.scale)
    return targets[1] if targets else super().test_target_value

  @property
  def trim_padding(self) -> bool:
    """The reduced scales' batches are mostly padding: PyTorch skips it in the front end and subsampling (the
    same outputs; pytorch/layers.py). Full scale keeps the published computation."""
    return self.scale != 'full'

  @property
  def loss_type(self) -> spec.LossType:
    return spec.LossType.CTC_LOSS

  @property
  def train_mean(self):
    raise NotImplementedError('LibriSpeech normalises log-mel features inside the model.')

  @property
  def train_stddev(self):
    raise NotImplementedError('LibriSpeech normalises log-mel features inside the model.')

  # Data ------------------------------------------------------------------------------------------

  def tokenizer(self, data_dir: Optional[str] = None):
    """The SentencePiece model: --librispeech_tokenizer_vocab_path, else the dataset's spm_<vocab>.model."""
    if self._tokenizer is None:
      data_dir = data_dir or self._data_dir
      path = self.tokenizer_vocab_path or tokenizer_lib.default_path(data_dir, self.vocab_size)
      processor = tokenizer_lib.load(path)
      if processor.get_piece_size() > self.vocab_size:
        raise ValueError(f'The tokenizer {path} has {processor.get_piece_size()} pieces, more than the '
                         f'{self.vocab_size} outputs of the model at scale {self.scale!r}; use a tokenizer of '
                         f'at most {self.vocab_size} pieces.')
      self._tokenizer = processor
    return self._tokenizer

  def _split(self, data_dir: str, split: str) -> input_pipeline.SplitData:
    """The first N usable utterances of a split (eval_train: of the training split), N from the scale."""
    if self._data_dir != data_dir:
      self._splits, self._index, self._data_dir, self._tokenizer = {}, {}, data_dir, None
    if split not in self._splits:
      source = 'train' if split == 'eval_train' else split
      if source not in self._index:
        self._index[source] = input_pipeline.index_split(data_dir, source, self.tokenizer(data_dir),
                                                         self.data_config)
      utterances = self._index[source]
      needed = {'train': self.num_train_examples, 'eval_train': self.num_eval_train_examples,
                'validation': self.num_validation_examples, 'test': self.num_test_examples}[split]
      if len(utterances) < needed:
        raise ValueError(
            f'{input_pipeline.dataset_dir(data_dir)} holds {len(utterances)} usable {source} utterances (at '
            f'most {self.data_config.max_audio_samples} samples and {self.data_config.max_target_tokens} '
            f'tokens), but scale {self.scale!r} needs {needed}; choose the scale that matches the data '
            '(--scale=lite for the dataset tools:make_datasets builds) or provide LibriSpeech itself.')
      self._splits[split] = input_pipeline.SplitData(utterances[:needed], self.data_config)
    return self._splits[split]

  def check_data(self, data_dir: str) -> None:
    for split in ('train', 'eval_train', 'validation', 'test'):
      self._split(data_dir, split)

  def _build_numpy_queue(self, data_rng: spec.RandomState, split: str, data_dir: str, global_batch_size: int,
                         start_step: int = 0) -> Iterator[Dict[str, np.ndarray]]:
    data = self._split(data_dir, split)
    if split == 'train':
      return data.train_batches(global_batch_size, prng.to_seed(data_rng), start_step=start_step)
    num_examples = {'eval_train': self.num_eval_train_examples, 'validation': self.num_validation_examples,
                    'test': self.num_test_examples}[split]
    return ReplayableIterator(lambda: data.eval_batches(global_batch_size, num_examples))

  # Metrics ---------------------------------------------------------------------------------------

  def _host_metrics(self, loss_summed, loss_weight, frame_ids, frame_paddings, batch) -> Dict[str, float]:
    """Summed eval metrics of one batch from the model's outputs, fetched to the host."""
    targets, target_paddings = batch['targets']
    errors, words = wer_lib.word_errors(
        np.asarray(frame_ids), np.asarray(frame_paddings), np.asarray(targets), np.asarray(target_paddings),
        np.asarray(batch['weights']), lambda ids: tokenizer_lib.decode(self.tokenizer(), ids))
    return {'ctc_loss_summed': float(loss_summed), 'ctc_loss_weight': float(loss_weight),
            'word_errors': errors, 'num_words': words}

  def _normalize_eval_metrics(self, num_examples: int, total_metrics: Dict[str, float]) -> Dict[str, float]:
    del num_examples
    return {
        'ctc_loss': total_metrics['ctc_loss_summed'] / max(total_metrics['ctc_loss_weight'], 1.0),
        'wer': total_metrics['word_errors'] / max(total_metrics['num_words'], 1.0),
    }
