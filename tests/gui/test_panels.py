"""Every panel builds its config section and shows any valid one back unchanged."""

from __future__ import annotations

import pytest
from optiscope.engine import config as C
from optiscope.engine.data import dataset_shape
from optiscope.engine.models import param_count as count_parameters
from optiscope.gui.panels import PanelError
from optiscope.gui.panels.data import DataPanel, csv_columns, preview_summary
from optiscope.gui.panels.model import ModelPanel
from optiscope.gui.panels.optimizer import OptimizerPanel
from optiscope.gui.panels.regularization import RegularizationPanel
from optiscope.gui.panels.schedule import SchedulePanel, plateau_rule
from optiscope.gui.panels.training import TrainingPanel
from optiscope.gui.widgets import SciSpinBox

OPTIMIZERS = [
    C.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    C.Adagrad(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1, eps=1e-9),
    C.RMSprop(lr=3e-4, alpha=0.9, momentum=0.5, centered=True),
    C.Adam(lr=2e-3, beta1=0.85, beta2=0.995, eps=1e-7, amsgrad=True),
    C.AdamW(lr=1e-3, weight_decay=0.05),
    C.NAdam(lr=0.002, momentum_decay=0.008),
    C.Adamax(lr=0.003, beta2=0.99),
    C.Adadelta(lr=0.5, rho=0.95),
]
SCHEDULES = [
    C.Constant(warmup_steps=50, warmup_start_factor=0.1),
    C.TimeDecay(decay=1e-2),
    C.Step(step_epochs=5, gamma=0.3),
    C.Exponential(gamma=0.9),
    C.Cosine(t_max_steps=300, eta_min=1e-5),
    C.Cosine(),
    C.CosineRestarts(t0_steps=100, t_mult=2),
    C.Cyclic(mode="exp_range", base_lr=1e-4, max_lr=0.05, step_size=64, gamma=0.999),
    C.OneCycle(max_lr=0.2, pct_start=0.25, anneal_strategy="linear", three_phase=True),
    C.Plateau(monitor="val_acc", factor=0.5, patience=3, min_delta=1e-7, cooldown=2, min_lr=1e-6),
]


def _roundtrip(qtbot, panel, cfg):
    qtbot.addWidget(panel)
    with qtbot.assertNotEmitted(panel.changed):
        panel.set_config(cfg)
    assert panel.config() == cfg
    assert panel.problem() is None


@pytest.mark.parametrize("cfg", OPTIMIZERS, ids=lambda c: c.kind)
def test_optimizer_panel_roundtrips_every_kind(qtbot, cfg):
    _roundtrip(qtbot, OptimizerPanel(), cfg)


@pytest.mark.parametrize("cfg", SCHEDULES, ids=lambda c: c.kind)
def test_schedule_panel_roundtrips_every_kind(qtbot, cfg):
    _roundtrip(qtbot, SchedulePanel(), cfg)


@pytest.mark.parametrize(
    "cfg",
    [
        C.DatasetConfig(),
        C.DatasetConfig(name="moons", n_samples=300, noise=0.3, train_fraction=0.7, seed=5, standardize=True),
        C.DatasetConfig(name="spiral", centers=4, subsample=50, standardize=False),
        C.DatasetConfig(name="digits", train_fraction=0.8),
    ],
    ids=lambda c: c.name,
)
def test_data_panel_roundtrips(qtbot, cfg):
    _roundtrip(qtbot, DataPanel(), cfg)


def test_data_panel_roundtrips_csv(qtbot, tmp_path):
    path = tmp_path / "cardio.csv"
    path.write_text("age,weight,cardio\n50,80,1\n40,70,0\n", encoding="utf-8")
    cfg = C.DatasetConfig(name="csv", path=str(path), target="cardio", drop_missing=True)
    panel = DataPanel()
    _roundtrip(qtbot, panel, cfg)
    assert [panel.target_box.itemData(i) for i in range(panel.target_box.count())] == [
        "age",
        "weight",
        "cardio",
    ]


