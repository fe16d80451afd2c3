"""Loss surfaces on planes in weight space (issue 5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from optiscope.engine import events as ev
from optiscope.engine.config import BatchNorm, Dense, Dropout, ModelConfig, RunConfig, TrainingConfig
from optiscope.engine.landscape import (
    PCA_REACH,
    SurfaceEvaluator,
    filter_normalize,
    grid_axes,
    interp_plane,
    loop_losses,
    make_plane,
    path_report,
    pca_plane,
    random_plane,
    surface_stages,
)
from optiscope.engine.testfunctions import function_grid, get_function
from optiscope.engine.trainer import evaluate, prepare, train
from torch import nn

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def blobs_run():
    """The studies' blobs MLP trained for 3 epochs, with its weight trajectory."""
    cfg = RunConfig(training=TrainingConfig(epochs=3, seed=1))
    bus = ev.EventBus()
    snaps: list[ev.Weights] = []
    bus.subscribe(snaps.append, ev.Weights)
    p = prepare(cfg)
    res = train(cfg, bus=bus, prepared=p, weights_every=4)
    assert res.reason == "completed"
    traj = np.stack([s.vector for s in snaps])
    return p, res.model, traj, np.array([s.step for s in snaps])


def test_pca_of_a_straight_line_recovers_its_direction() -> None:
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(40)
    v = rng.standard_normal(40)
    t = np.linspace(0.0, 3.0, 12) ** 1.5  # uneven steps along one line
    traj = w0 + t[:, None] * v
    plane = pca_plane(traj)
    cos = abs(plane.d1 @ v) / np.linalg.norm(plane.d1) / np.linalg.norm(v)
    assert cos == pytest.approx(1.0, abs=1e-9)
    assert plane.explained == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(plane.origin, traj[-1])
    c = plane.project(traj)
    assert np.abs(c[:, 0]).max() == pytest.approx(PCA_REACH)  # axis scaled to frame the path
    np.testing.assert_allclose(c[:, 1], 0.0, atol=1e-9)
    np.testing.assert_allclose(plane.distance_from_plane(traj), 0.0, atol=1e-9)


def test_pca_of_a_noisy_plane_trajectory_reports_its_explained_variance() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 30))
    s = np.linspace(0, 1, 50)
    traj = np.outer(np.cos(3 * s), a) + np.outer(s, b) + 0.05 * rng.standard_normal((50, 30))
    plane = pca_plane(traj)
    assert 0.9 < plane.explained < 1.0
    assert plane.explained == pytest.approx(plane.explained_variance(traj), rel=1e-9)


def _bn_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(4, 8),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(8, 20),
        nn.Tanh(),
        nn.Linear(20, 3),
    )


def test_filter_normalisation_matches_each_filter_norm_and_zeroes_biases_and_bn() -> None:
    model = _bn_model()
    w = torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy().astype(np.float64)
    d = filter_normalize(np.random.default_rng(3).standard_normal(w.shape), w, model)
    off = 0
    checked = 0
    for name, p in model.named_parameters():
        n = p.numel()
        dp, wp = d[off : off + n], w[off : off + n]
        if p.ndim <= 1:  # biases, BN weight and bias
            assert not dp.any(), name
        else:
            np.testing.assert_allclose(
                np.linalg.norm(dp.reshape(p.shape[0], -1), axis=1),
                np.linalg.norm(wp.reshape(p.shape[0], -1), axis=1),
                rtol=1e-9,
            )
            checked += p.shape[0]
        off += n
    assert checked == 8 + 20 + 3
    plane = random_plane(model, w, seed=5)
    assert not np.allclose(plane.d1, plane.d2)
    assert plane.kind == "random" and np.isnan(plane.explained)


