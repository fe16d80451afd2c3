import math
import os
import tempfile

import numpy as np
import pytest

# Qt must never try to open a display in the test suite.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The run store, the CSV cache and the GUI's settings go to a throw-away folder, never the
# user's own (every process the tests start inherits this too).
os.environ["OPTISCOPE_HOME"] = tempfile.mkdtemp(prefix="optiscope-tests-")


def _reference_ema(values, beta):
    """TensorBoard's smoothing, written out the plain way; skips non-finite values."""
    out, acc, t = [], 0.0, 0
    for x in values:
        if not math.isfinite(x):
            out.append(math.nan)
            continue
        t += 1
        acc = beta * acc + (1 - beta) * x
        out.append(acc / (1 - beta**t))
    return np.array(out)


@pytest.fixture
def reference_ema():
    """An independent reference for the debiased EMA (engine and plot tests share it)."""
    return _reference_ema


def _torch_cyclic(base_lr: float, max_lr: float, step_size: int, n: int) -> np.ndarray:
    """The rates torch.optim.lr_scheduler.CyclicLR gives, update by update (the reference)."""
    import torch  # here, not at the top: some tests check what the window imports

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = torch.optim.lr_scheduler.CyclicLR(
        opt, base_lr=base_lr, max_lr=max_lr, step_size_up=step_size, cycle_momentum=False
    )
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


@pytest.fixture
def torch_cyclic():
    """torch's CyclicLR rates (base_lr, max_lr, step_size, n) -> array: an independent reference."""
    return _torch_cyclic


