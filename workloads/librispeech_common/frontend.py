"""The log-mel front end, framework-neutral: its constants, filterbank and a numpy reference.

16 kHz int16-valued audio (scaled by 2**-15) -> frames of 401 samples every 160 (25 ms + 1 sample for the
pre-emphasis, 10 ms hop, no end padding) -> HTK-style pre-emphasis 0.97 -> periodic Hann window of 400 ->
|rfft(512)|^2 -> 80 HTK-mel bands over 125-7600 Hz (DC bin excluded) -> log(max(x, 1e-5)) -> per-bin
standardisation. 320,000 samples give 1,998 frames. A frame is padding only when all its samples are.
The JAX and PyTorch layers compute exactly this; `log_mel` here is the reference the tests hold them to.
"""
import math
from typing import Tuple

import numpy as np

SAMPLE_RATE = 16_000
FRAME_STEP = 160
FRAME_SIZE = 401  # 400 samples of window + the one before them for the pre-emphasis.
FFT_SIZE = 512
NUM_MEL_BINS = 80
LOWER_EDGE_HZ = 125.0
UPPER_EDGE_HZ = 7600.0
PREEMPHASIS = 0.97
LOG_FLOOR = 1e-5
INPUT_SCALE = 2.0**-15

# Per-bin mean and standard deviation of the log-mel features, measured by `feature_stats` over the
# valid frames of the 439 training utterances of at most 20 s that tools:make_datasets builds (rounded to
# 2 decimals). Upstream normalises with statistics of LibriSpeech itself; these are ours. The top bins
# (above 4 kHz) sit near the log floor for the asterisk prompts, which were recorded at 8 kHz.
FEATURE_MEAN = (
    -5.96, -5.09, -4.74, -4.79, -5.18, -5.77, -5.53, -5.26, -4.89, -4.65, -4.68, -4.96, -5.34, -5.51, -5.70,
    -5.87, -5.87, -5.86, -5.56, -5.71, -5.80, -5.75, -6.28, -6.10, -6.29, -6.17, -6.45, -6.45, -6.48, -6.65,
    -6.60, -6.46, -6.31, -6.19, -6.16, -6.12, -6.03, -5.92, -5.78, -5.73, -5.76, -5.74, -5.84, -5.69, -5.60,
    -5.68, -5.81, -5.83, -5.79, -5.66, -5.47, -5.26, -5.20, -5.25, -5.27, -5.28, -5.20, -5.19, -5.38, -6.56,
    -9.68, -8.11, -7.54, -8.46, -10.00, -11.22, -11.32, -11.30, -11.32, -11.31, -11.32, -11.32, -11.33,
    -11.30, -11.33, -11.31, -11.34, -11.31, -11.13, -10.93)
FEATURE_STDDEV = (
    3.62, 3.90, 4.09, 4.19, 4.08, 3.79, 3.76, 4.00, 4.22, 4.31, 4.29, 4.17, 3.98, 3.88, 3.90, 3.96, 4.00,
    4.03, 4.06, 3.97, 3.90, 3.84, 3.72, 3.76, 3.73, 3.76, 3.72, 3.75, 3.74, 3.64, 3.63, 3.67, 3.72, 3.79,
    3.81, 3.82, 3.82, 3.83, 3.87, 3.88, 3.86, 3.82, 3.77, 3.81, 3.88, 3.91, 3.90, 3.89, 3.89, 3.91, 3.98,
    4.09, 4.12, 4.10, 4.05, 4.00, 3.98, 3.95, 3.86, 3.46, 2.26, 2.87, 3.08, 2.71, 2.02, 1.29, 1.18, 1.19,
    1.21, 1.21, 1.19, 1.16, 1.13, 1.13, 1.08, 1.05, 0.96, 0.93, 1.04, 1.12)


def num_frames(num_samples: int) -> int:
  return 1 + (num_samples - FRAME_SIZE) // FRAME_STEP if num_samples >= FRAME_SIZE else 0


def _hz_to_mel(hz):
  return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)


def mel_matrix() -> np.ndarray:
  """(FFT_SIZE // 2 + 1, NUM_MEL_BINS) triangular filters, linear in mel, DC bin excluded (float32)."""
  num_bins = FFT_SIZE // 2 + 1
  freqs = np.linspace(0.0, SAMPLE_RATE / 2.0, num_bins)[1:]
  mels = _hz_to_mel(freqs)[:, None]
  edges = np.linspace(_hz_to_mel(LOWER_EDGE_HZ), _hz_to_mel(UPPER_EDGE_HZ), NUM_MEL_BINS + 2)
  lower, center, upper = edges[:-2][None], edges[1:-1][None], edges[2:][None]
  weights = np.maximum(0.0, np.minimum((mels - lower) / (center - lower), (upper - mels) / (upper - center)))
  return np.concatenate([np.zeros((1, NUM_MEL_BINS)), weights]).astype(np.float32)


