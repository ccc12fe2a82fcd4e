"""DeepSpeech in PyTorch: the Flax twin's math; each BiLSTM is torch's nn.LSTM (two biases per direction)."""
import torch
import torch.nn.functional as F
from torch import nn

from workloads.librispeech_common.pytorch import layers
from workloads.librispeech_deepspeech.config import DeepspeechConfig


class Norm(nn.Module):
  """The padding-aware (1+scale) BatchNorm, or the (1+scale) LayerNorm with layernorm_everywhere."""

  def __init__(self, c: DeepspeechConfig):
    super().__init__()
    everywhere = c.layernorm_everywhere
    self.ln = layers.LayerNorm(c.encoder_dim) if everywhere else None
    self.bn = None if everywhere else layers.BatchNorm(c.encoder_dim, c.batch_norm_momentum, c.batch_norm_epsilon)

  def forward(self, x, paddings):
    return self.ln(x) if self.bn is None else self.bn(x, paddings)


class BatchRNN(nn.Module):
  """Norm -> bidirectional LSTM over the valid steps (packed sequences); padded steps output 0."""

  def __init__(self, c: DeepspeechConfig):
    super().__init__()
    self.norm = Norm(c)
    self.lstm = nn.LSTM(c.encoder_dim, c.encoder_dim // 2, bidirectional=True, batch_first=True)

  def forward(self, x, paddings):
    x = self.norm(x, paddings)
    # Rows that only pad an eval batch have no valid step; they run one (masked) step.
    lengths = torch.clamp(torch.sum(1.0 - paddings, dim=-1).long(), min=1).cpu()
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    outputs, _ = self.lstm(packed)
    outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=x.shape[1])
    return outputs * (1.0 - paddings)[..., None]


class FeedForwardModule(nn.Module):

  def __init__(self, c: DeepspeechConfig):
    super().__init__()
    self.config = c
    self.norm = Norm(c)
    self.lin = layers.xavier_linear(c.encoder_dim, c.encoder_dim)

  def forward(self, x, paddings, dropout_rate: float):
    x = self.norm(x, paddings)
    x = layers.ACTIVATIONS['tanh' if self.config.use_tanh else 'relu'](self.lin(x)) * (1.0 - paddings)[..., None]
    return F.dropout(x, dropout_rate, training=self.training)


class DeepspeechEncoderDecoder(nn.Module):
  """(audio, paddings) -> (logits (B, frames/4, vocab), logit paddings)."""

  def __init__(self, c: DeepspeechConfig):
    super().__init__()
    self.config = c
    self.preprocessor = layers.LogMel()
    self.subsample = layers.Subsample(c.encoder_dim, activation='tanh' if c.use_tanh else 'relu')
    self.lstms = nn.ModuleList([BatchRNN(c) for _ in range(c.num_lstm_layers)])
    self.ffns = nn.ModuleList([FeedForwardModule(c) for _ in range(c.num_ffn_layers)])
    self.ln = layers.LayerNorm(c.encoder_dim) if c.enable_decoder_layer_norm else None
    self.lin = layers.xavier_linear(c.encoder_dim, c.vocab_size)

  def forward(self, inputs, input_paddings, dropout_rate: float = 0.1):
    c = self.config
    x, paddings = layers.subsampled_features(self, inputs, input_paddings)
    x = F.dropout(x, dropout_rate, training=self.training)
    for lstm in self.lstms:
      y = lstm(x, paddings)
      x = x + y if c.enable_residual_connections else y
    for ffn in self.ffns:
      y = ffn(x, paddings, dropout_rate)
      x = x + y if c.enable_residual_connections else y
    if self.ln is not None:
      x = self.ln(x)
    return self.lin(x), paddings
