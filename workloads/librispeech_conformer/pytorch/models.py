"""The Conformer in PyTorch: the Flax twin's math with PyTorch's fused q/k/v projection (`in_proj`)."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from workloads.librispeech_common.pytorch import layers
from workloads.librispeech_conformer.config import R_SOFTPLUS_0, ConformerConfig
from workloads.librispeech_conformer.positions import sinusoidal_positions


class FeedForwardModule(nn.Module):

  def __init__(self, c: ConformerConfig):
    super().__init__()
    self.config = c
    self.ln = layers.LayerNorm(c.encoder_dim)
    self.linear1 = layers.xavier_linear(c.encoder_dim, c.encoder_dim * c.feed_forward_expansion_factor)
    self.linear2 = layers.xavier_linear(c.encoder_dim * c.feed_forward_expansion_factor, c.encoder_dim)

  def forward(self, x, padding_mask, dropout_rate: float):
    x = layers.ACTIVATIONS[self.config.activation](self.linear1(self.ln(x)))
    x = F.dropout(x, self.config.feed_forward_dropout_rate, training=self.training)
    x = self.linear2(x * padding_mask) * padding_mask
    return F.dropout(x, dropout_rate, training=self.training)


class QueryScaler(nn.Module):

  def __init__(self, dim: int):
    super().__init__()
    self.scale = nn.Parameter(torch.zeros(dim))

  def forward(self, q):
    return q * R_SOFTPLUS_0 * F.softplus(self.scale)


class SelfAttention(nn.Module):
  """q, k, v from one fused projection (rows: q, then k, then v), as torch's MultiheadAttention."""

  def __init__(self, c: ConformerConfig):
    super().__init__()
    dim = c.encoder_dim
    self.heads, self.temperature = c.num_attention_heads, c.attention_temperature
    self.in_proj = nn.Linear(dim, 3 * dim)
    for block in self.in_proj.weight.data.split(dim):  # Each of q, k, v like a Flax xavier Dense.
      nn.init.xavier_uniform_(block)
    nn.init.zeros_(self.in_proj.bias)
    self.out_proj = layers.xavier_linear(dim, dim)
    self.qs = QueryScaler(dim // self.heads)

  def forward(self, x, paddings):
    batch, time, dim = x.shape
    split = lambda y: y.reshape(batch, time, self.heads, dim // self.heads)
    q, k, v = (split(y) for y in self.in_proj(x).split(dim, dim=-1))
    q = self.qs(q)
    logits = torch.einsum('bqhd,bkhd->bhqk', q, k) / math.sqrt(dim // self.heads)
    valid_keys = (paddings < 0.5)[:, None, None, :]
    logits = logits.masked_fill(~valid_keys, torch.finfo(logits.dtype).min)
    attention = torch.einsum('bhqk,bkhd->bqhd', torch.softmax(logits, dim=-1), v).reshape(batch, time, dim)
    return self.out_proj(attention * self.temperature)


class MultiHeadedSelfAttention(nn.Module):

  def __init__(self, c: ConformerConfig):
    super().__init__()
    self.ln = layers.LayerNorm(c.encoder_dim)
    self.self_attention = SelfAttention(c)

  def forward(self, x, paddings, dropout_rate: float):
    return F.dropout(self.self_attention(self.ln(x), paddings), dropout_rate, training=self.training)


class ConvolutionBlock(nn.Module):

  def __init__(self, c: ConformerConfig):
    super().__init__()
    self.config = c
    self.ln = layers.LayerNorm(c.encoder_dim)
    self.lin1 = layers.xavier_linear(c.encoder_dim, c.encoder_dim)  # Value.
    self.lin2 = layers.xavier_linear(c.encoder_dim, c.encoder_dim)  # Gate.
    self.conv1 = nn.Conv1d(c.encoder_dim, c.encoder_dim, c.convolution_kernel_size, padding='same',
                           groups=c.encoder_dim, bias=False)
    nn.init.xavier_uniform_(self.conv1.weight)
    self.bn = layers.BatchNorm(c.encoder_dim, c.batch_norm_momentum, c.batch_norm_epsilon)
    self.lin3 = layers.xavier_linear(c.encoder_dim, c.encoder_dim)

  def forward(self, x, paddings, dropout_rate: float):
    x = self.ln(x)
    x = self.lin1(x) * torch.sigmoid(self.lin2(x))
    x = x * (1.0 - paddings)[..., None]
    x = self.conv1(x.transpose(1, 2)).transpose(1, 2)
    x = self.bn(x, paddings)
    x = self.lin3(layers.ACTIVATIONS[self.config.activation](x))
    return F.dropout(x, dropout_rate, training=self.training)


class ConformerBlock(nn.Module):

  def __init__(self, c: ConformerConfig):
    super().__init__()
    self.ff1 = FeedForwardModule(c)
    self.mhsa = MultiHeadedSelfAttention(c)
    self.conv = ConvolutionBlock(c)
    self.ff2 = FeedForwardModule(c)
    self.ln = layers.LayerNorm(c.encoder_dim) if c.use_post_layer_norm else None

  def forward(self, x, paddings, dropout_rate: float):
    padding_mask = (1.0 - paddings)[..., None]
    x = x + 0.5 * self.ff1(x, padding_mask, dropout_rate)
    x = x + self.mhsa(x, paddings, dropout_rate)
    x = x + self.conv(x, paddings, dropout_rate)
    x = x + 0.5 * self.ff2(x, padding_mask, dropout_rate)
    return self.ln(x) if self.ln is not None else x


class ConformerEncoderDecoder(nn.Module):
  """(audio, paddings) -> (logits (B, frames/4, vocab), logit paddings)."""

  def __init__(self, c: ConformerConfig):
    super().__init__()
    self.config = c
    self.preprocessor = layers.LogMel()
    self.subsample = layers.Subsample(c.encoder_dim)
    self.conformers = nn.ModuleList([ConformerBlock(c) for _ in range(c.num_encoder_layers)])
    self.ln = layers.LayerNorm(c.encoder_dim)
    self.lin = layers.xavier_linear(c.encoder_dim, c.vocab_size)

  def forward(self, inputs, input_paddings, dropout_rate: float = 0.1):
    x, paddings = layers.subsampled_features(self, inputs, input_paddings)
    x = x + torch.as_tensor(sinusoidal_positions(x.shape[1], x.shape[2]), device=x.device)
    x = F.dropout(x, dropout_rate, training=self.training)
    for block in self.conformers:
      x = block(x, paddings, dropout_rate)
    return self.lin(self.ln(x)), paddings
