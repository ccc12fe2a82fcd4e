"""NadamW Sequential's three fixed NAdamW points and their step budgets (submissions.md §3.3).

The points are Generalized Adam's points 4, 5 and 2. `dropout_rate` is unused upstream (marked so), and
label smoothing is 0 in every point because upstream tests `hasattr(dict, 'label_smoothing')`, which is
always false; we keep both, since they change results.
"""
import math

POINTS = (
    {'learning_rate': 0.0014271957958295392, 'one_minus_beta1': 0.03380478752, 'beta2': 0.9957304053273589,
     'weight_decay': 0.09153141484048229, 'warmup_factor': 0.01, 'training_horizon': 1.0},
    {'learning_rate': 0.001768509931943289, 'one_minus_beta1': 0.05850208614, 'beta2': 0.9768053375036079,
     'weight_decay': 0.0279513959224539, 'warmup_factor': 0.02, 'training_horizon': 1.0},
    {'learning_rate': 0.0023792566965593815, 'one_minus_beta1': 0.01990335215, 'beta2': 0.9632738717172477,
     'weight_decay': 0.3417568278549717, 'warmup_factor': 0.01, 'training_horizon': 0.75},
)
LABEL_SMOOTHING = 0.0


def horizons(step_hint: int):
  """H_i = ceil(training_horizon_i * step_hint) steps for each point."""
  return [math.ceil(p['training_horizon'] * step_hint) for p in POINTS]


def schedule_args(index: int, step_hint: int):
  """(peak, W, T) of point `index`'s own (S-optax) schedule over its H_i steps."""
  point, total = POINTS[index], horizons(step_hint)[index]
  return point['learning_rate'], int(point['warmup_factor'] * total), total


def betas(index: int):
  return 1.0 - POINTS[index]['one_minus_beta1'], POINTS[index]['beta2']
