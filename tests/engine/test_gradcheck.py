"""The gradient check (engine.gradcheck, ``optiscope gradcheck``) finds a wrong backward pass, layer by layer."""

from __future__ import annotations

import pytest
import torch
from optiscope.engine.cli import main
from optiscope.engine.config import RunConfig
from optiscope.engine.gradcheck import WRONG, gradient_check
from optiscope.engine.kernels import BatchedNet

torch.set_num_threads(1)

MLP = {
    "dataset": {"name": "blobs", "n_samples": 200},
    "model": {
        "layers": [
            {"type": "dense", "units": 16, "activation": "tanh"},
            {"type": "dropout", "p": 0.3},
            {"type": "dense", "units": 8, "activation": "relu"},
        ]
    },
    "regularization": {"l2": 1e-3, "l1": 1e-3},
}


def test_every_layer_passes_alone_and_in_the_batched_engine():
    report = gradient_check(RunConfig.model_validate(MLP))
    engines = {c.engine for c in report.layers}
    assert engines == {"alone (torch autograd)", "batched (hand-written backward)"}
    assert len(report.layers) == 6 and report.passed
    # a small network: every entry of every weight and bias is checked
    assert [c.entries for c in report.layers[:3]] == [2 * 16 + 16, 16 * 8 + 8, 8 * 3 + 3]
    assert all(c.complete and c.checked + c.at_kink + c.too_small == c.entries for c in report.layers)
    assert all(c.max_error < 1e-5 for c in report.layers)
    assert "batch norm in evaluation mode" in report.table()


def test_batch_norm_checked_in_evaluation_mode_with_kinks_skipped():
    cfg = RunConfig.model_validate(
        {
            **MLP,
            "model": {
                "layers": [{"type": "dense", "units": 16}, {"type": "batchnorm", "activation": "relu"}]
            },
        }
    )
    report = gradient_check(cfg)
    assert report.passed and {c.engine for c in report.layers} >= {"batched (autograd)"}
    assert all(c.max_error < 1e-5 for c in report.layers if c.checked)


def test_a_corrupted_backward_fails_on_that_layer_only(monkeypatch):
    original = BatchedNet.train_step

    def broken(self, *args, **kwargs):  # the second dense layer's weight gradient 10 % too large
        out = original(self, *args, **kwargs)
        self.grad_views[self.ops[3].weight].mul_(1.1)
        return out

    monkeypatch.setattr(BatchedNet, "train_step", broken)
    report = gradient_check(RunConfig.model_validate(MLP))
    failed = [(c.engine, c.layer) for c in report.layers if not c.passed]
    assert failed == [("batched (hand-written backward)", "dense 2 (16\u21928)")]
    bad = next(c for c in report.layers if not c.passed)
    assert bad.max_error >= WRONG and not report.passed and "FAIL" in report.table()


