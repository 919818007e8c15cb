# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Across species: transfer, scaling, λ and human labels
#
# The paper's ablation trains a fully connected network on one species and tests it on the other:
# **accuracy 0.646 from mouse to human and 0.596 from human to mouse (the paper's numbers)**, from
# which it concludes that the species' recordings are too different to be pooled without domain
# adaptation. This chapter re-measures that transfer with the honest protocol, checks one suspect
# behind the paper's low numbers — the original code scaled each species by its own statistics —,
# sweeps the DANN's reversal weight λ, and asks the question the DANN is meant to answer: how much
# do mouse cells help classify human cells, as the number of labelled human cells grows?

# %% tags=["parameters"]
profile = "full"  # the budgets of every None below: neurotype.book.profiles (full or smoke)
results_dir = "results"
seed = None  # seed of every split, model and sampler
feature_set = None  # paper41 (the paper's 41 features) or actd (ACTD's own features)
n_folds = None  # outer cross-validation folds
n_repeats = None  # repeats of the outer cross-validation
n_jobs = None  # worker processes for the outer folds (one torch thread each)
class_weight = None  # label-loss weighting of the networks
max_epochs = None  # epoch cap of the networks (None: each model's default)
lambdas = None  # gradient-reversal weights of the λ sweep
shares = None  # shares of human training labels of the learning curve
curve_models = None  # models of the learning curve

# %% tags=["remove-cell"]
# Check the parameters and fill each None with the profile's value (neurotype.book.profiles).
from neurotype.book.profiles import resolve_parameters

params = resolve_parameters("04_ablation", globals())
globals().update(params.values)

# %% tags=["remove-cell"]
import time
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from myst_nb import glue

import neurotype
from neurotype import data
from neurotype.experiments import transfer
from neurotype.plots import dann as dann_plots
from neurotype.protocol.metrics import format_estimate
from neurotype.protocol.reports import read_report, write_report

plt.rcParams["figure.dpi"] = 110
started = time.perf_counter()
network = {} if max_epochs is None else {"max_epochs": max_epochs}
out_dir = Path(results_dir) / "04_ablation"
out_dir.mkdir(parents=True, exist_ok=True)
task = data.broad_task(feature_set)
dann_params = {**network, "class_weight": class_weight}
fcnn_params = {**network, "class_weight": class_weight}
print(f"neurotype from {neurotype.__file__}; {n_folds} folds x {n_repeats} repeats")
glue("n_folds", f"{n_folds}", display=False)
glue("n_repeats", f"{n_repeats}", display=False)

# %% [markdown]
# Every experiment below uses the same seeded outer folds ({glue:text}`n_folds` folds ×
# {glue:text}`n_repeats` repeat(s), stratified by class × species) and fixed hyperparameters: the
# defaults of the previous chapter, with the same per-(species, class) weighting of the networks'
# label loss. Nothing is tuned, so no test cell can influence a choice.
#
# ## Training on one species, testing on the other
#
# Three models are trained on the labelled cells of one species and tested on the other species'
# held-out cells: the FCNN and logistic regression see only the source species; the unsupervised
# DANN also sees the *features* of the target species' training cells in its domain loss, never
# their labels.

# %%
transfer_reports = transfer.cross_species(task, n_folds=n_folds, n_repeats=n_repeats, seed=seed, n_jobs=n_jobs,
                                          fcnn_params=fcnn_params, dann_params=dann_params, out_dir=out_dir)
transfer_frame = transfer.transfer_table(transfer_reports)

# %% tags=["remove-input"]
def fmt(row, metric):
    return format_estimate(row[metric], row[metric + "_low"], row[metric + "_high"])


