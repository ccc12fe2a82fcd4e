"""ogbg-molpcba from OGB's raw CSV files, batched into padded graph batches with the published budgets.

Reads <data_dir>/ogbg/ in the layout of OGB's pcba.zip (raw/*.csv.gz, split/scaffold/*.csv.gz), which is
what tools:make_datasets writes and what the real molpcba download holds. As upstream (TFDS + jraph):
- bonds are stored once; each graph gets both directions, its bonds first, then the reversed copies;
- node and edge features are float32; NaN labels become 0 with weight 0;
- batches are filled greedily in stream order until the next graph would pass a budget of
  26 nodes, 56 edges and 1 graph per requested graph (+1 node and +1 graph for padding), then padded:
  all padding nodes and edges go to the first padding graph, padding edges point at its first node.
- A global batch is `num_shards` such sub-batches, one per device, concatenated with global indices
  (jraph.batch), so a device (or DDP rank) can take its equal-sized slice (`shard`).
"""
import dataclasses
import gzip
import os
import re
from typing import Dict, Iterator, List

import numpy as np

AVG_NODES_PER_GRAPH = 26
AVG_EDGES_PER_GRAPH = 56
NUM_TASKS = 128
SPLIT_FILES = {'train': 'train', 'eval_train': 'train', 'validation': 'valid', 'test': 'test'}
RAW_FILES = ('edge.csv.gz', 'edge-feat.csv.gz', 'node-feat.csv.gz', 'num-node-list.csv.gz',
             'num-edge-list.csv.gz', 'graph-label.csv.gz')
MAKE_DATASETS = 'bazel run //tools:make_datasets -- --dataset=ogbg --data_dir={data_dir}'

Batch = Dict[str, object]


@dataclasses.dataclass
class Graphs:
  """Every graph of the dataset as flat arrays (OGB's layout) plus the split indices."""
  node_feat: np.ndarray  # (total nodes, 9) float32
  edge_feat: np.ndarray  # (total bonds, 3) float32
  edge_index: np.ndarray  # (total bonds, 2) int64, node indices local to their graph
  num_nodes: np.ndarray  # (graphs,) int64
  num_bonds: np.ndarray  # (graphs,) int64; each gives 2 directed edges
  labels: np.ndarray  # (graphs, 128) float32, NaN where missing
  splits: Dict[str, np.ndarray]

  def __post_init__(self):
    self.node_offsets = np.r_[0, np.cumsum(self.num_nodes)]
    self.bond_offsets = np.r_[0, np.cumsum(self.num_bonds)]


def dataset_dir(data_dir: str) -> str:
  return os.path.join(os.path.expanduser(data_dir), 'ogbg')


def _read_csv(path: str, dtype, ndmin: int = 1) -> np.ndarray:
  with gzip.open(path, 'rb') as f:
    text = f.read().strip()
  if not text:
    return np.zeros((0,) * ndmin, dtype)
  # Empty fields (missing labels) become 'nan' so one vectorised parser reads every file.
  text = re.sub(rb'(?<![^,\n])(?=,|\n|$)', b'nan', text)
  return np.loadtxt(text.decode().splitlines(), delimiter=',', dtype=dtype, ndmin=ndmin)


def _required_paths(data_dir: str) -> List[str]:
  root = dataset_dir(data_dir)
  paths = [os.path.join(root, 'raw', name) for name in RAW_FILES]
  return paths + [os.path.join(root, 'split', 'scaffold', f'{s}.csv.gz') for s in ('train', 'valid', 'test')]


def check_files(data_dir: str) -> None:
  missing = [p for p in _required_paths(data_dir) if not os.path.exists(p)]
  if missing:
    raise FileNotFoundError(
        f'OGBG data not found: {missing[0]} is missing; build the dataset with: '
        + MAKE_DATASETS.format(data_dir=data_dir))


_CACHE: Dict[str, Graphs] = {}


def load(data_dir: str) -> Graphs:
  """Reads (once per process) the raw files and the scaffold split."""
  check_files(data_dir)
  root = dataset_dir(data_dir)
  key = os.path.realpath(root)
  if key not in _CACHE:
    raw = lambda name, dtype: _read_csv(os.path.join(root, 'raw', name), dtype)
    graphs = Graphs(
        node_feat=raw('node-feat.csv.gz', np.float32).reshape(-1, 9),
        edge_feat=raw('edge-feat.csv.gz', np.float32).reshape(-1, 3),
        edge_index=raw('edge.csv.gz', np.int64).reshape(-1, 2),
        num_nodes=raw('num-node-list.csv.gz', np.int64),
        num_bonds=raw('num-edge-list.csv.gz', np.int64),
        labels=_read_csv(os.path.join(root, 'raw', 'graph-label.csv.gz'), np.float32, ndmin=2),
        splits={s: _read_csv(os.path.join(root, 'split', 'scaffold', f'{s}.csv.gz'), np.int64)
                for s in ('train', 'valid', 'test')})
    if (graphs.labels.shape[1] != NUM_TASKS or graphs.node_offsets[-1] != len(graphs.node_feat)
        or graphs.bond_offsets[-1] != len(graphs.edge_index) or len(graphs.labels) != len(graphs.num_nodes)):
      raise ValueError(f'{root} is inconsistent (labels {graphs.labels.shape}, {len(graphs.node_feat)} nodes for '
                       f'{graphs.node_offsets[-1]} counted); rebuild it with '
                       + MAKE_DATASETS.format(data_dir=data_dir))
    _CACHE[key] = graphs
  return _CACHE[key]


