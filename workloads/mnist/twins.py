"""Copying MNIST weights from the Flax model into its PyTorch twin (parity tests)."""
import numpy as np
import torch


def copy_jax_params_to_torch(params, model: torch.nn.Module) -> None:
  """Dense kernels are stored (in, out) in Flax and (out, in) in torch.nn.Linear."""
  with torch.no_grad():
    for layer, dense in (('layer1', 'Dense_0'), ('layer2', 'Dense_1')):
      getattr(model.net, layer).weight.copy_(torch.from_numpy(np.asarray(params[dense]['kernel']).T.copy()))
      getattr(model.net, layer).bias.copy_(torch.from_numpy(np.asarray(params[dense]['bias']).copy()))