shown = pd.DataFrame({
    "direction": transfer_frame["direction"], "model": transfer_frame["model"],
    "accuracy": [fmt(r, "accuracy") for _, r in transfer_frame.iterrows()],
    "balanced accuracy": [fmt(r, "balanced_accuracy") for _, r in transfer_frame.iterrows()],
    "macro F1": [fmt(r, "f1_macro") for _, r in transfer_frame.iterrows()],
    "paper: accuracy": [f"{v:.3f}" if pd.notna(v) else "" for v in transfer_frame["paper_accuracy"]],
}).set_index(["direction", "model"])
glue("tab-transfer", shown, display=False)
lookup = transfer_frame.set_index(["direction", "model"])
for (direction, model), key in {("mouse→human", "fcnn"): "mh_fcnn", ("mouse→human", "logreg"): "mh_logreg",
                                ("mouse→human", "dann-unsupervised"): "mh_dann",
                                ("human→mouse", "fcnn"): "hm_fcnn", ("human→mouse", "logreg"): "hm_logreg",
                                ("human→mouse", "dann-unsupervised"): "hm_dann"}.items():
    glue(f"{key}_acc", f"{lookup.loc[(direction, model), 'accuracy']:.3f}", display=False)
    glue(f"{key}_bal", f"{lookup.loc[(direction, model), 'balanced_accuracy']:.3f}", display=False)
mh = lookup.xs("mouse→human")
dann_vs_logreg = mh.loc["dann-unsupervised", "balanced_accuracy"] - mh.loc["logreg", "balanced_accuracy"]
glue("mh_dann_verdict", "above" if dann_vs_logreg > 0 else "below", display=False)
glue("mh_dann_gap", f"{abs(dann_vs_logreg):.3f}", display=False)
glue("mh_paper_verdict", "above" if mh.loc["fcnn", "accuracy"] > transfer.PAPER_TRANSFER["mouse→human"]["accuracy"]
     else "not above", display=False)

# %% [markdown]
# ```{glue:figure} tab-transfer
# :name: tab-transfer
#
# Cross-species transfer: scores on the target species' held-out cells, mean [corrected 95 %
# interval] over outer folds. "paper": the FCNN accuracies of the paper's ablation (one split).
# ```
#
# Trained on mouse cells alone, the FCNN classifies human cells with accuracy
# {glue:text}`mh_fcnn_acc` and logistic regression with {glue:text}`mh_logreg_acc`
# ({numref}`tab-transfer`), {glue:text}`mh_paper_verdict` the paper's 0.646. From human to mouse
# the FCNN reaches {glue:text}`hm_fcnn_acc` (paper: 0.596) and logistic regression
# {glue:text}`hm_logreg_acc`; that direction learns from 299 cells, of which 68 are aspiny. The unsupervised DANN's human balanced
# accuracy ({glue:text}`mh_dann_bal`) is {glue:text}`mh_dann_gap` {glue:text}`mh_dann_verdict`
# that of logistic regression trained on mouse cells alone ({glue:text}`mh_logreg_bal`). Aligning
# the two species' feature distributions is not free in principle: human cells are 77 % spiny and
# mouse cells close to balanced, and matching marginal distributions under such a label shift can
# move cells of one class onto the other {cite:p}`zhao2019`.

# %% [markdown]
# ## Pooled or per-species scaling
#
# The original code standardised each species with its own means and standard deviations. For a
# model that is trained on mouse cells and applied to human cells this is not a neutral choice:
# the human cells' means are dominated by the spiny majority, so per-species standardisation
# shifts human cells relative to the mouse decision boundary. We compare the two with logistic
# regression. "Pooled": one scaler fitted on the labelled training cells (what any model trained
# on them does). "Per species": one scaler per species, each fitted on that species' training
# cells (the unlabelled species contributes its features only).

# %%
scaling_reports = transfer.scaling_ablation(task, n_folds=n_folds, n_repeats=n_repeats, seed=seed, n_jobs=n_jobs,
                                            out_dir=out_dir)
scaling_frame = transfer.scaling_table(scaling_reports, metric="accuracy")

