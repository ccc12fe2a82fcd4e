"""leaderboard.html: one self-contained page (inline CSS, images as data URIs, no network)."""
import base64
import html
import math

from scoring import plots
from scoring import tables

# The page may load nothing from anywhere: images come as data URIs, styles are inline.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { font-weight: bold; background: #e8f5e9; }
td.miss { color: #999; }
.summary li { margin: 0.2em 0; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.4em; }
figure { display: inline-block; margin: 0.4em; }
figure img, #performance-profile { max-width: 100%; }
#warnings li { color: #8a4b00; }
"""


def _e(text):
  return html.escape(str(text), quote=True)


def _img(png, alt, element_id=None, css_class=None):
  data = base64.b64encode(png).decode('ascii')
  attrs = f' id="{element_id}"' if element_id else ''
  attrs += f' class="{css_class}"' if css_class else ''
  return f'<img{attrs} alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _scores_table(result, palette):
  rows = []
  for rank, sub, value in result.ranking():
    rows.append(
        f'<tr data-rank="{rank}" data-submission="{_e(sub)}" data-score="{value!r}">'
        f'<td class="num rank">{rank}</td>'
        f'<td class="submission"><span class="swatch" style="background:{palette[sub]}"></span>'
        f'{_e(sub)}</td><td class="num score">{value:.4f}</td></tr>')
  return ('<table id="scores"><thead><tr><th>Rank</th><th>Submission</th><th>Score</th></tr>'
          '</thead><tbody>' + ''.join(rows) + '</tbody></table>')


def _times_table(scoring):
  result = scoring.result
  head = ''.join(f'<th>{_e(c)}</th>' for c in result.columns)
  rows = []
  for _, sub, _ in result.ranking():
    i = result.submissions.index(sub)
    cells = []
    for j in range(len(result.columns)):
      text, note = tables.cell(scoring, i, j)
      scored = result.scored_times[i, j]
      best = math.isfinite(scored) and scored == result.scored_times[:, j].min()
      css = 'num best' if best else ('num miss' if not math.isfinite(scored) else 'num')
      title = f' title="{_e(note)}"' if note else ''
      cells.append(f'<td class="{css}"{title}>{_e(text)}</td>')
    rows.append(f'<tr><td class="submission">{_e(sub)}</td>{"".join(cells)}</tr>')
  return (f'<table id="times"><thead><tr><th>Submission</th>{head}</tr></thead><tbody>'
          + ''.join(rows) + '</tbody></table>')


def _targets_table(scoring):
  rows = []
  for workload in scoring.result.columns:
    target = scoring.targets.get(workload)
    if target is None:
      continue
    budget = tables.format_seconds(target.max_runtime_sec) if math.isfinite(target.max_runtime_sec) else ''
    rows.append(f'<tr><td>{_e(workload)}</td><td>validation/{_e(target.metric)}</td>'
                f'<td>{"&le;" if target.minimize else "&ge;"} {target.validation_target:g}</td>'
                f'<td class="num">{_e(budget)}</td></tr>')
  if not rows:
    return ''
  return ('<h2>Targets</h2><table id="targets"><thead><tr><th>Workload</th><th>Metric</th>'
          '<th>Validation target</th><th>Budget (s, external)</th></tr></thead><tbody>'
          + ''.join(rows) + '</tbody></table>')


def _curves(scoring, palette):
  if not scoring.curves:
    return ('<p id="no-curves">Training curves need trial logs; this leaderboard was scored from '
            'per-study times.</p>')
  figures = []
  for workload in scoring.result.columns:
    curves, target = scoring.curves.get(workload), scoring.targets.get(workload)
    if not curves or target is None:
      continue
    png = plots.training_curves_png(workload, curves, palette, target)
    figures.append(f'<figure>{_img(png, f"training curves of {workload}", css_class="curve")}'
                   f'<figcaption>{_e(workload)}: every trial; dashed line: target</figcaption></figure>')
  return '<div id="curves">' + ''.join(figures) + '</div>'


def render(scoring, profile_png):
  result = scoring.result
  palette = plots.colors(result.submissions)
  title = f'AlgoPerf leaderboard ({scoring.rules.version}, {scoring.ruleset} tuning)'
  summary = ''.join(f'<li>{_e(line)}</li>' for line in tables.summary_lines(scoring))
  warnings = ''
  if scoring.warnings:
    warnings = ('<h2>Warnings</h2><ul id="warnings">'
                + ''.join(f'<li>{_e(w)}</li>' for w in scoring.warnings) + '</ul>')
  return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{_e(title)}</h1>
<ul class="summary">{summary}</ul>
<h2>Scores</h2>
{_scores_table(result, palette)}
<h2>Time to target</h2>
<p>Seconds of submission time (median over studies) and, in brackets, the ratio to the best
submission on the workload. &infin; means the target was not reached under the rules.</p>
{_times_table(scoring)}
<h2>Performance profiles</h2>
{_img(profile_png, 'performance profiles', element_id='performance-profile')}
<h2>Training curves</h2>
{_curves(scoring, palette)}
{_targets_table(scoring)}
{warnings}
</body></html>
"""
