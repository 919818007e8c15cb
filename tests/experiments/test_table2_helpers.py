"""Chapter 05's tables and verdicts: primary model only, claims judged by the single-split range."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from neurotype.experiments import comparison
from neurotype.paper import claims
from neurotype.protocol.reports import Estimate


def test_table2_configs_name_the_primary_row_and_keep_overrides():
    rows = comparison.table2_configs({"lspin": {"epochs": 100}}, tuned=False, ensemble_members=3)
    assert list(rows)[-2:] == ["lspin_paper", "lspin_paper_x3"]
    assert rows["lspin_paper"].params == {"epochs": 100} and not rows["lspin_paper"].tuned
    assert rows["lspin_paper_x3"].params == {"epochs": 100, "n_members": 3}
    tuned = comparison.table2_configs({}, tuned=True)
    assert all(c.tuned for c in tuned.values()) and "lspin_tuned" in tuned and "lspin_paper_x3" not in tuned


def test_claims_frame_judges_by_the_single_split_range():
    report = SimpleNamespace(estimate=lambda s, m: Estimate(0.85, 0.84, 0.86))
    # Single-split scores 0.80 … 0.92 (evenly spaced): the 2.5–97.5 % range is [0.803, 0.917]
    scores = pd.DataFrame({"split": range(41), "species": "all", **{m: np.linspace(0.80, 0.92, 41)
                                                                    for m in claims.LSPIN}})
    single = comparison.SplitSpread("lspin", 41, scores)
    frame = comparison.claims_frame(report, fig11={"recall_macro": 0.865}, single=single)
    assert frame["consistent"].all()  # every claim (0.873 … 0.916) lies inside [0.803, 0.917]
    assert frame.loc["accuracy", "measured"] == 0.85
    assert frame.loc["recall_macro", "paper's own Fig 11"] == 0.865
    shown = comparison.claims_display(frame)
    assert shown.loc["accuracy", "ours, cross-validated: mean [95 % CI]"] == "0.850 [0.840, 0.860]"
    assert shown.loc["accuracy", "paper's own Fig 11 matrix"] == "–"
    assert not comparison.claims_frame(report)["consistent"].any()  # against the narrow CV interval: all outside


def test_confusion_numbers_find_the_hardest_class():
    counts = np.array([[9, 1, 0], [3, 5, 2], [0, 0, 10]])
    numbers = comparison.confusion_numbers(counts, ["a", "b", "c"])
    assert numbers == {"worst_class": "b", "worst_recall": "50%", "worst_confused_with": "a",
                       "worst_confused_share": "30%"}


def test_primary_numbers_judge_the_target():
    report = SimpleNamespace(estimate=lambda s, m: Estimate(0.88, 0.85, 0.91) if m == "f1_macro" else Estimate(0.9))
    numbers = comparison.primary_numbers(report)
    assert numbers["target_verdict"] == "reaches" and numbers["primary_f1_ci"] == "[0.850, 0.910]"
    assert comparison.primary_numbers(report, target=0.9)["target_verdict"] == "does not reach"


def test_both_tables_show_the_reference_networks_beside_ours():
    """Issue 14: the reference-faithful presets appear in Tables 1 and 2, default and tuned, under their own names."""
    from neurotype.experiments import transfer

    default_rows = comparison.table2_configs({}, tuned=False)
    tuned_rows = comparison.table2_configs({"lspin_reference": {"epochs": 100}}, tuned=True)
    assert default_rows["lspin_reference"].model == "lspin_reference" and not default_rows["lspin_reference"].tuned
    assert tuned_rows["lspin_reference_tuned"].tuned and tuned_rows["lspin_reference_tuned"].params == {"epochs": 100}
    assert {"lspin_paper", "lspin_tuned"} <= set(default_rows) | set(tuned_rows)  # ours stay
    table1 = transfer.table1_models(network={"max_epochs": 20}, reference_patience=30)
    assert table1["DANN reference"]["model"] == "dann_reference"
    assert table1["FCNN reference"]["params"] == {"max_epochs": 20, "patience": 30}
    assert "class_weight" not in table1["DANN reference"]["params"]  # the paper's code weighted no class
    assert table1["DANN semi"]["model"] == "dann"
    assert "patience" not in transfer.table1_models()["DANN reference"]["params"]  # every epoch, as published


def test_difference_estimates_read_back_as_the_estimates_they_hold():
    from neurotype.paper.headline import difference_label

    summaries = comparison.difference_estimates("lspin", {"svc": Estimate(0.013, -0.013, 0.039)})
    assert list(summaries) == [difference_label("lspin", "svc")]
    back = Estimate.from_summary(summaries[difference_label("lspin", "svc")]["all"]["f1_macro"])
    assert (back.mean, back.low, back.high) == (0.013, -0.013, 0.039)
