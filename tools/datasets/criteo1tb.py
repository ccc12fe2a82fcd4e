"""Criteo 1TB-format click logs (TSV) from the real Open Bandit click log in PyPI `obp` 0.4.1.

No registry package ships Criteo data (spec/datasets.md). The Open Bandit Dataset sample inside the obp
wheel is a real click log: 60,000 ZOZOTOWN fashion-recommendation impressions (two logging policies x
three campaigns x 10,000) over 7 days, 287 clicks. Each impression becomes one Criteo line,
`label \\t I1..I13 \\t C1..C26`: the label is the click; the 13 integer columns are counts and
positions derived from the record (empty where undefined, as Criteo's missing values); the 26 categorical
columns are 8-hex-digit hashes (as Criteo's 32-bit hashes) of the user features, the item and its
features, and crosses of those.

Layout as the AlgoPerf setup leaves Criteo: `day_<d>_<nn>` text files, chronological. The log's first six
days (2019-11-24..29) are the training days `day_0_00`..`day_5_00`; its last day (2019-11-30) plays
Criteo's held-out day 23, split in time order into the 36 files `day_23_00`..`day_23_35` (upstream:
00-18 test, 19-35 validation).
"""
import collections
import csv
import datetime
import hashlib
import io
import os
from typing import Dict, List

import numpy as np

from tools.datasets import sources

OBP = sources.Package('pypi', 'obp', '0.4.1', 'obp-0.4.1-py3-none-any.whl',
                      '87dec9caf4283c25ab13036532e0a24566f1c7bdcad1653a8ded43b2f5ef8208',
                      'Apache-2.0 (code); Open Bandit Dataset CC BY 4.0')
POLICIES = ('random', 'bts')
CAMPAIGNS = ('all', 'men', 'women')
FIRST_DAY = datetime.date(2019, 11, 24)
NUM_TRAIN_DAYS = 6
EVAL_DAY = 23
NUM_EVAL_FILES = 36
SOURCES = {'obp': (OBP,)}
# C1..C26: each feature sits in the Criteo column whose hash-bucket count (upstream's per-column vocab) fits
# its number of distinct values, so the pipeline's hashing keeps them apart as it does Criteo's.
CATEGORICAL_COLUMNS = (
    'user0*user1', 'user0*position', 'user1*position', 'user0*item', 'user2*position', 'campaign',
    'user1*item', 'item_feature3', 'user3', 'user0*user2', 'user0*user3', 'user3*position', 'user0', 'item',
    'user2*item', 'item_feature1', 'position', 'item_feature2', 'user1', 'user1*user2', 'user1*user3',
    'user2*user3', 'item*position', 'user3*item', 'hour', 'user2')


def train_file_names() -> List[str]:
  return [f'day_{d}_00' for d in range(NUM_TRAIN_DAYS)]


def eval_file_names() -> List[str]:
  return [f'day_{EVAL_DAY}_{i:02d}' for i in range(NUM_EVAL_FILES)]


def _hex8(text: str) -> str:
  return hashlib.md5(text.encode()).hexdigest()[:8]


def _read_csv(wheel: str, member: str) -> List[Dict[str, str]]:
  return list(csv.DictReader(io.StringIO(sources.read_member(wheel, member).decode())))


def _load_log(wheel: str) -> List[Dict]:
  """Every impression of the six logs, with its campaign's item table, in time order."""
  records = []
  for policy in POLICIES:
    for campaign in CAMPAIGNS:
      folder = f'obp/dataset/obd/{policy}/{campaign}'
      items = {int(r['item_id']): r for r in _read_csv(wheel, f'{folder}/item_context.csv')}
      for row in _read_csv(wheel, f'{folder}/{campaign}.csv'):
        time = datetime.datetime.fromisoformat(row['timestamp'])
        records.append({'row': row, 'items': items, 'policy': policy, 'campaign': campaign, 'time': time})
  records.sort(key=lambda r: (r['time'], r['policy'], r['campaign']))
  return records


def _price_ranks(items: Dict[int, Dict[str, str]]) -> Dict[int, int]:
  order = sorted(items, key=lambda i: (float(items[i]['item_feature_0']), i))
  return {item: rank for rank, item in enumerate(order)}


