"""Maps the PyTorch U-Net's weights onto the Flax U-Net's parameter tree (twin parity tests, checkpoints).

Block order: JAX ConvBlock_0..P-1 are down_sample_layers, ConvBlock_P is conv (the bottleneck), and
ConvBlock_{P+1+i} is up_conv.i (its ConvBlock part for the last one); TransposeConvBlock_i is
up_transpose_conv.i; Conv_0 is the final 1x1 conv up_conv.{P-1}.1.
"""
from typing import Any, Dict, List

import numpy as np


def _np(tensor) -> np.ndarray:
  return tensor.detach().cpu().numpy()


def conv_kernel(weight) -> np.ndarray:
  """Conv2d (out, in, kh, kw) -> flax Conv (kh, kw, in, out)."""
  return np.transpose(_np(weight), (2, 3, 1, 0))


def conv_transpose_kernel(weight) -> np.ndarray:
  """ConvTranspose2d (in, out, kh, kw) -> flax ConvTranspose (kh, kw, in, out), spatially flipped.

  flax.linen.ConvTranspose (transpose_kernel=False) correlates the dilated input with its kernel, where
  PyTorch scatters each input pixel through the kernel; the two agree with the kernel flipped in H and W.
  """
  return np.transpose(_np(weight), (2, 3, 0, 1))[::-1, ::-1].copy()


def _conv_block(block, use_layer_norm: bool) -> Dict[str, Any]:
  layers = block.conv_layers
  params = {'Conv_0': {'kernel': conv_kernel(layers[0].weight)},
            'Conv_1': {'kernel': conv_kernel(layers[4].weight)}}
  if use_layer_norm:
    for name, norm in (('LayerNorm_0', layers[1]), ('LayerNorm_1', layers[5])):
      params[name] = {'scale': _np(norm.weight), 'bias': _np(norm.bias)}
  return params


def torch_to_flax(model, use_layer_norm: bool) -> Dict[str, Any]:
  """The Flax `params` tree holding the weights of a models.UNet (PyTorch)."""
  model = getattr(model, 'module', model)  # DDP.
  num_pool = len(model.down_sample_layers)
  blocks: List[Any] = list(model.down_sample_layers) + [model.conv]
  blocks += [conv if i < num_pool - 1 else getattr(conv, '0') for i, conv in enumerate(model.up_conv)]
  params = {f'ConvBlock_{i}': _conv_block(block, use_layer_norm) for i, block in enumerate(blocks)}
  for i, block in enumerate(model.up_transpose_conv):
    params[f'TransposeConvBlock_{i}'] = {'ConvTranspose_0': {'kernel': conv_transpose_kernel(block.layers[0].weight)}}
  final = getattr(model.up_conv[num_pool - 1], '1')
  params['Conv_0'] = {'kernel': conv_kernel(final.weight), 'bias': _np(final.bias)}
  return params
