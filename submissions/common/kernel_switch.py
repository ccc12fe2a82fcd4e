"""Whether submissions run their element-wise updates on the fused kernels (//kernels:algoperf_kernels).

The kernels are part of the benchmark's platform, open to every submission alike, so they are the default.
`ALGOPERF_KERNELS=off` (or 0/false/no) switches every submission to its plain framework path with the same
math: for parity tests and for measuring what the kernels buy. Read at optimizer construction, so a test
may flip it between trials.
"""
import os

_OFF = ('off', '0', 'false', 'no')
_ON = ('', 'on', '1', 'true', 'yes')


def kernels_enabled() -> bool:
  value = os.environ.get('ALGOPERF_KERNELS', '').strip().lower()
  if value in _OFF:
    return False
  if value in _ON:
    return True
  raise ValueError(f'ALGOPERF_KERNELS={value!r} is not understood; set it to "on" (the default) or "off".')