def test_surface_at_the_origin_equals_the_models_loss(blobs_run) -> None:
    p, model, traj, _ = blobs_run
    expected, _ = evaluate(model, p.x_train, p.y_train)
    evaluator = SurfaceEvaluator(model, p.x_train, p.y_train)
    assert evaluator.method == "batched-mlp"
    assert evaluator.data_note == "full training set (500 examples)"
    for kind in ("pca", "random"):
        plane = make_plane(kind, model, traj)
        np.testing.assert_allclose(plane.origin, traj[-1])
        coarse, fine = surface_stages(evaluator.prepare(plane), 1.0, (11, 21))
        assert coarse.loss.shape == (11, 11) and fine.loss.shape == (21, 21) and fine.final
        assert coarse.origin_loss == pytest.approx(expected, rel=1e-5)
        assert fine.loss[10, 10] == pytest.approx(expected, rel=1e-5)
    line = make_plane("interp", model, traj)
    surf = next(surface_stages(evaluator.prepare(line), 1.0, (21,)))
    assert surf.loss.shape == (1, 21)
    at_one = int(np.argmin(np.abs(surf.alphas - 1.0)))
    assert surf.alphas[at_one] == pytest.approx(1.0)
    assert surf.loss[0, at_one] == pytest.approx(expected, rel=1e-5)


def test_vectorised_surface_equals_the_loop(blobs_run) -> None:
    p, model, traj, _ = blobs_run
    evaluator = SurfaceEvaluator(model, p.x_train, p.y_train, chunk_elems=30_000)  # several chunks
    for kind in ("pca", "random", "interp"):
        plane = make_plane(kind, model, traj)
        alphas, betas = grid_axes(plane, 11, 1.5)
        fast = evaluator.prepare(plane).grid(alphas, betas)
        slow = loop_losses(model, p.x_train, p.y_train, plane, alphas, betas)
        np.testing.assert_allclose(fast, slow, rtol=2e-5, atol=1e-6)
        assert np.ptp(slow) > 0.1  # a real landscape, not a flat one


def test_vectorised_paths_match_the_loop_for_bn_deep_and_conv_models() -> None:
    x = torch.randn(64, 4)
    y = torch.randint(0, 3, (64,))
    model = _bn_model()
    model.train()
    model(torch.randn(256, 4) * 2 + 1)  # give batch norm non-trivial running statistics
    model.eval()
    w = torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy().astype(np.float64)
    traj = w + np.outer(np.linspace(1, 0, 6), np.random.default_rng(0).standard_normal(w.size) * 0.3)
    plane = make_plane("pca", model, traj)
    alphas, betas = grid_axes(plane, 11, 1.0)
    slow = loop_losses(model, x, y, plane, alphas, betas)
    for method in (None, "vmap"):
        evaluator = SurfaceEvaluator(model, x, y, force_method=method, chunk_elems=4000)
        assert evaluator.method == (method or "batched-mlp")
        np.testing.assert_allclose(evaluator.prepare(plane).grid(alphas, betas), slow, rtol=1e-4, atol=1e-5)
    # a conv net is not a Linear stack: it goes through torch.func.vmap
    cfg = RunConfig.model_validate(
        {
            "dataset": {"name": "digits", "n_samples": 200},
            "model": {
                "layers": [
                    {"type": "conv2d", "filters": 4},
                    {"type": "maxpool"},
                    {"type": "flatten"},
                    {"type": "dense", "units": 8},
                ]
            },
        }
    )
    pc = prepare(cfg)
    cx, cy = pc.x_train[:40], pc.y_train[:40]
    ce = SurfaceEvaluator(pc.model, cx, cy)
    assert ce.method == "vmap"
    wc = torch.nn.utils.parameters_to_vector(pc.model.parameters()).detach().numpy().astype(np.float64)
    cplane = random_plane(pc.model, wc, seed=1)
    al, be = grid_axes(cplane, 11, 1.0)
    np.testing.assert_allclose(
        ce.prepare(cplane).grid(al, be), loop_losses(pc.model, cx, cy, cplane, al, be), rtol=1e-4, atol=1e-5
    )


