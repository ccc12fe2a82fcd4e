"""Beam search in PyTorch, the twin of jax/decode.py (the algorithm is described there)."""
from typing import Any, Callable, Dict

import torch

from workloads.wmt import model_config
from workloads.wmt.model_config import NEG_INF


def _gather_beams(x: torch.Tensor, beam_indices: torch.Tensor) -> torch.Tensor:
  """x (B, K', ...) -> (B, K, ...), picking x[b, beam_indices[b, k]]."""
  index = beam_indices.reshape(beam_indices.shape + (1,) * (x.dim() - 2)).expand(beam_indices.shape + x.shape[2:])
  return torch.gather(x, 1, index)


def gather_cache(cache: Dict[str, Any], beam_indices: torch.Tensor) -> None:
  """Reorders the rows (B*K, ...) of the per-beam key/value buffers; the encoder's entries are the same for
  every beam. Buffers are replaced, not overwritten, so a buffer shared by two entries stays consistent."""
  batch, beams = beam_indices.shape
  rows = (beam_indices + beams * torch.arange(batch, device=beam_indices.device)[:, None]).reshape(-1)
  for layer in cache['layers']:
    for name in ('key', 'value'):
      # Whole rows: one contiguous copy per beam instead of torch.gather's index per element.
      layer[name] = layer[name].index_select(0, rows)


@torch.no_grad()
def beam_search(step_fn: Callable[[torch.Tensor, Dict[str, Any]], torch.Tensor], cache: Dict[str, Any],
                batch_size: int, max_decode_len: int, beam_size: int = model_config.BEAM_SIZE,
                alpha: float = model_config.LENGTH_PENALTY_ALPHA, eos_id: int = model_config.EOS_ID,
                device=None) -> torch.Tensor:
  """Returns (batch_size, max_decode_len) token ids; step_fn(ids (B*K, 1), cache) -> logits (B*K, V)."""
  b, k, t = batch_size, beam_size, max_decode_len
  live_seqs = torch.zeros((b, k, t + 1), dtype=torch.long, device=device)
  live_logprobs = torch.tensor([[0.0] + [NEG_INF] * (k - 1)], device=device).repeat(b, 1)
  finished_seqs = torch.zeros_like(live_seqs)
  finished_scores = torch.full((b, k), NEG_INF, device=device)
  finished_flags = torch.zeros((b, k), dtype=torch.bool, device=device)
  max_length_penalty = model_config.brevity_penalty(float(t), alpha)
  i = 0
  while i < t and not bool(torch.all(finished_scores.min(dim=1).values > live_logprobs[:, 0] / max_length_penalty)):
    logits = step_fn(live_seqs[:, :, i].reshape(b * k, 1), cache)
    vocab = logits.shape[-1]
    logprobs = torch.log_softmax(logits.float(), dim=-1).reshape(b, k, vocab)
    candidates = (logprobs + live_logprobs[:, :, None]).reshape(b, k * vocab)
    top_logprobs, top_index = torch.topk(candidates, 2 * k, dim=1)
    top_beams, top_ids = top_index // vocab, top_index % vocab
    top_seqs = _gather_beams(live_seqs, top_beams)
    top_seqs[:, :, i + 1] = top_ids
    ended = top_ids == eos_id

    live_logprobs, live_index = torch.topk(top_logprobs + ended * NEG_INF, k, dim=1)
    live_seqs = _gather_beams(top_seqs, live_index)
    gather_cache(cache, _gather_beams(top_beams, live_index))

    scores = top_logprobs / model_config.brevity_penalty(float(i + 1), alpha) + (~ended) * NEG_INF
    finished_scores, keep = torch.topk(torch.cat([finished_scores, scores], dim=1), k, dim=1)
    finished_seqs = _gather_beams(torch.cat([finished_seqs, top_seqs], dim=1), keep)
    finished_flags = _gather_beams(torch.cat([finished_flags, ended], dim=1), keep)
    i += 1
  any_finished = finished_flags.any(dim=1)
  best = torch.where(any_finished[:, None], finished_seqs[:, 0], live_seqs[:, 0])
  return best[:, 1:]
