"""The benchmark's front page, <experiment_dir>/leaderboard/index.html: a link to each ruleset's
leaderboard (scoring/leaderboard.py writes scores.csv, the page and the plots there), its ranking, and with
--compare_kernels the table of time-to-target ratios, kernels on / kernels off, per submission and workload.

The ratio of a cell is the scorer's time of the kernel run over the scorer's time of the ALGOPERF_KERNELS=off
run (each the median over studies of the per-study best time to target, as on the leaderboard): below 1 the
kernels make the submission faster. A side that missed the target has no time; the cell says which.
"""
import csv
import dataclasses
import html
import math
import os
from typing import List, Optional, Sequence

INDEX_FILE = 'index.html'
RATIOS_FILE = 'kernel_ratios.csv'


@dataclasses.dataclass
class Section:
  """One ruleset's entry on the page."""
  ruleset: str
  leaderboard_dir: str
  ranking: List  # [(rank, submission, score)]
  error: str = ''
  ratios: Optional[List] = None  # [(submission, workload, on_sec, off_sec)] with --compare_kernels


def kernel_ratios(on_table, off_table) -> List:
  """(submission, workload, on_sec, off_sec) for every submission and workload the kernels-off run has.

  Tables are scoring.aggregate.TimeTable; times are inf where the target was missed.
  """
  rows = []
  for i, sub in enumerate(off_table.submissions):
    if sub not in on_table.submissions:
      continue
    for j, workload in enumerate(off_table.workloads):
      if workload not in on_table.workloads:
        continue
      on = float(on_table.times[on_table.submissions.index(sub), on_table.workloads.index(workload)])
      rows.append((sub, workload, on, float(off_table.times[i, j])))
  return rows


def ratio_text(on: float, off: float) -> str:
  if math.isfinite(on) and math.isfinite(off):
    return f'{on / off:.3f}'
  if math.isfinite(on):
    return 'off missed'
  if math.isfinite(off):
    return 'on missed'
  return 'both missed'


def write_ratios_csv(path: str, rows: Sequence) -> None:
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow(['submission', 'workload', 'kernels_on_sec', 'kernels_off_sec', 'ratio_on_over_off'])
    for sub, workload, on, off in rows:
      ratio = on / off if math.isfinite(on) and math.isfinite(off) else float('nan')
      writer.writerow([sub, workload, repr(on), repr(off), repr(ratio)])


def _ratio_table(rows: Sequence) -> str:
  workloads = sorted({r[1] for r in rows})
  cells = {(r[0], r[1]): r for r in rows}
  head = ''.join(f'<th>{html.escape(w)}</th>' for w in workloads)
  body = []
  for sub in sorted({r[0] for r in rows}):
    tds = []
    for w in workloads:
      r = cells.get((sub, w))
      if r is None:
        tds.append('<td></td>')
      else:
        title = f'on {r[2]:.1f} s / off {r[3]:.1f} s'
        tds.append(f'<td title="{html.escape(title)}">{html.escape(ratio_text(r[2], r[3]))}</td>')
    body.append(f'<tr><th>{html.escape(sub)}</th>{"".join(tds)}</tr>')
  return (f'<table><tr><th>submission</th>{head}</tr>{"".join(body)}</table>'
          '<p>Time to target with the fused kernels over time to target with ALGOPERF_KERNELS=off (median over '
          'studies of the best trial; below 1: the kernels are faster). Hover a cell for the two times.</p>')


def write_index(leaderboard_root: str, sections: Sequence[Section], title: str, notes: Sequence[str] = ()) -> str:
  """Writes leaderboard_root/index.html with relative links to each section's files; returns its path."""
  os.makedirs(leaderboard_root, exist_ok=True)
  parts = [f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>',
           '<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}'
           'td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}</style></head><body>',
           f'<h1>{html.escape(title)}</h1>']
  parts += [f'<p>{html.escape(n)}</p>' for n in notes]
  for s in sections:
    rel = os.path.relpath(s.leaderboard_dir, leaderboard_root)
    link = lambda name, rel=rel: html.escape(name if rel == '.' else f'{rel}/{name}')  # noqa: E731
    heading = f'{s.ruleset.capitalize()} tuning'
    parts.append(f'<h2>{heading}</h2>')
    if s.error:
      parts.append(f'<p>Not scored: {html.escape(s.error)}</p>')
      continue
    folder = '' if rel == '.' else f' (folder <a href="{html.escape(rel)}/">{html.escape(rel)}/</a>)'
    parts.append(f'<p><a href="{link("leaderboard.html")}">leaderboard page</a> · '
                 f'<a href="{link("scores.csv")}">scores.csv</a> · '
                 f'<a href="{link("time_to_targets.csv")}">time_to_targets.csv</a> · '
                 f'<a href="{link("performance_profile.png")}">performance profiles</a>{folder}</p>')
    rows = ''.join(f'<tr><td>{rank}</td><th>{html.escape(name)}</th><td>{score:.4f}</td></tr>'
                   for rank, name, score in s.ranking)
    parts.append(f'<table><tr><th>rank</th><th>submission</th><th>score</th></tr>{rows}</table>')
    if s.ratios is not None:
      parts.append('<h3>Kernels on / off</h3>')
      parts.append(_ratio_table(s.ratios) if s.ratios else '<p>No kernel-using submission ran.</p>')
      parts.append(f'<p><a href="{link(RATIOS_FILE)}">{RATIOS_FILE}</a></p>')
  parts.append('</body></html>\n')
  path = os.path.join(leaderboard_root, INDEX_FILE)
  with open(path, 'w') as f:
    f.write(''.join(parts))
  return path