#: Tests that each took 1.2 s or more of the default suite's wall time (a measured run on a
#: quiet two-core machine, `--durations`): marked ``slow`` here so the README's command stays
#: near three minutes. They are not dropped: CI (``.ci/run``) runs every slow test as its second
#: step, and ``OPTISCOPE_SLOW=1`` runs them locally.
LONG_TESTS = frozenset(
    [
        "tests/packaging/test_fonts.py::test_self_test_fails_when_letters_are_boxes",
        "tests/engine/test_fuzz.py::test_generated_storage_urls_and_study_names",
        "tests/engine/test_new_optimizers.py::test_muon_trains_batched_with_the_new_schedules_as_alone",
        "tests/gui/test_close_curves.py::test_hidden_curves_are_named_and_the_legend_points_to_small_multiples[optimizer-race-10-hidden2]",
        "tests/gui/test_close_curves.py::test_hidden_curves_are_named_and_the_legend_points_to_small_multiples[lr-sweep-20-hidden0]",
        "tests/gui/test_close_curves.py::test_hidden_curves_are_named_and_the_legend_points_to_small_multiples[l1-vs-l2-30-hidden1]",
        "tests/engine/test_boundary_cadence.py::test_the_engine_draws_the_pictures_at_that_cadence",
        "tests/gui/test_seed_bands.py::test_bands_left_over_a_batchs_budget_are_drawn_in_the_next_turns",
        "tests/gui/test_legend_fit.py::test_long_labels_leave_the_axis_titles_whole_in_the_window[size3-True]",
        "tests/gui/test_legend_fit.py::test_long_labels_leave_the_axis_titles_whole_in_the_window[size1-True]",
        "tests/packaging/test_presentation_xvfb.py::test_presentation_fills_a_screen_without_a_window_manager[size0]",
        "tests/gui/test_seeds_window.py::test_a_recording_of_a_seeded_race_draws_every_runners_band",
        "tests/engine/test_search_cli.py::test_random_vs_grid_preset_shows_random_search_advantage",
        "tests/gui/test_plots.py::test_hover_readout_stays_inside_the_plot_near_its_edges",
        "tests/engine/test_lesson_claims.py::test_optimizer_race",
        "tests/gui/test_api_show.py::test_run_with_show_draws_live",
        "tests/gui/test_classroom.py::test_presentation_mode_is_readable_from_the_back_of_the_room",
        "tests/engine/test_api.py::test_search_and_surface_equal_the_cli",
        "tests/engine/test_fuzz.py::test_generated_lesson_files",
        "tests/engine/test_lesson_claims.py::test_seeds_matter",
        "tests/gui/test_mixed_precision_readout.py::test_the_status_bar_compares_the_run_with_its_twin_without_mixed_precision",
        "tests/gui/test_record.py::test_record_cli_writes_an_mp4_of_exactly_the_asked_size",
        "tests/gui/test_search_view.py::test_the_search_lesson_opens_its_search_and_run_races_random_against_the_grid",
        "tests/gui/test_search_view.py::test_two_searches_started_in_one_second_keep_separate_studies",
        "tests/packaging/test_api_package.py::test_the_wheel_holds_optiscope_as_the_api",
        "tests/engine/test_api.py::test_docs_example_runs_and_equals_the_cli",
        "tests/engine/test_cli.py::test_preset_end_to_end_in_a_subprocess",
        "tests/engine/test_data.py::test_generated_sets_are_cached_and_reused_without_scikit_learn",
        "tests/gui/test_legend_fit.py::test_long_labels_leave_the_axis_titles_whole_in_the_window[size0-False]",
        "tests/gui/test_legend_fit.py::test_long_labels_leave_the_axis_titles_whole_in_the_window[size2-False]",
        "tests/gui/test_files.py::test_a_race_just_opened_or_saved_closes_without_a_question",
        "tests/engine/test_boundary_cadence.py::test_every_run_gets_boundaries_by_default[False]",
        "tests/gui/test_search_view.py::test_diverged_trials_are_named_in_the_window",
        "tests/gui/test_landscape_view.py::test_the_window_shows_the_landscape_tab_and_feeds_it_events",
        "tests/gui/test_landscape_view.py::test_the_tab_builds_without_importing_torch",
        "tests/engine/test_lesson_claims.py::test_blobs_sgd",
        "tests/engine/test_lesson_claims.py::test_lr_sweep",
        "tests/gui/test_files.py::test_metrics_csv_and_plot_exports",
        "tests/gui/test_files.py::test_save_and_open_roundtrip_with_a_race",
        "tests/gui/test_files.py::test_quitting_with_an_unsaved_race_asks_first",
        "tests/engine/test_search.py::test_pruning_stops_trials_at_epoch_ends",
        "tests/gui/test_handout.py::test_lesson_sheet_is_a_pdf_with_lesson_plots_results_and_settings",
        "tests/gui/test_search_view.py::test_closing_the_window_mid_search_keeps_finished_trials_and_fails_running_ones",
        "tests/gui/test_paced_drawing.py::test_a_big_paced_batch_is_drawn_over_several_turns_and_all_of_it_arrives",
        "tests/gui/test_classroom.py::test_opening_a_lesson_stops_the_old_run_clears_its_curves_and_is_ready_to_run",
        "tests/gui/test_classroom.py::test_lesson_run_fills_results_table_and_annotates_plots",
        "tests/gui/test_classroom.py::test_presentation_fills_the_screen_where_no_window_manager_honours_full_screen",
        "tests/gui/test_overlap.py::test_momentum_sweep_lr_curves_are_marked_and_each_is_seen",
        "tests/engine/test_fuzz.py::test_generated_search_spaces_and_flags",
        "tests/engine/test_search_truth.py::test_a_grid_study_continued_by_another_run_never_redraws_a_point",
        "tests/engine/test_not_learning.py::test_the_presets_legitimate_runs_are_not_flagged[lr-sweep-None]",
        "tests/engine/test_export_script.py::test_csv_experiment_script_matches",
        "tests/engine/test_export_script.py::test_overrides_are_the_runs",
        "tests/engine/test_export_script.py::test_script_reproduces_optiscope_run[lr-sweep]",
        "tests/engine/test_export_script.py::test_weights_load_into_the_exported_model_class",
        "tests/engine/test_extending.py::test_a_toy_optimizer_and_schedule_are_one_file_and_one_row_each",
        "tests/engine/test_fuzz.py::test_generated_experiment_files",
        "tests/engine/test_inputs_faults.py::test_record_refuses_a_gif_that_cannot_fit_in_memory_before_training",
        "tests/engine/test_lesson_claims.py::test_adaptive_optimizers",
        "tests/engine/test_lesson_claims.py::test_batchnorm_lr",
        "tests/engine/test_lesson_claims.py::test_muon_vs_adamw",
        "tests/engine/test_lesson_claims.py::test_overfitting_cures",
        "tests/engine/test_lesson_claims.py::test_prodigy_no_lr",
        "tests/engine/test_no_qt.py::test_whole_engine_imports_no_qt",
        "tests/engine/test_not_learning.py::test_the_presets_legitimate_runs_are_not_flagged[batchnorm-lr-labels1]",
        "tests/engine/test_package_optimizers.py::test_the_optimizer_packages_are_imported_only_when_a_run_uses_them",
        "tests/engine/test_search_cli.py::test_two_workers_on_one_study_lose_and_duplicate_no_trial",
        "tests/engine/test_search_faults.py::test_a_killed_search_leaves_no_trial_running_after_the_next_open[15]",
        "tests/engine/test_search_faults.py::test_a_killed_search_leaves_no_trial_running_after_the_next_open[9]",
        "tests/engine/test_search_faults.py::test_a_sigterm_landing_in_a_weakref_callback_still_stops_the_search",
        "tests/engine/test_share.py::test_a_thousand_mutated_codes_give_one_line_errors",
        "tests/engine/test_store.py::test_a_crash_loses_at_most_the_epoch_in_progress",
        "tests/engine/test_sweep.py::test_constant_rate_batches_need_no_torch_optim",
        "tests/engine/test_testfunctions.py::test_every_optimizer_reaches_the_rosenbrock_valley",
        "tests/gui/test_api_show.py::test_no_display_is_a_clear_error_not_an_abort[None]",
        "tests/gui/test_api_show.py::test_no_display_is_a_clear_error_not_an_abort[xcb]",
        "tests/gui/test_files.py::test_settings_remember_the_last_experiment_and_theme",
        "tests/gui/test_lrfind_dialog.py::test_clr_vs_fixed_lesson_runs_in_the_window",
        "tests/gui/test_overlap.py::test_batchnorm_grid_titles_show_what_differs_uncut",
        "tests/gui/test_presentation_layout.py::test_every_lesson_fits_a_projector[size0]",
        "tests/gui/test_presentation_layout.py::test_every_lesson_fits_a_projector[size1]",
        "tests/gui/test_presentation_layout.py::test_every_lesson_shows_its_whole_answer_without_scrolling",
        "tests/gui/test_presentation_layout.py::test_results_table_text_is_projector_sized_and_rows_are_never_cut",
        "tests/gui/test_recipe_panel.py::test_every_step_checked_stored_as_one_recipe_and_exported",
        "tests/gui/test_record.py::test_file_record_in_the_window_writes_the_plots_as_they_draw",
        "tests/gui/test_record.py::test_record_cli_writes_a_gif_of_the_asked_size_and_frame_count",
        "tests/gui/test_seed_bands.py::test_every_plot_part_supports_bands_seed_curves_and_log_x",
        "tests/gui/test_take_home.py::test_export_script_and_save_weights_from_the_file_menu",
        "tests/gui/test_take_home.py::test_runs_tab_saves_weights_and_bundles",
        "tests/gui/test_window.py::test_windows_that_ran_are_garbage_collected",
        "tests/gui/test_window_trust.py::test_start_stop_cycles_leave_nothing_behind",
        "tests/packaging/test_build_choices.py::test_a_timed_out_build_is_stopped_with_all_its_children",
        "tests/packaging/test_fonts.py::test_the_gif_recorder_draws_with_the_bundled_font_on_a_system_without_fonts",
        "tests/packaging/test_fonts.py::test_without_system_fonts_and_without_the_bundled_ones_text_is_boxes",
        "tests/packaging/test_presentation_xvfb.py::test_presentation_fills_a_screen_without_a_window_manager[size1]",
        "tests/packaging/test_self_test.py::test_self_test_fails_fast_when_the_window_reports_a_problem",
        "tests/packaging/test_self_test.py::test_self_test_trains_a_run_in_the_window_and_exits_0",
    ]
)


