"""The index page links each ruleset's leaderboard files, and the kernels on/off table holds the ratio of
hand-made trial folders' times to target."""
import html.parser
import math
import os
import pathlib

import numpy as np

from scoring import example_experiment as ex
from scoring import leaderboard
from tools import leaderboard_index

OGBG = ex.ExampleWorkload('ogbg', 'mean_average_precision', False, 0.9, 600.0)


def trial(root, sub, times, values):
  ex.write_trial(pathlib.Path(root) / sub / 'study_0' / 'ogbg_jax' / 'trial_1', OGBG, np.array(times),
                 np.array(values), seed=0)


class Links(html.parser.HTMLParser):

  def __init__(self):
    super().__init__()
    self.hrefs = []

  def handle_starttag(self, tag, attrs):
    self.hrefs += [v for k, v in attrs if k == 'href']


def test_ratio_table_and_index_links(tmp_path):
  on, off = tmp_path / 'external_tuning', tmp_path / 'kernels_off' / 'external_tuning'
  trial(on, 'fused', [10, 20, 30], [0.5, 0.8, 0.95])          # reaches 0.9 at 30 s
  trial(off, 'fused', [10, 20, 30, 40], [0.5, 0.6, 0.7, 0.95])  # at 40 s
  trial(on, 'slow', [10, 20], [0.5, 0.6])                     # misses
  trial(off, 'slow', [10, 20], [0.5, 0.95])                   # reaches at 20 s
  trial(on, 'plain', [10], [0.95])                            # no kernels-off run
  self_dir = tmp_path / 'self_tuning'
  trial(self_dir, 'fused', [5, 15], [0.5, 0.95])
  root = tmp_path / 'leaderboard'
  options = dict(rules_version='v0.6', num_studies=1, num_trials=1)
  ext = leaderboard.write_leaderboard(experiment_dir=on, output_dir=root / 'external_tuning', ruleset='external',
                                      **options)
  slf = leaderboard.write_leaderboard(experiment_dir=self_dir, output_dir=root / 'self_tuning', ruleset='self',
                                      **options)
  off_scored = leaderboard.score(experiment_dir=off, ruleset='external', **options)
  rows = leaderboard_index.kernel_ratios(ext.scoring.table, off_scored.table)
  by_sub = {r[0]: r for r in rows}
  assert sorted(by_sub) == ['fused', 'slow']
  assert by_sub['fused'][2:] == (30.0, 40.0) and math.isinf(by_sub['slow'][2]) and by_sub['slow'][3] == 20.0
  assert leaderboard_index.ratio_text(30.0, 40.0) == '0.750'
  assert leaderboard_index.ratio_text(math.inf, 20.0) == 'on missed'
  leaderboard_index.write_ratios_csv(str(root / 'external_tuning' / 'kernel_ratios.csv'), rows)
  sections = [leaderboard_index.Section('external', str(root / 'external_tuning'), ext.ranking, ratios=rows),
              leaderboard_index.Section('self', str(root / 'self_tuning'), slf.ranking)]
  index = leaderboard_index.write_index(str(root), sections, 'test')
  assert index == str(root / 'index.html')
  page = pathlib.Path(index).read_text()
  assert '0.750' in page and 'on missed' in page and 'fused' in page
  parser = Links()
  parser.feed(page)
  for folder in ('external_tuning', 'self_tuning'):
    for name in ('leaderboard.html', 'scores.csv', 'performance_profile.png'):
      assert f'{folder}/{name}' in parser.hrefs
  assert 'external_tuning/kernel_ratios.csv' in parser.hrefs
  for href in parser.hrefs:
    assert os.path.exists(root / href), href
