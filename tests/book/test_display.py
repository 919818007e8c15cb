"""Tables for people: named metrics, escaped cells and a numbered MyST table directive."""

from __future__ import annotations

import pandas as pd

from neurotype.book.display import metric_name, readable_columns, table_markdown
from neurotype.protocol.reports import Estimate


def test_metric_names():
    assert metric_name("f1_macro") == "macro F1"
    assert metric_name("balanced_accuracy") == "balanced accuracy"
    assert metric_name("f1[Pvalb]") == "F1 (Pvalb)"
    assert list(readable_columns(pd.DataFrame(columns=["f1_macro", "model"])).columns) == ["macro F1", "model"]


def test_estimate_formats_mean_and_interval():
    assert Estimate(0.9361, 0.8899, 0.98249).format() == "0.936 [0.890, 0.982]"
    assert Estimate(0.5).format() == "0.500"
    assert Estimate(None).format() == "–"


def test_table_markdown_is_a_labelled_table_directive_with_escaped_cells():
    frame = pd.DataFrame({"model": ["a|b", "c"], "macro F1": [0.91234, float("nan")]})
    text = table_markdown(frame, "tab-x", "A  caption\nover lines")
    lines = text.splitlines()
    assert lines[0] == "```{table} A caption over lines" and lines[1] == ":name: tab-x"
    assert lines[3] == "| model | macro F1 |" and lines[4] == "|---|---|"
    assert lines[5] == "| a\\|b | 0.912 |" and lines[6] == "| c | – |" and lines[-1] == "```"
