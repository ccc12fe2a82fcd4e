"""Held-out gating, the 4x rule, performance profiles rho(tau) and the score (area / 3)."""
import dataclasses

import numpy as np


def held_out_gating(times, columns, variants, max_ratio):
  """The v0.5 order: variant <- inf if base missed; 4x rule; base <- inf if variant missed.

  `columns` names the columns of `times` (submissions x workloads); `variants` maps base ->
  held-out variant. NaN (e.g. out of memory) counts as a miss. Because the variant is gated
  before the 4x rule, the best time on a variant only counts submissions that reached its base.
  """
  t = np.where(np.isnan(times), np.inf, np.asarray(times, dtype=float))
  index = {name: j for j, name in enumerate(columns)}
  for base, variant in variants.items():
    b, v = index[base], index[variant]
    t[:, v] = np.where(np.isinf(t[:, b]), np.inf, t[:, v])
  t = four_x_rule(t, max_ratio)
  for base, variant in variants.items():
    b, v = index[base], index[variant]
    t[:, b] = np.where(np.isinf(t[:, v]), np.inf, t[:, b])
  return t


def four_x_rule(times, max_ratio=4.0):
  """Times above max_ratio x the column's best become infinite (exactly 4x still counts)."""
  t = np.where(np.isnan(times), np.inf, np.asarray(times, dtype=float))
  if t.size == 0:
    return t
  best = t.min(axis=0, keepdims=True)
  return np.where(t > max_ratio * best, np.inf, t)


def ratios(times):
  """Performance ratios t / best per workload column; inf where a submission missed.

  Ties share ratio 1. A column nobody reached is all inf. A best time of 0 gives ratio 1 to the
  zeros and inf to the rest.
  """
  t = np.where(np.isnan(times), np.inf, np.asarray(times, dtype=float))
  if t.size == 0:
    return t
  best = t.min(axis=0, keepdims=True)
  with np.errstate(divide='ignore', invalid='ignore'):
    r = t / best
  r = np.where(t == best, 1.0, r)
  return np.where(np.isinf(t) | np.isnan(r), np.inf, r)


def taus(tau_min=1.0, tau_max=4.0, num_points=100):
  return np.linspace(tau_min, tau_max, num_points)


def profile(ratio_matrix, tau_grid):
  """rho(tau): fraction of workloads with ratio <= tau, one row per submission."""
  r = np.asarray(ratio_matrix, dtype=float)
  num_workloads = r.shape[1] if r.ndim == 2 else 0
  if num_workloads == 0:
    return np.zeros((r.shape[0], len(tau_grid)))
  hits = r[:, :, None] <= np.asarray(tau_grid)[None, None, :]
  return hits.sum(axis=1) / num_workloads


def score(rho, tau_grid):
  """Area under rho on the grid (trapezoid rule) over the grid width: 1 = fastest everywhere."""
  tau_grid = np.asarray(tau_grid)
  return np.trapezoid(rho, tau_grid, axis=1) / (tau_grid[-1] - tau_grid[0])


@dataclasses.dataclass
class Scores:
  """Everything derived from the median times, for the tables, the plot and the page."""
  submissions: list
  columns: list               # bases then held-out variants
  bases: list
  raw_times: np.ndarray       # medians, before gating (submissions x columns)
  scored_times: np.ndarray    # after gating and the 4x rule (submissions x columns)
  ratios: np.ndarray          # submissions x bases
  taus: np.ndarray
  rho: np.ndarray             # submissions x taus
  scores: np.ndarray          # per submission

  def ranking(self):
    """[(rank, submission, score)], best first; equal scores share a rank."""
    order = sorted(range(len(self.submissions)), key=lambda i: (-self.scores[i], self.submissions[i]))
    ranked, rank = [], 0
    for position, i in enumerate(order):
      if position == 0 or self.scores[i] != self.scores[order[position - 1]]:
        rank = position + 1
      ranked.append((rank, self.submissions[i], float(self.scores[i])))
    return ranked


def score_table(table, rules):
  """Apply the rules to a TimeTable (scoring.aggregate) and compute profiles and scores."""
  scored = held_out_gating(table.times, table.workloads, table.variants, rules.max_ratio)
  base_index = [table.workloads.index(b) for b in table.bases]
  r = ratios(scored[:, base_index])
  grid = taus(rules.tau_min, rules.tau_max, rules.num_tau_points)
  rho = profile(r, grid)
  return Scores(list(table.submissions), list(table.workloads), list(table.bases),
                np.asarray(table.times, dtype=float), scored, r, grid, rho, score(rho, grid))
