"""ResNet-50's parameter list, built from the architecture, in torchvision's layout or flax's.

Stem conv 7x7 (64) + BN; bottleneck stages of (3, 4, 6, 3) blocks with widths 64..512 and
expansion 4, each block conv1x1 -> conv3x3 -> conv1x1 with a BN (scale + bias) after each
conv and a conv1x1 + BN projection on the first block of a stage; fc 2048 x 1000 + bias.
161 tensors, 25,557,032 parameters.

Layouts: torch holds a conv kernel as (out, in, kh, kw) and a linear weight as (out, in); flax (the
JAX workloads) as (kh, kw, in, out) and (in, out). Same sizes; the minor dimension differs, and
XLA:CPU's elementwise loops are slow on a minor dimension of 3 or 7, which a JAX model never has.
"""

STAGES = ((3, 64), (4, 128), (6, 256), (3, 512))
EXPANSION = 4


def param_shapes(layout='torch'):
  if layout == 'flax':
    to_flax = {4: lambda s: (s[2], s[3], s[1], s[0]), 2: lambda s: (s[1], s[0]), 1: lambda s: s}
    return [to_flax[len(s)](s) for s in param_shapes('torch')]
  if layout != 'torch':
    raise ValueError(f"layout={layout!r}: choose 'torch' or 'flax'")
  shapes = [(64, 3, 7, 7), (64,), (64,)]
  in_ch = 64
  for blocks, width in STAGES:
    out_ch = width * EXPANSION
    for b in range(blocks):
      shapes += [(width, in_ch, 1, 1), (width,), (width,),
                 (width, width, 3, 3), (width,), (width,),
                 (out_ch, width, 1, 1), (out_ch,), (out_ch,)]
      if b == 0:
        shapes += [(out_ch, in_ch, 1, 1), (out_ch,), (out_ch,)]
      in_ch = out_ch
  shapes += [(1000, 2048), (1000,)]
  return shapes


def param_sizes():
  sizes = []
  for s in param_shapes():
    n = 1
    for d in s:
      n *= d
    sizes.append(n)
  return sizes
