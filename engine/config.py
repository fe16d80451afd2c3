"""The experiment config: one validated, immutable description of a run (or several).

Everything a run needs is here; a run never reads widgets or globals. Models are
frozen pydantic v2 models that reject unknown keys, carry a schema version and
round-trip to TOML (:func:`load_toml`, :func:`dump_toml`).

This module must stay light: it imports neither torch nor scikit-learn, so the
GUI can build configs before the engine has loaded.
"""

from __future__ import annotations

import copy
import difflib
import math
import tomllib
import types
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

import tomli_w
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from .lessons import Classroom
from .optimizers import (  # noqa: F401 - the config classes stay importable from here
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    NAdam,
    OptimizerSettings,
    RMSprop,
    optimizer_union,
)
from .outcome import steps_per_epoch
from .schedules import (  # noqa: F401 - the config classes stay importable from here
    Constant,
    Cosine,
    CosineRestarts,
    Cyclic,
    Exponential,
    OneCycle,
    Plateau,
    ScheduleSettings,
    Step,
    TimeDecay,
    schedule_union,
)
from .schema import (  # noqa: F401 - re-exported: the schema's names are read from here
    LR,
    MAX_LAYERS,
    MAX_NESTING,
    MAX_PARAMS,
    MAX_RATE,
    MAX_SEEDS,
    MAX_STEPS,
    MAX_TEXT,
    MAX_TRAINED,
    MAX_VARIATIONS,
    WD,
    Beta,
    Eps,
    Frozen,
)
from .search_schema import SearchSpace
from .shapes import check_param_limit, dataset_shape

SCHEMA_VERSION = 1

__all__ = [
    "SCHEMA_VERSION",
    "ConfigError",
    "Frozen",
    "DatasetConfig",
    "Dense",
    "Dropout",
    "BatchNorm",
    "Conv2d",
    "MaxPool",
    "Flatten",
    "Layer",
    "ModelConfig",
    "OptimizerConfig",
    "ScheduleConfig",
    "EarlyStopping",
    "Augmentation",
    "RegularizationConfig",
    "TrainingConfig",
    "RunConfig",
    "ExperimentConfig",
    "load_toml",
    "loads_toml",
    "dump_toml",
    "dumps_toml",
    "format_validation_error",
    "OPTIMIZER_KINDS",
    "SCHEDULE_KINDS",
    "LAYER_TYPES",
    "DATASET_NAMES",
    "ACTIVATIONS",
    "INITIALIZERS",
    "OPTIMIZER_CLASSES",
    "SCHEDULE_CLASSES",
    "LAYER_CLASSES",
    "steps_per_epoch",
    "variation_diff",
    "race_experiment",
]


class ConfigError(ValueError):
    """A config could not be read or is invalid. The message names field, value and fix."""


# --------------------------------------------------------------------------- data
SYNTHETIC_DATASETS = ("blobs", "moons", "circles", "xor", "spiral", "gaussians")
BUNDLED_DATASETS = ("digits", "breast_cancer", "wine", "iris")
DatasetName = Literal[
    "blobs",
    "moons",
    "circles",
    "xor",
    "spiral",
    "gaussians",
    "digits",
    "breast_cancer",
    "wine",
    "iris",
    "csv",
]