# Batching ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Budget:
  """The padded sizes of one sub-batch (one device) for `graphs` requested graphs."""
  graphs: int

  @property
  def n_node(self) -> int:
    return AVG_NODES_PER_GRAPH * self.graphs + 1

  @property
  def n_edge(self) -> int:
    return AVG_EDGES_PER_GRAPH * self.graphs

  @property
  def n_graph(self) -> int:
    return self.graphs + 1


def chunk_boundaries(graphs: Graphs, order: np.ndarray, budget: Budget) -> np.ndarray:
  """Start offsets (into `order`) of the greedy sub-batches, plus len(order) at the end."""
  nodes = np.r_[0, np.cumsum(graphs.num_nodes[order])]
  edges = np.r_[0, np.cumsum(2 * graphs.num_bonds[order])]
  too_big = (graphs.num_nodes[order] > budget.n_node - 1) | (2 * graphs.num_bonds[order] > budget.n_edge)
  if too_big.any():
    i = order[np.argmax(too_big)]
    raise ValueError(f'Graph {i} has {graphs.num_nodes[i]} nodes and {2 * graphs.num_bonds[i]} edges, more than a '
                     f'batch of {budget.graphs} graphs holds ({budget.n_node - 1} nodes, {budget.n_edge} edges); '
                     'use a larger batch size.')
  starts, start, n = [0], 0, len(order)
  while start < n:
    stop = min(np.searchsorted(nodes, nodes[start] + budget.n_node - 1, side='right') - 1,
               np.searchsorted(edges, edges[start] + budget.n_edge, side='right') - 1,
               start + budget.n_graph - 1, n)
    starts.append(stop)
    start = stop
  return np.asarray(starts)


def pack(graphs: Graphs, indices: np.ndarray, budget: Budget, node_base: int = 0) -> Dict[str, np.ndarray]:
  """One padded sub-batch of the graphs `indices`; node indices start at `node_base` (jraph.batch)."""
  g = len(indices)
  n_node, n_bond = graphs.num_nodes[indices], graphs.num_bonds[indices]
  total_nodes, total_bonds = int(n_node.sum()), int(n_bond.sum())
  node_start = np.cumsum(n_node) - n_node  # Each graph's first node in the batch.
  bond_start = np.cumsum(n_bond) - n_bond
  node_rows = np.repeat(graphs.node_offsets[indices] - node_start, n_node) + np.arange(total_nodes)
  bond_rows = np.repeat(graphs.bond_offsets[indices] - bond_start, n_bond) + np.arange(total_bonds)
  # Row gathers with np.take: several times faster than fancy indexing for these narrow rows.
  src, dst = (np.take(graphs.edge_index, bond_rows, axis=0) + np.repeat(node_start + node_base, n_bond)[:, None]).T
  # Edge slots: graph j's bonds at 2*bond_start_j + k, their reverses right after them.
  forward = np.arange(total_bonds) + np.repeat(bond_start, n_bond)
  backward = forward + np.repeat(n_bond, n_bond)
  pad_node = node_base + total_nodes
  senders = np.full(budget.n_edge, pad_node, np.int32)
  receivers = np.full(budget.n_edge, pad_node, np.int32)
  senders[forward], receivers[forward] = src, dst
  senders[backward], receivers[backward] = dst, src
  edge_rows = np.empty(2 * total_bonds, np.int64)  # Each edge slot's bond (both directions share its features).
  edge_rows[forward] = edge_rows[backward] = bond_rows
  edges = np.zeros((budget.n_edge, 3), np.float32)
  np.take(graphs.edge_feat, edge_rows, axis=0, out=edges[:2 * total_bonds])
  nodes = np.zeros((budget.n_node, 9), np.float32)
  np.take(graphs.node_feat, node_rows, axis=0, out=nodes[:total_nodes])
  counts_node = np.zeros(budget.n_graph, np.int32)
  counts_edge = np.zeros(budget.n_graph, np.int32)
  counts_node[:g], counts_node[g] = n_node, budget.n_node - total_nodes
  counts_edge[:g], counts_edge[g] = 2 * n_bond, budget.n_edge - 2 * total_bonds
  labels = np.zeros((budget.n_graph, NUM_TASKS), np.float32)
  np.take(graphs.labels, indices, axis=0, out=labels[:g])
  weights = np.zeros_like(labels)
  weights[:g] = ~np.isnan(labels[:g])
  return {'inputs': {'nodes': nodes, 'edges': edges, 'senders': senders, 'receivers': receivers,
                     'n_node': counts_node, 'n_edge': counts_edge},
          'targets': np.nan_to_num(labels, nan=0.0), 'weights': weights}