def test_model_panel_roundtrips_and_edits(qtbot):
    cfg = C.ModelConfig(
        layers=(
            C.Conv2d(filters=8, kernel=3),
            C.MaxPool(size=2),
            C.Flatten(),
            C.Dense(units=32, activation="tanh"),
            C.BatchNorm(activation="relu"),
            C.Dropout(p=0.25),
        ),
        output_init="he_normal",
    )
    panel = ModelPanel()
    _roundtrip(qtbot, panel, cfg)
    panel.layer_list.setCurrentRow(5)
    with qtbot.waitSignal(panel.changed):
        panel.add_layer("dense")  # goes after the selected (last) layer
    assert len(panel.config().layers) == 7 and panel.config().layers[6].type == "dense"
    panel.layer_list.setCurrentRow(0)
    panel.add_layer("dense")  # a dense layer before max pooling: reported, in words
    assert "maxpool after a flatten/dense layer" in panel.problem()
    panel.layer_list.setCurrentRow(1)
    panel.remove_layer()
    panel.layer_list.setCurrentRow(6)
    panel.remove_layer()
    panel.layer_list.setCurrentRow(5)
    panel.move_layer(-1)
    assert [layer.type for layer in panel.config().layers][4:6] == ["dropout", "batchnorm"]


def test_regularization_and_training_roundtrip(qtbot):
    reg = C.RegularizationConfig(
        l1=1e-5,
        l2=1e-3,
        grad_clip=1.0,
        early_stopping=C.EarlyStopping(
            enabled=True, monitor="val_acc", patience=4, min_delta=0.001, restore_best=False
        ),
        augmentation=C.Augmentation(jitter=0.1, shift=1, rotate=10.0, cutout=2, mixup=0.2, noise=0.05),
    )
    _roundtrip(qtbot, RegularizationPanel(), reg)
    train = C.TrainingConfig(
        epochs=12, batch_size=64, device="cpu", seed=7, mixed_precision=True, eval_train=False
    )
    _roundtrip(qtbot, TrainingPanel(), train)


def test_training_panel_lists_only_present_devices_but_keeps_a_loaded_one(qtbot):
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.set_devices(["cpu"])
    items = [panel.device_box.itemData(i) for i in range(panel.device_box.count())]
    assert items == ["auto", "cpu"]
    panel.set_config(C.TrainingConfig(device="cuda"))
    assert panel.config().device == "cuda"
    assert "not found" in panel.device_box.currentText()


def test_user_edit_emits_changed_once(qtbot):
    panel = OptimizerPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.changed):
        panel.lr_box().setValue(0.2)
    assert panel.config().lr == 0.2


def test_invalid_combinations_are_reported_in_words(qtbot):
    opt = OptimizerPanel()
    qtbot.addWidget(opt)
    opt.set_config(C.SGD(momentum=0.0))
    opt.current_form().widgets["nesterov"].setChecked(True)
    assert "nesterov" in opt.problem() and "momentum" in opt.problem()
    assert opt.error_label.isVisibleTo(opt)
    with pytest.raises(PanelError):
        opt.config()
    sched = SchedulePanel()
    qtbot.addWidget(sched)
    sched.set_config(C.Cyclic(base_lr=0.01, max_lr=0.1))
    sched.current_form().widgets["max_lr"].setValue(0.001)
    assert "max_lr" in sched.problem()
    data = DataPanel()
    qtbot.addWidget(data)
    data.name_box.setCurrentIndex(data.name_box.findData("csv"))
    assert "CSV" in data.problem()