def window() -> np.ndarray:
  """The periodic Hann window of 400 samples (float32)."""
  n = np.arange(FRAME_SIZE - 1)
  return (0.5 - 0.5 * np.cos(2.0 * math.pi * n / (FRAME_SIZE - 1))).astype(np.float32)


def frame_indices(num_samples: int) -> np.ndarray:
  """(num_frames, FRAME_SIZE) sample indices of every frame."""
  starts = np.arange(num_frames(num_samples)) * FRAME_STEP
  return starts[:, None] + np.arange(FRAME_SIZE)[None, :]


def preemphasis_matrix() -> np.ndarray:
  """(FRAME_SIZE, FRAME_SIZE - 1) matrix P with frame @ P = the HTK pre-emphasised 400 samples.

  Output 0 is (1 - 0.97) x0; output i > 0 is x_i - 0.97 x_{i-1}. The 401st sample is not used (as lingvo).
  """
  p = np.zeros((FRAME_SIZE, FRAME_SIZE - 1), np.float32)
  p[0, 0] = 1.0 - PREEMPHASIS
  for i in range(1, FRAME_SIZE - 1):
    p[i, i] = 1.0
    p[i - 1, i] = -PREEMPHASIS
  return p


def preemphasise(frames, concatenate):
  """(..., 401) frames -> (..., 400): frames @ preemphasis_matrix() as its two taps per output, without the
  dense product (the front end's largest cost). `concatenate` is the array library's (np.concatenate,
  jnp.concatenate, torch.cat)."""
  first = (1.0 - PREEMPHASIS) * frames[..., :1]
  return concatenate([first, frames[..., 1:-1] - PREEMPHASIS * frames[..., :-2]], -1)


def kept_samples(num_samples: int, last_valid_sample: int) -> int:
  """The leading samples the front end and the two stride-2 subsampling convs need for the valid outputs.

  Those outputs read the valid frames and two frames past them (the first conv's window); keeping a frame
  count congruent to the full one mod 4 keeps both convs' 'SAME' paddings, and every dropped output is
  padding. `last_valid_sample` is the last one any row uses (-1: none).
  """
  frames = num_frames(num_samples)
  kept = min(last_valid_sample // FRAME_STEP + 1, frames) + 2
  kept = min(frames, kept + (frames - kept) % 4)
  return num_samples if kept == frames else FRAME_SIZE + (kept - 1) * FRAME_STEP


def frame_paddings(paddings: np.ndarray) -> np.ndarray:
  """(B, samples) 0/1 paddings -> (B, frames): a frame is padding when every sample in it is."""
  return paddings[:, frame_indices(paddings.shape[1])].min(axis=-1)


def log_mel(audio: np.ndarray, paddings: np.ndarray, normalise: bool = True) -> Tuple[np.ndarray, np.ndarray]:
  """The numpy reference: (B, samples) audio and paddings -> (B, frames, 80) features and paddings."""
  audio = np.asarray(audio, np.float64) * (1.0 - paddings) * INPUT_SCALE
  frames = audio[:, frame_indices(audio.shape[1])]
  emphasised = frames @ preemphasis_matrix().astype(np.float64)
  spectrum = np.abs(np.fft.rfft(emphasised * window(), FFT_SIZE, axis=-1))**2
  features = np.log(np.maximum(spectrum @ mel_matrix().astype(np.float64), LOG_FLOOR))
  if normalise:
    features = (features - np.asarray(FEATURE_MEAN)) / np.asarray(FEATURE_STDDEV)
  return features.astype(np.float32), frame_paddings(paddings).astype(np.float32)


def feature_stats(batches) -> Tuple[np.ndarray, np.ndarray]:
  """Per-bin mean and standard deviation of unnormalised log-mel features over the valid frames.

  `batches` yields dicts with 'inputs' and 'input_paddings' (the input pipeline's); this is how
  FEATURE_MEAN and FEATURE_STDDEV were measured.
  """
  total, total_sq, count = np.zeros(NUM_MEL_BINS), np.zeros(NUM_MEL_BINS), 0.0
  for batch in batches:
    features, paddings = log_mel(batch['inputs'], batch['input_paddings'], normalise=False)
    valid = (1.0 - paddings)[..., None]
    total += (features * valid).sum(axis=(0, 1))
    total_sq += (features.astype(np.float64)**2 * valid).sum(axis=(0, 1))
    count += valid.sum()
  mean = total / max(count, 1.0)
  return mean, np.sqrt(np.maximum(total_sq / max(count, 1.0) - mean**2, 0.0))
