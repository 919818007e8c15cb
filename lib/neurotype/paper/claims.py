"""The paper's claimed numbers, written once (Ophir, Shefi & Lindenbaum 2024).

These are the only result numbers the project states without computing them; every chapter and
the headline table put them beside a measurement and label them as the paper's.
"""

from __future__ import annotations

from typing import Mapping

__all__ = ["DANN_ACCURACY", "DANN_SPLIT", "FCNN_TRANSFER", "LSPIN", "LSPIN_BEATS", "LSPIN_CLASS_RECALL", "LSPIN_SPLIT"]

#: DANN accuracy per species (Section 3.1 text; the body of Table 1 is an image).
DANN_ACCURACY: Mapping[str, float] = {"human": 0.950, "mouse": 0.974}

#: The DANN's split (Section 3.1): 1,378 training cells of both species; 285 mouse and 60 human test cells.
DANN_SPLIT: Mapping[str, int] = {"train_total": 1378, "test_mouse": 285, "test_human": 60}

#: The ablation: an FCNN trained on one species and tested on the other. Its precision and recall
#: are of one class (the paper does not say which), not macro averages.
FCNN_TRANSFER: Mapping[str, Mapping[str, float]] = {
    "mouse→human": {"accuracy": 0.646, "f1": 0.715, "precision": 0.973, "recall": 0.565},
    "human→mouse": {"accuracy": 0.596, "f1": 0.712, "precision": 0.554, "recall": 0.997},
}

#: LSPIN on the five mouse subclasses (Table 2, macro averages as the paper labels them).
LSPIN: Mapping[str, float] = {"accuracy": 0.916, "f1_macro": 0.877, "precision_macro": 0.886,
                              "recall_macro": 0.873}
#: The models LSPIN is said to beat "in all of the aforementioned metrics" (registry names).
LSPIN_BEATS: tuple[str, ...] = ("rf", "svc", "xgb")
#: Per-class recall of LSPIN, from the caption of the paper's Fig 11.
LSPIN_CLASS_RECALL: Mapping[str, float] = {"Glutamatergic": 0.978, "Htr3a+|Vip-": 0.829, "Pvalb": 0.868,
                                           "Sst": 0.792, "Vip": 0.958}
#: LSPIN's split (Section 3.2): 1,105 training and 277 test mouse cells after 42 NaN rows were dropped.
LSPIN_SPLIT: Mapping[str, int] = {"train": 1105, "test": 277, "dropped_nan": 42}