class DatasetConfig(Frozen):
    """Which data, how much, and how it is split.

    The default is the reading list's set-up: ``make_blobs(n_samples=1000, centers=3,
    n_features=2, cluster_std=2, random_state=2)``, first 500 points train, last 500 test.

    ``noise`` means ``cluster_std`` for blobs and gaussians and the generator's noise
    for the others; ``None`` takes each dataset's own default. Synthetic sets keep
    the generator's order and split at ``train_fraction``; bundled and CSV sets are
    shuffled with ``seed`` first (iris, for one, is sorted by class).
    """

    name: DatasetName = "blobs"
    n_samples: int = Field(1000, ge=20, le=200_000)
    noise: float | None = Field(None, ge=0.0, le=10.0)
    centers: int = Field(3, ge=2, le=10, description="classes, for blobs and spiral")
    train_fraction: float = Field(0.5, gt=0.0, lt=1.0)
    seed: int = Field(2, ge=0, le=2**31 - 1)
    standardize: bool | None = Field(
        None, description="standardise features on the training split; None: per dataset"
    )
    subsample: int | None = Field(
        None, ge=2, le=200_000, description="keep only the first N training examples (overfitting studies)"
    )
    path: str | None = Field(
        None, max_length=4096, description="CSV file, for name = 'csv' (relative: to the experiment file)"
    )
    target: str | None = Field(None, max_length=1000, description="CSV target column, for name = 'csv'")
    drop_missing: bool = Field(False, description="CSV: drop rows with missing values")

    @model_validator(mode="after")
    def _csv_needs_path(self) -> DatasetConfig:
        if self.name == "csv" and (not self.path or not self.target):
            raise ValueError("dataset 'csv' needs both 'path' (the CSV file) and 'target' (its label column)")
        return self

    @property
    def is_2d(self) -> bool:
        """True for the synthetic 2-feature sets that have a decision-boundary picture."""
        return self.name in SYNTHETIC_DATASETS


# --------------------------------------------------------------------------- model
Activation = Literal["relu", "leaky_relu", "tanh", "sigmoid", "gelu", "linear"]
Initializer = Literal["he_uniform", "he_normal", "glorot_uniform", "glorot_normal"]


class Dense(Frozen):
    type: Literal["dense"] = "dense"
    units: int = Field(50, ge=1, le=8192)
    activation: Activation = "relu"
    init: Initializer = "he_uniform"


class Dropout(Frozen):
    type: Literal["dropout"] = "dropout"
    p: float = Field(0.5, ge=0.0, lt=1.0)


class BatchNorm(Frozen):
    """Batch normalisation; ``activation`` is applied after it, so Dense(linear) ->
    BatchNorm(relu) puts the normalisation before the non-linearity, as the lecture
    notes recommend."""

    type: Literal["batchnorm"] = "batchnorm"
    momentum: float = Field(0.1, gt=0.0, le=1.0)
    activation: Activation = "linear"


class Conv2d(Frozen):
    type: Literal["conv2d"] = "conv2d"
    filters: int = Field(16, ge=1, le=1024)
    kernel: int = Field(3, ge=1, le=7)
    activation: Activation = "relu"
    init: Initializer = "he_uniform"


class MaxPool(Frozen):
    type: Literal["maxpool"] = "maxpool"
    size: int = Field(2, ge=2, le=4)


class Flatten(Frozen):
    type: Literal["flatten"] = "flatten"


Layer = Annotated[Dense | Dropout | BatchNorm | Conv2d | MaxPool | Flatten, Field(discriminator="type")]


class ModelConfig(Frozen):
    """Hidden layers in order. The output layer (one unit per class, softmax with
    cross-entropy) is appended from the dataset and initialised with ``output_init``."""

    layers: tuple[Layer, ...] = Field((Dense(),), max_length=MAX_LAYERS, strict=False)
    output_init: Initializer = "glorot_uniform"

    @model_validator(mode="after")
    def _image_layers_in_order(self) -> ModelConfig:
        seen_flat = False
        for i, layer in enumerate(self.layers):
            if isinstance(layer, (Conv2d, MaxPool)) and seen_flat:
                raise ValueError(
                    f"model.layers[{i}] is {layer.type} after a flatten/dense layer; "
                    "put conv2d and maxpool layers before flatten and dense layers"
                )
            if isinstance(layer, (Flatten, Dense)):
                seen_flat = True
        return self

    @property
    def has_conv(self) -> bool:
        return any(isinstance(layer, (Conv2d, MaxPool)) for layer in self.layers)


# --------------------------------------------------------------------------- optimizers
# each optimizer's config class lives in its part (engine/optimizers/); the union is the registry's
if TYPE_CHECKING:  # a type checker cannot read a union built at run time
    OptimizerConfig = OptimizerSettings
else:
    OptimizerConfig = optimizer_union()


# --------------------------------------------------------------------------- schedules
# each schedule's config class lives in its part (engine/schedules/); the union is the registry's
_Schedule = ScheduleSettings  # the former name of the warm-up base
if TYPE_CHECKING:  # a type checker cannot read a union built at run time
    ScheduleConfig = ScheduleSettings