def test_cli_exit_codes(tmp_path, monkeypatch, capsys):
    toml = tmp_path / "mlp.toml"
    toml.write_text(
        'name = "mlp"\n[base.dataset]\nname = "blobs"\nn_samples = 200\n'
        '[base.model]\nlayers = [{ type = "dense", units = 8, activation = "relu" }]\n'
    )
    assert main(["gradcheck", str(toml)]) == 0
    assert "PASS" in capsys.readouterr().out
    assert main(["gradcheck", str(toml), "--run", "3"]) == 2
    assert "--run 3" in capsys.readouterr().err
    original = BatchedNet.train_step

    def broken(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        self.grad_views[self.ops[0].bias].add_(0.5)
        return out

    monkeypatch.setattr(BatchedNet, "train_step", broken)
    assert main(["gradcheck", str(toml), "--out", str(tmp_path / "out")]) == 1
    assert "WRONG" in capsys.readouterr().out
    # --out keeps the report: the table as printed and one JSON row per engine and layer
    import json

    written = json.loads((tmp_path / "out" / "gradcheck.json").read_text())
    assert written["passed"] is False
    wrong = [(r["engine"], r["layer"]) for r in written["layers"] if r["verdict"] == "WRONG"]
    assert wrong == [("batched (hand-written backward)", "dense 1 (2\u21928)")]
    assert "WRONG" in (tmp_path / "out" / "gradcheck.txt").read_text()


@pytest.mark.parametrize("bad", [["--batch", "0"]])
def test_cli_bad_numbers(bad, capsys):
    assert main(["gradcheck", "--preset", "blobs-sgd", *bad]) == 2


def test_gradients_below_the_differences_rounding_error_are_skipped_not_called_wrong():
    """The studies' network (blobs-sgd: unscaled inputs, a loss near 3.9) has gradient entries of
    1e-9 to 1e-11, at the rounding error of a central difference (eps * 3.9 / 1e-6 ~ 9e-10):
    torch autograd's exact gradient once failed as WRONG there. Checked against torch's own
    gradcheck on the same network and batch."""
    from optiscope.engine.data import load_dataset
    from optiscope.engine.models import build_model
    from optiscope.engine.presets import get_preset

    cfg = get_preset("blobs-sgd").runs()[0]
    report = gradient_check(cfg)
    assert report.passed, report.table()
    assert all(c.max_error < 1e-5 for c in report.layers), report.table()
    assert sum(c.too_small for c in report.layers) > 0  # the tiny entries exist and are counted
    assert all(c.checked >= 5 for c in report.layers)  # and most entries are still checked

    ds = load_dataset(cfg.dataset)
    x = torch.as_tensor(ds.x_train[:16], dtype=torch.float64)
    y = torch.as_tensor(ds.y_train[:16])
    torch.manual_seed(cfg.training.seed)
    model = build_model(cfg.model, ds.n_features, ds.n_classes, ds.image_shape).double()
    w1, b1, w2, b2 = (p.detach().clone().requires_grad_() for p in model.parameters())

    def loss(w1, b1, w2, b2):
        return torch.nn.functional.cross_entropy(torch.relu(x @ w1.t() + b1) @ w2.t() + b2, y)

    assert torch.autograd.gradcheck(loss, (w1, b1, w2, b2), eps=1e-6, atol=1e-8, rtol=1e-5)


# --------------------------------------------------------------------------- one wrong entry anywhere
LAYERS = ["dense 1 (2\u219216)", "dense 2 (16\u21928)", "output (8\u21923)"]


def _corrupt(g: torch.Tensor, index: int) -> torch.Tensor:
    """One entry made wrong: doubled and pushed off by 0.01 (far past any rounding)."""
    g = g.clone()
    flat = g.view(-1)
    flat[index] = 2 * flat[index] + 0.01
    return g


@pytest.mark.parametrize("tensor", ["weight", "bias"])
@pytest.mark.parametrize("layer", [0, 1, 2])
def test_one_wrong_entry_in_any_tensor_fails_the_single_run_check(monkeypatch, layer, tensor):
    """Issue 18.3: with 20 of a layer's entries sampled, a wrong output-bias gradient (2 of 102
    entries) passed. The wrong entry is one torch.autograd gradient entry, changed by a hook."""
    from optiscope.engine import gradcheck as gc

    real_build = gc.build_model

    def build_with_a_wrong_entry(*args, **kwargs):
        model = real_build(*args, **kwargs)
        linear = [m for m in model if isinstance(m, torch.nn.Linear)][layer]
        p = getattr(linear, tensor)
        p.register_hook(lambda g: _corrupt(g, p.numel() - 1))
        return model

    monkeypatch.setattr(gc, "build_model", build_with_a_wrong_entry)
    report = gradient_check(RunConfig.model_validate(MLP))
    failed = [(c.engine, c.layer) for c in report.layers if not c.passed]
    assert failed == [("alone (torch autograd)", LAYERS[layer])], report.table()


@pytest.mark.parametrize("tensor", ["weight", "bias"])
@pytest.mark.parametrize("layer", [0, 1, 2])
def test_one_wrong_entry_in_any_tensor_fails_the_batched_check(monkeypatch, layer, tensor):
    original = BatchedNet.train_step

    def broken(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        op = [o for o in self.ops if o.kind == "dense"][layer]
        view = self.grad_views[getattr(op, tensor)]
        view.copy_(_corrupt(view, 0))
        return out

    monkeypatch.setattr(BatchedNet, "train_step", broken)
    report = gradient_check(RunConfig.model_validate(MLP))
    failed = [(c.engine, c.layer) for c in report.layers if not c.passed]
    assert failed == [("batched (hand-written backward)", LAYERS[layer])], report.table()


def test_large_tensors_are_sampled_and_the_miss_chance_is_the_hypergeometric_one(capsys):
    """A 64->100 layer has 6400 weights (sampled: 200) and 100 biases (all checked); the printed
    chance of missing k wrong weights is scipy's hypergeometric P(X = 0)."""
    from scipy.stats import hypergeom

    cfg = RunConfig.model_validate(
        {
            "dataset": {"name": "digits"},
            "model": {"layers": [{"type": "dense", "units": 100, "activation": "tanh"}]},
        }
    )
    report = gradient_check(cfg, batch=4)
    first = report.layers[0]
    assert first.entries == 6500 and first.sampled == (("weight", 6400, 200),)
    assert first.checked + first.at_kink + first.too_small == 200 + 100
    assert report.layers[1].complete  # the 100->10 output: 1010 entries, all checked
    table = report.table()
    for k in (1, 2, 10):
        expected = hypergeom(6400, k, 200).pmf(0)
        assert f"k={k}: {expected:.3g}" in table
    assert "200 of 6400 entries" in table
