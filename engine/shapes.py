"""Shapes from configs alone: what a dataset gives, and what a layer list makes of it.

Light and at the ground floor: it imports neither the config schema nor data loading nor
torch (layers are read by their ``type`` tag), so the schema, the data panel, the model
panel and :func:`engine.models.build_model` all share the one layer-shape walk
(:func:`layer_walk`) without an import cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .dataset import train_rows

__all__ = ["BUNDLED_SHAPES", "dataset_shape", "LayerStep", "layer_walk", "param_count", "check_param_limit"]

# rows, features, classes and image shape of the bundled sets (known without scikit-learn)
BUNDLED_SHAPES: dict[str, tuple[int, int, int, tuple[int, int, int] | None]] = {
    "digits": (1797, 64, 10, (1, 8, 8)),
    "breast_cancer": (569, 30, 2, None),
    "wine": (178, 13, 3, None),
    "iris": (150, 4, 3, None),
}


def dataset_shape(cfg: Any, csv_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the dataset config ``cfg`` gives, computed from the config without loading any data.

    Returns a dict with ``n_features``, ``n_classes``, ``image_shape``, ``n_train`` (the
    training rows :func:`engine.data.load_dataset` will produce, same rounding and subsample
    rule) and ``known``. A CSV set is only known after it was read once: pass ``csv_info``
    with its ``rows`` (after dropping missing ones), ``n_features`` and ``n_classes``;
    without it ``known`` is False and a 1000-row, 2-feature, 2-class table is assumed.
    """
    image: tuple[int, int, int] | None = None
    known = True
    if cfg.name in BUNDLED_SHAPES:
        rows, feats, classes, image = BUNDLED_SHAPES[cfg.name]
    elif cfg.name == "csv":
        info = csv_info or {}
        rows = int(info.get("rows", 1000))
        feats = int(info.get("n_features", 2))
        classes = int(info.get("n_classes", 2))
        known = bool(info)
    else:
        rows, feats = cfg.n_samples, 2
        classes = cfg.centers if cfg.name in ("blobs", "spiral") else 2
    n_train = train_rows(rows, cfg.train_fraction)
    if cfg.subsample is not None:
        n_train = min(n_train, cfg.subsample)
    return {
        "n_features": feats,
        "n_classes": classes,
        "image_shape": image,
        "n_train": n_train,
        "known": known,
    }


@dataclass(frozen=True)
class LayerStep:
    """One hidden layer on its input: ``flatten`` says a flatten comes first (a dense or
    flatten layer after image-shaped outputs), ``shape`` is the layer's input shape after
    it, ``out`` its output shape and ``params`` its trainable parameters."""

    index: int
    layer: Any
    flatten: bool
    shape: tuple[int, ...]
    out: tuple[int, ...]
    params: int


def layer_walk(
    model_cfg: Any, n_features: int, image_shape: tuple[int, int, int] | None = None
) -> tuple[list[LayerStep], tuple[int, ...]]:
    """Every hidden layer of ``model_cfg`` with its shapes and parameters, and the shape
    the output layer receives (before its own flatten). ValueError in words when the
    layers do not fit the input."""
    shape: tuple[int, ...] = (n_features,)
    if any(layer.type in ("conv2d", "maxpool") for layer in model_cfg.layers):
        if image_shape is None:
            raise ValueError("conv2d/maxpool layers need an image dataset (digits)")
        shape = image_shape
    steps = []
    for i, layer in enumerate(model_cfg.layers):
        t = layer.type
        flatten = t in ("dense", "flatten") and len(shape) > 1
        if flatten:
            shape = (math.prod(shape),)
        params = 0
        out = shape
        if t == "dense":
            params = shape[0] * layer.units + layer.units
            out = (layer.units,)
        elif t == "conv2d":
            params = shape[0] * layer.filters * layer.kernel**2 + layer.filters
            pad = layer.kernel // 2
            out = (layer.filters, *(shape[d] + 2 * pad - layer.kernel + 1 for d in (1, 2)))
        elif t == "maxpool":
            h, w = shape[1] // layer.size, shape[2] // layer.size
            if h < 1 or w < 1:
                raise ValueError(
                    f"model.layers[{i}]: maxpool of size {layer.size} on a {shape[1]}x{shape[2]} "
                    "feature map leaves nothing; use fewer or smaller pooling layers"
                )
            out = (shape[0], h, w)
        elif t == "batchnorm":
            params = 2 * shape[0]  # scale and shift per feature or channel
        steps.append(LayerStep(i, layer, flatten, shape, out, params))
        shape = out
    return steps, shape


def param_count(
    model_cfg: Any, n_features: int, n_classes: int, image_shape: tuple[int, int, int] | None = None
) -> int:
    """Trainable parameters of ``build_model(model_cfg, ...)``, from the config alone (no torch).

    The same walk :func:`engine.models.build_model` builds from (a test checks they agree);
    raises ValueError in words when the layers do not fit the input.
    """
    steps, last = layer_walk(model_cfg, n_features, image_shape)
    return sum(s.params for s in steps) + math.prod(last) * n_classes + n_classes


def check_param_limit(model_cfg: Any, shape: dict[str, Any], limit: int) -> None:
    """ValueError naming ``model.layers`` when the model on a dataset of ``shape``
    (:func:`dataset_shape`) has more than ``limit`` parameters, with a memory estimate.
    Layers that do not fit the input (a pooling that leaves nothing) are a ValueError naming
    the layer, so validation refuses them before any run."""
    n = param_count(model_cfg, shape["n_features"], shape["n_classes"], shape["image_shape"])
    if n > limit:
        raise ValueError(
            f"model.layers make {n:,} parameters; the limit is {limit:,} (memory estimate: "
            f"weights, gradients and two optimizer moments would take {16 * n / 1e9:.1f} GB of "
            "float32); use fewer or narrower layers"
        )