else:
    ScheduleConfig = schedule_union()


# --------------------------------------------------------------------------- regularisation
class EarlyStopping(Frozen):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    enabled: bool = False
    monitor: Literal["val_loss", "train_loss", "val_acc", "train_acc"] = "val_loss"
    patience: int = Field(10, ge=1, le=100_000)
    min_delta: float = Field(0.0, ge=0.0, le=1e3)
    restore_best: bool = True


class Augmentation(Frozen):
    """Training-time augmentation. Image options apply to image sets (digits) only;
    ``jitter`` (Gaussian noise on features, in feature units) applies to every set."""

    jitter: float = Field(0.0, ge=0.0, le=5.0)
    shift: int = Field(0, ge=0, le=3, description="images: random shift, pixels")
    rotate: float = Field(0.0, ge=0.0, le=45.0, description="images: max rotation, degrees")
    cutout: int = Field(0, ge=0, le=6, description="images: side of an erased square, pixels")
    mixup: float = Field(0.0, ge=0.0, le=2.0, description="mixup Beta(a, a); 0 is off")
    noise: float = Field(0.0, ge=0.0, le=5.0, description="images: Gaussian pixel noise")

    @property
    def active(self) -> bool:
        return any((self.jitter, self.shift, self.rotate, self.cutout, self.mixup, self.noise))


class RegularizationConfig(Frozen):
    l1: float = Field(0.0, ge=0.0, le=10.0, description="L1 penalty on weights (not biases)")
    l2: float = Field(0.0, ge=0.0, le=10.0, description="L2 penalty on weights (not biases)")
    grad_clip: float | None = Field(None, gt=0.0, le=1e6, description="clip the gradient norm")
    early_stopping: EarlyStopping = EarlyStopping()
    augmentation: Augmentation = Augmentation()


# --------------------------------------------------------------------------- training
class TrainingConfig(Frozen):
    epochs: int = Field(200, ge=1, le=100_000)
    batch_size: int = Field(32, ge=1, le=65_536)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    seed: int = Field(1, ge=0, le=2**31 - 1)
    mixed_precision: bool = False
    eval_train: bool = Field(True, description="evaluate the whole training set each epoch")
    diverge_factor: float | None = Field(
        1e6,
        gt=1.0,
        le=1e30,
        description="a loss above this many times the first update's loss (at least 1) also "
        "counts as diverged, besides NaN/Inf; None: NaN/Inf only",
    )


class RunConfig(Frozen):
    """One fully resolved run."""

    label: str = Field("", max_length=MAX_TEXT)
    dataset: DatasetConfig = DatasetConfig()
    model: ModelConfig = ModelConfig()
    optimizer: OptimizerConfig = SGD()
    schedule: ScheduleConfig = Constant()
    regularization: RegularizationConfig = RegularizationConfig()
    training: TrainingConfig = TrainingConfig()

    @model_validator(mode="after")
    def _cross_checks(self) -> RunConfig:
        if self.model.has_conv and self.dataset.name != "digits":
            raise ValueError(
                f"model has conv2d/maxpool layers but dataset '{self.dataset.name}' is not an "
                "image set; use dataset 'digits' or remove the conv2d/maxpool layers"
            )
        # the dataset's shape from its config alone (engine.shapes: no data loading, no torch)
        check_param_limit(self.model, dataset_shape(self.dataset), MAX_PARAMS)
        return self

    def describe(self) -> str:
        """A short human label: the given one, else optimizer and lr."""
        return self.label or f"{self.optimizer.kind} lr={self.optimizer.lr:g}"


