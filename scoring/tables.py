"""The leaderboard as CSV files and Markdown; cell formatting shared with the HTML page."""
import csv
import math

INF = '\u221e'


def format_seconds(t):
  if not math.isfinite(t):
    return INF
  return f'{t:,.0f}' if abs(t) >= 100 else f'{t:.3g}'


def format_ratio(r):
  return INF if not math.isfinite(r) else f'{r:.2f}\u00d7'


def cell(scoring, i, j):
  """(text, note) of the time cell of submission i, column j: time and ratio, or why it is inf."""
  result = scoring.result
  raw, scored = result.raw_times[i, j], result.scored_times[i, j]
  column = result.columns[j]
  if math.isfinite(scored):
    if column in result.bases:
      ratio = result.ratios[i, result.bases.index(column)]
      return f'{format_seconds(scored)} ({format_ratio(ratio)})', ''
    return format_seconds(scored), ''
  if math.isfinite(raw):
    return f'{INF} (was {format_seconds(raw)})', 'removed by the 4x rule or its held-out variant'
  return INF, ''


def _rows(path, header, rows):
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow(header)
    writer.writerows(rows)


def _number(x):
  return 'inf' if math.isinf(x) else repr(float(x))


def write_scores_csv(path, scoring):
  _rows(path, ['submission', 'score'], [[s, repr(v)] for _, s, v in scoring.result.ranking()])


def write_time_to_targets_csv(path, scoring):
  """Long format: raw median time, time after the rules, and ratio to the best (bases only)."""
  result = scoring.result
  rows = []
  for i, sub in enumerate(result.submissions):
    for j, wl in enumerate(result.columns):
      base = wl in result.bases
      ratio = _number(result.ratios[i, result.bases.index(wl)]) if base else ''
      rows.append([sub, wl, 'base' if base else 'held_out', _number(result.raw_times[i, j]),
                   _number(result.scored_times[i, j]), ratio])
  _rows(path, ['submission', 'workload', 'role', 'time_sec', 'scored_time_sec', 'ratio'], rows)


def write_profiles_csv(path, scoring):
  """One row per tau, one column per submission: rho(tau)."""
  result = scoring.result
  rows = [[repr(float(tau))] + [repr(float(result.rho[i, k])) for i in range(len(result.submissions))]
          for k, tau in enumerate(result.taus)]
  _rows(path, ['tau'] + list(result.submissions), rows)


def _md_table(header, rows, align):
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '|'.join(align) + '|']
  lines += ['| ' + ' | '.join(str(c).replace('|', '\\|') for c in row) + ' |' for row in rows]
  return '\n'.join(lines)


def summary_lines(scoring):
  """Plain sentences about what was scored and how; shared by the Markdown and the HTML page."""
  rules, options, table = scoring.rules, scoring.options, scoring.table
  lines = [
      f'Input: {scoring.source}.',
      f'Rules {rules.version}, {scoring.ruleset} tuning: {options["num_studies"]} studies of '
      f'{options["num_trials"]} trial(s); {len(table.bases)} scored workloads'
      + (f' (held-out variants: {", ".join(table.variants.values())})' if table.variants else '') + '.',
      f'Score = area under rho(tau) on [{rules.tau_min:g}, {rules.tau_max:g}] / '
      f'{rules.tau_max - rules.tau_min:g} ({rules.num_tau_points}-point trapezoid rule); '
      'it is relative to the submissions scored together.',
      f'Best trial of a study chosen by {options["best_trial_by"]}'
      + (' (upstream\'s choice)' if options['best_trial_by'] == 'eval_index' else '')
      + ('; targets reached after the budget do not count' if options['enforce_budget'] else '')
      + f'; frameworks: {options["framework"]}.',
  ]
  if table.ignored:
    lines.append(f'Not scored under these rules: {", ".join(table.ignored)}.')
  return lines


def markdown(scoring, profile_png_name):
  result = scoring.result
  parts = [f'# AlgoPerf leaderboard ({scoring.rules.version}, {scoring.ruleset} tuning)', '']
  parts += [f'- {line}' for line in summary_lines(scoring)] + ['']
  parts += ['## Scores', '', _md_table(
      ['Rank', 'Submission', 'Score'],
      [[rank, sub, f'{value:.4f}'] for rank, sub, value in result.ranking()],
      ['---:', '---', '---:']), '']
  parts += ['## Time to target', '',
            'Seconds of submission time (median over studies), with the ratio to the best '
            f'submission on each workload; {INF} means the target was not reached under the rules.', '']
  order = [sub for _, sub, _ in result.ranking()]
  rows = []
  for sub in order:
    i = result.submissions.index(sub)
    rows.append([sub] + [cell(scoring, i, j)[0] for j in range(len(result.columns))])
  parts += [_md_table(['Submission'] + result.columns, rows,
                      ['---'] + ['---:'] * len(result.columns)), '']
  parts += ['## Performance profiles', '', f'![Performance profiles]({profile_png_name})', '']
  if scoring.warnings:
    parts += ['## Warnings', ''] + [f'- {w}' for w in scoring.warnings] + ['']
  return '\n'.join(parts)
