"""The paper's claimed numbers, written once (Ophir, Shefi & Lindenbaum 2024).

These are the only result numbers the project states without computing them; every chapter and
the headline table put them beside a measurement and label them as the paper's. One number comes
from the paper's repository rather than its text (:data:`LSPIN_RECORDED_ACCURACY`); it is labelled
as such.
"""

from __future__ import annotations

from typing import Mapping

__all__ = ["DANN_ACCURACY", "DANN_SPLIT", "FCNN_TRANSFER", "FCNN_TRANSFER_POSITIVE_CLASS", "LSPIN", "LSPIN_BEATS",
           "LSPIN_CLASS_PRECISION", "LSPIN_RECORDED_ACCURACY", "LSPIN_SPLIT"]

#: DANN accuracy per species (Section 3.1 text; the body of Table 1 is an image).
DANN_ACCURACY: Mapping[str, float] = {"human": 0.950, "mouse": 0.974}

#: The DANN's split (Section 3.1): 1,378 training cells of both species; 285 mouse and 60 human test cells.
DANN_SPLIT: Mapping[str, int] = {"train_total": 1378, "test_mouse": 285, "test_human": 60}

#: The ablation: an FCNN trained on one species and tested on the other. Its precision, recall and
#: F1 are binary scores of one class, not macro averages: the original scripts call scikit-learn's
#: scores with their default ``average="binary"`` (``helper_functions.calculate_metrics``), and
#: spiny is the positive class (:data:`FCNN_TRANSFER_POSITIVE_CLASS`).
FCNN_TRANSFER: Mapping[str, Mapping[str, float]] = {
    "mouse→human": {"accuracy": 0.646, "f1": 0.715, "precision": 0.973, "recall": 0.565},
    "human→mouse": {"accuracy": 0.596, "f1": 0.712, "precision": 0.554, "recall": 0.997},
}
#: The class whose precision, recall and F1 the broad-type scripts report.
FCNN_TRANSFER_POSITIVE_CLASS = "spiny"

#: LSPIN on the five mouse subclasses (Table 2, macro averages as the paper labels them).
LSPIN: Mapping[str, float] = {"accuracy": 0.916, "f1_macro": 0.877, "precision_macro": 0.886,
                              "recall_macro": 0.873}
#: The models LSPIN is said to beat "in all of the aforementioned metrics" (registry names).
LSPIN_BEATS: tuple[str, ...] = ("rf", "svc", "xgb")
#: Per-class percentages of the caption of the paper's Fig 11, as fractions. The figure's heatmap
#: is normalised by column (the predicted class), so these are *precisions*: of the cells predicted
#: as a class, the share that belongs to it.
LSPIN_CLASS_PRECISION: Mapping[str, float] = {"Glutamatergic": 0.978, "Htr3a+|Vip-": 0.829, "Pvalb": 0.868,
                                              "Sst": 0.792, "Vip": 0.958}
#: LSPIN's test accuracy as the paper's repository records it (``results/lspin/hyperparameters.txt``,
#: commit 6eb1bdca); the paper prints it truncated to three decimals.
LSPIN_RECORDED_ACCURACY = 0.9169675090252708
#: LSPIN's split (Section 3.2): 1,105 training and 277 test mouse cells after 42 NaN rows were dropped.
LSPIN_SPLIT: Mapping[str, int] = {"train": 1105, "test": 277, "dropped_nan": 42}