class ExperimentConfig(Frozen):
    """What a TOML file holds: a base run and optional variations on it.

    Each variation is a nested table of overrides merged into the base (a section whose
    ``kind`` changes is replaced, not merged) plus an optional ``label``. With no
    variations the experiment is the base run alone.
    """

    schema_version: int = SCHEMA_VERSION
    name: str = Field("experiment", max_length=MAX_TEXT)
    description: str = Field("", max_length=MAX_TEXT, description="one line: what this experiment compares")
    lesson: str = Field("", max_length=MAX_TEXT, description="what to look for, shown in the GUI's lessons")
    classroom: Classroom | None = Field(
        None, description="question, pace and observations (engine/lessons.py)"
    )
    base: RunConfig = RunConfig()
    variations: tuple[dict[str, Any], ...] = Field((), max_length=MAX_VARIATIONS, strict=False)
    independent_seeds: bool = Field(
        False, description="give each variation its own seed (variance) instead of a fair race"
    )
    seeds: int = Field(
        1,
        ge=1,
        le=MAX_SEEDS,
        description="train every runner with this many seeds (its seed, seed+1, ...): bands, "
        "intervals and verdicts instead of one draw (engine/seeds.py)",
    )
    seeds_vary_data: bool = Field(
        False, description="each seed also draws its own split of generated data (dataset seed + k)"
    )
    search: SearchSpace | None = Field(
        None, description="an optional hyperparameter search space (engine.search_space)"
    )

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v > SCHEMA_VERSION or v < 1:
            raise ValueError(
                f"schema_version {v} is not supported; this Optiscope reads schema_version "
                + (f"1..{SCHEMA_VERSION}" if SCHEMA_VERSION > 1 else "1")
                + " (a newer Optiscope may have written this file)"
            )
        return v

    @model_validator(mode="after")
    def _variations_valid(self) -> ExperimentConfig:
        problems = []
        for i in range(len(self.variations)):
            try:
                self.run(i)
            except ValidationError as exc:
                problems.append(format_validation_error(exc, prefix=f"variations[{i}]."))
        if problems:  # every variation's problems, one per line
            raise ValueError("\n".join(problems))
        runners = max(len(self.variations), 1)
        if runners * self.seeds > MAX_TRAINED:
            raise ValueError(
                f"{runners} runners x {self.seeds} seeds is {runners * self.seeds} runs; at most "
                f"{MAX_TRAINED} are trained at once: use fewer seeds (at most {MAX_TRAINED // runners}) "
                "or fewer variations"
            )
        return self

    def seeded_runs(self) -> list[RunConfig]:
        """Every run trained: each runner of :meth:`runs` once per seed, runner by runner
        (:class:`engine.seeds.SeedPlan` says which run is which runner and seed)."""
        from .seeds import SeedPlan

        return SeedPlan.of(self).runs

    def runs(self) -> list[RunConfig]:
        """Every resolved runner (one run each; :meth:`seeded_runs` for all its seeds), in order."""
        if not self.variations:
            return [self.base]
        return [self.run(i) for i in range(len(self.variations))]

    def run(self, index: int) -> RunConfig:
        """Resolve variation ``index`` against the base."""
        var = dict(self.variations[index])
        label = var.pop("label", None)
        merged = _merge(self.base.model_dump(mode="python"), var)
        if label is None:
            label = self.base.label or _auto_label(var) or f"run {index + 1}"
        merged["label"] = str(label)
        training = var.get("training")
        own_seed = isinstance(training, dict) and "seed" in training
        if self.independent_seeds and not own_seed and isinstance(merged.get("training"), dict):
            merged["training"]["seed"] = self.base.training.seed + index
        return RunConfig.model_validate(merged)

    def with_overrides(
        self,
        *,
        epochs: int | None = None,
        seed: int | None = None,
        dataset: DatasetConfig | None = None,
        seeds: int | None = None,
    ) -> ExperimentConfig:
        """A copy with CLI-style overrides applied to the base and every variation."""
        data = self.model_dump(mode="python")
        if seeds is not None:
            data["seeds"] = seeds
        if epochs is not None:
            data["base"]["training"]["epochs"] = epochs
        if seed is not None:
            data["base"]["training"]["seed"] = seed
        if dataset is not None:
            data["base"]["dataset"] = dataset.model_dump(mode="python")
        variations = []
        for var in data["variations"]:
            var = copy.deepcopy(var)
            training = var.get("training")
            if epochs is not None and isinstance(training, dict) and "epochs" in training:
                training["epochs"] = epochs
            if seed is not None and isinstance(training, dict) and "seed" in training:
                training.pop("seed")
            if dataset is not None:
                var.pop("dataset", None)
            variations.append(var)
        data["variations"] = variations
        return ExperimentConfig.model_validate(data)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        current = out.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            if "kind" in value and value["kind"] != current.get("kind"):
                out[key] = copy.deepcopy(value)  # another optimizer/schedule: replace
            else:
                out[key] = _merge(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _auto_label(var: dict[str, Any], prefix: str = "") -> str:
    parts = []
    for key, value in var.items():
        if isinstance(value, dict):
            inner = _auto_label(value)
            if inner:
                parts.append(inner)
        elif isinstance(value, float):
            parts.append(f"{key}={value:g}")
        else:
            parts.append(f"{key}={value}")
    return prefix + " ".join(parts)


# --------------------------------------------------------------------------- derived facts
def _candidates(tp: Any) -> list[Any]:
    """The concrete types an annotation allows (Annotated and unions unwrapped)."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _candidates(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return [c for a in get_args(tp) for c in _candidates(a)]
    return [tp]


def _tagged(union: Any, tag: str) -> dict[str, type[Frozen]]:
    """The classes of a tagged union by their tag value, in declaration order."""
    return {cls.model_fields[tag].default: cls for cls in _candidates(union)}


#: every optimizer, schedule and layer class by its ``kind`` / ``type`` tag (the GUI's forms)
OPTIMIZER_CLASSES = _tagged(OptimizerConfig, "kind")
SCHEDULE_CLASSES = _tagged(ScheduleConfig, "kind")
LAYER_CLASSES = _tagged(Layer, "type")
#: the allowed values, derived from the config types: the only lists (GUI combos use them)
OPTIMIZER_KINDS: tuple[str, ...] = tuple(OPTIMIZER_CLASSES)
SCHEDULE_KINDS: tuple[str, ...] = tuple(SCHEDULE_CLASSES)
LAYER_TYPES: tuple[str, ...] = tuple(LAYER_CLASSES)
DATASET_NAMES: tuple[str, ...] = get_args(DatasetName)
ACTIVATIONS: tuple[str, ...] = get_args(Activation)
INITIALIZERS: tuple[str, ...] = get_args(Initializer)


def variation_diff(base: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """The overrides that turn ``base`` into ``run`` (both ``model_dump`` dicts).

    The inverse of the variation merge: ``ExperimentConfig(base=..., variations=(diff,))``
    resolves to ``run`` again. A section whose ``kind`` changes is given whole (it replaces
    the base's section); ``None`` values are left out (they mean "default").
    """
    out: dict[str, Any] = {}
    for key, value in run.items():
        b = base.get(key)
        if isinstance(value, dict) and isinstance(b, dict):
            if "kind" in value and value.get("kind") != b.get("kind"):
                out[key] = {k: v for k, v in value.items() if v is not None}
            else:
                inner = variation_diff(b, value)
                if inner:
                    out[key] = inner
        elif value != b and value is not None:
            out[key] = value
    return out


def race_experiment(
    runs: Sequence[RunConfig], *, name: str = "race", description: str = "", lesson: str = ""
) -> ExperimentConfig:
    """An experiment whose variations are ``runs`` (the first is the base), each labelled.

    Labels are the runs' :meth:`RunConfig.describe`; repeated labels get ``#2``, ``#3``.
    """
    base = runs[0].model_copy(update={"label": ""})
    base_d = base.model_dump(mode="python")
    variations = []
    seen: dict[str, int] = {}
    for run in runs:
        label = run.describe()
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label} #{seen[label]}"
        var = variation_diff(base_d, run.model_dump(mode="python", exclude={"label"}))
        var["label"] = label
        variations.append(var)
    return ExperimentConfig(
        name=name, description=description, lesson=lesson, base=base, variations=tuple(variations)
    )


# --------------------------------------------------------------------------- errors and TOML
MAX_PROBLEMS_SHOWN = 20  # an error lists at most this many problems, then counts the rest


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line per problem: ``field: message (got value)``."""
    from .formats import shown, terminal_safe

    lines = []
    errors = exc.errors()
    for err in errors[:MAX_PROBLEMS_SHOWN]:
        loc = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and p in _UNION_TAGS))
        loc = prefix + loc if loc else prefix.rstrip(".") or "config"
        loc = terminal_safe(loc if len(loc) <= 120 else loc[:120] + "...")
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            lines.append(f"{loc}: {_unknown_key_message(exc.title, err['loc'])}")
            continue
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if not err["loc"] and not prefix and msg.startswith("variations["):
            lines.append(msg)  # already located, one problem per line
            continue
        if err["type"] == "union_tag_not_found":
            lines.append(f"{loc}: {_missing_tag_message(exc.title, err)}")
            continue
        got = err.get("input")
        if err["type"] in ("model_type", "dict_type", "missing") or isinstance(got, dict):
            lines.append(f"{loc}: {msg}")
        else:
            lines.append(f"{loc}: {msg} (got {shown(got)})")
    if len(errors) > MAX_PROBLEMS_SHOWN:
        lines.append(f"... and {len(errors) - MAX_PROBLEMS_SHOWN:,} more problems")
    return "\n".join(lines)


