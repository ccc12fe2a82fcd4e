"""LibriSpeech WER and CTC loss pinned to cases worked out on paper (not one framework against the other).

WER (harness.md, librispeech_conformer): greedy CTC decode, then word-level Levenshtein distance
(substitution, insertion, deletion each cost 1); the eval's 'wer' is corpus-level: the sum of word edits
over the sum of reference words, across utterances and batches (not a mean of per-utterance rates).

CTC (blank 0, optax.ctc_loss / torch.nn.functional.ctc_loss): -log of the summed probability of every
frame labelling that collapses (merge repeats, then drop blanks) to the target.
"""
import math

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from workloads.librispeech_common import wer
from workloads.librispeech_common.jax import layers as jax_layers
from workloads.librispeech_common.pytorch import layers as torch_layers
from workloads.librispeech_common.workload import BaseLibriSpeechWorkload

# WER ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize('hypothesis, reference, edits', [
    ('the cat sat', 'the cat sat', 0),
    ('the dog sat', 'the cat sat', 1),  # cat -> dog: 1 substitution.
    ('the big cat sat', 'the cat sat', 1),  # 'big' inserted.
    ('the sat', 'the cat sat', 1),  # 'cat' deleted.
    ('', 'the cat sat', 3),  # 3 deletions.
    ('the cat sat', '', 3),  # 3 insertions.
    ('cat the', 'the cat', 2),  # No transpositions: 2 substitutions (or 1 deletion + 1 insertion).
    # 'the' deleted, 'sat' -> 'sit', 'down' inserted: 3. Not 2: 1 deletion + 1 insertion would leave 'cat sit
    # on the mat' against 'cat sat on the mat', and 2 substitutions keep the 6 words in place, where none match.
    ('cat sit on the mat down', 'the cat sat on the mat', 3),
])
def test_edit_distance_by_hand(hypothesis, reference, edits):
  assert wer.edit_distance(hypothesis.split(), reference.split()) == edits


WORDS = {1: 'the', 2: 'cat', 3: 'sat', 4: 'on', 5: 'mat', 6: 'yes', 7: 'no'}


def _detokenize(ids):
  return ' '.join(WORDS[int(i)] for i in ids)


def _batch(rows):
  """A batch of (frame ids, target ids, weight) rows, padded with id 0 and paddings 1."""
  frames = max(len(r[0]) for r in rows)
  tokens = max(len(r[1]) for r in rows)
  frame_ids = np.zeros((len(rows), frames), np.int32)
  frame_paddings = np.ones((len(rows), frames), np.float32)
  targets = np.zeros((len(rows), tokens), np.int32)
  target_paddings = np.ones((len(rows), tokens), np.float32)
  for i, (f, t, _) in enumerate(rows):
    frame_ids[i, :len(f)], frame_paddings[i, :len(f)] = f, 0.0
    targets[i, :len(t)], target_paddings[i, :len(t)] = t, 0.0
  weights = np.array([r[2] for r in rows], np.float32)
  return frame_ids, frame_paddings, targets, target_paddings, weights


def test_word_errors_of_a_batch_by_hand():
  rows = [
      # Frames 1 1 0 2 3 -> 'the cat sat' (repeat merged, blank dropped); reference 'the cat sat': 0 edits.
      ([1, 1, 0, 2, 3], [1, 2, 3], 1.0),
      # Frames 6 0 6 -> 'yes yes' (the blank separates the repeat); reference 'no': 1 substitution and
      # 1 insertion = 2 edits over 1 word.
      ([6, 0, 6], [7], 1.0),
      # Frames 2 5 -> 'cat mat'; reference 'the cat sat on the mat': 4 deletions ('the', 'sat', 'on', 'the').
      ([2, 5], [1, 2, 3, 4, 1, 5], 1.0),
      # A padding row (weight 0): not counted, though it would add 1 edit and 1 word.
      ([7], [6], 0.0),
  ]
  errors, words = wer.word_errors(*_batch(rows), _detokenize)
  assert (errors, words) == (6.0, 10.0)  # 0 + 2 + 4 edits; 3 + 1 + 6 reference words.