# %% tags=["remove-input"]
scaling_shown = pd.DataFrame({
    "trained on": scaling_frame["trained on"], "tested on": scaling_frame["tested on"],
    "pooled": [format_estimate(r.pooled, r.pooled_low, r.pooled_high) for r in scaling_frame.itertuples()],
    "per species": [format_estimate(r.per_species, r.per_species_low, r.per_species_high)
                    for r in scaling_frame.itertuples()],
    "change": [f"{v:+.3f}" for v in scaling_frame["change"]],
}).set_index(["trained on", "tested on"])
glue("tab-scaling", scaling_shown, display=False)
row = scaling_frame.set_index(["trained on", "tested on"])
glue("scal_mh_pooled", f"{row.loc[('mouse labels', 'human'), 'pooled']:.3f}", display=False)
glue("scal_mh_per", f"{row.loc[('mouse labels', 'human'), 'per_species']:.3f}", display=False)
glue("scal_hm_pooled", f"{row.loc[('human labels', 'mouse'), 'pooled']:.3f}", display=False)
glue("scal_hm_per", f"{row.loc[('human labels', 'mouse'), 'per_species']:.3f}", display=False)
glue("scal_both_human_change", f"{row.loc[('both labels', 'human'), 'change']:+.3f}", display=False)
drop = row.loc[("mouse labels", "human"), "pooled"] - row.loc[("mouse labels", "human"), "per_species"]
glue("scal_verdict", (f"Per-species scaling alone costs {drop:.3f} of mouse → human accuracy: a plausible part of "
                      "the gap between the paper's transfer numbers and ours.") if drop > 0 else
     "Per-species scaling does not lower mouse → human accuracy here.", display=False)

# %% [markdown]
# ```{glue:figure} tab-scaling
# :name: tab-scaling
#
# Logistic regression accuracy with pooled vs per-species scaling, mean [corrected 95 % interval].
# ```
#
# Mouse → human accuracy is {glue:text}`scal_mh_pooled` with pooled scaling and
# {glue:text}`scal_mh_per` with per-species scaling; human → mouse {glue:text}`scal_hm_pooled` and
# {glue:text}`scal_hm_per` ({numref}`tab-scaling`). Even when both species' labels are used,
# per-species scaling changes human accuracy by {glue:text}`scal_both_human_change`.
# {glue:text}`scal_verdict`

# %% [markdown]
# ## The reversal weight λ
#
# λ scales the reversed gradient of the domain classifier: 0 trains the same network without the
# adversary; larger values push harder towards species-invariant features. The paper tuned a
# constant λ; Ganin's schedule ramps λ from 0 to 1 over training {cite:p}`ganin2016`.

# %%
lambda_reports = transfer.lambda_sweep(task, lambdas, n_folds=n_folds, n_repeats=n_repeats, seed=seed,
                                       n_jobs=n_jobs, params=dann_params, out_dir=out_dir)
lambda_frame = transfer.lambda_table(lambda_reports)

# %% tags=["remove-cell"]
fig = dann_plots.plot_lambda_sweep(lambda_frame)
glue("fig-lambda", fig, display=False)
plt.close(fig)
lam = lambda_frame.set_index(["mode", "lambda"])
best = {mode: lam.loc[mode, "human_balanced_accuracy"].idxmax() for mode in ("semi", "unsupervised")}
for mode in ("semi", "unsupervised"):
    glue(f"lam_{mode}_zero", f"{lam.loc[(mode, '0.0'), 'human_balanced_accuracy']:.3f}", display=False)
    glue(f"lam_{mode}_best", f"{best[mode]}", display=False)
    glue(f"lam_{mode}_best_value", f"{lam.loc[(mode, best[mode]), 'human_balanced_accuracy']:.3f}", display=False)
    spread = lam.loc[mode, "human_balanced_accuracy"]
    glue(f"lam_{mode}_range", f"{spread.min():.3f}–{spread.max():.3f}", display=False)

