"""ResNet-50's parameter list (torchvision layout), built from the architecture.

Stem conv 7x7 (64) + BN; bottleneck stages of (3, 4, 6, 3) blocks with widths 64..512 and
expansion 4, each block conv1x1 -> conv3x3 -> conv1x1 with a BN (scale + bias) after each
conv and a conv1x1 + BN projection on the first block of a stage; fc 2048 x 1000 + bias.
161 tensors, 25,557,032 parameters.
"""

STAGES = ((3, 64), (4, 128), (6, 256), (3, 512))
EXPANSION = 4


def param_shapes():
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
