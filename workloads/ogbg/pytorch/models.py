"""The GraphNetwork GNN in PyTorch, the twin of jax/models.py (same layers, order and initialisation).

Input widths are fixed ahead (no lazy layers): the first step sees the embeddings and the zero globals
(num_outputs wide); later steps see the MLP outputs (hidden_dims[-1] wide) everywhere.
"""
import collections
from typing import Dict, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from workloads.common import pytorch_losses

ACTIVATIONS = {
    'relu': nn.ReLU,
    'gelu': lambda: nn.GELU(approximate='tanh'),  # Flax's nn.gelu.
    'silu': nn.SiLU,
}


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

  def forward(self, x: torch.Tensor, dropout_rate: float) -> torch.Tensor:
    for i in range(self.num_layers):
      x = self.layers[f'act_{i}'](self.layers[f'norm_{i}'](self.layers[f'dense_{i}'](x)))
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
    gather = torch.index_select  # Its backward is an index_add_, much cheaper on CPU than x[idx]'s.
    edges = self.edge_mlp(torch.cat([edges, gather(nodes, 0, senders), gather(nodes, 0, receivers),
                                     gather(globals_, 0, edge_graph)], -1), dropout_rate)
    nodes = self.node_mlp(torch.cat([nodes, _segment_sum(edges, senders, num_nodes),
                                     _segment_sum(edges, receivers, num_nodes), gather(globals_, 0, node_graph)], -1),
                          dropout_rate)
    globals_ = self.global_mlp(torch.cat([_segment_sum(nodes, node_graph, num_graphs),
                                          _segment_sum(edges, edge_graph, num_graphs), globals_], -1), dropout_rate)
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