def _frozen_models() -> dict[str, type[BaseModel]]:
    """Every config model class by name (a ValidationError's ``title`` names its root)."""
    out: dict[str, type[BaseModel]] = {}
    todo: list[type[BaseModel]] = [Frozen]
    while todo:
        cls = todo.pop()
        out[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return out


def _descend(tp: Any, part: str | int) -> Any:
    """The type one location step below ``tp`` (a field, a list item or a union tag)."""
    for cand in _candidates(tp):
        if isinstance(part, int):
            if get_origin(cand) in (tuple, list):
                return get_args(cand)[0]
            continue
        if isinstance(cand, type) and issubclass(cand, BaseModel):
            if part in cand.model_fields:
                return cand.model_fields[part].annotation
            for tag in ("kind", "type"):
                f = cand.model_fields.get(tag)
                if f is not None and f.default == part:
                    return cand
    return None


def _unknown_key_message(title: str, loc: tuple[str | int, ...]) -> str:
    """``unknown key 'x'; allowed keys for <section>: ...; did you mean 'y'?``"""
    key = str(loc[-1]) if loc else "?"
    tp: Any = _frozen_models().get(title)
    for part in loc[:-1]:
        if tp is None:
            break
        tp = _descend(tp, part)
    models = [c for c in _candidates(tp) if isinstance(c, type) and issubclass(c, BaseModel)]
    if len(models) != 1:
        return f"unknown key {key!r} (check its spelling)"
    allowed = list(models[0].model_fields)
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r}; allowed keys here: {', '.join(allowed)}{hint}"