def concat(sub_batches: List[Dict]) -> Batch:
  """The global batch: sub-batches one after another (their node indices are already global)."""
  if len(sub_batches) == 1:
    return sub_batches[0]  # One device: nothing to join, nothing to copy.
  inputs = {k: np.concatenate([b['inputs'][k] for b in sub_batches]) for k in sub_batches[0]['inputs']}
  return {'inputs': inputs, 'targets': np.concatenate([b['targets'] for b in sub_batches]),
          'weights': np.concatenate([b['weights'] for b in sub_batches])}


def shard(batch: Batch, index: int, num_shards: int) -> Batch:
  """Sub-batch `index` of a global batch of `num_shards`, with node indices rebased to it."""
  def part(x):
    size = len(x) // num_shards
    return x[index * size:(index + 1) * size]
  inputs = {k: part(v) for k, v in batch['inputs'].items()}
  base = index * (len(batch['inputs']['nodes']) // num_shards)
  inputs['senders'] = inputs['senders'] - base
  inputs['receivers'] = inputs['receivers'] - base
  return {'inputs': inputs, 'targets': part(batch['targets']), 'weights': part(batch['weights'])}


def _per_shard_budget(global_batch_size: int, num_shards: int) -> Budget:
  if global_batch_size < num_shards or global_batch_size % num_shards:
    raise ValueError(f'The OGBG batch size {global_batch_size} must be a positive multiple of the '
                     f'{num_shards} devices.')
  return Budget(global_batch_size // num_shards)


def _global_batches(graphs: Graphs, order: np.ndarray, starts: np.ndarray, budget: Budget, num_shards: int,
                    first_chunk: int, num_chunks: int) -> Batch:
  subs = []
  for shard_index in range(num_shards):
    chunk = first_chunk + shard_index
    rows = order[starts[chunk]:starts[chunk + 1]] if chunk < num_chunks else order[:0]
    subs.append(pack(graphs, rows, budget, node_base=shard_index * budget.n_node))
  return concat(subs)


def train_batches(graphs: Graphs, indices: np.ndarray, global_batch_size: int, num_shards: int, seed: int,
                  start_step: int = 0) -> Iterator[Batch]:
  """Infinite shuffled batches; batch k is a pure function of (seed, k).

  Each epoch is a seeded permutation cut greedily into sub-batches; the epoch's last (partial) global
  batch is dropped, as a shuffled-and-repeated stream would have merged it with the next epoch's start.
  """
  budget = _per_shard_budget(global_batch_size, num_shards)
  epoch, to_skip = 0, start_step
  while True:
    order = indices[np.random.RandomState((seed + 7_919 * epoch) % (2**31 - 1)).permutation(len(indices))]
    starts = chunk_boundaries(graphs, order, budget)
    num_chunks = len(starts) - 1
    per_epoch = max(1, (num_chunks - 1) // num_shards)
    for k in range(per_epoch):
      if to_skip:
        to_skip -= 1
        continue
      yield _global_batches(graphs, order, starts, budget, num_shards, k * num_shards, num_chunks)
    epoch += 1


def eval_batches(graphs: Graphs, indices: np.ndarray, global_batch_size: int, num_shards: int) -> Iterator[Batch]:
  """Every graph of `indices` once, in order; the last global batch may hold empty (all-padding) shards."""
  budget = _per_shard_budget(global_batch_size, num_shards)
  starts = chunk_boundaries(graphs, indices, budget)
  num_chunks = len(starts) - 1
  for first in range(0, num_chunks, num_shards):
    yield _global_batches(graphs, indices, starts, budget, num_shards, first, num_chunks)


def split_indices(graphs: Graphs, split: str, num_examples: int, eval_train_seed: int = 0) -> np.ndarray:
  """The first `num_examples` graphs of a split; eval_train is a fixed random subset of train."""
  indices = graphs.splits[SPLIT_FILES[split]]
  if split == 'eval_train':
    indices = np.sort(np.random.RandomState(eval_train_seed).permutation(indices)[:num_examples])
  if len(indices) < num_examples:
    raise ValueError(f'The OGBG {SPLIT_FILES[split]} split holds {len(indices)} graphs but this scale needs '
                     f'{num_examples}; choose the scale that matches the data (--scale=lite for what '
                     'tools:make_datasets builds) or provide the original ogbg-molpcba files.')
  return indices[:num_examples]
