"""FarmHash Fingerprint64, vectorised with numpy, for strings of up to 32 bytes.

Upstream hashes each categorical Criteo token with TensorFlow's `to_hash_bucket_fast`, which is
`Fingerprint64(token) % num_buckets` (farmhash, the 'na' variant). We have no TensorFlow, so this module
computes the same 64-bit fingerprint from the published algorithm: a Criteo token (8 hex digits plus the
column index) is 9 or 10 bytes long, so the short-string paths are all we need. uint64 arithmetic in
numpy wraps modulo 2**64, as the C++ does.
"""
from typing import Sequence

import numpy as np

_K0 = np.uint64(0xC3A5C85C97CB3127)
_K1 = np.uint64(0xB492B66FBE98F273)
_K2 = np.uint64(0x9AE16A3B2F90404F)
MAX_LENGTH = 32


def _u64(x) -> np.ndarray:
  return np.asarray(x, dtype=np.uint64)


def _rotate(x: np.ndarray, shift: int) -> np.ndarray:
  return (x >> np.uint64(shift)) | (x << np.uint64(64 - shift))


def _shift_mix(x: np.ndarray) -> np.ndarray:
  return x ^ (x >> np.uint64(47))


def _hash_len16(u: np.ndarray, v: np.ndarray, mul: np.ndarray) -> np.ndarray:
  a = _shift_mix((u ^ v) * mul)
  b = _shift_mix((v ^ a) * mul)
  return b * mul


def _fetch(data: np.ndarray, start: int, width: int) -> np.ndarray:
  """Little-endian loads of `width` bytes at `start` of every row of an (n, length) uint8 array."""
  chunk = np.ascontiguousarray(data[:, start:start + width])
  return chunk.view('<u8' if width == 8 else '<u4').reshape(-1).astype(np.uint64)


def _fingerprint_fixed(data: np.ndarray) -> np.ndarray:
  """Fingerprint64 of each row of an (n, length) uint8 array, all rows of one length."""
  n, length = data.shape
  mul = _K2 + _u64(2 * length)
  if length > 16:
    a = _fetch(data, 0, 8) * _K1
    b = _fetch(data, 8, 8)
    c = _fetch(data, length - 8, 8) * mul
    d = _fetch(data, length - 16, 8) * _K2
    return _hash_len16(_rotate(a + b, 43) + _rotate(c, 30) + d, a + _rotate(b + _K2, 18) + c, mul)
  if length >= 8:
    a = _fetch(data, 0, 8) + _K2
    b = _fetch(data, length - 8, 8)
    c = _rotate(b, 37) * mul + a
    d = (_rotate(a, 25) + b) * mul
    return _hash_len16(c, d, mul)
  if length >= 4:
    a = _fetch(data, 0, 4)
    return _hash_len16(_u64(length) + (a << np.uint64(3)), _fetch(data, length - 4, 4), mul)
  if length > 0:
    y = data[:, 0].astype(np.uint64) + (data[:, length >> 1].astype(np.uint64) << np.uint64(8))
    z = _u64(length) + (data[:, length - 1].astype(np.uint64) << np.uint64(2))
    # y and z are uint32 in the C++; both products are taken in 64 bits there too.
    return _shift_mix(y * _K2 ^ z * _K0) * _K2
  return np.full(n, _K2, dtype=np.uint64)


def fingerprint64_rows(data: np.ndarray) -> np.ndarray:
  """Fingerprint64 of each row of an (n, length) uint8 array: n strings of one length."""
  if data.shape[1] > MAX_LENGTH:
    raise ValueError(f'A categorical token is {data.shape[1]} bytes long; Criteo tokens are 8 hex digits '
                     f'(at most {MAX_LENGTH} bytes are supported).')
  with np.errstate(over='ignore'):
    return _fingerprint_fixed(np.ascontiguousarray(data, dtype=np.uint8))


def fingerprint64(tokens: Sequence[bytes]) -> np.ndarray:
  """FarmHash Fingerprint64 of each byte string (at most MAX_LENGTH bytes) as uint64."""
  out = np.empty(len(tokens), dtype=np.uint64)
  lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
  for length in np.unique(lengths):
    rows = np.nonzero(lengths == length)[0]
    data = np.frombuffer(b''.join(tokens[i] for i in rows), dtype=np.uint8).reshape(len(rows), int(length))
    out[rows] = fingerprint64_rows(data)
  return out