def test_a_convex_quadratic_gives_a_bowl_with_its_minimum_where_expected() -> None:
    fn = get_function("quadratic")
    xs, ys, z = function_grid(fn, 41)
    iy, ix = np.unravel_index(np.argmin(z), z.shape)
    assert (xs[ix], ys[iy]) == pytest.approx(fn.minima[0])
    assert np.all(np.diff(z, 2, axis=0) > 0) and np.all(np.diff(z, 2, axis=1) > 0)
    # a network whose loss is convex in its weights (softmax regression) trained to its optimum:
    # the random-direction slice is a convex bowl with its lowest point at the origin
    torch.manual_seed(0)
    x = torch.randn(200, 2) * 2
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.8 * torch.randn(200) > 0).long()
    model = nn.Sequential(nn.Linear(2, 2))
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=200, tolerance_grad=1e-10)

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss

    opt.step(closure)
    w = torch.nn.utils.parameters_to_vector(model.parameters()).detach().double().numpy()
    plane = random_plane(model, w, seed=2)
    evaluator = SurfaceEvaluator(model, x, y)
    surf = next(surface_stages(evaluator.prepare(plane), 1.0, (21,)))
    ib, ia = np.unravel_index(np.argmin(surf.loss), surf.loss.shape)
    assert (ia, ib) == (10, 10)
    assert np.all(np.diff(surf.loss, 2, axis=0) > -1e-5) and np.all(np.diff(surf.loss, 2, axis=1) > -1e-5)


