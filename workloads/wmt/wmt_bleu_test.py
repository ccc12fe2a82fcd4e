"""Our corpus BLEU against hand-computed cases (13a tokens, clipped n-grams, brevity penalty, smoothing)."""
import math

import pytest

from workloads.wmt import bleu


@pytest.mark.parametrize('line, tokens', [
    ('Hello, world.', ['Hello', ',', 'world', '.']),
    ('3.5 and 1,000 items', ['3.5', 'and', '1,000', 'items']),
    ('state-of-the-art', ['state-of-the-art']),
    ('pages 5-6', ['pages', '5', '-', '6']),
    ("don't (really)", ["don't", '(', 'really', ')']),
    ('a &amp; b: c/d', ['a', '&', 'b', ':', 'c', '/', 'd']),
    ('100% $5 #1!', ['100', '%', '$', '5', '#', '1', '!']),
])
def test_13a_tokenisation(line, tokens):
  assert bleu.tokenize_13a(line) == tokens


def test_identical_output_scores_100():
  assert bleu.corpus_bleu(['the cat sat on the mat'], ['the cat sat on the mat']) == pytest.approx(100.0)


def test_one_substitution_by_hand():
  # Clipped matches: 1-grams 5/6 ('the' once), 2-grams 3/5, 3-grams 2/4, 4-grams 1/3; same length.
  expected = 100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3)**0.25  # = 100 / 12 ** 0.25 = 53.7285...
  assert bleu.corpus_bleu(['the cat sat on a mat'], ['the cat sat on the mat']) == pytest.approx(expected)
  assert expected == pytest.approx(53.7285, abs=1e-4)


def test_clipping_counts_a_reference_word_once_per_occurrence():
  stats = bleu.sentence_stats('the the the the', 'the cat')
  assert stats['bleu_match_1'] == 1 and stats['bleu_total_1'] == 4
  assert stats['bleu_match_2'] == 0 and stats['bleu_total_4'] == 1


def test_brevity_penalty_is_corpus_level():
  # All n-grams match; 8 hypothesis vs 9 reference tokens over the corpus: BP = exp(1 - 9/8).
  score = bleu.corpus_bleu(['the cat sat on the mat', 'a dog'], ['the cat sat on the mat', 'a dog ran'])
  assert score == pytest.approx(100 * math.exp(1 - 9 / 8))
  assert score == pytest.approx(88.2497, abs=1e-4)


def test_zero_precisions_are_smoothed_exponentially():
  # 1-grams 3/4, 2-grams 1/3, 3-grams 0/2 -> 1/(2*2), 4-grams 0/1 -> 1/(4*1): (3/192) ** 0.25.
  assert bleu.corpus_bleu(['a b c d'], ['a b x d']) == pytest.approx(100 * (3 / 192)**0.25)
  assert bleu.corpus_bleu(['a b c d'], ['a b x d'], smooth='none') == 0.0


def test_degenerate_outputs_score_0():
  assert bleu.corpus_bleu([''], ['a reference']) == 0.0
  assert bleu.corpus_bleu(['too short'], ['too short']) == 0.0  # No 3- or 4-grams at all.


def test_statistics_add_across_batches():
  hyps = ['the cat sat on a mat', 'a dog ran off', 'nothing matches here']
  refs = ['the cat sat on the mat', 'a dog ran away', 'something else entirely']
  totals = dict.fromkeys(bleu.STAT_KEYS, 0)
  for hyp, ref in zip(hyps, refs):
    for key, value in bleu.corpus_stats([hyp], [ref]).items():
      totals[key] += value
  assert totals == bleu.corpus_stats(hyps, refs)
  assert bleu.score(totals) == pytest.approx(bleu.corpus_bleu(hyps, refs))
  assert 0.0 < bleu.score(totals) < 100.0
