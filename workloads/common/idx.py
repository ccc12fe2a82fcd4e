"""Reading and writing the IDX format of the MNIST files (optionally gzipped)."""
import gzip
import os
import struct

import numpy as np

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype('>i2'), 0x0C: np.dtype('>i4'),
           0x0D: np.dtype('>f4'), 0x0E: np.dtype('>f8')}
_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}


def _open(path: str, mode: str):
  return gzip.open(path, mode) if path.endswith('.gz') else open(path, mode)


def read_idx(path: str) -> np.ndarray:
  with _open(path, 'rb') as f:
    data = f.read()
  if len(data) < 4 or data[0] != 0 or data[1] != 0:
    raise ValueError(f'{path} is not an IDX file (bad magic number); rebuild it with tools:make_datasets.')
  code, ndim = data[2], data[3]
  if code not in _DTYPES:
    raise ValueError(f'{path}: unknown IDX element type 0x{code:02x}.')
  shape = struct.unpack('>' + 'I' * ndim, data[4:4 + 4 * ndim])
  dtype = np.dtype(_DTYPES[code])
  expected = int(np.prod(shape)) * dtype.itemsize
  body = data[4 + 4 * ndim:]
  if len(body) != expected:
    raise ValueError(f'{path} is truncated: {len(body)} bytes of data, {expected} expected for shape {shape}.')
  return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder('='))


def write_idx(path: str, array: np.ndarray) -> None:
  array = np.ascontiguousarray(array)
  if array.dtype not in _CODES:
    raise ValueError(f'write_idx supports uint8 and int8 arrays, not {array.dtype}.')
  header = bytes([0, 0, _CODES[array.dtype], array.ndim]) + struct.pack('>' + 'I' * array.ndim, *array.shape)
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  # mtime=0 keeps the gzip bytes reproducible.
  with open(path, 'wb') as raw:
    if path.endswith('.gz'):
      with gzip.GzipFile(fileobj=raw, mode='wb', mtime=0) as f:
        f.write(header + array.tobytes())
    else:
      raw.write(header + array.tobytes())
