"""PNG figures: the performance profiles and per-workload training curves (matplotlib, no display)."""
import collections
import io
import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_DPI = 80

# One trial's curve as drawn: `label` is the submission's leaderboard name.
Curve = collections.namedtuple('Curve', 'label times values')


def _png(figure):
  FigureCanvasAgg(figure)
  buffer = io.BytesIO()
  figure.savefig(buffer, format='png', dpi=_DPI, bbox_inches='tight')
  return buffer.getvalue()


def colors(submissions):
  """A stable colour per submission, shared by every figure of the page."""
  palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2',
             '#7f7f7f', '#bcbd22', '#17becf']
  return {s: palette[i % len(palette)] for i, s in enumerate(submissions)}


def performance_profile_png(scores, title='Performance profiles'):
  """rho(tau) of every submission on [tau_min, tau_max], with the scores in the legend."""
  figure = Figure(figsize=(8, 5))
  axes = figure.add_subplot()
  palette = colors(scores.submissions)
  # Profiles often coincide over stretches of tau; dashes keep the lower-ranked ones visible.
  styles = ['-', '--', '-.', ':']
  for k, (rank, submission, value) in enumerate(scores.ranking()):
    i = scores.submissions.index(submission)
    axes.plot(scores.taus, scores.rho[i], drawstyle='steps-post', linewidth=2.2 - 0.2 * (k % 4),
              linestyle=styles[k % len(styles)], color=palette[submission], alpha=0.9,
              label=f'{rank}. {submission} ({value:.4f})')
  axes.set_xlim(scores.taus[0], scores.taus[-1])
  axes.set_ylim(-0.02, 1.02)
  axes.set_xlabel('tau (time / best time on the workload)')
  axes.set_ylabel('rho(tau): fraction of workloads')
  axes.set_title(title)
  axes.grid(alpha=0.3)
  if scores.submissions:
    axes.legend(loc='lower right', fontsize='small')
  return _png(figure)


def training_curves_png(workload, curves, palette, target):
  """Validation metric against submission time, every trial of every submission, target dashed."""
  figure = Figure(figsize=(6, 3.6))
  axes = figure.add_subplot()
  labelled = set()
  for curve in curves:
    if not len(curve.times):
      continue
    label = None if curve.label in labelled else curve.label
    labelled.add(curve.label)
    axes.plot(curve.times, curve.values, color=palette.get(curve.label, 'k'), alpha=0.55,
              linewidth=1, label=label)
  axes.axhline(target.validation_target, color='k', linestyle='--', linewidth=1,
               label=f'target {target.validation_target:g}')
  if math.isfinite(target.max_runtime_sec):
    axes.axvline(target.max_runtime_sec, color='gray', linestyle=':', linewidth=1, label='budget')
  axes.set_xlabel('submission time (s)')
  axes.set_ylabel(f'validation {target.metric} ({"lower" if target.minimize else "higher"} is better)')
  axes.set_title(workload)
  axes.grid(alpha=0.3)
  axes.legend(fontsize='x-small', loc='best')
  return _png(figure)
