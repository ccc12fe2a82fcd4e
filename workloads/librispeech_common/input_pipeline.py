"""LibriSpeech from its original layout: <split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac with
<speaker>-<chapter>.trans.txt, read with soundfile and tokenised with the workload's SentencePiece model.

As upstream: train is train-clean-100 + train-clean-360 + train-other-500, validation is dev-clean +
dev-other, test is test-clean (whichever of them exist). Utterances longer than `max_audio_samples` or
`max_target_tokens` are dropped, and so are those CTC cannot align (more labels, counting the blanks that
repeats need, than output frames). Audio stays int16-valued float32 padded with zeros to
`max_audio_samples`, targets are padded with 0 to `max_target_tokens`; 'input_paddings' and
'target_paddings' are 1 on padding. Rows that only pad an eval batch are all padding, with weight 0.
"""
import dataclasses
import math
import os
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np

from workloads.common import array_pipeline
from workloads.librispeech_common import frontend
from workloads.librispeech_common import tokenizer as tokenizer_lib

TRAIN_FOLDERS = ('train-clean-100', 'train-clean-360', 'train-other-500')
SPLIT_FOLDERS = {
    'train': TRAIN_FOLDERS,
    'eval_train': TRAIN_FOLDERS,
    'validation': ('dev-clean', 'dev-other'),
    'test': ('test-clean',),
}
# Raw audio cached in memory only below this size (our datasets); full LibriSpeech is read file by file.
CACHE_BYTES = 2 << 30


@dataclasses.dataclass(frozen=True)
class SpeechDataConfig:
  max_audio_samples: int
  max_target_tokens: int
  vocab_size: int


@dataclasses.dataclass(frozen=True)
class Utterance:
  utt_id: str
  path: str
  transcript: str
  num_samples: int
  tokens: np.ndarray


def dataset_dir(data_dir: str) -> str:
  return os.path.join(os.path.expanduser(data_dir), 'librispeech')


def _missing(data_dir: str, what: str) -> FileNotFoundError:
  return FileNotFoundError(f'LibriSpeech {what} not found in {dataset_dir(data_dir)}; build the dataset with: '
                           + tokenizer_lib.MAKE_DATASETS.format(data_dir=data_dir))


def read_transcripts(split_dir: str) -> List[tuple]:
  """[(utt_id, flac path, transcript)] of one split folder, in speaker, chapter, utterance order."""
  out = []
  for speaker in sorted(os.listdir(split_dir), key=lambda s: (len(s), s)):
    speaker_dir = os.path.join(split_dir, speaker)
    if not os.path.isdir(speaker_dir):
      continue
    for chapter in sorted(os.listdir(speaker_dir), key=lambda s: (len(s), s)):
      chapter_dir = os.path.join(speaker_dir, chapter)
      trans = os.path.join(chapter_dir, f'{speaker}-{chapter}.trans.txt')
      if not os.path.exists(trans):
        continue
      with open(trans, encoding='utf-8') as f:
        for line in f:
          if line.strip():
            utt_id, _, text = line.strip().partition(' ')
            out.append((utt_id, os.path.join(chapter_dir, utt_id + '.flac'), text))
  return out


def num_output_frames(num_samples: int, max_samples: int) -> int:
  """Valid frames after the front end and the two stride-2 subsampling convs."""
  frames = min(math.ceil(num_samples / frontend.FRAME_STEP), frontend.num_frames(max_samples))
  return math.ceil(math.ceil(frames / 2) / 2)


def ctc_alignable(tokens: np.ndarray, frames: int) -> bool:
  repeats = int(np.sum(tokens[1:] == tokens[:-1])) if len(tokens) > 1 else 0
  return len(tokens) + repeats <= frames


def index_split(data_dir: str, split: str, processor, config: SpeechDataConfig) -> List[Utterance]:
  """The usable utterances of a split (see the module docstring), in a fixed order."""
  import soundfile  # pylint: disable=import-outside-toplevel
  root = dataset_dir(data_dir)
  folders = [os.path.join(root, f) for f in SPLIT_FOLDERS[split] if os.path.isdir(os.path.join(root, f))]
  if not folders:
    raise _missing(data_dir, f'{split} split (any of {", ".join(SPLIT_FOLDERS[split])})')
  utterances = []
  for folder in folders:
    for utt_id, path, text in read_transcripts(folder):
      if not os.path.exists(path):
        continue
      num_samples = soundfile.info(path).frames
      tokens = tokenizer_lib.encode(processor, text)
      if (num_samples <= config.max_audio_samples and 0 < len(tokens) <= config.max_target_tokens and
          ctc_alignable(tokens, num_output_frames(num_samples, config.max_audio_samples))):
        utterances.append(Utterance(utt_id, path, text, num_samples, tokens))
  return utterances


class SplitData:
  """The utterances of one split and the padded batches made of them."""

  def __init__(self, utterances: Sequence[Utterance], config: SpeechDataConfig):
    self.utterances = list(utterances)
    self.config = config
    total_bytes = 2 * sum(u.num_samples for u in self.utterances)
    self._cache: Optional[Dict[int, np.ndarray]] = {} if total_bytes <= CACHE_BYTES else None

  def __len__(self) -> int:
    return len(self.utterances)

  def audio(self, row: int) -> np.ndarray:
    if self._cache is not None and row in self._cache:
      return self._cache[row]
    import soundfile  # pylint: disable=import-outside-toplevel
    audio, rate = soundfile.read(self.utterances[row].path, dtype='int16')
    if rate != frontend.SAMPLE_RATE or audio.ndim != 1:
      raise ValueError(f'{self.utterances[row].path}: expected 16 kHz mono audio, got {rate} Hz, shape '
                       f'{audio.shape}.')
    if self._cache is not None:
      self._cache[row] = audio
    return audio

  def batch(self, rows: np.ndarray, weights: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
    size = len(rows)
    weights = np.ones(size, np.float32) if weights is None else np.asarray(weights, np.float32)
    c = self.config
    inputs = np.zeros((size, c.max_audio_samples), np.float32)
    input_paddings = np.ones((size, c.max_audio_samples), np.float32)
    targets = np.zeros((size, c.max_target_tokens), np.int32)
    target_paddings = np.ones((size, c.max_target_tokens), np.float32)
    for i, (row, weight) in enumerate(zip(rows, weights)):
      if weight <= 0:
        continue
      audio, tokens = self.audio(int(row)), self.utterances[int(row)].tokens
      inputs[i, :len(audio)] = audio
      input_paddings[i, :len(audio)] = 0.0
      targets[i, :len(tokens)] = tokens
      target_paddings[i, :len(tokens)] = 0.0
    return {'inputs': inputs, 'input_paddings': input_paddings, 'targets': targets,
            'target_paddings': target_paddings, 'weights': weights}

  def train_batches(self, batch_size: int, seed: int, start_step: int = 0) -> Iterator[Dict[str, np.ndarray]]:
    """Infinite, reshuffled every epoch; batch k is a pure function of (seed, k)."""
    rows = {'row': np.arange(len(self))}
    return array_pipeline.train_batches(rows, batch_size, seed, start_step,
                                        transform=lambda b, _: self.batch(b['row']))

  def eval_batches(self, batch_size: int, num_examples: int) -> Iterator[Dict[str, np.ndarray]]:
    """The first `num_examples` utterances in order; the last batch is padded with weight-0 rows."""
    for b in array_pipeline.eval_batches({'row': np.arange(len(self))}, batch_size, num_examples):
      yield self.batch(b['row'], b['weights'])