def test_csv_problems_shown_in_the_panel(qtbot, tmp_path):
    panel = DataPanel()
    qtbot.addWidget(panel)
    panel.name_box.setCurrentIndex(panel.name_box.findData("csv"))
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    panel.set_csv_path(str(empty))
    assert "empty" in panel.csv_error.text()
    assert panel.csv_error.isVisibleTo(panel)
    with pytest.raises(ValueError, match="no such file"):
        csv_columns(tmp_path / "missing.csv")
    # the engine's own CSV errors (DataError) reach the panel in words
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,2,x\n", encoding="utf-8")
    panel.set_csv_path(str(bad))
    from optiscope.engine.data import DataError

    with pytest.raises(DataError) as info:
        preview_summary(panel.config())
    panel.show_preview_error(str(info.value))
    assert panel.csv_error.text() == str(info.value)
    assert "Traceback" not in panel.csv_error.text()


def test_data_previews_draw_each_kind(qtbot):
    panel = DataPanel()
    qtbot.addWidget(panel)
    panel.show_preview(preview_summary(C.DatasetConfig(n_samples=100)))
    assert panel.preview.mode == "scatter"
    panel.show_preview(preview_summary(C.DatasetConfig(name="digits")))
    assert panel.preview.mode == "images"
    panel.show_preview(preview_summary(C.DatasetConfig(name="wine")))
    assert panel.preview.mode == "bars"
    assert panel.preview.grab().width() > 0


def test_digits_preview_draws_its_images_large(qtbot):
    """In the side panel's width the digits are drawn at 40 px or more (they were 4 px)."""
    import numpy as np
    from PySide6 import QtGui

    panel = DataPanel()
    qtbot.addWidget(panel)
    panel.resize(318, 700)  # the side panel's minimum width
    panel.show()
    summary = preview_summary(C.DatasetConfig(name="digits"))
    n, h, w = summary["images"].shape
    assert (h, w) == (8, 8) and n >= 8
    # the same count and labels, each image a black square (one white pixel inside), so its
    # drawn size can be measured on the rendered preview
    squares = np.ones((n, h, w))
    squares[:, 4, 4] = 0.0
    panel.show_preview({**summary, "images": squares})
    image = panel.preview.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    raw = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    dark = (raw[:, : 4 * image.width()].reshape(image.height(), image.width(), 4)[..., :3] < 60).all(axis=2)
    ratio = image.devicePixelRatio()

    def run_lengths(lines: np.ndarray) -> list[float]:
        """Lengths of the dark runs along each line, in logical pixels, past the text's strokes."""
        out = []
        for line in lines:
            edges = np.flatnonzero(np.diff(np.concatenate(([0], line.astype(int), [0]))))
            out.extend((edges[1::2] - edges[::2]) / ratio)
        return [r for r in out if r >= 8]

    widths, heights = run_lengths(dark), run_lengths(dark.T)
    assert widths and heights, "no image drawn"
    assert np.median(widths) >= 40 and np.median(heights) >= 40, (np.median(widths), np.median(heights))


@pytest.mark.parametrize(
    "model, data",
    [
        (C.ModelConfig(), C.DatasetConfig()),
        (
            C.ModelConfig(
                layers=(C.Dense(units=20), C.BatchNorm(activation="relu"), C.Dropout(), C.Dense(units=7))
            ),
            C.DatasetConfig(name="wine"),
        ),
        (
            C.ModelConfig(
                layers=(
                    C.Conv2d(filters=4, kernel=5),
                    C.MaxPool(),
                    C.Conv2d(filters=6),
                    C.MaxPool(),
                    C.Dense(units=16),
                )
            ),
            C.DatasetConfig(name="digits"),
        ),
    ],
)
def test_parameter_count_matches_the_engine(model, data):
    from optiscope.engine.data import load_dataset
    from optiscope.engine.models import build_model, count_params

    shape = dataset_shape(data)
    ds = load_dataset(data)
    assert (shape["n_features"], shape["n_classes"], shape["image_shape"]) == (
        ds.n_features,
        ds.n_classes,
        ds.image_shape,
    )
    expected = count_params(build_model(model, ds.n_features, ds.n_classes, ds.image_shape))
    assert count_parameters(model, shape["n_features"], shape["n_classes"], shape["image_shape"]) == expected