def _exposure_counts(records: List[Dict]) -> None:
  """Adds, per impression, the minutes since its item was last shown and the showings in the hour before.

  Counted within one logging stream (policy, campaign, item), as a production log would count them.
  """
  history = collections.defaultdict(collections.deque)
  for r in records:
    key = (r['policy'], r['campaign'], r['row']['item_id'])
    shown = history[key]
    r['minutes_since_shown'] = None if not shown else int((r['time'] - shown[-1]).total_seconds() // 60)
    while shown and (r['time'] - shown[0]).total_seconds() > 3600:
      shown.popleft()
    r['shown_last_hour'] = len(shown)
    shown.append(r['time'])


def _line(r: Dict, price_rank: Dict[int, int]) -> str:
  row, items, campaign = r['row'], r['items'], r['campaign']
  item = int(row['item_id'])
  affinity = np.array([float(row[f'user-item_affinity_{i}']) for i in range(len(items))])
  shown = items[item]
  same_feature = [sum(affinity[j] for j in items if items[j][f'item_feature_{k}'] == shown[f'item_feature_{k}'])
                  for k in (1, 2, 3)]
  ints = [int(row['position']), r['time'].hour, affinity[item], affinity.sum(), int((affinity > 0).sum()),
          affinity.max(), len(items), price_rank[item], *same_feature,
          r['minutes_since_shown'], r['shown_last_hour']]
  ints = ['' if v is None else str(int(v)) for v in ints]
  user = [row[f'user_feature_{k}'] for k in range(4)]
  item_key, position, hour = f'{campaign}/{item}', row['position'], r['time'].hour
  features = {f'user{k}': user[k][:8] for k in range(4)}  # Already hex hashes (md5), as in Criteo.
  features.update({f'item_feature{k}': shown[f'item_feature_{k}'][:8] for k in (1, 2, 3)})
  features.update({'item': _hex8(f'item={item_key}'), 'campaign': _hex8(f'campaign={campaign}'),
                   'hour': _hex8(f'hour={hour}'), 'position': _hex8(f'position={position}'),
                   'item*position': _hex8(f'item={item_key}&position={position}')})
  for k in range(4):
    features[f'user{k}*item'] = _hex8(f'user{k}={user[k]}&item={item_key}')
    features[f'user{k}*position'] = _hex8(f'user{k}={user[k]}&position={position}')
    for j in range(k):
      features[f'user{j}*user{k}'] = _hex8(f'user{j}={user[j]}&user{k}={user[k]}')
  cats = [features[name] for name in CATEGORICAL_COLUMNS]
  assert len(ints) == 13 and len(cats) == 26
  return '\t'.join([row['click']] + ints + cats) + '\n'


def build(data_dir: str, source: str = 'obp') -> str:
  """Writes <data_dir>/criteo1tb/day_<d>_<nn> (Criteo TSV) and provenance.json."""
  if source not in SOURCES:
    raise ValueError(f'Unknown criteo1tb source {source!r}; use one of {", ".join(SOURCES)}.')
  out_dir = os.path.join(data_dir, 'criteo1tb')
  wheel = sources.fetch(OBP, sources.download_cache(data_dir))
  records = _load_log(wheel)
  _exposure_counts(records)
  ranks = {}
  lines_by_day = collections.defaultdict(list)
  for r in records:
    key = (r['policy'], r['campaign'])
    if key not in ranks:
      ranks[key] = _price_ranks(r['items'])
    lines_by_day[(r['time'].date() - FIRST_DAY).days].append(_line(r, ranks[key]))
  if sorted(lines_by_day) != list(range(NUM_TRAIN_DAYS + 1)):
    raise RuntimeError(f'The obp log spans days {sorted(lines_by_day)}; expected 0..{NUM_TRAIN_DAYS}.')
  os.makedirs(out_dir, exist_ok=True)
  for day, name in enumerate(train_file_names()):
    with open(os.path.join(out_dir, name), 'w') as f:
      f.writelines(lines_by_day[day])
  eval_lines = lines_by_day[NUM_TRAIN_DAYS]
  for name, part in zip(eval_file_names(), np.array_split(np.arange(len(eval_lines)), NUM_EVAL_FILES)):
    with open(os.path.join(out_dir, name), 'w') as f:
      f.writelines(eval_lines[i] for i in part)
  counts = {d: len(v) for d, v in sorted(lines_by_day.items())}
  notes = (f'{len(records)} impressions of the Open Bandit Dataset (obp 0.4.1: policies {POLICIES} x campaigns '
           f'{CAMPAIGNS}), in time order, as Criteo TSV (label=click; 13 integer and 26 hashed categorical '
           f'features described in tools/datasets/criteo1tb.py). Lines per log day: {counts}. Days 0-5 are '
           f'day_0_00..day_5_00; day 6 is split in time order into day_23_00..day_23_35.')
  sources.write_provenance(out_dir, 'criteo1tb', list(SOURCES[source]), notes)
  return out_dir


def is_built(data_dir: str) -> bool:
  return os.path.exists(os.path.join(data_dir, 'criteo1tb', 'provenance.json'))