def _missing_tag_message(title: str, err: Any) -> str:
    """``needs kind = one of 'sgd', 'adam', ...`` for a section without its tag key."""
    tag = (err.get("ctx") or {}).get("discriminator", "kind").strip("'")
    tp: Any = _frozen_models().get(title)
    for part in err["loc"]:
        if tp is None:
            break
        tp = _descend(tp, part)
    tags = [
        c.model_fields[tag].default
        for c in _candidates(tp)
        if isinstance(c, type) and issubclass(c, BaseModel) and tag in c.model_fields
    ]
    listed = ", ".join(repr(t) for t in tags) if tags else "see the docs"
    return (
        f"no '{tag}' key: say which one, e.g. {tag} = {tags[0]!r} (one of {listed})"
        if tags
        else (f"no '{tag}' key ({listed})")
    )


_UNION_TAGS = {*LAYER_TYPES, *OPTIMIZER_KINDS, *SCHEDULE_KINDS}


def _clip(where: str) -> str:
    from .formats import terminal_safe

    return terminal_safe(where if len(where) <= 120 else where[:120] + "...")


def _check_values(data: Any, source: str) -> None:
    """Every number finite and the nesting within :data:`MAX_NESTING` levels (walked
    without recursion, so a hostile file cannot exhaust the stack)."""
    todo: list[tuple[Any, str, int]] = [(data, "", 0)]
    while todo:
        obj, where, depth = todo.pop()
        if depth > MAX_NESTING:
            raise ConfigError(
                f"{source}: {_clip(where) or 'config'} is nested more than {MAX_NESTING} levels deep; "
                "an experiment file needs only a few levels of tables and arrays"
            )
        if isinstance(obj, float) and not math.isfinite(obj):
            raise ConfigError(f"{source}: {where or 'config'}: {obj} is not a finite number; give a number")
        if isinstance(obj, int) and obj.bit_length() > 64:
            from .formats import shown

            raise ConfigError(
                f"{source}: {_clip(where) or 'config'}: {shown(obj)} is far too large; give a number that "
                "fits in 64 bits"
            )
        if isinstance(obj, dict):
            todo.extend((v, f"{where}.{k}" if where else str(k), depth + 1) for k, v in obj.items())
        elif isinstance(obj, (list, tuple)):
            todo.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj))


