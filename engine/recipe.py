"""The tuning recipe's automatic checks (reading list, article 2): does the model learn at all?

Step 1, :func:`initial_loss_check`: at initialisation, before any update and with every
penalty off, the mean cross-entropy on the training set should be about ``ln C`` for
``C`` classes (within 10 %): the network then starts with no preference among the
classes. A loss far off means a wrong output layer or scaling (huge initial weights,
unscaled inputs).

Step 2, :func:`overfit_check`: trained on a tiny subset (20 examples) with every
regulariser off, the model must reach 100 % training accuracy. If it cannot, the model
or the optimizer is broken (or the rate far too small), not the data. The run goes
through the one training loop (:func:`engine.trainer.train`).

Steps 3 to 6 (LR range test, regularise until the gap closes, try a schedule, the final
run) are guided, not automatic: :data:`LATER_STEPS` says what to do in each.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from .config import Augmentation, EarlyStopping, RegularizationConfig, RunConfig
from .data import Dataset, load_dataset
from .kernels import evaluate
from .trainer import prepare, train

__all__ = ["CheckResult", "initial_loss_check", "overfit_check", "run_recipe", "LATER_STEPS"]

OVERFIT_EXAMPLES = 20
OVERFIT_EPOCHS = 300
LOSS_TOLERANCE = 0.10

LATER_STEPS = (
    "3. LR range test: 'optiscope lrfind' (Tools -> LR range test in the window); pick a rate where the "
    "loss falls fastest, about ten times below where it stops falling.",
    "4. Train on all the data at that rate and add regularisation (L2, dropout, early stopping, "
    "augmentation) until the train/validation gap (summary.json train_val_gap) closes.",
    "5. Try a schedule (plateau or cyclical) and compare with the constant rate.",
    "6. The final run: store it ('optiscope run' records it in the run store) and export its summary.",
)


@dataclass(frozen=True)
class CheckResult:
    step: int
    name: str
    passed: bool
    numbers: dict
    message: str
    advice: str

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _unregularised(cfg: RunConfig) -> RunConfig:
    """``cfg`` with every penalty, augmentation, early stop and dropout off."""
    layers = tuple(
        layer.model_copy(update={"p": 0.0}) if layer.type == "dropout" else layer
        for layer in cfg.model.layers
    )
    opt = cfg.optimizer.model_copy(update={"weight_decay": 0.0})
    reg = RegularizationConfig(augmentation=Augmentation(), early_stopping=EarlyStopping())
    return cfg.model_copy(
        update={
            "model": cfg.model.model_copy(update={"layers": layers}),
            "optimizer": opt,
            "regularization": reg,
        }
    )


def initial_loss_check(cfg: RunConfig, dataset: Dataset | None = None) -> CheckResult:
    """Step 1: the loss at initialisation against ``ln C``."""
    ds = dataset if dataset is not None else load_dataset(cfg.dataset)
    p = prepare(_unregularised(cfg), ds)
    loss, acc = evaluate(p.model, p.x_train, p.y_train)
    expected = math.log(ds.n_classes)
    off = loss / expected - 1
    passed = abs(off) <= LOSS_TOLERANCE
    return CheckResult(
        1,
        "initial loss ~ ln(classes)",
        passed,
        {"initial_loss": loss, "ln_classes": expected, "relative_difference": off, "classes": ds.n_classes},
        f"initial loss {loss:.4f} vs ln({ds.n_classes}) = {expected:.4f} ({off:+.1%}; allowed +-10 %)",
        "fine: the network starts without a preference among the classes"
        if passed
        else "check the output layer (one unit per class, no activation) and the scale of the initial "
        "weights and of the inputs (standardise the features)",
    )


def overfit_check(cfg: RunConfig, dataset: Dataset | None = None) -> CheckResult:
    """Step 2: 100 % training accuracy on :data:`OVERFIT_EXAMPLES` examples, regularisers off."""
    ds = dataset if dataset is not None else load_dataset(cfg.dataset)
    n = min(OVERFIT_EXAMPLES, len(ds.y_train))
    tiny = dataclasses.replace(ds, x_train=ds.x_train[:n], y_train=ds.y_train[:n])
    training = cfg.training.model_copy(
        update={"epochs": OVERFIT_EPOCHS, "batch_size": min(cfg.training.batch_size, n), "eval_train": True}
    )
    run = _unregularised(cfg).model_copy(update={"training": training})
    result = train(run, dataset=tiny, keep_model=False, stats_every=0)
    best = max((e.train_acc for e in result.epochs), default=0.0)
    reached = next((e.epoch for e in result.epochs if e.train_acc >= 1.0), None)
    passed = reached is not None
    final_loss = result.final.train_loss if result.final else math.nan
    if passed:
        advice = "fine: the model and the optimizer can learn"
    elif result.reason == "diverged" or not math.isfinite(final_loss):
        advice = "the loss went to Inf/NaN: the learning rate is too large or the initialisation is bad"
    else:
        advice = (
            "the loss does not fall far enough: the learning rate may be too small, the model too small "
            "or its initialisation bad -- the model or the optimizer is at fault, not the data"
        )
    return CheckResult(
        2,
        f"overfit {n} examples to 100 %",
        passed,
        {
            "examples": n,
            "epochs": len(result.epochs),
            "best_train_acc": best,
            "epoch_reached": reached,
            "final_train_loss": final_loss,
            "reason": result.reason,
        },
        (
            f"100 % training accuracy on {n} examples at epoch {reached}"
            if passed
            else f"best training accuracy {best:.1%} on {n} examples after {len(result.epochs)} epochs"
        ),
        advice,
    )


def run_recipe(cfg: RunConfig) -> list[CheckResult]:
    """Steps 1 and 2 on ``cfg`` (one dataset load)."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    ds = load_dataset(cfg.dataset)
    return [initial_loss_check(cfg, ds), overfit_check(cfg, ds)]
