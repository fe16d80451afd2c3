"""Display forms of numbers (engine/formats.py): one owner for each."""

from __future__ import annotations

from optiscope.engine.formats import format_percent


def test_percent_display_form_is_one_decimal_and_a_dash_for_no_value():
    assert [format_percent(v) for v in (0.923, 1.0, 0.0, 0.12345, float("nan"), float("inf"))] == [
        "92.3 %",
        "100.0 %",
        "0.0 %",
        "12.3 %",
        "—",
        "—",
    ]