def experiment_from_dict(data: dict[str, Any], source: str = "config") -> ExperimentConfig:
    """Validate a plain dict (as read from TOML) into an experiment, or raise ConfigError."""
    _check_values(data, source)
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        problems = format_validation_error(exc)
        sep = "\n" if "\n" in problems else " "  # a single problem stays on one line
        raise ConfigError(f"{source} is invalid:{sep}{problems}") from None
    except (TypeError, OverflowError, RecursionError) as exc:  # a shape no field rule foresaw
        raise ConfigError(f"{source} is invalid: {type(exc).__name__}: {exc}") from None


def _resolve_dataset_paths(data: dict[str, Any], folder: Path) -> None:
    """Make relative ``dataset.path`` values (base and variations) relative to ``folder``."""
    sections = [data.get("base")] + list(data.get("variations") or [])
    for section in sections:
        dataset = section.get("dataset") if isinstance(section, dict) else None
        if not isinstance(dataset, dict):
            continue
        path = dataset.get("path")
        if isinstance(path, str) and path:
            p = Path(path).expanduser()
            dataset["path"] = str(p if p.is_absolute() else folder / p)


def too_many_digits(exc: ValueError) -> str:
    """The message for a ValueError from parsing TOML that is not a syntax error (an integer
    past Python's 4,300-digit conversion limit, a date out of range)."""
    if "digits" in str(exc):
        return "a number has more than 4,300 digits; give a number of ordinary size"
    return f"a value cannot be read ({str(exc)[:200]})"


def loads_toml(text: str, source: str = "config", folder: str | Path | None = None) -> ExperimentConfig:
    """Parse and validate experiment TOML; relative ``dataset.path`` values are taken
    relative to ``folder`` when given (the experiment file's folder)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}") from None
    except ValueError as exc:  # Python's limit on digits in an integer (4,300)
        raise ConfigError(f"{source}: {too_many_digits(exc)}") from None
    except RecursionError:
        raise ConfigError(
            f"{source}: arrays or tables are nested too deeply (the limit is {MAX_NESTING} levels)"
        ) from None
    if not data:
        raise ConfigError(
            f"{source} is empty: an experiment file needs at least a [base] table "
            "(see 'optiscope presets' and the README for examples)"
        )
    if folder is not None:
        _resolve_dataset_paths(data, Path(folder))
    return experiment_from_dict(data, source)


def load_toml(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment file; ConfigError names file, field and fix.

    A relative ``dataset.path`` is taken relative to the file's own folder.
    """
    from .files import MAX_SETTINGS_BYTES, FileRefused, read_limited

    path = Path(path)
    try:
        text = read_limited(path, MAX_SETTINGS_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; check the path") from None
    except FileRefused as exc:
        raise ConfigError(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    return loads_toml(text, str(path), folder=path.resolve().parent)


def _strip_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple)):
        return [_strip_none(v) for v in obj]
    return obj


def dumps_toml(exp: ExperimentConfig) -> str:
    """TOML text for an experiment (None values are omitted: they mean 'default')."""
    return tomli_w.dumps(_strip_none(exp.model_dump(mode="json")))


def dump_toml(exp: ExperimentConfig, path: str | Path) -> None:
    """Write atomically: a crash never leaves a half-written experiment file."""
    from .files import atomic_write_text

    atomic_write_text(path, dumps_toml(exp))