def _mark_long(items):
    """A listed test id marks that test; a listed id without its parameters, every one of them."""
    for item in items:
        if item.nodeid in LONG_TESTS or item.nodeid.split("[", 1)[0] in LONG_TESTS:
            item.add_marker(pytest.mark.slow)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` (every preset's exported script reproduced, at 3 epochs and at its
    whole length; the 90-run not-learning grid; the unused-modules check) run only with
    ``OPTISCOPE_SLOW=1``: CI runs them as its second step (``.ci/run``), and the default suite
    stays within a few minutes."""
    _mark_long(items)
    if os.environ.get("OPTISCOPE_SLOW"):
        return
    skip = pytest.mark.skip(reason="slow: set OPTISCOPE_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


#: mypy on engine/ (tests/test_static.py), started at the end of collection in a subprocess of
#: its own: from a fresh clone's empty cache it reads torch's and numpy's stubs for ~25 s of one
#: core, which it spends on the second core while the tests run on the first. None when not
#: collected (``-k``, a single file) or mypy is not installed; the test then runs it itself.
_MYPY: dict[str, object] = {}
MYPY_TEST = "tests/test_static.py::test_mypy_on_the_engine"


def pytest_collection_finish(session):
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    if (
        not any(item.nodeid == MYPY_TEST for item in session.items)
        or importlib.util.find_spec("mypy") is None
    ):
        return
    out = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        cwd=Path(__file__).resolve().parents[1],
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _MYPY.update(proc=proc, out=out)


def pytest_sessionfinish(session):
    proc, out = _MYPY.pop("proc", None), _MYPY.pop("out", None)
    if proc is not None:
        if proc.poll() is None:  # the run stopped before test_static (-x, Ctrl+C)
            proc.kill()
        proc.wait()
        out.close()


@pytest.fixture
def background_mypy():
    """The mypy subprocess started at collection (or None): ``(returncode, output)`` once it ends."""
    proc, out = _MYPY.get("proc"), _MYPY.get("out")
    if proc is None:
        return None

    def result(timeout: float) -> tuple[int, str]:
        code = proc.wait(timeout=timeout)
        out.seek(0)
        return code, out.read()

    return result
