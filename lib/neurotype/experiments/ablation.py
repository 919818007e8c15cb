"""What the ablation chapter (04) concludes from its runs: tables for people, the numbers its prose
cites, and its verdicts — each computed here from the frames :mod:`neurotype.experiments.transfer`
returns, so the chapter only calls, shows and glues.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

from neurotype.paper import claims
from neurotype.protocol.reports import Estimate

__all__ = ["transfer_display", "transfer_numbers", "transfer_estimates", "scaling_display", "scaling_numbers",
           "lambda_numbers", "curve_display", "curve_numbers"]

_TRANSFER_KEYS = {("mouse→human", "fcnn"): "mh_fcnn", ("mouse→human", "logreg"): "mh_logreg",
                  ("mouse→human", "dann-unsupervised"): "mh_dann", ("human→mouse", "fcnn"): "hm_fcnn",
                  ("human→mouse", "logreg"): "hm_logreg", ("human→mouse", "dann-unsupervised"): "hm_dann"}
_TRANSFER_LABELS = {"fcnn": "FCNN", "logreg": "logistic regression", "dann-unsupervised": "DANN (unsupervised)"}


def _estimate(row: Mapping[str, Any], metric: str) -> Estimate:
    return Estimate(row[metric], row.get(f"{metric}_low"), row.get(f"{metric}_high"))


def transfer_display(frame: pd.DataFrame) -> pd.DataFrame:
    """Cross-species transfer for people: direction, model, three scores "mean [low, high]", the paper's number."""
    rows = []
    for row in frame.to_dict(orient="records"):
        paper = row.get("paper_accuracy")
        rows.append({"direction": row["direction"].replace("→", " → "),
                     "model": _TRANSFER_LABELS.get(row["model"], row["model"]),
                     "accuracy": _estimate(row, "accuracy").format(),
                     "balanced accuracy": _estimate(row, "balanced_accuracy").format(),
                     "macro F1": _estimate(row, "f1_macro").format(),
                     "paper: accuracy": f"{paper:.3f}" if paper is not None and paper == paper else ""})
    return pd.DataFrame(rows)


def transfer_numbers(frame: pd.DataFrame) -> dict[str, Any]:
    """The values the transfer section's prose cites (glue keys → numbers or words)."""
    lookup = frame.set_index(["direction", "model"])
    values: dict[str, Any] = {}
    for (direction, model), key in _TRANSFER_KEYS.items():
        values[f"{key}_acc"] = float(lookup.loc[(direction, model), "accuracy"])
        values[f"{key}_bal"] = float(lookup.loc[(direction, model), "balanced_accuracy"])
    gap = values["mh_dann_bal"] - values["mh_logreg_bal"]
    values["mh_dann_verdict"] = "above" if gap > 0 else "below"
    values["mh_dann_gap"] = abs(gap)
    paper_mh = claims.FCNN_TRANSFER["mouse→human"]["accuracy"]
    values["mh_paper"] = paper_mh
    values["hm_paper"] = claims.FCNN_TRANSFER["human→mouse"]["accuracy"]
    values["mh_paper_verdict"] = "above" if values["mh_fcnn_acc"] > paper_mh else "not above"
    return values


def transfer_estimates(frame: pd.DataFrame) -> dict[str, dict]:
    """Report estimates: ``{"FCNN mouse→human": {"human": {metric: {mean, ci95}}}, ...}``."""
    estimates: dict[str, dict] = {}
    for row in frame.to_dict(orient="records"):
        target = row["direction"].split("→")[1]
        label = f"{_TRANSFER_LABELS.get(row['model'], row['model']).split(' (')[0]} {row['direction']}"
        if row["model"] == "dann-unsupervised":
            label = f"DANN unsupervised {row['direction']}"
        estimates[label] = {target: {metric: {"mean": row[metric],
                                              "ci95": [row.get(f"{metric}_low"), row.get(f"{metric}_high")]}
                                     for metric in ("accuracy", "balanced_accuracy", "f1_macro")}}
    return estimates


def scaling_display(frame: pd.DataFrame) -> pd.DataFrame:
    """Pooled vs per-species scaling for people."""
    return pd.DataFrame({
        "trained on": frame["trained on"], "tested on": frame["tested on"],
        "pooled": [Estimate(r.pooled, r.pooled_low, r.pooled_high).format() for r in frame.itertuples()],
        "per species": [Estimate(r.per_species, r.per_species_low, r.per_species_high).format()
                        for r in frame.itertuples()],
        "change": [f"{v:+.3f}" for v in frame["change"]]})


