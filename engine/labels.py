"""Run labels that say what a run is, and what sets it apart from the runs beside it.

A label is made of *facets*: small texts for one setting each (``sgd``, ``lr=0.01``,
``momentum=0.9``, ``CLR triangular 0.001-0.1 step=2000``, ``l2=0.001``, ``moons``...).

* :func:`describe_run` labels one run on its own: the optimizer, its learning rate (or the
  schedule that sets the rates, for cyclic and one-cycle runs) and every setting of the
  optimizer, schedule and regularisation that is not the default.
* :func:`race_labels` labels runs that are compared: the optimizer and every facet that is
  not the same in all of them, so plain SGD and SGD with momentum 0.9 read ``sgd
  momentum=0`` and ``sgd momentum=0.9``. A label the user gave (``RunConfig.label``) is kept;
  labels that would still repeat get ``#2``, ``#3``.

Light: works on the config objects' attributes and imports neither torch nor the config
module (which may call it); the schedule parts (:mod:`engine.schedules`) say their own words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .formats import format_setting
from .schedules import REGISTRY as SCHEDULES

__all__ = ["describe_run", "race_labels", "run_facets", "schedule_text"]

#: schedules that set the learning rates themselves (the optimizer's ``lr`` is not used)
RATE_SETTING_SCHEDULES: tuple[str, ...] = tuple(kind for kind, part in SCHEDULES.items() if part.sets_rate)
_SHORT_NAMES = {"weight_decay": "wd", "initial_accumulator_value": "init_acc"}


_num = format_setting


def _fields(obj: Any) -> dict[str, Any]:
    """A config object's fields and values, in declaration order."""
    return {name: getattr(obj, name) for name in type(obj).model_fields}


def _defaults(obj: Any) -> dict[str, Any]:
    return _fields(type(obj)())


def schedule_text(schedule: Any) -> str:
    """The schedule in a few words, with the numbers that shape it."""
    part = SCHEDULES.get(schedule.kind)  # each schedule part says itself in words
    if part is None:  # a kind no part is registered for: its kind still tells runs apart
        return str(schedule.kind).replace("_", " ")
    return part.words(schedule)


def _layers_text(model: Any) -> str:
    parts = []
    for layer in model.layers:
        t = layer.type
        if t == "dense":
            parts.append(
                f"dense{layer.units}" + (f" {layer.activation}" if layer.activation != "relu" else "")
            )
        elif t == "dropout":
            parts.append(f"dropout{_num(layer.p)}")
        elif t == "conv2d":
            parts.append(f"conv{layer.filters}k{layer.kernel}")
        elif t == "maxpool":
            parts.append(f"pool{layer.size}")
        else:
            parts.append(str(t))
    return "model " + ("-".join(parts) if parts else "linear")


def run_facets(run: Any) -> dict[str, tuple[str, bool]]:
    """Every facet of ``run``: key -> (text, whether it is the default).

    Keys are stable across runs (``opt.momentum``, ``sched``, ``reg.l2``, ``data``...), so
    the facets of two runs can be compared key by key.
    """
    out: dict[str, tuple[str, bool]] = {}
    opt, sched = run.optimizer, run.schedule
    out["opt.kind"] = (opt.kind, False)
    if sched.kind not in RATE_SETTING_SCHEDULES:
        out["opt.lr"] = (f"lr={_num(opt.lr)}", False)
    defaults = _defaults(opt)
    for name, value in _fields(opt).items():
        if name in ("kind", "lr"):
            continue
        if isinstance(value, bool):
            text = name if value else f"no {name}"
        else:
            text = f"{_SHORT_NAMES.get(name, name)}={_num(value)}"
        out[f"opt.{name}"] = (text, value == defaults.get(name))
    out["sched"] = (schedule_text(sched), sched.kind == "constant")
    if sched.warmup_steps:
        out["sched.warmup"] = (f"warmup={sched.warmup_steps}", False)
    else:
        out["sched.warmup"] = ("no warmup", True)
    reg = run.regularization
    for name in ("l1", "l2"):
        value = getattr(reg, name)
        out[f"reg.{name}"] = (f"{name}={_num(value)}", not value)
    clip = reg.grad_clip
    out["reg.clip"] = (f"clip={_num(clip)}" if clip is not None else "no clip", clip is None)
    es = reg.early_stopping
    out["reg.early"] = (
        f"early stop p={es.patience}" if es.enabled else "no early stop",
        es == type(es)(),
    )
    aug = reg.augmentation
    changed = {k: v for k, v in _fields(aug).items() if v != _defaults(aug)[k]}
    out["reg.aug"] = (
        "aug " + " ".join(f"{k}={_num(v)}" for k, v in changed.items()) if changed else "no aug",
        not changed,
    )
    out["model"] = (_layers_text(run.model), run.model == type(run.model)())
    data = run.dataset
    data_text = (
        data.name if data.name != "csv" else f"csv {str(data.path).replace(chr(92), '/').rsplit('/', 1)[-1]}"
    )
    for name, value in _fields(data).items():
        if name in ("name", "path", "target") or value == _defaults(data)[name]:
            continue
        data_text += f" {name}={_num(value)}"
    out["data"] = (data_text, data == type(data)())
    train = run.training
    for name in ("batch_size", "epochs", "seed", "mixed_precision", "device"):
        value = getattr(train, name)
        short = {"batch_size": "batch", "mixed_precision": "amp"}.get(name, name)
        out[f"train.{name}"] = (f"{short}={_num(value)}", value == _defaults(train)[name])
    return out


#: facets a run's own label shows when they are not the default
_OWN_LABEL_PREFIXES = ("opt.", "sched", "reg.")


def describe_run(run: Any) -> str:
    """One run's label on its own: optimizer, lr (or the rate-setting schedule) and every
    optimizer, schedule and regularisation setting that is not the default."""
    facets = run_facets(run)
    parts = [facets["opt.kind"][0]]
    if "opt.lr" in facets:
        parts.append(facets["opt.lr"][0])
    for key, (text, is_default) in facets.items():
        if key in ("opt.kind", "opt.lr") or is_default:
            continue
        if key.startswith(_OWN_LABEL_PREFIXES):
            parts.append(text)
    return " ".join(parts)


def race_labels(runs: Sequence[Any]) -> list[str]:
    """Labels for runs compared side by side: each names the optimizer and what differs.

    A run's own ``label`` is kept. A single run gets :func:`describe_run`. Labels that are
    still equal (identical settings) are told apart with ``#2``, ``#3``.
    """
    facets = [run_facets(r) for r in runs]
    keys: list[str] = []
    for f in facets:
        keys.extend(k for k in f if k not in keys)

    def shown(key: str, f: dict[str, tuple[str, bool]]) -> bool:
        """A facet tells this run apart: its value differs among the runs that have it, or
        only some runs have it (another optimizer's setting) and here it is not the default."""
        if key not in f:
            return False
        holders = [g[key][0] for g in facets if key in g]
        if len(set(holders)) > 1:
            return True
        return len(holders) < len(facets) and not f[key][1]

    labels = []
    for run, f in zip(runs, facets, strict=True):
        if run.label:
            labels.append(run.label)
            continue
        parts = [f["opt.kind"][0]] + [f[k][0] for k in keys if k != "opt.kind" and shown(k, f)]
        if len(runs) == 1 or len(parts) == 1:
            labels.append(describe_run(run))
        else:
            labels.append(" ".join(parts))
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out
