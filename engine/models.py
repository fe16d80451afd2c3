"""Networks built from a layer list (:class:`~engine.config.ModelConfig`)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import BatchNorm, Conv2d, Dense, Dropout, Flatten, MaxPool, ModelConfig

__all__ = ["build_model", "count_params", "init_weight", "ACTIVATIONS"]

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "linear": None,
}

# Keras' VarianceScaling truncates at two standard deviations and widens the normal
# so the truncated one keeps the intended variance.
_TRUNC = 0.87962566103423978


def init_weight(weight: torch.Tensor, init: str) -> None:
    """Keras-style initialisers: he_* use fan_in, glorot_* the mean of fan_in and fan_out."""
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
    with torch.no_grad():
        if init == "he_uniform":
            bound = math.sqrt(6.0 / fan_in)
            weight.uniform_(-bound, bound)
        elif init == "glorot_uniform":
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            weight.uniform_(-bound, bound)
        elif init in ("he_normal", "glorot_normal"):
            var = 2.0 / fan_in if init == "he_normal" else 2.0 / (fan_in + fan_out)
            std = math.sqrt(var) / _TRUNC
            nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)
        else:
            raise ValueError(f"unknown initializer {init!r}")


def _act(name: str) -> list[nn.Module]:
    cls = ACTIVATIONS[name]
    return [] if cls is None else [cls()]


def build_model(
    cfg: ModelConfig,
    n_features: int,
    n_classes: int,
    image_shape: tuple[int, int, int] | None = None,
) -> nn.Sequential:
    """The network for ``cfg``, ending in a linear layer of ``n_classes`` logits.

    Image sets arrive flat; a model with conv layers first reshapes to ``image_shape``
    and flattens before the first dense layer if the list does not say so itself.
    Initialise under a seed (``torch.manual_seed``) for reproducible weights.
    """
    mods: list[nn.Module] = []
    shape: tuple[int, ...] = (n_features,)
    if cfg.has_conv:
        if image_shape is None:
            raise ValueError("conv2d/maxpool layers need an image dataset (digits)")
        mods.append(nn.Unflatten(1, image_shape))
        shape = image_shape

    def flatten() -> None:
        nonlocal shape
        if len(shape) > 1:
            mods.append(nn.Flatten())
            shape = (math.prod(shape),)

    for i, layer in enumerate(cfg.layers):
        if isinstance(layer, Dense):
            flatten()
            lin = nn.Linear(shape[0], layer.units)
            init_weight(lin.weight, layer.init)
            nn.init.zeros_(lin.bias)
            mods += [lin, *_act(layer.activation)]
            shape = (layer.units,)
        elif isinstance(layer, Conv2d):
            conv = nn.Conv2d(shape[0], layer.filters, layer.kernel, padding=layer.kernel // 2)
            init_weight(conv.weight, layer.init)
            nn.init.zeros_(conv.bias)
            mods += [conv, *_act(layer.activation)]
            pad = layer.kernel // 2
            h = shape[1] + 2 * pad - layer.kernel + 1
            w = shape[2] + 2 * pad - layer.kernel + 1
            shape = (layer.filters, h, w)
        elif isinstance(layer, MaxPool):
            h, w = shape[1] // layer.size, shape[2] // layer.size
            if h < 1 or w < 1:
                raise ValueError(
                    f"model.layers[{i}]: maxpool of size {layer.size} on a {shape[1]}x{shape[2]} "
                    "feature map leaves nothing; use fewer or smaller pooling layers"
                )
            mods.append(nn.MaxPool2d(layer.size))
            shape = (shape[0], h, w)
        elif isinstance(layer, Flatten):
            flatten()
        elif isinstance(layer, Dropout):
            mods.append(nn.Dropout(layer.p) if len(shape) == 1 else nn.Dropout2d(layer.p))
        elif isinstance(layer, BatchNorm):
            bn = nn.BatchNorm1d(shape[0], momentum=layer.momentum) if len(shape) == 1 else (
                nn.BatchNorm2d(shape[0], momentum=layer.momentum)
            )
            mods += [bn, *_act(layer.activation)]
    flatten()
    out = nn.Linear(shape[0], n_classes)
    init_weight(out.weight, cfg.output_init)
    nn.init.zeros_(out.bias)
    mods.append(out)
    return nn.Sequential(*mods)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
