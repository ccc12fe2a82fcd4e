"""The GraphNetwork GNN in PyTorch, the twin of jax/models.py (same layers, order and initialisation).

Input widths are fixed ahead (no lazy layers): the first step sees the embeddings and the zero globals
(num_outputs wide); later steps see the MLP outputs (hidden_dims[-1] wide) everywhere.

As in jax/models.py (PartsDense), a node's or graph's row repeated per edge (or per node) is projected before
it is gathered, by its slice of the MLP's first weight (_parts_linear).
"""
import collections
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from workloads.common import pytorch_losses

ACTIVATIONS = {
    'relu': nn.ReLU,
    'gelu': lambda: nn.GELU(approximate='tanh'),  # Flax's nn.gelu.
    'silu': nn.SiLU,
}


# An MLP input: (rows, None), or (table, index) for the rows table[index] (a node's or graph's row per edge or node).
Part = Tuple[torch.Tensor, Optional[torch.Tensor]]


def _parts_linear(linear: nn.Linear, parts: Sequence[Part]) -> torch.Tensor:
  """linear(cat([x if index is None else x[index] for x, index in parts], -1)) without the concatenation: the
  sum of each part times its slice of the weight, a gathered part projected before its gather (on the table's
  few rows rather than the index's many)."""
  weights = linear.weight.split([x.shape[1] for x, _ in parts], dim=1)
  y = None
  for (x, index), weight in zip(parts, weights):
    projected = F.linear(x, weight, linear.bias if y is None else None)
    if index is not None:
      projected = projected.index_select(0, index)  # Not x[index]: index_select's backward is a cheap index_add_.
    y = projected if y is None else y.add_(projected)  # In place: no backward reads y.
  return y


class MLP(nn.Module):
  """[Linear -> LayerNorm(eps 1e-6) -> act -> dropout] per width; dropout's rate comes with each call."""

  def __init__(self, in_dim: int, hidden_dims: Sequence[int], activation: str):
    super().__init__()
    layers = collections.OrderedDict()
    for i, width in enumerate(hidden_dims):
      layers[f'dense_{i}'] = nn.Linear(in_dim, width)
      layers[f'norm_{i}'] = nn.LayerNorm(width, eps=1e-6)
      layers[f'act_{i}'] = ACTIVATIONS[activation]()
      in_dim = width
    self.layers = nn.ModuleDict(layers)
    self.num_layers = len(hidden_dims)

  def forward(self, parts: Sequence[Part], dropout_rate: float) -> torch.Tensor:
    """The MLP of the concatenated parts (see _parts_linear)."""
    x = _parts_linear(self.layers['dense_0'], parts)
    for i in range(self.num_layers):
      if i:
        x = self.layers[f'dense_{i}'](x)
      x = self.layers[f'act_{i}'](self.layers[f'norm_{i}'](x))
      x = F.dropout(x, p=dropout_rate, training=self.training)
    return x


class GraphNetworkStep(nn.Module):
  """One message-passing step with its own edge, node and global MLPs."""

  def __init__(self, edge_dim: int, node_dim: int, global_dim: int, hidden_dims: Sequence[int], activation: str):
    super().__init__()
    out = hidden_dims[-1]
    self.edge_mlp = MLP(edge_dim + 2 * node_dim + global_dim, hidden_dims, activation)
    self.node_mlp = MLP(node_dim + 2 * out + global_dim, hidden_dims, activation)
    self.global_mlp = MLP(2 * out + global_dim, hidden_dims, activation)

  def forward(self, nodes, edges, globals_, graph, dropout_rate: float):
    senders, receivers, node_graph, edge_graph = graph
    num_nodes, num_graphs = nodes.shape[0], globals_.shape[0]
    edges = self.edge_mlp([(edges, None), (nodes, senders), (nodes, receivers), (globals_, edge_graph)],
                          dropout_rate)
    nodes = self.node_mlp([(torch.cat([nodes, _segment_sum(edges, senders, num_nodes),
                                       _segment_sum(edges, receivers, num_nodes)], -1), None),
                           (globals_, node_graph)], dropout_rate)
    globals_ = self.global_mlp([(torch.cat([_segment_sum(nodes, node_graph, num_graphs),
                                            _segment_sum(edges, edge_graph, num_graphs), globals_], -1), None)],
                               dropout_rate)
    return nodes, edges, globals_


def _segment_sum(data: torch.Tensor, segment_ids: torch.Tensor, num_segments: int) -> torch.Tensor:
  out = torch.zeros((num_segments,) + data.shape[1:], dtype=data.dtype, device=data.device)
  return out.index_add_(0, segment_ids, data)


class GNN(nn.Module):

  def __init__(self, num_outputs: int = 128, latent_dim: int = 256, hidden_dims: Sequence[int] = (256,),
               num_message_passing_steps: int = 5, activation: str = 'relu'):
    super().__init__()
    self.num_outputs = num_outputs
    self.node_embedding = nn.Linear(9, latent_dim)
    self.edge_embedding = nn.Linear(3, latent_dim)
    steps = []
    edge_dim = node_dim = latent_dim
    global_dim = num_outputs
    for _ in range(num_message_passing_steps):
      steps.append(GraphNetworkStep(edge_dim, node_dim, global_dim, hidden_dims, activation))
      edge_dim = node_dim = global_dim = hidden_dims[-1]
    self.steps = nn.ModuleList(steps)
    self.decoder = nn.Linear(global_dim, num_outputs)
    for module in self.modules():
      if isinstance(module, nn.Linear):
        pytorch_losses.lecun_normal_(module.weight)
        nn.init.zeros_(module.bias)

  def forward(self, graph: Dict[str, torch.Tensor], dropout_rate: float = 0.1) -> torch.Tensor:
    nodes = self.node_embedding(graph['nodes'])
    edges = self.edge_embedding(graph['edges'])
    num_graphs = graph['n_node'].shape[0]
    graph_ids = torch.arange(num_graphs, device=nodes.device)
    node_graph = torch.repeat_interleave(graph_ids, graph['n_node'].long(), output_size=nodes.shape[0])
    edge_graph = torch.repeat_interleave(graph_ids, graph['n_edge'].long(), output_size=edges.shape[0])
    indices = (graph['senders'].long(), graph['receivers'].long(), node_graph, edge_graph)
    globals_ = torch.zeros((num_graphs, self.num_outputs), dtype=nodes.dtype, device=nodes.device)
    for step in self.steps:
      nodes, edges, globals_ = step(nodes, edges, globals_, indices, dropout_rate)
    return self.decoder(globals_)