# %% [markdown]
# ```{glue:figure} fig-lambda
# :name: fig-lambda
#
# DANN scores against λ ("schedule": Ganin's ramp to 1), semi-supervised and unsupervised; mean and
# corrected 95 % interval over outer folds. λ = 0 is the same network without adversary.
# ```
#
# Semi-supervised, human balanced accuracy ranges over {glue:text}`lam_semi_range` across λ
# ({numref}`fig-lambda`); without adversary (λ = 0) it is {glue:text}`lam_semi_zero`, and the
# highest mean, {glue:text}`lam_semi_best_value`, comes at λ = {glue:text}`lam_semi_best`.
# Unsupervised, the range is {glue:text}`lam_unsupervised_range` (λ = 0:
# {glue:text}`lam_unsupervised_zero`; highest {glue:text}`lam_unsupervised_best_value` at λ =
# {glue:text}`lam_unsupervised_best`). Picking the best λ from this figure would be tuning on test
# folds; the figure only shows how sensitive the result is, measured against the width of the
# intervals.

# %% [markdown]
# ## How much do mouse cells help classify human cells?
#
# The human test cells of each outer fold stay fixed. In each fold, a share of the human training
# cells is labelled (0, 10, 25, 50 and 100 %; stratified by class, nested, seeded); the rest stay
# unlabelled. The learners:
# *human only* — logistic regression on the labelled human cells alone;
# *mouse + human* — logistic regression on every mouse training cell plus the labelled human
# cells (the library also offers the FCNN here, left out of the default run for time); and the *DANN*, with mouse and labelled human cells in the label loss and
# every human training cell, labelled or not, in the domain loss (at 0 % it is the unsupervised
# DANN).

# %%
curve = transfer.human_label_curve(task, shares, n_folds=n_folds, n_repeats=max(n_repeats, 1), seed=seed,
                                   n_jobs=n_jobs, models=curve_models, dann_params=dann_params,
                                   fcnn_params=fcnn_params)
curve_summary = transfer.summarize_curve(curve, "balanced_accuracy", n_folds=n_folds)

# %% tags=["remove-cell"]
fig = dann_plots.plot_label_curve(curve_summary)
glue("fig-curve", fig, display=False)
plt.close(fig)
pivot = curve_summary.pivot(index="share", columns="model", values="mean")
shown_curve = curve_summary.assign(
    score=[format_estimate(m, lo, hi) if pd.notna(m) else "–"
           for m, lo, hi in zip(curve_summary["mean"], curve_summary["low"], curve_summary["high"])],
    labels=curve_summary["n_human_labels"].round(0).astype(int),
).pivot(index=["share", "labels"], columns="model", values="score").sort_index()
shown_curve.index = shown_curve.index.set_levels([f"{s:.0%}" for s in shown_curve.index.levels[0]], level=0)
shown_curve = shown_curve[[m for m in transfer.CURVE_MODELS if m in shown_curve.columns]]
glue("tab-curve", shown_curve, display=False)
small = sorted(s for s in pivot.index if s > 0)[0]
glue("small_share", f"{small:.0%}", display=False)
glue("small_human_only", f"{pivot.loc[small, 'human only (LogReg)']:.3f}", display=False)
glue("small_pooled", f"{pivot.loc[small, 'mouse + human (LogReg)']:.3f}", display=False)
glue("small_labels", f"{curve_summary.set_index(['model', 'share']).loc[('DANN', small), 'n_human_labels']:.0f}",
     display=False)
glue("full_human_only", f"{pivot.loc[1.0, 'human only (LogReg)']:.3f}", display=False)
glue("full_pooled", f"{pivot.loc[1.0, 'mouse + human (LogReg)']:.3f}", display=False)
glue("full_dann", f"{pivot.loc[1.0, 'DANN']:.3f}", display=False)
glue("zero_pooled", f"{pivot.loc[0.0, 'mouse + human (LogReg)']:.3f}", display=False)
glue("zero_dann", f"{pivot.loc[0.0, 'DANN']:.3f}", display=False)
gain_small = pivot.loc[small, "mouse + human (LogReg)"] - pivot.loc[small, "human only (LogReg)"]
gain_full = pivot.loc[1.0, "mouse + human (LogReg)"] - pivot.loc[1.0, "human only (LogReg)"]
glue("gain_small", f"{gain_small:+.3f}", display=False)
glue("gain_full", f"{gain_full:+.3f}", display=False)
dann_minus_pooled = (pivot["DANN"] - pivot["mouse + human (LogReg)"]).dropna()
glue("dann_wins", f"{int((dann_minus_pooled > 0).sum())}", display=False)
glue("n_shares", f"{len(dann_minus_pooled)}", display=False)
table = curve_summary.set_index(["model", "share"])
separated = [s for s in dann_minus_pooled.index
             if table.loc[("DANN", s), "low"] > table.loc[("mouse + human (LogReg)", s), "high"]
             or table.loc[("DANN", s), "high"] < table.loc[("mouse + human (LogReg)", s), "low"]]