def test_path_report_compares_true_and_slice_loss(blobs_run) -> None:
    p, model, traj, steps = blobs_run
    evaluator = SurfaceEvaluator(model, p.x_train, p.y_train)
    plane = make_plane("pca", model, traj)
    rep = path_report(evaluator, evaluator.prepare(plane), 0, steps, traj)
    assert rep.coords.shape == (len(traj), 2) and rep.true_loss.shape == (len(traj),)
    # the final snapshot is the origin: on the plane, slice and truth agree there
    assert rep.off_plane[-1] == pytest.approx(0.0, abs=1e-6)
    assert rep.slice_loss[-1] == pytest.approx(rep.true_loss[-1], rel=1e-5)
    # the first snapshot is off the plane (2 of ~hundreds of directions): the slice differs
    assert rep.off_plane[0] > 0.0
    np.testing.assert_allclose(rep.true_loss[0], evaluator.loss_at(traj[0]), rtol=1e-6)
    # along the interpolation line, the first and last snapshots lie exactly on it
    line = interp_plane(traj[0], traj[-1], traj)
    rl = path_report(evaluator, evaluator.prepare(line), 0, steps, traj)
    np.testing.assert_allclose(rl.coords[[0, -1], 0], [0.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(rl.slice_loss[[0, -1]], rl.true_loss[[0, -1]], rtol=1e-5)


def test_fixed_subset_is_named_and_bad_input_is_reported(blobs_run) -> None:
    p, model, traj, _ = blobs_run
    sub = SurfaceEvaluator(model, p.x_train, p.y_train, max_samples=100, seed=3)
    assert sub.data_note == "fixed subset: 100 of 500 training examples (seed 3)"
    assert len(sub.y) == 100
    plane = make_plane("pca", model, traj)
    with pytest.raises(ValueError, match="grid must be an integer from 11 to 101"):
        grid_axes(plane, 5, 1.0)
    with pytest.raises(ValueError, match="extent must be a positive"):
        grid_axes(plane, 21, 0.0)
    with pytest.raises(ValueError, match="at least 3 weight snapshots"):
        pca_plane(traj[:2])
    with pytest.raises(ValueError, match="different parameter counts"):
        pca_plane([traj, traj[:, :10]])
    with pytest.raises(ValueError, match="unknown plane 'flat'"):
        make_plane("flat", model, traj)
    other = nn.Sequential(nn.Linear(2, 3))
    with pytest.raises(ValueError, match="parameters, the model"):
        SurfaceEvaluator(other, p.x_train, p.y_train).prepare(plane)


def test_a_race_shares_one_plane(blobs_run) -> None:
    p, model, traj, _ = blobs_run
    other = traj + np.linspace(0, 1, len(traj))[:, None] * 0.05
    plane = pca_plane([traj, other])
    np.testing.assert_allclose(plane.origin, traj[-1])
    c1, c2 = plane.project(traj), plane.project(other)
    assert max(np.abs(c1).max(), np.abs(c2).max()) == pytest.approx(PCA_REACH)


def test_dense_bn_dropout_model_from_config_uses_the_batched_path() -> None:
    cfg = RunConfig(
        model=ModelConfig(
            layers=(
                Dense(units=16, activation="linear"),
                BatchNorm(activation="relu"),
                Dropout(p=0.2),
                Dense(units=24, activation="tanh"),
            )
        ),
        training=TrainingConfig(epochs=1),
    )
    pr = prepare(cfg)
    evaluator = SurfaceEvaluator(pr.model, pr.x_train, pr.y_train)
    assert evaluator.method == "batched-mlp"
    w = torch.nn.utils.parameters_to_vector(pr.model.parameters()).detach().double().numpy()
    plane = random_plane(pr.model, w, seed=0)
    al, be = grid_axes(plane, 11, 1.0)
    np.testing.assert_allclose(
        evaluator.prepare(plane).grid(al, be),
        loop_losses(pr.model, pr.x_train, pr.y_train, plane, al, be),
        rtol=1e-4,
        atol=1e-5,
    )


def test_cli_surface_writes_npz_csv_and_png(tmp_path, capsys) -> None:
    import csv

    from optiscope.engine.cli import main

    exp = tmp_path / "race.toml"
    exp.write_text(
        'schema_version = 1\nname = "race"\n'
        '[base.dataset]\nname = "blobs"\nn_samples = 200\n'
        "[base.training]\nepochs = 2\nbatch_size = 32\n"
        '[[variations]]\nlabel = "sgd"\noptimizer = { kind = "sgd", lr = 0.1 }\n'
        '[[variations]]\nlabel = "adam"\noptimizer = { kind = "adam", lr = 0.01 }\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert main(["surface", str(exp), "--out", str(out), "--grid", "11", "--epochs", "2", "--quiet"]) == 0
    with np.load(out / "surface.npz") as data:
        assert data["loss"].shape == (11, 11) and data["alphas"].shape == (11,)
        assert str(data["plane"]) == "pca" and 0 < float(data["explained"]) <= 1
        assert "full training set (100 examples)" == str(data["data"])
        assert list(data["labels"]) == ["sgd", "adam"]
    with (out / "trajectory.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {"run", "step", "alpha", "beta", "true_loss", "slice_loss"} <= set(rows[0])
    assert {r["run"] for r in rows} == {"0", "1"}  # both runs projected on one plane
    last0 = [r for r in rows if r["run"] == "0"][-1]
    assert float(last0["alpha"]) == pytest.approx(0, abs=1e-5)
    assert float(last0["slice_loss"]) == pytest.approx(float(last0["true_loss"]), rel=1e-4)
    png = (out / "surface.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    assert not list(out.glob("*.tmp"))
    # the 1-D line and bad input
    assert (
        main(
            ["surface", str(exp), "--out", str(out / "line"), "--grid", "11", "--plane", "interp", "--quiet"]
        )
        == 0
    )
    with np.load(out / "line" / "surface.npz") as data:
        assert data["loss"].shape == (1, 11)
    capsys.readouterr()
    assert main(["surface", str(exp), "--out", str(out), "--grid", "5"]) == 2
    err = capsys.readouterr().err
    assert "--grid must be from 11 to 101, got 5" in err and "Traceback" not in err


def test_recalibrate_batchnorm_estimates_the_statistics_at_the_current_weights() -> None:
    from optiscope.engine.landscape import recalibrate_batchnorm

    model = _bn_model()  # has dropout: it must stay off (and draw no random numbers)
    x = torch.randn(512, 4) * 3 + 2
    rng = torch.random.get_rng_state()
    assert recalibrate_batchnorm(model, x, batch_size=256) == 1
    assert torch.equal(rng, torch.random.get_rng_state())
    bn = model[1]
    with torch.no_grad():
        h = model[0](x)
    np.testing.assert_allclose(bn.running_mean.numpy(), h.mean(0).numpy(), rtol=1e-4, atol=1e-5)
    assert bn.momentum == 0.1 and model.training  # momentum and mode restored
    assert recalibrate_batchnorm(nn.Sequential(nn.Linear(2, 3)), x[:, :2]) == 0


def test_cli_surface_of_a_diverging_run_still_writes_its_files(tmp_path) -> None:
    from optiscope.engine.cli import main
    from optiscope.engine.landscape import finite_snapshots

    st, v = finite_snapshots(np.arange(3), np.array([[1.0, 2.0], [np.inf, 0.0], [3.0, np.nan]]))
    assert st.tolist() == [0] and v.tolist() == [[1.0, 2.0]]
    exp = tmp_path / "div.toml"
    exp.write_text(
        'schema_version = 1\n[base.dataset]\nname = "blobs"\nn_samples = 200\n'
        '[base.optimizer]\nkind = "sgd"\nlr = 50.0\n[base.training]\nepochs = 2\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert (
        main(["surface", str(exp), "--out", str(out), "--grid", "11", "--weights-every", "1", "--quiet"]) == 0
    )
    with np.load(out / "surface.npz") as data:
        assert data["loss"].shape == (11, 11) and np.isfinite(data["origin"]).all()
    assert (out / "surface.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_surface_is_centred_on_the_trained_weights(tmp_path) -> None:
    """Bug: the plane was centred on the last snapshot (every 3 updates: update 495 of 496),
    not on the trained model. The centre's loss and the path's end must be the trained
    model's own loss, computed here directly with torch."""
    import csv

    from optiscope.engine.cli import main
    from optiscope.engine.data import load_dataset
    from optiscope.engine.presets import get_preset
    from optiscope.engine.runner import execute

    out = tmp_path / "out"
    args = ["surface", "--preset", "blobs-sgd", "--epochs", "31", "--weights-every", "3", "--grid", "11"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    cfg = get_preset("blobs-sgd").with_overrides(epochs=31).runs()[0]
    (result,) = execute([cfg], keep_models=True)
    assert len(result.step_loss) == 496 and 496 % 3 != 0  # the last snapshot is not the end
    ds = load_dataset(cfg.dataset)
    model = result.model.eval()
    with torch.no_grad():
        trained_loss = float(F.cross_entropy(model(torch.as_tensor(ds.x_train)), torch.as_tensor(ds.y_train)))
    with np.load(out / "surface.npz") as data:
        centre = float(data["loss"][5, 5])  # alphas = betas = linspace(-1, 1, 11): index 5 is 0
        assert data["alphas"][5] == 0 and data["betas"][5] == 0
        origin = data["origin"]
    assert centre == pytest.approx(trained_loss, rel=1e-5)
    with (out / "trajectory.csv").open(encoding="utf-8") as f:
        last = list(csv.DictReader(f))[-1]
    assert int(last["step"]) == 496
    assert float(last["true_loss"]) == pytest.approx(trained_loss, rel=1e-5)
    assert abs(float(last["alpha"])) < 1e-6 and abs(float(last["beta"])) < 1e-6
    trained = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
    np.testing.assert_array_equal(origin, trained)


def test_pipeline_ends_the_first_path_at_the_models_weights() -> None:
    """The model handed to the pipeline is the centre; a path whose last snapshot is older
    gets the final weights appended (at ``final_step``), and an up-to-date one is unchanged."""
    from optiscope.engine.landscape import end_at_final, flat_weights, surface_pipeline

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2))
    x, y = torch.randn(64, 2), torch.randint(0, 2, (64,))
    final = flat_weights(model)
    rng = np.random.default_rng(0)
    snaps = final[None, :] + rng.normal(0, 0.3, (5, final.size)) * np.linspace(1, 0.2, 5)[:, None]
    stages = dict(
        surface_pipeline(
            model, x, y, [(0, np.arange(0, 10, 2), snaps)], kind="pca", grids=(11,), final_step=9
        )
    )
    np.testing.assert_array_equal(stages["plane"].origin, final)
    (report,) = stages["paths"]
    assert report.steps.tolist() == [0, 2, 4, 6, 8, 9]
    np.testing.assert_allclose(report.coords[-1], 0, atol=1e-9)
    with torch.no_grad():
        assert report.true_loss[-1] == pytest.approx(float(F.cross_entropy(model(x), y)), rel=1e-6)
    assert stages["surface"].origin_loss == pytest.approx(report.true_loss[-1], rel=1e-5)
    st, v = end_at_final(np.arange(3), np.stack([snaps[0], snaps[1], final]), final, 7)
    assert st.tolist() == [0, 1, 2] and len(v) == 3
