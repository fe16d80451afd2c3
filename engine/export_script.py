"""Export an experiment as one standalone PyTorch script (``optiscope export-script``).

:func:`export_script` writes readable Python that needs only torch, numpy and scikit-learn
(never Optiscope): the same data (generator, seed, split and preprocessing, or the CSV file
read the same way), each run's model as an ``nn.Sequential`` subclass built and initialised
in the order :func:`engine.models.build_model` builds it, the ``torch.optim`` optimizer, the
``torch.optim.lr_scheduler`` schedule, the penalties, early stopping and the plain training
loop of :class:`engine.kernels.TorchKernel` driven as :func:`engine.loop.drive` drives it
(minibatch order from ``torch.randperm`` with a generator seeded by ``training.seed``).
Run as exported, it prints each run's label and per-epoch metrics.

Every registered optimizer exports, with the arguments its part's ``torch_kwargs`` gives:
a ``torch.optim`` class; a class written out in the script where torch has none (Muon on the
matrices + AdamW on the rest, Lion); or the class of its authors' package (Schedule-Free,
Prodigy), imported under a guard that names the ``pip install`` line with the version
Optiscope trained with. A schedule-free optimizer is switched to its averaged weights for
every evaluation where Optiscope's loop switches it. Every registered schedule exports as a
``torch.optim.lr_scheduler`` class or a ``LambdaLR`` formula written out, after the warm-up.

A setting the script cannot reproduce raises :class:`NotExportable` (one line) instead of
writing a script that silently trains something else.

Light: imports no torch (only the config, the optimizer and schedule registries, and the
dataset shape rules).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .config import (
    BatchNorm,
    Conv2d,
    Dense,
    Dropout,
    ExperimentConfig,
    Flatten,
    MaxPool,
    ModelConfig,
    RunConfig,
)
from .optimizers import part_for
from .optimizers.base import OptimizerPart
from .optimizers.muon import ADAMW_BETAS, ADAMW_EPS
from .schedules import part_for as schedule_part

__all__ = ["NotExportable", "csv_shapes", "export_script", "select_runs"]


class NotExportable(ValueError):
    """A setting the exported script cannot reproduce faithfully; the message names it."""


def select_runs(exp: ExperimentConfig, run: int | None, all_runs: bool) -> list[int]:
    """The run indices to export: ``run``, every run (``all_runs``), or the only run."""
    n = len(exp.runs())
    if run is not None and all_runs:
        raise NotExportable("give --run N or --all, not both")
    if all_runs:
        return list(range(n))
    if run is None:
        if n == 1:
            return [0]
        raise NotExportable(f"this experiment has {n} runs: give --run N (0-{n - 1}) or --all")
    if not 0 <= run < n:
        raise NotExportable(f"--run {run} is out of range: this experiment has runs 0-{n - 1}")
    return [run]


def csv_shapes(exp: ExperimentConfig, indices: Sequence[int]) -> dict[int, dict]:
    """Rows, features and classes of each exported CSV dataset (the file is read once here,
    so a bad file fails now, with the same message as 'optiscope run': DataError)."""
    from .data import load_dataset

    runs = exp.runs()
    out: dict[int, dict] = {}
    seen: dict[Any, dict] = {}
    for i in indices:
        d = runs[i].dataset
        if d.name != "csv":
            continue
        if d not in seen:
            ds = load_dataset(d.model_copy(update={"subsample": None}))
            seen[d] = {
                "rows": len(ds.y_train) + len(ds.y_val),
                "n_features": ds.n_features,
                "n_classes": ds.n_classes,
            }
        out[i] = seen[d]
    return out


# --------------------------------------------------------------------------- code pieces
def _f(v: float) -> str:
    """A float literal that reads back exactly (``float("inf")`` for an infinite one, e.g.
    Prodigy's unlimited ``growth_rate``)."""
    v = float(v)
    return repr(v) if math.isfinite(v) else f'float("{v}")'


_ACT = {
    "relu": "nn.ReLU()",
    "leaky_relu": "nn.LeakyReLU()",
    "tanh": "nn.Tanh()",
    "sigmoid": "nn.Sigmoid()",
    "gelu": "nn.GELU()",
}


def _shape(cfg: RunConfig, csv_shape: dict[str, Any] | None) -> tuple[int, int, tuple[int, int, int] | None]:
    from .data import dataset_shape

    info = dataset_shape(cfg.dataset, csv_shape)
    return int(info["n_features"]), int(info["n_classes"]), info["image_shape"]


def _model_class(
    name: str, model: ModelConfig, n_features: int, n_classes: int, image: tuple[int, int, int] | None
) -> str:
    """An ``nn.Sequential`` subclass: the same modules, made and initialised in the same order
    as ``engine.models.build_model`` (so ``torch.manual_seed`` gives the same weights and its
    ``state_dict`` keys are Optiscope's)."""
    lines: list[tuple[str, str]] = []  # (code, comment)
    shape: tuple[int, ...] = (n_features,)
    if model.has_conv:
        assert image is not None
        lines.append((f"nn.Unflatten(1, {image}),", f"flat input -> {image[0]}x{image[1]}x{image[2]} image"))
        shape = image

    def flatten(why: str) -> None:
        nonlocal shape
        if len(shape) > 1:
            lines.append(("nn.Flatten(),", why))
            shape = (math.prod(shape),)

    for i, layer in enumerate(model.layers):
        where = f"Model panel, layer {i + 1}"
        if isinstance(layer, Dense):
            flatten(f"{where}: flatten before dense")
            lines.append(
                (
                    f'dense({shape[0]}, {layer.units}, "{layer.init}"),',
                    f"{where}: dense {layer.units} units, init {layer.init}",
                )
            )
            if layer.activation != "linear":
                lines.append((f"{_ACT[layer.activation]},", f"{where}: activation {layer.activation}"))
            shape = (layer.units,)
        elif isinstance(layer, Conv2d):
            lines.append(
                (
                    f'conv2d({shape[0]}, {layer.filters}, {layer.kernel}, "{layer.init}"),',
                    f"{where}: conv2d {layer.filters} filters {layer.kernel}x{layer.kernel}, "
                    f"init {layer.init}",
                )
            )
            if layer.activation != "linear":
                lines.append((f"{_ACT[layer.activation]},", f"{where}: activation {layer.activation}"))
            pad = layer.kernel // 2
            shape = (
                layer.filters,
                shape[1] + 2 * pad - layer.kernel + 1,
                shape[2] + 2 * pad - layer.kernel + 1,
            )
        elif isinstance(layer, MaxPool):
            lines.append((f"nn.MaxPool2d({layer.size}),", f"{where}: max pooling {layer.size}x{layer.size}"))
            shape = (shape[0], shape[1] // layer.size, shape[2] // layer.size)
        elif isinstance(layer, Flatten):
            flatten(f"{where}: flatten")
        elif isinstance(layer, Dropout):
            kind = "nn.Dropout" if len(shape) == 1 else "nn.Dropout2d"
            lines.append((f"{kind}({_f(layer.p)}),", f"{where}: dropout p={layer.p:g}"))
        elif isinstance(layer, BatchNorm):
            kind = "nn.BatchNorm1d" if len(shape) == 1 else "nn.BatchNorm2d"
            lines.append((f"{kind}({shape[0]}, momentum={_f(layer.momentum)}),", f"{where}: batch norm"))
            if layer.activation != "linear":
                lines.append((f"{_ACT[layer.activation]},", f"{where}: activation {layer.activation}"))
    flatten("flatten before the output layer")
    lines.append(
        (
            f'dense({shape[0]}, {n_classes}, "{model.output_init}"),',
            f"output layer: one logit per class, init {model.output_init}",
        )
    )
    width = max(len(code) for code, _ in lines)
    body = "\n".join(f"            {code:<{width}}  # {comment}" for code, comment in lines)
    return (
        f"class {name}(nn.Sequential):\n"
        f'    """{n_features} inputs -> {n_classes} logits (softmax + cross-entropy in the loss)."""\n\n'
        "    def __init__(self):\n"
        "        super().__init__(\n"
        f"{body}\n"
        "        )\n"
    )


def _data_call(cfg: RunConfig) -> tuple[str, str]:
    """The code that loads the run's data, and its comment."""
    d = cfg.dataset
    common = f"train_fraction={_f(d.train_fraction)}, subsample={d.subsample!r}"
    if d.name == "csv":
        std = "True" if d.standardize is None else repr(d.standardize)
        return (
            f"load_csv({d.path!r}, target={d.target!r}, drop_missing={d.drop_missing!r}, "
            f"seed={d.seed}, standardize={std}, {common})",
            f"Data panel: CSV file, target column {d.target!r}, shuffled with seed {d.seed}",
        )
    if d.name in ("digits", "breast_cancer", "wine", "iris"):
        scaled = (d.name != "digits") if d.standardize is None else d.standardize
        return (
            f'load_bundled("{d.name}", seed={d.seed}, standardize={scaled!r}, {common})',
            f"Data panel: scikit-learn's {d.name} set, shuffled with seed {d.seed}",
        )
    from .data import DEFAULT_NOISE

    noise = DEFAULT_NOISE[d.name] if d.noise is None else d.noise
    centers = d.centers if d.name in ("blobs", "spiral") else 2
    return (
        f'load_synthetic("{d.name}", n_samples={d.n_samples}, noise={_f(noise)}, centers={centers}, '
        f"seed={d.seed}, standardize={bool(d.standardize)!r}, {common})",
        f"Data panel: {d.name}, {d.n_samples} samples, noise {noise:g}, seed {d.seed}",
    )


#: optimizers torch.optim has no class for, whose class the script writes out: kind -> class name
_OWN_CLASSES = {"muon": "MuonWithAdamW", "lion": "Lion"}


def _literal(v: Any) -> str:
    if isinstance(v, bool):
        return repr(v)
    if isinstance(v, float):
        return _f(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(_literal(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


def _package_version(package: str) -> str:
    """The installed version of an optimizer's package (the one Optiscope trained with)."""
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


def _optimizer_source(kind: str) -> str:
    """What the script calls to make a ``kind`` optimizer.

    Every registered optimizer part is one of: a ``torch.optim`` class built as the base part
    builds it, a class the script writes out (:data:`_OWN_CLASSES`), or its authors' package
    (the part's ``package``), imported by the script."""
    part = part_for(kind)
    if kind in _OWN_CLASSES:
        return _OWN_CLASSES[kind]
    if part.package:
        return f"{part.package}.{part.torch_name}"
    if part.build.__func__ is OptimizerPart.build.__func__:  # type: ignore[attr-defined]
        return f"torch.optim.{part.torch_name}"
    raise NotExportable(f"optimizer {kind!r} has no counterpart in the exported script")


def _optimizer_code(cfg: RunConfig) -> str:
    """``optimizer = ...(model.parameters(), ...)`` with every hyperparameter Optiscope passes
    (the optimizer part's ``torch_kwargs``, so the two cannot drift apart)."""
    o: Any = cfg.optimizer
    part = part_for(o.kind)
    call = _optimizer_source(o.kind)
    parts = [f"{arg}={_literal(value)}" for arg, value in part.torch_kwargs(o).items()]
    if part.fused and call.startswith("torch.optim."):
        parts.append("fused=FUSED")
    note = {
        "muon": " (Muon on the 2-D weight matrices, AdamW on the other parameters)",
        "lion": " (torch has no Lion: the class above)",
    }.get(o.kind, f" ({part.package} package)" if part.package else "")
    return (
        f"    optimizer = {call}(  # Optimizer panel: {o.kind}{note}\n"
        f"        model.parameters(), {', '.join(parts)}\n"
        "    )\n"
    )


def _schedule_code(cfg: RunConfig) -> str:
    """``schedule = Schedule(...)``: the warm-up and the main scheduler made as engine.optim.LRSchedule makes them."""
    s: Any = cfg.schedule
    k = s.kind
    per_epoch = schedule_part(k).per_epoch
    remaining = "remaining"  # the updates after the warm-up (defined below when used)
    extra = ""  # lines the main scheduler needs before it
    if k == "constant":
        main, what = "None", "constant rate"
    elif k == "time_decay":
        main = f"lambda: lr_scheduler.LambdaLR(optimizer, lambda i: 1.0 / (1.0 + {_f(s.decay)} * i))"
        what = (
            f"time-based decay lr0 / (1 + {s.decay:g} * update) (Keras 'decay'; torch has no class: LambdaLR)"
        )
    elif k == "step":
        main = f"lambda: lr_scheduler.StepLR(optimizer, step_size={s.step_epochs}, gamma={_f(s.gamma)})"
        what = f"StepLR: x{s.gamma:g} every {s.step_epochs} epochs"
    elif k == "exponential":
        main = f"lambda: lr_scheduler.ExponentialLR(optimizer, gamma={_f(s.gamma)})"
        what = f"ExponentialLR: x{s.gamma:g} per epoch"
    elif k == "cosine":
        t_max = str(s.t_max_steps) if s.t_max_steps else remaining
        main = f"lambda: lr_scheduler.CosineAnnealingLR(optimizer, T_max={t_max}, eta_min={_f(s.eta_min)})"
        what = "CosineAnnealingLR per update"
    elif k == "cosine_restarts":
        main = (
            f"lambda: lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0={s.t0_steps}, "
            f"T_mult={s.t_mult}, eta_min={_f(s.eta_min)})"
        )
        what = "CosineAnnealingWarmRestarts per update"
    elif k == "cyclic":
        main = (
            f"lambda: lr_scheduler.CyclicLR(optimizer, base_lr={_f(s.base_lr)}, max_lr={_f(s.max_lr)}, "
            f'step_size_up={s.step_size}, mode="{s.mode}", gamma={_f(s.gamma)}, cycle_momentum=False)'
        )
        what = f"CyclicLR {s.mode} per update"
    elif k == "one_cycle":
        main = (
            f"lambda: lr_scheduler.OneCycleLR(optimizer, max_lr={_f(s.max_lr)}, total_steps={remaining}, "
            f'pct_start={_f(s.pct_start)}, anneal_strategy="{s.anneal_strategy}", '
            f"div_factor={_f(s.div_factor)}, final_div_factor={_f(s.final_div_factor)}, "
            f"three_phase={s.three_phase!r}, cycle_momentum=False)"
        )
        what = "OneCycleLR over the whole run"
    elif k == "plateau":
        main = (
            f"lambda: KerasPlateau(optimizer, monitor={s.monitor!r}, factor={_f(s.factor)}, "
            f"patience={s.patience}, min_delta={_f(s.min_delta)}, cooldown={s.cooldown}, min_lr={_f(s.min_lr)})"
        )
        what = f"reduce on plateau of {s.monitor} (Keras' rule, see KerasPlateau)"
    elif k == "wsd":
        extra = (
            f"    decay_steps = min(max(round({_f(s.decay_fraction)} * (remaining + warmup_steps)), 1), remaining)"
            f"  # the last {s.decay_fraction * 100:g} % of the run's updates\n"
        )
        main = (
            "lambda: lr_scheduler.LambdaLR(optimizer, lambda i: wsd_factor(i, remaining, decay_steps, "
            f'"{s.decay_shape}", {_f(s.floor)}))'
        )
        what = (
            f"warm-up-stable-decay: constant, then a {s.decay_shape} decay to {s.floor:g} x the rate "
            "(torch has no class: LambdaLR with wsd_factor)"
        )
    elif k == "linear":
        over = str(s.decay_steps) if s.decay_steps else remaining
        main = f"lambda: lr_scheduler.LinearLR(optimizer, start_factor=1.0, end_factor={_f(s.end_factor)}, total_iters={over})"
        what = f"LinearLR per update: a straight line to x{s.end_factor:g} the rate, then held"
    elif k == "polynomial":
        over = str(s.decay_steps) if s.decay_steps else remaining
        main = f"lambda: lr_scheduler.PolynomialLR(optimizer, total_iters={over}, power={_f(s.power)})"
        what = f"PolynomialLR per update: lr * (1 - i / total_iters) ** {s.power:g}"
    elif k == "multistep":
        if s.milestones is not None:
            milestones = repr(list(s.milestones))
        else:
            milestones = "milestones"
            extra = "    milestones = sorted({max(remaining // 2, 1), max(remaining * 3 // 4, 1)})  # half and three quarters of the way\n"
        main = f"lambda: lr_scheduler.MultiStepLR(optimizer, milestones={milestones}, gamma={_f(s.gamma)})"
        what = f"MultiStepLR per update: x{s.gamma:g} at each milestone (updates after the warm-up)"
    elif k == "inverse_sqrt":
        if s.timescale or s.warmup_steps:
            timescale = _f(s.timescale or s.warmup_steps)
            said = "the timescale" if s.timescale else "the warm-up's length"
            extra = f"    timescale = {timescale}  # {said}\n"
        else:
            extra = (
                "    timescale = float(max(round(0.1 * (remaining + warmup_steps)), 1))  # 10 % of the run\n"
            )
        main = "lambda: lr_scheduler.LambdaLR(optimizer, lambda i: math.sqrt(timescale / (i + timescale)))"
        what = "inverse square root after the warm-up: lr * sqrt(T / (i + T)) at update i after it (LambdaLR)"
    else:
        raise NotExportable(f"schedule {k!r} has no counterpart in the exported script")
    warm = (
        f"warmup_steps={s.warmup_steps}, warmup_start_factor={_f(s.warmup_start_factor)}"
        if s.warmup_steps
        else "warmup_steps=0"
    )
    steps = (
        (
            "    total_steps = math.ceil(len(data.y_train) / batch_size) * epochs  # the run's updates\n"
            f"    warmup_steps = {s.warmup_steps}  # Schedule panel: linear warm-up updates\n"
            "    remaining = max(total_steps - warmup_steps, 1)  # the updates after the warm-up\n"
        )
        if remaining in main + extra
        else ""
    )
    return (
        steps + extra + f"    # Schedule panel: {what}\n"
        f"    schedule = Schedule(optimizer, {main},\n"
        f"                        per_epoch={per_epoch!r}, {warm})\n"
    )


def _check(cfg: RunConfig, index: int) -> None:
    """NotExportable for what the script cannot do as Optiscope does it."""
    if cfg.training.device == "mps":
        raise NotExportable(
            f"run {index} ({cfg.describe()}): training.device = 'mps' is not exported "
            "(use 'cpu', 'cuda' or 'auto')"
        )


# --------------------------------------------------------------------------- the script
def export_script(
    exp: ExperimentConfig,
    indices: Sequence[int],
    *,
    source: str = "",
    csv_shapes: dict[int, dict[str, Any]] | None = None,
    version: str = "",
) -> str:
    """The standalone script training runs ``indices`` of ``exp``.

    ``csv_shapes`` gives, per run index with a CSV dataset, its ``rows``/``n_features``/
    ``n_classes`` (read from the file at export time). Raises :class:`NotExportable`.
    """
    runs = exp.runs()
    chosen = [(i, runs[i]) for i in indices]
    for i, cfg in chosen:
        _check(cfg, i)
    optimizers: set[str] = set()
    models: dict[str, str] = {}  # model key -> class name
    classes: list[str] = []
    run_funcs: list[str] = []
    need = {
        "wsd": False,
        "modes": False,
        "plateau": False,
        "early": False,
        "augment": False,
        "csv": False,
        "bundled": False,
        "synthetic": False,
    }
    for i, cfg in chosen:
        n_features, n_classes, image = _shape(cfg, (csv_shapes or {}).get(i))
        key = cfg.model.model_dump_json() + f"|{n_features}|{n_classes}|{image}"
        if key not in models:
            name = (
                "Net"
                if len(chosen) == 1
                else f"Net{chr(ord('A') + len(models))}"
                if len(models) < 26
                else f"Net{len(models)}"
            )
            models[key] = name
            classes.append(_model_class(name, cfg.model, n_features, n_classes, image))
        d = cfg.dataset.name
        need["csv"] |= d == "csv"
        need["bundled"] |= d in ("digits", "breast_cancer", "wine", "iris")
        need["synthetic"] |= d not in ("csv", "digits", "breast_cancer", "wine", "iris")
        need["plateau"] |= cfg.schedule.kind == "plateau"
        need["wsd"] |= cfg.schedule.kind == "wsd"
        need["modes"] |= part_for(cfg.optimizer.kind).has_modes
        optimizers.add(cfg.optimizer.kind)
        need["early"] |= cfg.regularization.early_stopping.enabled
        need["augment"] |= cfg.regularization.augmentation.active
        run_funcs.append(_run_function(i, cfg, models[key], image))
    labels = "\n".join(f"  run {i}: {cfg.describe()}" for i, cfg in chosen)
    packages = sorted({p for p in (part_for(k).package for k in optimizers) if p})
    pins = {p: _package_version(p) for p in packages}
    needs = (
        "Needs only torch, numpy and scikit-learn.\n"
        if not packages
        else "Needs torch, numpy, scikit-learn and, for its optimizer"
        + ("s, their authors' packages:\n" if len(packages) > 1 else ", the authors' package:\n")
        + "".join(f"    pip install {_pip(p, pins[p])}\n" for p in packages)
    )
    newer = {part_for(k).torch_name for k in optimizers} & set(_TORCH_SINCE)
    torch_since = [(name, _TORCH_SINCE[name]) for name in sorted(newer)]
    header = (
        f'#!/usr/bin/env python3\n"""{exp.name}: {exp.description}'.rstrip()
        + "\n\n"
        + f"Exported from Optiscope{(' ' + version) if version else ''}"
        + (f" ({source})" if source else "")
        + ". "
        + needs
        + "Run as it is, it trains what Optiscope trains -- the same data, initial weights,\n"
        "minibatch order, optimizer, schedule and rules -- and prints the same per-epoch metrics.\n\n"
        f"Runs:\n{labels}\n\n"
        "    python THIS_FILE.py [--epochs N] [--run N] [--csv metrics.csv] [--save-weights FOLDER]\n"
        '"""\n'
    ).replace('"""' + "\n\n", '"""\n\n')
    prelude = _PRELUDE.format(
        copy="import copy\n" if need["early"] else "",
        io="import io\n" if need["csv"] else "",
        sys="import sys\n" if need["csv"] or packages or torch_since else "",
        packages="".join(_import_package(p, pins[p], optimizers) for p in packages),
        torch_checks="".join(["\n"] + [_torch_check(name, since) for name, since in torch_since])
        if torch_since
        else "",
    )
    parts = [header, prelude]
    parts.append(_INIT)
    if need["synthetic"]:
        parts.append(_SYNTHETIC)
    if need["bundled"]:
        parts.append(_BUNDLED)
    if need["csv"]:
        parts.append(_CSV)
    parts.append(_SPLIT)
    parts.append(_SCHEDULE)
    if need["wsd"]:
        parts.append(_WSD)
    if need["plateau"]:
        parts.append(_PLATEAU)
    if need["early"]:
        parts.append(_EARLY)
    if need["augment"]:
        parts.append(_AUGMENT)
    if "lion" in optimizers:
        parts.append(_LION)
    if "muon" in optimizers:
        parts.append(_MUON.replace("ADAMW_BETAS", _literal(ADAMW_BETAS)).replace("ADAMW_EPS", _f(ADAMW_EPS)))
    parts.append(_train_code(need["modes"]))
    parts.append(
        "\n# ----------------------------------------------------------------- the models (Model panel)\n"
    )
    parts.extend(c + "\n\n" for c in classes)
    parts.append("# ----------------------------------------------------------------- the runs\n")
    parts.extend(run_funcs)
    parts.append("RUNS = {" + ", ".join(f"{i}: run_{i}" for i, _ in chosen) + "}\n")
    parts.append("RUN_LABELS = {" + ", ".join(f"{i}: {cfg.describe()!r}" for i, cfg in chosen) + "}\n")
    parts.append(_MAIN)
    return "".join(parts)


def _run_function(i: int, cfg: RunConfig, model_class: str, image: tuple[int, int, int] | None) -> str:
    tc, reg = cfg.training, cfg.regularization
    data, data_comment = _data_call(cfg)
    es = reg.early_stopping
    early = (
        f"EarlyStopping(monitor={es.monitor!r}, patience={es.patience}, min_delta={_f(es.min_delta)}, "
        f"restore_best={es.restore_best!r})"
        if es.enabled
        else "None"
    )
    aug = reg.augmentation
    augment = (
        f"Augmenter(data, image_shape={image}, seed={tc.seed}, jitter={_f(aug.jitter)}, shift={aug.shift}, rotate={_f(aug.rotate)}, cutout={aug.cutout}, mixup={_f(aug.mixup)}, noise={_f(aug.noise)})"
        if aug.active
        else "None"
    )
    device = tc.device
    return (
        f"def run_{i}(epochs={tc.epochs}):  # Training panel: epochs\n"
        f'    """Run {i}: {cfg.describe()}. Returns the trained model, its per-epoch metrics and how it ended."""\n'
        f"    data = {data}  # {data_comment}\n"
        f'    device = pick_device("{device}")  # Training panel: device {device}\n'
        f"    torch.manual_seed({tc.seed})  # Training panel: seed (initial weights, dropout masks)\n"
        f"    model = {model_class}().to(device)  # Model panel (the class above)\n"
        + _optimizer_code(cfg)
        + f"    batch_size = {tc.batch_size}  # Training panel: batch size\n"
        + _schedule_code(cfg)
        + "    history, reason = train(\n"
        f"        {i}, {cfg.describe()!r}, model, optimizer, schedule, data, device,\n"
        f"        epochs=epochs, batch_size=batch_size, seed={tc.seed},\n"
        f"        l1={_f(reg.l1)}, l2={_f(reg.l2)},  # Regularisation panel: penalties on weights (not biases)\n"
        f"        grad_clip={reg.grad_clip!r},  # Regularisation panel: gradient-norm clipping\n"
        f"        early_stopping={early},  # Regularisation panel\n"
        f"        augment={augment},  # Regularisation panel: augmentation\n"
        f"        mixed_precision={tc.mixed_precision!r}, eval_train={tc.eval_train!r},  # Training panel\n"
        f"        diverge_factor={tc.diverge_factor!r},  # Training panel: divergence limit\n"
        + (
            "        schedule_free=True,  # optimizer.train() / .eval() around every evaluation\n"
            if part_for(cfg.optimizer.kind).has_modes
            else ""
        )
        + "    )\n"
        "    return model, history, reason\n\n\n"
    )


#: torch.optim classes newer than some torch releases a user may have: class -> first release
_TORCH_SINCE = {"Muon": "2.9", "Adafactor": "2.5"}


def _pip(package: str, version: str) -> str:
    return f"{package}=={version}" if version else package


def _import_package(package: str, version: str, kinds: set[str]) -> str:
    """The guarded import of an optimizer's package: a missing one ends the script with how to install it."""
    names = ", ".join(
        sorted(part_for(k).title.split(" (")[0] for k in kinds if part_for(k).package == package)
    )
    used = f"{package} {version}" if version else package
    return (
        f"\n# {names}: from the authors' package {package} (Optiscope trained with {used}).\n"
        "try:\n"
        f"    import {package}\n"
        "except ImportError:\n"
        f'    sys.exit("this script needs the {package} package ({names}): pip install {_pip(package, version)}")\n'
    )


def _torch_check(name: str, since: str) -> str:
    return (
        f'if not hasattr(torch.optim, "{name}"):\n'
        f'    sys.exit(f"this script needs torch.optim.{name} (torch {since} or later; this is torch '
        '{torch.__version__}): pip install -U torch")\n'
    )


def _train_code(modes: bool) -> str:
    """The training loop; with ``modes`` it switches a schedule-free optimizer between the
    weights it steps and the averaged weights it is judged at, where Optiscope's loop does
    (``engine.loop``: training mode for an epoch's updates, evaluation mode after them)."""
    lines = []
    for line in _TRAIN.split("\n"):
        if line.endswith("#MODES"):
            if modes:
                lines.append(line[: -len("#MODES")].rstrip())
        else:
            lines.append(line)
    doc = (
        "\n\n    A schedule-free optimizer (schedule_free=True) steps one set of weights (y) and is judged\n"
        "    at their running average (x): optimizer.train() before each epoch's updates and\n"
        "    optimizer.eval() after them, before the evaluation, as Optiscope switches it."
    )
    return (
        "\n".join(lines)
        .replace("{modes_arg}", ",\n          schedule_free=False" if modes else "")
        .replace("{modes_doc}", doc if modes else "")
    )


# The fixed parts of the script. Kept as close to the engine's own code as possible
# (each names the engine function it mirrors), so the numbers are the same.
_PRELUDE = '''
import argparse
{copy}import csv
{io}import math
import os
{sys}import time
from dataclasses import dataclass
{packages}
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import lr_scheduler
{torch_checks}
torch.set_num_threads(1)  # as 'optiscope run': one thread, so every sum adds up in the same order


def pick_device(name):
    """'auto' picks CUDA, then Apple MPS, then the CPU (as Optiscope does)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def fused_kernel_works():
    """Optiscope asks torch for its fused optimizer kernel (same update, faster) where there is one."""
    try:
        torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1, fused=True)
        return True
    except (RuntimeError, ValueError, TypeError):
        return False


FUSED = fused_kernel_works()
'''

_INIT = '''

# ----------------------------------------------------------------- layers with Keras-style initialisers
_TRUNC = 0.87962566103423978  # Keras' truncated normal keeps the intended variance


def init_weight(weight, init):
    """he_* use fan_in, glorot_* the mean of fan_in and fan_out (Keras' VarianceScaling)."""
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
    with torch.no_grad():
        if init == "he_uniform":
            bound = math.sqrt(6.0 / fan_in)
            weight.uniform_(-bound, bound)
        elif init == "glorot_uniform":
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            weight.uniform_(-bound, bound)
        else:  # he_normal, glorot_normal: truncated at two standard deviations
            var = 2.0 / fan_in if init == "he_normal" else 2.0 / (fan_in + fan_out)
            std = math.sqrt(var) / _TRUNC
            nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)


def dense(n_in, n_out, init):
    """nn.Linear with the given weight initialiser and zero biases."""
    layer = nn.Linear(n_in, n_out)
    init_weight(layer.weight, init)
    nn.init.zeros_(layer.bias)
    return layer


def conv2d(c_in, filters, kernel, init):
    """nn.Conv2d ('same' padding) with the given weight initialiser and zero biases."""
    layer = nn.Conv2d(c_in, filters, kernel, padding=kernel // 2)
    init_weight(layer.weight, init)
    nn.init.zeros_(layer.bias)
    return layer
'''

_SYNTHETIC = '''

# ----------------------------------------------------------------- data: generated sets
def load_synthetic(name, *, n_samples, noise, centers, seed, standardize, train_fraction, subsample):
    """The generated 2D sets, in the generator's order (no shuffle), split at train_fraction."""
    from sklearn import datasets

    rng = np.random.default_rng(seed)
    if name == "blobs":
        x, y = datasets.make_blobs(n_samples=n_samples, centers=centers, n_features=2, cluster_std=noise, random_state=seed)
    elif name == "moons":
        x, y = datasets.make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    elif name == "circles":
        x, y = datasets.make_circles(n_samples=n_samples, noise=noise, factor=0.5, random_state=seed)
    elif name == "gaussians":
        x, y = datasets.make_blobs(
            n_samples=n_samples, centers=np.array([[-1.0, -1.0], [1.0, 1.0]]), n_features=2,
            cluster_std=noise, random_state=seed,
        )
    elif name == "xor":
        x = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
        y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
        x = x + rng.normal(0.0, noise, size=x.shape)
    else:  # spiral
        per = np.full(centers, n_samples // centers)
        per[: n_samples % centers] += 1
        xs, ys = [], []
        for c in range(centers):
            r = np.linspace(0.05, 1.0, per[c])
            t = np.linspace(c * 2 * np.pi / centers, c * 2 * np.pi / centers + 3 * np.pi, per[c])
            t = t + rng.normal(0.0, noise, per[c])
            xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
            ys.append(np.full(per[c], c))
        order = rng.permutation(n_samples)
        x, y = np.concatenate(xs)[order], np.concatenate(ys)[order]
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    n_classes = centers if name in ("blobs", "spiral") else 2
    return split(x, y, n_classes, train_fraction, standardize, subsample)
'''

_BUNDLED = '''

# ----------------------------------------------------------------- data: scikit-learn's bundled sets
def load_bundled(name, *, seed, standardize, train_fraction, subsample):
    """digits, breast_cancer, wine or iris, shuffled with seed (iris is sorted by class)."""
    from sklearn import datasets

    bunch = getattr(datasets, "load_" + name)()
    x = np.asarray(bunch.data, dtype=np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    if name == "digits":
        x = x / 16.0  # pixel values 0..16 -> 0..1
    return split(x, y, len(bunch.target_names), train_fraction, standardize, subsample)
'''

_CSV = '''

# ----------------------------------------------------------------- data: a CSV file
MISSING = {"", "na", "n/a", "nan", "null", "none", "?"}


def load_csv(path, *, target, drop_missing, seed, standardize, train_fraction, subsample):
    """Numeric feature columns and a class column, read as Optiscope reads them."""
    with open(path, "rb") as fh:
        text = fh.read().decode("utf-8-sig")
    try:
        dialect = csv.Sniffer().sniff(text[:16384], delimiters=",;\\t")
    except csv.Error:
        dialect = "excel"
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in row)]
    header = [c.strip() for c in rows[0]]
    t = header.index(target)
    features = [j for j in range(len(header)) if j != t]

    def number(cell):
        cell = cell.strip()
        return math.nan if cell.lower() in MISSING else float(cell)

    x = np.array([[number(row[j]) for j in features] for row in rows[1:]], dtype=np.float64)
    labels = np.array([row[t].strip() for row in rows[1:]], dtype=str)
    missing = np.isnan(x).any(axis=1) | (labels == "")
    if missing.any():
        if not drop_missing:
            sys.exit(f"{path}: {int(missing.sum())} rows have missing values; drop them or fill them in")
        x, labels = x[~missing], labels[~missing]
    classes = sorted(set(labels.tolist()))

    def is_number(s):
        try:
            float(s)
            return True
        except ValueError:
            return False

    if all(is_number(c) for c in classes):
        classes.sort(key=float)  # numeric labels in numeric order
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[v] for v in labels.tolist()], dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    return split(x[order], y[order], len(classes), train_fraction, standardize, subsample)
'''

_SPLIT = '''

@dataclass
class Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    n_classes: int


def split(x, y, n_classes, train_fraction, standardize, subsample):
    """The first round(n * train_fraction) rows train; features standardised with the
    training split's mean and std only; subsample keeps the first N training rows."""
    n_train = min(max(int(round(len(y) * train_fraction)), 1), len(y) - 1)
    x_train, y_train, x_val, y_val = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    if standardize:
        mean, std = x_train.mean(axis=0), x_train.std(axis=0)
        std[std == 0] = 1.0
        x_train, x_val = (x_train - mean) / std, (x_val - mean) / std
    x_train = np.ascontiguousarray(x_train, dtype=np.float32)
    x_val = np.ascontiguousarray(x_val, dtype=np.float32)
    if subsample is not None and subsample < len(y_train):
        x_train, y_train = x_train[:subsample], y_train[:subsample]
    return Data(x_train, y_train, x_val, y_val, n_classes)
'''

_SCHEDULE = '''

# ----------------------------------------------------------------- learning-rate schedule
class Schedule:
    """A linear warm-up (LinearLR) over warmup_steps updates, then the main scheduler, made when
    the warm-up ends. Per-update schedules step after every update, per-epoch ones after every epoch."""

    def __init__(self, optimizer, make_main, *, per_epoch, warmup_steps=0, warmup_start_factor=0.01):
        self.optimizer, self.make_main, self.per_epoch = optimizer, make_main, per_epoch
        self.warmup_steps, self.updates, self.main, self.warmup = warmup_steps, 0, None, None
        if warmup_steps:
            self.warmup = lr_scheduler.LinearLR(
                optimizer, start_factor=warmup_start_factor, end_factor=1.0, total_iters=warmup_steps
            )
        else:
            self.start_main()

    def start_main(self):
        for group in self.optimizer.param_groups:
            group.pop("initial_lr", None)  # the main schedule starts afresh from the current rate
        self.main = self.make_main() if self.make_main is not None else None

    @property
    def lr(self):
        return float(self.optimizer.param_groups[0]["lr"])

    def after_update(self):
        self.updates += 1
        if self.warmup is not None:
            self.warmup.step()
            if self.updates == self.warmup_steps:
                self.warmup = None
                self.start_main()
            return
        if self.main is None or self.per_epoch:
            return
        if isinstance(self.main, lr_scheduler.OneCycleLR) and self.main.last_epoch >= self.main.total_steps:
            return  # past its end: hold the final rate
        self.main.step()

    def after_epoch(self, metrics):
        if self.main is None or not self.per_epoch:
            return
        if 0 < self.updates <= self.warmup_steps:
            return  # the warm-up ended on this epoch's last update: not one of the main schedule's epochs
        if hasattr(self.main, "monitor"):
            self.main.step(metrics[self.main.monitor])
        else:
            self.main.step()
'''

_PLATEAU = '''

class KerasPlateau:
    """ReduceLROnPlateau as Keras 2 runs it (the rule Optiscope follows; torch's
    lr_scheduler.ReduceLROnPlateau waits one epoch longer and starts its cooldown later).
    After each epoch: in a cooldown, count it down and reset the wait; an improvement by more
    than min_delta resets the wait; otherwise the wait grows, and at patience the rate is
    multiplied by factor (not below min_lr) and the cooldown starts."""

    def __init__(self, optimizer, *, monitor, factor, patience, min_delta, cooldown, min_lr):
        self.optimizer, self.monitor, self.factor = optimizer, monitor, factor
        self.patience, self.min_delta, self.cooldown, self.min_lr = patience, min_delta, cooldown, min_lr
        self.maximize = monitor.endswith("acc")
        self.best = -math.inf if self.maximize else math.inf
        self.wait = self.cooldown_counter = 0

    def step(self, value):
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        better = value > self.best + self.min_delta if self.maximize else value < self.best - self.min_delta
        if better:
            self.best, self.wait = value, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                for group in self.optimizer.param_groups:
                    if float(group["lr"]) > self.min_lr:
                        group["lr"] = max(float(group["lr"]) * self.factor, self.min_lr)
                self.cooldown_counter, self.wait = self.cooldown, 0
'''

_WSD = '''

def wsd_factor(i, remaining, decay_steps, shape, floor):
    """Warm-up-stable-decay's factor on the peak rate at update i after the warm-up: 1 until the
    last decay_steps of the remaining updates, then down to floor along t = 0..1:
    linear 1 - (1 - floor) t, cosine floor + (1 - floor) (1 + cos(pi t)) / 2,
    1-sqrt floor + (1 - floor) (1 - sqrt(t)) (Hagele et al. 2024)."""
    t = min(max((i - (remaining - decay_steps)) / decay_steps, 0.0), 1.0)
    if shape == "linear":
        return 1.0 - (1.0 - floor) * t
    if shape == "cosine":
        return floor + (1.0 - floor) * (1.0 + math.cos(math.pi * t)) / 2.0
    return floor + (1.0 - floor) * (1.0 - math.sqrt(t))
'''

_LION = '''

# ----------------------------------------------------------------- Lion (torch has no class for it)
class Lion(torch.optim.Optimizer):
    """Lion (Chen et al. 2023), stepped as the authors' lion-pytorch package steps it: every
    weight moves by exactly lr along the sign of beta1 * m + (1 - beta1) * g, then the momentum
    m = beta2 * m + (1 - beta2) * g; decoupled weight decay w *= 1 - lr * weight_decay."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["exp_avg"] = torch.zeros_like(p)
                exp_avg = state["exp_avg"]
                p.mul_(1.0 - lr * wd)
                update = exp_avg.clone().mul_(beta1).add(p.grad, alpha=1.0 - beta1).sign_()
                p.add_(update, alpha=-lr)
                exp_avg.mul_(beta2).add_(p.grad, alpha=1.0 - beta2)
'''

_MUON = '''

# ----------------------------------------------------------------- Muon on the matrices, AdamW on the rest
class MuonWithAdamW(torch.optim.Optimizer):
    """torch.optim.Muon on the 2-D weight matrices (their momentum orthogonalised by
    Newton-Schulz iterations), torch.optim.AdamW at the same rate and weight decay on the other
    parameters (biases, batch-norm parameters, convolution kernels), as torch documents Muon's
    use. Their parameter groups (Muon's first) are this optimizer's, so one scheduler drives both."""

    def __init__(self, params, *, lr, weight_decay, momentum, nesterov, ns_steps, eps, adjust_lr_fn):
        params = list(params)
        matrices = [p for p in params if p.ndim == 2]
        others = [p for p in params if p.ndim != 2]
        self.inner = []
        if matrices:
            self.inner.append(torch.optim.Muon(
                matrices, lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                ns_steps=ns_steps, eps=eps, adjust_lr_fn=adjust_lr_fn,
            ))
        if others:
            self.inner.append(torch.optim.AdamW(others, lr=lr, weight_decay=weight_decay, betas=ADAMW_BETAS, eps=ADAMW_EPS))
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})
        self.param_groups = [group for inner in self.inner for group in inner.param_groups]

    @torch.no_grad()
    def step(self, closure=None):
        for inner in self.inner:
            inner.step()
'''


_EARLY = '''

class EarlyStopping:
    """Stop once monitor has not improved by min_delta for patience epochs; with restore_best
    the model goes back to the best epoch's weights."""

    def __init__(self, *, monitor, patience, min_delta, restore_best):
        self.monitor, self.patience, self.min_delta, self.restore_best = monitor, patience, min_delta, restore_best
        self.sign = -1.0 if monitor.endswith("acc") else 1.0
        self.best, self.best_epoch, self.bad_epochs, self.best_state = math.inf, None, 0, None

    def should_stop(self, model, epoch, metrics):
        value = self.sign * metrics[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            if self.restore_best:
                self.best_state = copy.deepcopy(model.state_dict())
            return False
        self.bad_epochs += 1
        if self.bad_epochs < self.patience:
            return False
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        return True
'''

_AUGMENT = '''

class Augmenter:
    """Training-time augmentation from its own random stream (seeded with seed + 7919):
    jitter (Gaussian noise on the features), for images shift/rotate/cutout/noise, and mixup."""

    def __init__(self, data, *, image_shape, seed, jitter, shift, rotate, cutout, mixup, noise):
        self.jitter, self.shift, self.rotate, self.cutout, self.mixup, self.noise = jitter, shift, rotate, cutout, mixup, noise
        self.image_shape = image_shape if (shift or rotate or cutout or noise) else None
        self.n_classes = data.n_classes
        self.gen = torch.Generator().manual_seed(seed + 7919)

    def __call__(self, x, y):
        dev, b = x.device, x.shape[0]
        if self.jitter:
            x = x + self.jitter * torch.randn(*x.shape, generator=self.gen).to(dev)
        if self.image_shape is not None:
            img = x.reshape(b, *self.image_shape)
            h, w = self.image_shape[1], self.image_shape[2]
            if self.shift or self.rotate:
                angle = (torch.rand(b, generator=self.gen).to(dev) * 2 - 1) * math.radians(self.rotate)
                tx = torch.randint(-self.shift, self.shift + 1, (b,), generator=self.gen).to(dev) * (2.0 / w)
                ty = torch.randint(-self.shift, self.shift + 1, (b,), generator=self.gen).to(dev) * (2.0 / h)
                cos, sin = torch.cos(angle), torch.sin(angle)
                theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1).to(img.dtype)
                grid = F.affine_grid(theta, list(img.shape), align_corners=False)
                img = F.grid_sample(img, grid, padding_mode="zeros", align_corners=False)
            if self.cutout:
                cy = torch.randint(0, h, (b, 1, 1), generator=self.gen).to(dev)
                cx = torch.randint(0, w, (b, 1, 1), generator=self.gen).to(dev)
                rows = torch.arange(h, device=dev).view(1, h, 1)
                cols = torch.arange(w, device=dev).view(1, 1, w)
                mask = ((rows - cy).abs() <= self.cutout // 2) & ((cols - cx).abs() <= self.cutout // 2)
                img = img * (~mask).unsqueeze(1).to(img.dtype)
            if self.noise:
                img = img + self.noise * torch.randn(*img.shape, generator=self.gen).to(dev)
            x = img.reshape(b, -1)
        soft = None
        if self.mixup:
            lam = float(torch.distributions.Beta(self.mixup, self.mixup).sample())
            perm = torch.randperm(b, generator=self.gen).to(dev)
            x = lam * x + (1 - lam) * x[perm]
            onehot = F.one_hot(y, self.n_classes).to(x.dtype)
            soft = lam * onehot + (1 - lam) * onehot[perm]
        return x, soft
'''

_TRAIN = '''

# ----------------------------------------------------------------- the training loop
@torch.inference_mode()
def evaluate(model, x, y, chunk=8192):
    """Mean cross-entropy and accuracy, in eval mode (dropout off, batch-norm running statistics)."""
    model.eval()
    total_loss, correct = 0.0, 0
    for i in range(0, len(y), chunk):
        logits = model(x[i : i + chunk]).float()
        losses = F.cross_entropy(logits, y[i : i + chunk], reduction="none")
        total_loss += float(losses.sum(dtype=torch.float64))  # summed in float64
        correct += int((logits.argmax(1) == y[i : i + chunk]).sum())
    model.train()
    n = max(len(y), 1)
    return total_loss / n, correct / n


def train(run, label, model, optimizer, schedule, data, device, *, epochs, batch_size, seed, l1, l2,
          grad_clip, early_stopping, augment, mixed_precision, eval_train, diverge_factor{modes_arg}):
    """Minibatch training: the order of every epoch is torch.randperm from a generator seeded
    with the run's seed. Returns (per-epoch metrics, how the run ended).{modes_doc}"""
    print(f"run {run}: {label}", flush=True)
    x_train, y_train = torch.as_tensor(data.x_train, device=device), torch.as_tensor(data.y_train, device=device)
    x_val, y_val = torch.as_tensor(data.x_val, device=device), torch.as_tensor(data.y_val, device=device)
    n = len(y_train)
    steps_per_epoch = math.ceil(n / batch_size)
    weights = [p for p in model.parameters() if p.ndim > 1]  # L1/L2 act on weights, not biases
    use_amp = mixed_precision and device.type in ("cuda", "cpu")  # bfloat16 on the CPU, float16 on CUDA
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    scaler = torch.amp.GradScaler("cuda") if use_amp and device.type == "cuda" else None
    chance_loss = math.log(max(data.n_classes, 2))  # the loss of a uniform guess
    generator = torch.Generator().manual_seed(seed)
    history, limit, first_loss, best_train_loss, not_learning = [], None, None, math.inf, 0
    model.train()
    for epoch in range(1, epochs + 1):
        t_epoch = time.perf_counter()
        perm = torch.randperm(n, generator=generator).to(device)
        loss_sum, correct = 0.0, 0
        if schedule_free:  #MODES
            optimizer.train()  # the weights it steps (y)  #MODES
        for b in range(steps_per_epoch):
            idx = perm[b * batch_size : min((b + 1) * batch_size, n)]
            xb, yb = x_train[idx], y_train[idx]
            target = yb
            if augment is not None:
                xb, soft = augment(xb, yb)
                target = soft if soft is not None else yb
            lr = schedule.lr  # the rate of this update
            if use_amp:
                with torch.autocast(device.type, dtype=amp_dtype):
                    logits = model(xb)
                logits = logits.float()
            else:
                logits = model(xb)
            loss = F.cross_entropy(logits, target)
            if l2:
                loss = loss + l2 * sum((w * w).sum() for w in weights)
            l1_term = 0.0
            if l1:  # reported with the loss; applied as a proximal step after the update
                with torch.no_grad():
                    l1_term = float(l1 * sum(w.abs().sum() for w in weights))
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                if grad_clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                if grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
            if l1:  # L1's proximal step: w <- sign(w) * max(|w| - lr * l1, 0), exact zeros
                threshold = torch.tensor(optimizer.param_groups[0]["lr"] * l1, dtype=torch.float32)
                with torch.no_grad():
                    for w in weights:
                        w.copy_(w.sign() * (w.abs() - threshold.to(w.device)).clamp_(min=0.0))
            value = loss.item() + l1_term
            if not eval_train:
                loss_sum += value * len(yb)
                correct += int((logits.argmax(1) == yb).sum())
            if first_loss is None:
                first_loss = value
                big = math.inf if diverge_factor is None or not math.isfinite(value) else diverge_factor * max(abs(value), 1.0)
                limit = big
            if not value <= limit:  # NaN or above diverge_factor x the first loss
                print(f"  diverged at update {(epoch - 1) * steps_per_epoch + b + 1} (loss {value})", flush=True)
                return history, "diverged"
            schedule.after_update()
        if schedule_free:  #MODES
            optimizer.eval()  # the averaged weights (x): evaluated, early-stopped on and saved  #MODES
        if eval_train:
            train_loss, train_acc = evaluate(model, x_train, y_train)
        else:  # from the updates themselves
            train_loss, train_acc = loss_sum / n, correct / n
        val_loss, val_acc = evaluate(model, x_val, y_val) if len(y_val) else (math.nan, math.nan)
        metrics = dict(epoch=epoch, lr=lr, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss,
                       val_acc=val_acc, seconds=time.perf_counter() - t_epoch)
        history.append(metrics)
        print(f"  epoch {epoch:4d}  lr {lr:.6g}  train_loss {train_loss:.8f}  train_acc {train_acc:.4f}  "
              f"val_loss {val_loss:.8f}  val_acc {val_acc:.4f}", flush=True)
        if not math.isfinite(train_loss):
            return history, "diverged"
        # not learning: 20 epochs in a row above a uniform guess's loss and not improving
        start = first_loss if math.isfinite(first_loss) else math.inf
        bad = train_loss > chance_loss and (train_loss > start or train_loss > best_train_loss)
        best_train_loss = min(best_train_loss, train_loss)
        not_learning = not_learning + 1 if bad else 0
        if not_learning >= 20:
            print("  not learning: stopped", flush=True)
            return history, "diverged"
        schedule.after_epoch(metrics)
        if early_stopping is not None and early_stopping.should_stop(model, epoch, metrics):
            print(f"  early stop; best epoch {early_stopping.best_epoch}", flush=True)
            return history, "early_stopped"
    return history, did_it_learn(history, first_loss, data.n_classes)


def did_it_learn(history, first_loss, n_classes):
    """'completed', or 'diverged' for a run that learned nothing: its accuracy at chance level
    (under 10 % of the way from a uniform guess to perfect) or its final training loss over twice
    a uniform guess's -- unless every epoch's loss stayed below its start and the last was its best."""
    if not history:
        return "completed"
    losses = [m["train_loss"] for m in history]
    start = first_loss if math.isfinite(first_loss) else math.inf
    if all(v < start for v in losses) and losses[-1] <= min(losses):
        return "completed"  # a slow learner
    chance_acc = 1.0 / max(n_classes, 2)
    acc = max(history[-1]["train_acc"], history[-1]["val_acc"])
    if not acc >= chance_acc + 0.1 * (1.0 - chance_acc) or not losses[-1] <= 2.0 * math.log(max(n_classes, 2)):
        return "diverged"
    return "completed"
'''

_MAIN = """

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, help="train every run for this many epochs")
    parser.add_argument("--run", type=int, action="append", choices=sorted(RUNS), help="only this run (repeatable)")
    parser.add_argument("--csv", help="also write the per-epoch metrics to this CSV file")
    parser.add_argument("--save-weights", metavar="FOLDER", help="save each run's state_dict as FOLDER/run-N.pt")
    args = parser.parse_args()
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be at least 1")
    rows = []
    for run in args.run or sorted(RUNS):
        model, history, reason = RUNS[run]() if args.epochs is None else RUNS[run](epochs=args.epochs)
        final = history[-1] if history else None
        print(f"  {reason}" + (f", val_acc {final['val_acc']:.4f}" if final else ""), flush=True)
        if args.save_weights:
            os.makedirs(args.save_weights, exist_ok=True)
            torch.save(model.state_dict(), os.path.join(args.save_weights, f"run-{run}.pt"))
        rows += [(run, RUN_LABELS[run], m) for m in history]
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh, lineterminator="\\n")
            out.writerow(["run", "label", "epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"])
            for run, label, m in rows:
                values = [m[k] for k in ("lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")]
                out.writerow([run, label, m["epoch"], *(repr(float(v)) for v in values)])


if __name__ == "__main__":
    main()
"""