help_text = ("Mouse cells help most when human labels are scarce" if gain_small > max(gain_full, 0) else
             "Adding mouse cells helps little here" if gain_small <= 0 else "Adding mouse cells helps at every share")
dann_text = ("the DANN's and pooled logistic regression's intervals overlap at every share, so these data do not "
             "show that domain-adversarial training adds to plain pooling" if not separated else
             "the DANN's and pooled logistic regression's intervals separate at share(s) "
             + ", ".join(f"{s:.0%}" for s in separated))
glue("curve_verdict", f"{help_text}; {dann_text}.", display=False)

# %% [markdown]
# ```{glue:figure} fig-curve
# :name: fig-curve
#
# Human balanced accuracy on fixed human test folds against the share of labelled human training
# cells; mean and corrected 95 % interval over outer folds.
# ```
#
# ```{glue:figure} tab-curve
# :name: tab-curve
#
# The learning curve as numbers: human balanced accuracy, mean [corrected 95 % interval]; "labels":
# labelled human training cells per fold (mean).
# ```
#
# With {glue:text}`small_share` of the human training cells labelled (about
# {glue:text}`small_labels` cells), logistic regression on human cells alone reaches
# {glue:text}`small_human_only` and with the mouse cells added {glue:text}`small_pooled`
# (difference {glue:text}`gain_small`); with every human training cell labelled, the two reach
# {glue:text}`full_human_only` and {glue:text}`full_pooled` (difference {glue:text}`gain_full`)
# ({numref}`fig-curve`, {numref}`tab-curve`). With no human label at all, mouse cells alone give
# {glue:text}`zero_pooled` (logistic regression) and the unsupervised DANN {glue:text}`zero_dann`.
# The DANN's mean is above pooled logistic regression at {glue:text}`dann_wins` of
# {glue:text}`n_shares` shares; with the full human training set it reaches {glue:text}`full_dann`.
# {glue:text}`curve_verdict`

# %% [markdown]
# ## What the book keeps
#
# The reports of every run are saved under `results_dir/04_ablation/`; the summary goes to
# `results_dir/04_ablation/report.json`. If the previous chapter's summary exists, its DANN
# human balanced accuracy is recorded beside this chapter's numbers for the book's overview.

# %%
previous = Path(results_dir) / "03_dann" / "report.json"
dann_table1 = None
if previous.is_file():
    dann_table1 = read_report(previous)["metrics"]["DANN semi"]["human"]["balanced_accuracy"]["mean"]
report_path = write_report(out_dir / "report.json", {
    "feature_set": feature_set,
    "protocol": {"n_folds": n_folds, "n_repeats": n_repeats, "seed": seed, "class_weight": class_weight,
                 "profile": profile, "network_overrides": network, "lambdas": [str(v) for v in lambdas],
                 "shares": shares},
    "paper_claims": {k: dict(v) for k, v in transfer.PAPER_TRANSFER.items()},
    "transfer": transfer_frame.to_dict(orient="records"),
    "scaling": scaling_frame.to_dict(orient="records"),
    "lambda_sweep": lambda_frame.to_dict(orient="records"),
    "label_curve": curve.to_dict(orient="records"),
    "label_curve_summary": curve_summary.to_dict(orient="records"),
    "dann_semi_human_balanced_accuracy_03": dann_table1,
    "chapter_seconds": time.perf_counter() - started,
})
print(report_path)