def scaling_numbers(frame: pd.DataFrame) -> dict[str, Any]:
    """The scaling section's cited values and its verdict."""
    row = frame.set_index(["trained on", "tested on"])
    mh, hm = row.loc[("mouse labels", "human")], row.loc[("human labels", "mouse")]
    drop = float(mh["pooled"] - mh["per_species"])
    verdict = (f"Per-species scaling alone costs {drop:.3f} of mouse → human accuracy: a plausible part of the gap "
               "between the paper's transfer numbers and ours." if drop > 0 else
               "Per-species scaling does not lower mouse → human accuracy here.")
    return {"scal_mh_pooled": float(mh["pooled"]), "scal_mh_per": float(mh["per_species"]),
            "scal_hm_pooled": float(hm["pooled"]), "scal_hm_per": float(hm["per_species"]),
            "scal_both_human_change": f"{row.loc[('both labels', 'human'), 'change']:+.3f}",
            "scal_verdict": verdict}


def lambda_numbers(frame: pd.DataFrame) -> dict[str, Any]:
    """Per DANN mode: human balanced accuracy at λ = 0, where the mean is highest, and its range over λ."""
    lam = frame.set_index(["mode", "lambda"])
    values: dict[str, Any] = {}
    for mode in ("semi", "unsupervised"):
        scores = lam.loc[mode, "human_balanced_accuracy"]
        best = scores.idxmax()
        values[f"lam_{mode}_zero"] = float(scores.loc["0.0"]) if "0.0" in scores.index else float("nan")
        values[f"lam_{mode}_best"] = str(best)
        values[f"lam_{mode}_best_value"] = float(scores.loc[best])
        values[f"lam_{mode}_range"] = f"{scores.min():.3f}–{scores.max():.3f}"
    return values


def curve_display(summary: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """The learning curve as a table: one row per share of human labels, one column per model."""
    shown = summary.assign(
        score=[Estimate(m, lo, hi).format() if pd.notna(m) else "–"
               for m, lo, hi in zip(summary["mean"], summary["low"], summary["high"])],
        labels=summary["n_human_labels"].round(0).astype(int),
    ).pivot(index=["share", "labels"], columns="model", values="score").sort_index()
    shown = shown[[m for m in models if m in shown.columns]].reset_index()
    shown["share"] = [f"{s:.0%}" for s in shown["share"]]
    return shown.rename(columns={"share": "human labels (share)", "labels": "human labels (cells)"})


def curve_numbers(summary: pd.DataFrame) -> dict[str, Any]:
    """The learning curve's cited values and verdict (pooled logistic regression vs human only vs DANN)."""
    pivot = summary.pivot(index="share", columns="model", values="mean")
    table = summary.set_index(["model", "share"])
    pooled, alone = "mouse + human (LogReg)", "human only (LogReg)"
    small = sorted(s for s in pivot.index if s > 0)[0]
    gain_small = float(pivot.loc[small, pooled] - pivot.loc[small, alone])
    gain_full = float(pivot.loc[1.0, pooled] - pivot.loc[1.0, alone])
    dann_minus_pooled = (pivot["DANN"] - pivot[pooled]).dropna()
    separated = [s for s in dann_minus_pooled.index
                 if table.loc[("DANN", s), "low"] > table.loc[(pooled, s), "high"]
                 or table.loc[("DANN", s), "high"] < table.loc[(pooled, s), "low"]]
    help_text = ("Mouse cells help most when human labels are scarce" if gain_small > max(gain_full, 0) else
                 "Adding mouse cells helps little here" if gain_small <= 0 else
                 "Adding mouse cells helps at every share")
    dann_text = ("the DANN's and pooled logistic regression's intervals overlap at every share, so these data do "
                 "not show that domain-adversarial training adds to plain pooling" if not separated else
                 "the DANN's and pooled logistic regression's intervals separate at share(s) "
                 + ", ".join(f"{s:.0%}" for s in separated))
    return {"small_share": f"{small:.0%}", "small_human_only": float(pivot.loc[small, alone]),
            "small_pooled": float(pivot.loc[small, pooled]),
            "small_labels": f"{table.loc[('DANN', small), 'n_human_labels']:.0f}",
            "full_human_only": float(pivot.loc[1.0, alone]), "full_pooled": float(pivot.loc[1.0, pooled]),
            "full_dann": float(pivot.loc[1.0, "DANN"]), "zero_pooled": float(pivot.loc[0.0, pooled]),
            "zero_dann": float(pivot.loc[0.0, "DANN"]), "gain_small": f"{gain_small:+.3f}",
            "gain_full": f"{gain_full:+.3f}", "dann_wins": int((dann_minus_pooled > 0).sum()),
            "n_shares": len(dann_minus_pooled), "curve_verdict": f"{help_text}; {dann_text}."}
