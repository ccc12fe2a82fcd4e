"""Corpus BLEU (Papineni et al. 2002) with the mteval-v13a tokenisation: our own implementation.

Written from the definition sacreBLEU uses for WMT: case-sensitive 13a tokens, n-grams up to 4, one
reference per sentence, clipped n-gram matches and totals summed over the corpus, geometric mean of
the 4 precisions times the brevity penalty exp(1 - r/c) when the system output is shorter, on a 0-100
scale. Precisions that are 0 are smoothed with 'exp' (the k-th zero precision becomes 1/(2^k * total)),
sacreBLEU's corpus default. Statistics add across batches (and across DDP ranks), so a workload sums
`sentence_stats` per eval batch and calls `score` once per split.
"""
import collections
import math
import re
from typing import Dict, Iterable, List, Sequence

MAX_ORDER = 4
STAT_KEYS = (['bleu_hyp_len', 'bleu_ref_len'] + [f'bleu_match_{n}' for n in range(1, MAX_ORDER + 1)] +
             [f'bleu_total_{n}' for n in range(1, MAX_ORDER + 1)])

# mteval-v13a: symbols are split off (not ' or -); '.' and ',' unless inside a number; '-' after a digit.
_V13A_RULES = (
    (re.compile(r'([\{-\~\[-\` -\&\(-\+\:-\@\/])'), r' \1 '),
    (re.compile(r'([^0-9])([\.,])'), r'\1 \2 '),
    (re.compile(r'([\.,])([^0-9])'), r' \1 \2'),
    (re.compile(r'([0-9])(-)'), r'\1 \2 '),
)


def tokenize_13a(line: str) -> List[str]:
  line = line.replace('<skipped>', '').replace('-\n', '').replace('\n', ' ')
  if '&' in line:
    line = line.replace('&quot;', '"').replace('&amp;', '&').replace('&lt;', '<').replace('&gt;', '>')
  line = f' {line} '
  for pattern, replacement in _V13A_RULES:
    line = pattern.sub(replacement, line)
  return line.split()


def _ngrams(tokens: Sequence[str], n: int) -> collections.Counter:
  return collections.Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def sentence_stats(hypothesis: str, reference: str) -> Dict[str, int]:
  """The additive BLEU statistics of one (hypothesis, reference) pair."""
  hyp, ref = tokenize_13a(hypothesis), tokenize_13a(reference)
  stats = {'bleu_hyp_len': len(hyp), 'bleu_ref_len': len(ref)}
  for n in range(1, MAX_ORDER + 1):
    hyp_counts, ref_counts = _ngrams(hyp, n), _ngrams(ref, n)
    stats[f'bleu_match_{n}'] = sum(min(count, ref_counts[gram]) for gram, count in hyp_counts.items())
    stats[f'bleu_total_{n}'] = max(len(hyp) - n + 1, 0)
  return stats


def corpus_stats(hypotheses: Iterable[str], references: Iterable[str]) -> Dict[str, int]:
  totals = dict.fromkeys(STAT_KEYS, 0)
  for hypothesis, reference in zip(hypotheses, references):
    for key, value in sentence_stats(hypothesis, reference).items():
      totals[key] += value
  return totals


def score(stats: Dict[str, float], smooth: str = 'exp') -> float:
  """BLEU (0-100) from summed statistics; `smooth` is 'exp' or 'none' (any zero precision gives 0)."""
  if smooth not in ('exp', 'none'):
    raise ValueError(f'Unknown BLEU smoothing {smooth!r}; use "exp" or "none".')
  hyp_len, ref_len = stats['bleu_hyp_len'], stats['bleu_ref_len']
  if hyp_len == 0:
    return 0.0
  log_precisions, zeros = [], 0
  for n in range(1, MAX_ORDER + 1):
    match, total = stats[f'bleu_match_{n}'], stats[f'bleu_total_{n}']
    if total == 0:  # Every hypothesis is shorter than n tokens: no n-gram evidence at all.
      return 0.0
    if match == 0:
      if smooth == 'none':
        return 0.0
      zeros += 1
      log_precisions.append(math.log(1.0 / (2**zeros * total)))
    else:
      log_precisions.append(math.log(match / total))
  brevity = 1.0 if hyp_len >= ref_len else math.exp(1.0 - ref_len / hyp_len)
  return 100.0 * brevity * math.exp(sum(log_precisions) / MAX_ORDER)


def corpus_bleu(hypotheses: Iterable[str], references: Iterable[str], smooth: str = 'exp') -> float:
  return score(corpus_stats(hypotheses, references), smooth)
