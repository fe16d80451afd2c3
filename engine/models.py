"""Networks built from a layer list (:class:`~engine.config.ModelConfig`).

Importing this module is light (no torch): :func:`param_count` answers from the config
alone; :func:`build_model` imports torch when first called.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .config import ModelConfig
from .shapes import layer_walk, param_count

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["build_model", "count_params", "init_weight", "param_count"]

# Keras' VarianceScaling truncates at two standard deviations and widens the normal
# so the truncated one keeps the intended variance.
_TRUNC = 0.87962566103423978


def init_weight(weight: torch.Tensor, init: str) -> None:
    """Keras-style initialisers: he_* use fan_in, glorot_* the mean of fan_in and fan_out."""
    import torch
    from torch import nn

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
    """The activation module for ``name`` (none for ``linear``)."""
    from torch import nn

    modules: dict[str, type[nn.Module]] = {
        "relu": nn.ReLU,
        "leaky_relu": nn.LeakyReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "gelu": nn.GELU,
    }
    if name == "linear":
        return []
    return [modules[name]()]


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
    from torch import nn

    steps, last = layer_walk(cfg, n_features, image_shape)  # the one shape walk (engine.shapes)
    mods: list[nn.Module] = []
    if cfg.has_conv:
        assert image_shape is not None  # the walk said so otherwise
        mods.append(nn.Unflatten(1, image_shape))
    for step in steps:
        layer, shape = step.layer, step.shape
        if step.flatten:
            mods.append(nn.Flatten())
        if layer.type == "dense":
            lin = nn.Linear(shape[0], layer.units)
            init_weight(lin.weight, layer.init)
            nn.init.zeros_(lin.bias)
            mods += [lin, *_act(layer.activation)]
        elif layer.type == "conv2d":
            conv = nn.Conv2d(shape[0], layer.filters, layer.kernel, padding=layer.kernel // 2)
            init_weight(conv.weight, layer.init)
            nn.init.zeros_(conv.bias)  # type: ignore[arg-type]  # built with bias=True
            mods += [conv, *_act(layer.activation)]
        elif layer.type == "maxpool":
            mods.append(nn.MaxPool2d(layer.size))
        elif layer.type == "dropout":
            mods.append(nn.Dropout(layer.p) if len(shape) == 1 else nn.Dropout2d(layer.p))
        elif layer.type == "batchnorm":
            norm = nn.BatchNorm1d if len(shape) == 1 else nn.BatchNorm2d
            mods += [norm(shape[0], momentum=layer.momentum), *_act(layer.activation)]
    if len(last) > 1:
        mods.append(nn.Flatten())
    out = nn.Linear(math.prod(last), n_classes)
    init_weight(out.weight, cfg.output_init)
    nn.init.zeros_(out.bias)
    mods.append(out)
    return nn.Sequential(*mods)


def count_params(model: nn.Module) -> int:
    """Trainable parameters of a built model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