def test_wer_is_corpus_level_across_utterances_and_batches():
  # Batch 1: 'no' for 'yes' (1 edit / 1 word, a per-utterance rate of 1.0);
  #          'the cat sat on the mat' exactly (0 edits / 6 words).
  # Batch 2: 'the cat on the mat' for 'the cat sat on the mat' (1 deletion / 6 words).
  # Corpus WER = (1 + 0 + 1) / (1 + 6 + 6) = 2/13 = 0.1538...; a mean of per-utterance rates would be
  # (1 + 0 + 1/6) / 3 = 0.3889, and a mean of per-batch rates (1/7 + 1/6) / 2 = 0.1548.
  batch_1 = [([7], [6], 1.0), ([1, 2, 3, 0, 4, 1, 5], [1, 2, 3, 4, 1, 5], 1.0)]
  batch_2 = [([1, 2, 4, 1, 5], [1, 2, 3, 4, 1, 5], 1.0), ([6], [7], 0.0)]
  totals = {'ctc_loss_summed': 0.0, 'ctc_loss_weight': 1.0, 'word_errors': 0.0, 'num_words': 0.0}
  for rows in (batch_1, batch_2):  # Summed per batch, as the eval loop sums every batch's metrics.
    errors, words = wer.word_errors(*_batch(rows), _detokenize)
    totals['word_errors'] += errors
    totals['num_words'] += words
  # The workload's own normalisation (it reads no workload state).
  metrics = BaseLibriSpeechWorkload._normalize_eval_metrics(None, 3, totals)  # pylint: disable=protected-access
  assert metrics['wer'] == pytest.approx(2 / 13, abs=1e-12)


# CTC ---------------------------------------------------------------------------------------------

# Per-frame probabilities over (blank, a, b); the logits are their logs, so the softmax gives them back.
PROBS = np.array([[0.5, 0.3, 0.2],
                  [0.2, 0.5, 0.3],
                  [0.3, 0.2, 0.5]])


def _ctc_rows():
  """Four utterances of up to 3 frames, with the hand value of each (per_example, before weights)."""
  logits = np.log(np.stack([PROBS] * 4)).astype(np.float32)  # (4, 3, 3)
  logit_paddings = np.array([[0, 0, 0], [0, 0, 0], [0, 0, 1], [0, 0, 0]], np.float32)
  targets = np.array([[1, 2], [1, 1], [2, 0], [1, 2]], np.int32)
  target_paddings = np.array([[0, 0], [0, 0], [0, 1], [0, 0]], np.float32)
  weights = np.array([1, 1, 1, 0], np.float32)
  # Row 0, target 'a b' in 3 frames. Every labelling that collapses to 'ab', with its probability:
  #   a a b  .3 * .5 * .5 = .075      a b b  .3 * .3 * .5 = .045      a b -  .3 * .3 * .3 = .027
  #   a - b  .3 * .2 * .5 = .030      - a b  .5 * .5 * .5 = .125
  #   sum .302, loss -ln(.302) = 1.197328...
  # Row 1, target 'a a': a blank must separate the two a's, so in 3 frames only 'a - a':
  #   .3 * .2 * .2 = .012, loss -ln(.012) = 4.422849... ('a a a' collapses to 'a' and does not count.)
  # Row 2, target 'b', 2 real frames (the third is padding):
  #   b b  .2 * .3 = .06     - b  .5 * .3 = .15     b -  .2 * .2 = .04     sum .25, loss ln 4 = 1.386294...
  # Row 3 is row 0 with weight 0.
  expected = np.array([-math.log(0.302), -math.log(0.012), math.log(4.0), -math.log(0.302)])
  return (logits, logit_paddings, targets, target_paddings, weights), expected


def _jax_ctc(*args):
  loss = jax_layers.ctc_loss(*(jnp.asarray(a) for a in args))
  return {k: np.asarray(v) for k, v in loss.items()}


def _torch_ctc(*args):
  loss = torch_layers.ctc_loss(*(torch.from_numpy(a) for a in args))
  return {k: v.numpy() for k, v in loss.items()}


@pytest.mark.parametrize('ctc_loss', [_jax_ctc, _torch_ctc], ids=['jax', 'pytorch'])
def test_ctc_loss_by_hand(ctc_loss):
  args, expected = _ctc_rows()
  weights = args[-1]
  loss = ctc_loss(*args)
  np.testing.assert_allclose(loss['per_example'], expected * weights, rtol=1e-5)
  # Summed over the weighted rows; normalised by their target tokens: 2 + 2 + 1 = 5.
  np.testing.assert_allclose(float(loss['summed']), -math.log(0.302) - math.log(0.012) + math.log(4.0), rtol=1e-5)
  assert float(loss['n_valid_examples']) == 5.0
