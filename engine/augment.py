"""Training-time data augmentation, vectorised over a minibatch."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .config import Augmentation
from .data import Dataset

__all__ = ["Augmenter"]


class Augmenter:
    """Applies :class:`~engine.config.Augmentation` to a batch.

    Returns ``(x, soft_targets)``; ``soft_targets`` is None unless mixup is on, in which
    case it holds mixed one-hot rows for ``F.cross_entropy``. Image options act on image
    sets only (they are reshaped to ``image_shape``); ``jitter`` acts on any features.
    """

    def __init__(self, cfg: Augmentation, dataset: Dataset, seed: int = 0) -> None:
        self.cfg = cfg
        self.image_shape = dataset.image_shape
        self.n_classes = dataset.n_classes
        self.gen = torch.Generator().manual_seed(seed + 7919)

    def _rand(self, *shape: int, device: torch.device) -> torch.Tensor:
        return torch.rand(*shape, generator=self.gen).to(device)

    def _randn(self, *shape: int, device: torch.device) -> torch.Tensor:
        return torch.randn(*shape, generator=self.gen).to(device)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        c, dev, b = self.cfg, x.device, x.shape[0]
        if c.jitter:
            x = x + c.jitter * self._randn(*x.shape, device=dev)
        if self.image_shape is not None and (c.shift or c.rotate or c.cutout or c.noise):
            img = x.reshape(b, *self.image_shape)
            h, w = self.image_shape[1], self.image_shape[2]
            if c.shift or c.rotate:
                angle = (self._rand(b, device=dev) * 2 - 1) * math.radians(c.rotate)
                tx = torch.randint(-c.shift, c.shift + 1, (b,), generator=self.gen).to(dev) * (2.0 / w)
                ty = torch.randint(-c.shift, c.shift + 1, (b,), generator=self.gen).to(dev) * (2.0 / h)
                cos, sin = torch.cos(angle), torch.sin(angle)
                theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1).to(
                    img.dtype
                )
                grid = F.affine_grid(theta, list(img.shape), align_corners=False)
                img = F.grid_sample(img, grid, padding_mode="zeros", align_corners=False)
            if c.cutout:
                cy = torch.randint(0, h, (b, 1, 1), generator=self.gen).to(dev)
                cx = torch.randint(0, w, (b, 1, 1), generator=self.gen).to(dev)
                rows = torch.arange(h, device=dev).view(1, h, 1)
                cols = torch.arange(w, device=dev).view(1, 1, w)
                half = c.cutout // 2
                mask = ((rows - cy).abs() <= half) & ((cols - cx).abs() <= half)
                img = img * (~mask).unsqueeze(1).to(img.dtype)
            if c.noise:
                img = img + c.noise * self._randn(*img.shape, device=dev)
            x = img.reshape(b, -1)
        soft = None
        if c.mixup:
            lam = float(torch.distributions.Beta(c.mixup, c.mixup).sample())
            perm = torch.randperm(b, generator=self.gen).to(dev)
            x = lam * x + (1 - lam) * x[perm]
            onehot = F.one_hot(y, self.n_classes).to(x.dtype)
            soft = lam * onehot + (1 - lam) * onehot[perm]
        return x, soft