def test_lr_entry_steps_on_a_log_ladder(qtbot):
    box = SciSpinBox(1e-12, 100.0, log=True)
    qtbot.addWidget(box)
    box.setValue(0.01)
    box.stepBy(1)
    assert box.value() == pytest.approx(0.02)
    box.stepBy(2)
    assert box.value() == pytest.approx(0.1)
    box.stepBy(-3)
    assert box.value() == pytest.approx(0.01)
    assert box.textFromValue(1e-8) == "1e-08"
    assert box.valueFromText("3e-4") == pytest.approx(3e-4)


def test_plateau_rule_in_words():
    text = plateau_rule(C.Plateau(patience=5, factor=0.1, monitor="val_loss"))
    assert "5 epochs" in text and "multiplied by 0.1" in text and "validation loss" in text


@pytest.mark.parametrize(
    ("panel_class", "classes"), [(OptimizerPanel, C.OPTIMIZER_CLASSES), (SchedulePanel, C.SCHEDULE_CLASSES)]
)
def test_every_registered_kind_shows_every_field(qtbot, panel_class, classes):
    """The panels build their forms from the registry: a new part's fields appear with no panel code."""
    panel = panel_class()
    qtbot.addWidget(panel)
    for kind, cls in classes.items():
        assert set(panel.forms[kind].widgets) == set(cls.model_fields) - {"kind"}, kind


NEWER = [
    C.OPTIMIZER_CLASSES["lion"](lr=3e-4, beta1=0.8, beta2=0.95, weight_decay=0.5),
    C.OPTIMIZER_CLASSES["schedulefree_adamw"](
        lr=0.01, beta1=0.95, warmup_steps=100, r=1.0, weight_lr_power=1.0
    ),
    C.OPTIMIZER_CLASSES["schedulefree_sgd"](lr=0.5, momentum=0.8, weight_decay=1e-4),
    C.OPTIMIZER_CLASSES["prodigy"](
        d_coef=2.0,
        d0=1e-5,
        decouple=False,
        use_bias_correction=True,
        safeguard_warmup=True,
        weight_decay=0.01,
        growth_rate=1.05,
        beta3=0.95,
    ),
]


@pytest.mark.parametrize("cfg", NEWER, ids=lambda c: c.kind)
def test_optimizer_panel_roundtrips_the_newer_kinds(qtbot, cfg):
    _roundtrip(qtbot, OptimizerPanel(), cfg)


def test_multistep_milestones_are_typed_as_a_list_and_checked(qtbot):
    panel = SchedulePanel()
    qtbot.addWidget(panel)
    multistep = C.SCHEDULE_CLASSES["multistep"]
    _roundtrip(qtbot, panel, multistep(milestones=(400, 600, 900), gamma=0.5))
    box = panel.forms["multistep"].widgets["milestones"]
    assert box.text() == "400, 600, 900"
    for text, expected in (("100 300", (100, 300)), ("  250,", (250,)), ("", None)):
        box.setText(text)
        assert panel.config().milestones == expected
    box.setText("")  # empty: the default milestones, said in the placeholder
    assert "50 %" in box.placeholderText()
    for text, message in (
        ("300, 100", "schedule.milestones: milestones must increase"),
        ("100, x", "schedule.milestones.1: Input should be a valid integer (got 'x')"),
        ("0", "schedule.milestones: milestones must be update counts from 1"),
    ):
        box.setText(text)
        with pytest.raises(PanelError) as err:
            panel.config()
        assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_field_name_two_optimizers_share_is_labelled_for_each(qtbot):
    """Lion's beta2 is its momentum, Adam's the squared gradients' average: one label each."""
    panel = OptimizerPanel()
    qtbot.addWidget(panel)
    assert panel.forms["adam"].labels["beta2"].text() == "β2 (squared grads)"
    assert panel.forms["lion"].labels["beta2"].text() == "β2 (momentum)"
