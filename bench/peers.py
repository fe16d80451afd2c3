"""The peers the benchmarks measure Optiscope against, shared by the bench scripts.

Imported as ``peers`` (the bench scripts run from this folder: ``python bench/NAME.py``).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import make_blobs
from sklearn.neural_network import MLPClassifier


def blobs() -> tuple[np.ndarray, ...]:
    """The studies' set-up: make_blobs(1000, 3 centres, std 2, seed 2); first 500 train."""
    x, y = make_blobs(n_samples=1000, centers=3, n_features=2, cluster_std=2, random_state=2)
    x = x.astype(np.float32)
    return x[:500], y[:500], x[500:], y[500:]


def dataloader_run(lr: float, epochs: int, seed: int = 1) -> float:
    """A plain PyTorch loop: DataLoader(shuffle, batch 32), MLP 2-50-3, SGD, train and test
    evaluated every epoch (as Optiscope does). Returns the final test accuracy."""
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    xtr, ytr, xte, yte = (torch.as_tensor(a) for a in blobs())
    ytr, yte = ytr.long(), yte.long()
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 50), nn.ReLU(), nn.Linear(50, 3))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(xtr, ytr), batch_size=32, shuffle=True)
    acc = 0.0
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            for x, y in ((xtr, ytr), (xte, yte)):
                logits = model(x)
                _loss = float(loss_fn(logits, y))
                acc = float((logits.argmax(1) == y).float().mean())
    return acc


def sklearn_mlp(lr: float, epochs: int, max_iter: int) -> MLPClassifier:
    """scikit-learn's MLP set up as the studies' run: Dense(50, relu), plain SGD at ``lr``,
    batch 32, no penalty, no early stopping (``max_iter`` 1 for a ``partial_fit`` loop)."""
    return MLPClassifier(
        hidden_layer_sizes=(50,),
        activation="relu",
        solver="sgd",
        learning_rate="constant",
        learning_rate_init=lr,
        momentum=0.0,
        nesterovs_momentum=False,
        batch_size=32,
        alpha=0.0,
        max_iter=max_iter,
        shuffle=True,
        random_state=1,
        tol=0.0,
        n_iter_no_change=epochs + 1,
        early_stopping=False,
    )
