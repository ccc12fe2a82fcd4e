"""WMT corpus BLEU pinned to a two-sentence corpus worked out on paper, through the workload's aggregation.

The convention (harness.md, wmt: corpus BLEU, an in-repo port of what sacreBLEU computed; sacreBLEU's
corpus defaults): mteval-13a tokens, case-sensitive, n = 1..4, clipped n-gram matches and n-gram totals
summed over the corpus, a zero precision smoothed 'exp' (the k-th zero precision counts as 1 / (2^k total)),
the brevity penalty exp(1 - r/c) from the corpus lengths when c < r, on a 0-100 scale.

Sentence 1: hypothesis 'the the the cat' -> the the the cat (4 tokens);
            reference 'the cat is on the mat.' -> the cat is on the mat . (7 tokens: '.' split off).
  1-grams: the x3 (clipped to the reference's 2), cat x1: 3 matches of 4.
  2-grams: 'the the' x2 (not in the reference), 'the cat': 1 of 3.
  3-grams: 'the the the', 'the the cat': 0 of 2.      4-grams: 'the the the cat': 0 of 1.
Sentence 2: hypothesis 'a dog runs, fast!' -> a dog runs , fast ! (6 tokens);
            reference 'a dog runs fast!' -> a dog runs fast ! (5 tokens).
  1-grams: all but ',': 5 of 6.
  2-grams: 'a dog', 'dog runs', 'fast !' of (a dog, dog runs, runs ',', ', fast', fast !): 3 of 5.
  3-grams: 'a dog runs' of 4: 1 of 4.       4-grams: none of 3: 0 of 3.
Corpus: c = 4 + 6 = 10, r = 7 + 5 = 12.
  p1 = 8/10, p2 = 4/8, p3 = 1/6, p4 = 0/4 -> the first zero: 1 / (2 * 4) = 1/8.
  p1 p2 p3 p4 = 0.8 * 0.5 * (1/6) * (1/8) = 1/120.
  BP = exp(1 - 12/10) = exp(-0.2) = 0.8187307...
  BLEU = 100 * exp(-0.2) * (1/120)^(1/4) = 100 * 0.8187307 * 0.3021375 = 24.7369...
For contrast: no brevity penalty gives 30.21; unclipped 1-grams (9/10) give 25.5; sentence-level brevity
penalties or an average of sentence BLEUs give other values again.
"""
import math

import pytest

from workloads.wmt import bleu
from workloads.wmt.workload import BaseWmtWorkload

HYPOTHESES = ['the the the cat', 'a dog runs, fast!']
REFERENCES = ['the cat is on the mat.', 'a dog runs fast!']
SENTENCE_STATS = [
    {'bleu_hyp_len': 4, 'bleu_ref_len': 7, 'bleu_match_1': 3, 'bleu_total_1': 4, 'bleu_match_2': 1,
     'bleu_total_2': 3, 'bleu_match_3': 0, 'bleu_total_3': 2, 'bleu_match_4': 0, 'bleu_total_4': 1},
    {'bleu_hyp_len': 6, 'bleu_ref_len': 5, 'bleu_match_1': 5, 'bleu_total_1': 6, 'bleu_match_2': 3,
     'bleu_total_2': 5, 'bleu_match_3': 1, 'bleu_total_3': 4, 'bleu_match_4': 0, 'bleu_total_4': 3},
]
EXPECTED = 100 * math.exp(1 - 12 / 10) * (1 / 120)**0.25


@pytest.mark.parametrize('index', [0, 1])
def test_sentence_statistics_by_hand(index):
  assert bleu.sentence_stats(HYPOTHESES[index], REFERENCES[index]) == SENTENCE_STATS[index]


def test_corpus_bleu_by_hand():
  assert bleu.corpus_bleu(HYPOTHESES, REFERENCES) == pytest.approx(EXPECTED, rel=1e-12)
  assert bleu.corpus_bleu(HYPOTHESES, REFERENCES) == pytest.approx(24.7369, abs=1e-4)  # The paper value.


def test_corpus_bleu_by_hand_through_the_workload_eval_aggregation():
  """One sentence per eval batch: the eval loop sums the batches' statistics, the workload scores the sum."""
  totals = {'loss': 0.0, 'accuracy': 0.0, 'denominator': 1.0}
  for hypothesis, reference in zip(HYPOTHESES, REFERENCES):
    for key, value in bleu.corpus_stats([hypothesis], [reference]).items():
      totals[key] = totals.get(key, 0.0) + float(value)
  metrics = BaseWmtWorkload._normalize_eval_metrics(None, 2, totals)  # pylint: disable=protected-access
  assert metrics['bleu'] == pytest.approx(EXPECTED, rel=1e-12)
