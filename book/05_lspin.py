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
# # LSPIN on the five mouse subclasses
#
# The paper's second claim is that LSPIN, a *locally sparse* network {cite:p}`yang2022lspin`, classifies
# mouse cells into Glutamatergic, Pvalb, Sst, Vip and Htr3a+|Vip− cells better than a random forest, an
# SVC and XGBoost, with accuracy {glue:text}`paper_acc` and macro F1 {glue:text}`paper_f1` (the paper's
# numbers, from one 80/20 split). LSPIN puts a gate $z_{ij} \in [0, 1]$ on every feature $j$ of every
# cell $i$: a gating network $\psi$ (three tanh layers of 50) maps the cell to $\mu_i$, the gates are
# $z_i = \mathrm{clip}(0.5 + \mu_i + \epsilon_i, 0, 1)$ with $\epsilon_i \sim N(0, \sigma^2)$ during
# training and $\epsilon_i = 0$ at inference, and a prediction network (41–40–20–5, tanh) sees
# $x_i \odot z_i$. The loss adds $\lambda_1 \cdot \mathrm{mean}\,\Phi((\mu + 0.5)/\sigma)$, the expected
# share of open gates (the stochastic-gate relaxation of {cite:t}`yamada2020stg`), to the cross-entropy.
#
# The original trained its baselines on 20 % of the cells and tested them on other cells than LSPIN,
# and its Table 2 disagrees with its own Fig 11 (the reproduction audit, chapter 07, re-enacts both).
# Here every model goes through the same honest protocol: repeated stratified group K-fold,
# hyperparameters (where tuned) chosen by Optuna {cite:p}`akiba2019` on an inner validation split of
# each outer training fold only, intervals from the Nadeau–Bengio corrected resampled t test
# {cite:p}`nadeau2003`.
#
# **Tuned against tuned.** Every row of Table 2 — each baseline, our LSPIN and LSPIN as the reference
# implementation builds it — is tuned per outer fold with the same Optuna budget on inner validation
# cells only; that tuned table is the main result. The same models with their default settings (LSPIN's
# are the paper's published ones) follow as a secondary table.
#
# **No row is chosen by its test score.** The primary models were named before any result was seen: in
# the tuned table, the reference LSPIN tuned over the paper's search (`lspin_reference_tuned`); in the
# default table, our LSPIN with the paper's own settings (`lspin_paper`), on which the paper's
# single-split claims, the project's target and the confusion matrix are judged. Every other row is
# shown beside them, none is picked.

# %% tags=["parameters"]
profile = None  # full, smoke or paper (None: $NEUROTYPE_PROFILE, else full); see neurotype.book.profiles
results_dir = None  # None: results (full profile) or results/<profile>
seed = None  # seed of every split, model and sampler
feature_set = None  # paper41 (the paper's 41 features) or actd (ACTD's own features)
compare_feature_set = None  # the second feature set of Table 2
n_folds = None  # outer cross-validation folds
n_repeats = None  # repeats of the outer cross-validation
n_repeats_compare = None  # repeats of the second feature set's cross-validation
n_trials = None  # Optuna trials per outer fold (0: fixed hyperparameters)
n_repeats_tuned = None  # repeats of the tuned models' cross-validation
pruner = None  # how tuning stops unpromising network trials: median or asha
ensemble_members = None  # seeds averaged by the LSPIN ensemble
n_jobs = None  # worker processes for the outer folds (one torch thread each)
model_overrides = None  # hyperparameters held fixed per model name, e.g. {'lspin': {'epochs': 100}}
n_split_repeats = None  # repeated stratified 80/20 splits giving the spread of single-split scores
storage = None  # Optuna RDB URL shared by tuning workers (None: SQLite files under results_dir)

# %% tags=["remove-cell"]
# Check the parameters and fill each None with the profile's value (neurotype.book.profiles).
from neurotype.book.profiles import resolve_parameters

params = resolve_parameters("05_lspin", globals())
globals().update(params.values)

# %% tags=["remove-cell"]
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from myst_nb import glue

from neurotype.book.display import glue_figure, glue_values, metric_name, readable_columns, table
from neurotype.data.tables import subclass_task
from neurotype.experiments import audit, comparison
from neurotype.models.baselines import BOOSTING_STAGE, FOREST_STAGE
from neurotype.models.lspin import LSPIN_PAPER_PRESET, PRUNE_EVERY
from neurotype.paper import claims
from neurotype.paper.headline import (PRIMARY_TABLE2 as PRIMARY, PRIMARY_TUNED_TABLE2 as PRIMARY_TUNED, beats_verdict,
                                      single_split_label)
from neurotype.plots import lspin as lspin_plots
from neurotype.protocol.reports import write_chapter_report
from neurotype.protocol.tuning import PRUNER_SENTENCES

plt.rcParams["figure.dpi"] = 110
started = time.perf_counter()
out = Path(results_dir) / "05_lspin"
protocol = dict(n_folds=n_folds, seed=seed, n_jobs=n_jobs, study_dir=Path(results_dir) / "optuna", storage=storage)
task, compare_task = subclass_task(feature_set), subclass_task(compare_feature_set)
glue_values({"paper_acc": claims.LSPIN["accuracy"], "paper_f1": claims.LSPIN["f1_macro"], "primary": PRIMARY,
             "pruner_sentence": PRUNER_SENTENCES[pruner], "lspin_prune_every": PRUNE_EVERY,
             "forest_stage": FOREST_STAGE, "boosting_stage": BOOSTING_STAGE,
             **{k: params[k] for k in ("n_folds", "n_repeats", "n_repeats_compare", "n_trials", "n_repeats_tuned",
                                       "ensemble_members", "feature_set", "compare_feature_set", "n_split_repeats")},
             **{f"preset_{k}": f"{LSPIN_PAPER_PRESET[k]}" for k in ("lambda1", "sigma", "lr", "epochs")}})

# %% [markdown]
# ## The budget
#
# * **Table 2, tuned (the main result)**: every model — logistic regression, RBF SVC, random forest,
#   XGBoost, the FCNN, our LSPIN (`lspin_tuned`, a wide search: λ1, σ, learning rate, epochs, class weights,
#   weight decay) and the reference LSPIN (`lspin_reference_tuned`: batch normalisation and truncated-normal
#   initialisation as in the reference `lspin_model.Model`, tuned over λ1 and the learning rate, every other
#   setting as published) — tuned by Optuna with {glue:text}`n_trials` trials per outer fold (the same
#   budget for all) on its inner validation split, {glue:text}`n_folds` folds × {glue:text}`n_repeats_tuned`
#   repeat(s). Each study's first trial is the model's default settings (where a default lies outside the
#   search space, such as the random forest's unlimited depth, the nearest setting inside it). During tuning
#   {glue:text}`pruner_sentence` (LSPIN is scored every {glue:text}`lspin_prune_every` epochs, the FCNN every
#   10, the random forest every {glue:text}`forest_stage` trees, XGBoost every {glue:text}`boosting_stage`
#   rounds); a pruned trial counts towards the budget, as in Optuna's own.
# * **Table 2, default settings (secondary)**: every model with its default hyperparameters (LSPIN: the
#   paper's published settings, $\lambda_1$ = {glue:text}`preset_lambda1`, $\sigma$ = {glue:text}`preset_sigma`,
#   SGD with learning rate {glue:text}`preset_lr`, {glue:text}`preset_epochs` full-batch epochs, in our
#   network and in the reference one), {glue:text}`n_folds`-fold CV repeated {glue:text}`n_repeats` times on the
#   {glue:text}`feature_set` features, and {glue:text}`n_repeats_compare` repeat on the
#   {glue:text}`compare_feature_set` features. One extra row averages {glue:text}`ensemble_members` LSPINs with
#   different seeds (fixed in advance).
# * **Single splits**: the default primary model on {glue:text}`n_split_repeats` independent stratified 80/20
#   splits, the yardstick for the paper's single-split numbers.

# %% tags=["remove-cell"]
shrink = model_overrides
reports_tuned = comparison.run_models(task, comparison.table2_configs(shrink, tuned=True), out / f"{feature_set}_tuned",
                                      n_repeats=n_repeats_tuned, n_trials=n_trials, pruner=pruner, **protocol)
reports = comparison.run_models(task, comparison.table2_configs(shrink, tuned=False, ensemble_members=ensemble_members),
                                out / feature_set, n_repeats=n_repeats, n_trials=0, **protocol)
reports_compare = comparison.run_models(compare_task, comparison.table2_configs(
    shrink, tuned=False, ensemble_members=ensemble_members), out / compare_feature_set,
    n_repeats=n_repeats_compare, n_trials=0, **protocol)
everything = {**reports, **reports_tuned}

# %% [markdown]
# ## Table 2, measured honestly: every model tuned
#
# Each cell is the mean over outer test folds with its 95 % corrected interval in brackets
# ({numref}`tab-table2`).

# %% tags=["remove-input"]
table(readable_columns(comparison.table2(reports_tuned, task.classes, part="scalar")), "tab-table2",
      f"Table 2 re-measured, every model tuned ({n_trials} Optuna trials per outer fold on inner validation cells): "
      f"mean [corrected 95 % interval] over {n_folds} × {n_repeats_tuned} outer folds. The primary model, named "
      f"before any result, is {PRIMARY_TUNED}.")

# %% tags=["remove-cell"]
tuned_differences, tuned_difference_table = comparison.differences_frame(
    reports_tuned, PRIMARY_TUNED, [f"{name}_tuned" for name in (*comparison.SUBCLASS_BASELINES, "lspin")])
tuned_beats = beats_verdict({f"{r}_tuned": tuned_differences[f"{r}_tuned"] for r in claims.LSPIN_BEATS})
glue("tuned_beats_verdict", tuned_beats.text, display=False)
glue_values({"tuned_primary_f1": reports_tuned[PRIMARY_TUNED].estimate("all", "f1_macro").format(),
             "tuned_ours_f1": reports_tuned["lspin_tuned"].estimate("all", "f1_macro").format()})

# %% [markdown]
# Tuned, the reference LSPIN reaches macro F1 {glue:text}`tuned_primary_f1` and ours
# {glue:text}`tuned_ours_f1`. Does the paper's LSPIN beat the paper's three baselines when every model is
# tuned with the same budget? Compared fold by fold ({numref}`tab-differences-tuned`):
# {glue:text}`tuned_beats_verdict`

# %% tags=["remove-input"]
table(tuned_difference_table, "tab-differences-tuned",
      "Tuned models: macro F1 of the primary model minus each other row, per outer fold: mean [Nadeau–Bengio "
      "corrected 95 % interval].")

# %% [markdown]
# ## Table 2 with default settings
#
# The same models untuned ({numref}`tab-table2-defaults`, each class's F1 in {numref}`tab-table2-classes`).

# %% tags=["remove-input"]
table(readable_columns(comparison.table2(reports, task.classes, part="scalar")), "tab-table2-defaults",
      "Table 2 re-measured, default settings: mean [corrected 95 % interval] over outer test folds. "
      "The primary model of this table, named before any result, is lspin_paper.")

# %% tags=["remove-input"]
table(readable_columns(comparison.table2(reports, task.classes, part="per_class")), "tab-table2-classes",
      "Each class's F1 for the same models and folds (default settings).")

# %% tags=["remove-cell"]
glue_values(comparison.primary_numbers(reports[PRIMARY]))
differences, difference_table = comparison.differences_frame(reports, PRIMARY, comparison.SUBCLASS_BASELINES)
beats = beats_verdict({r: differences[r] for r in claims.LSPIN_BEATS})
glue("beats_verdict", beats.text, display=False)
fig = lspin_plots.plot_model_intervals(
    comparison.interval_frame({feature_set: everything, compare_feature_set: reports_compare}),
    reference=claims.LSPIN["f1_macro"], reference_label="paper's LSPIN claim")
glue_figure("fig-lspin-intervals", fig)

# %% [markdown]
# With its default (the paper's) settings the primary model, {glue:text}`primary`, reaches macro F1
# {glue:text}`primary_f1` {glue:text}`primary_f1_ci` and accuracy {glue:text}`primary_acc`. **The project's
# target of macro F1 ≥ {glue:text}`target` under the honest protocol: the primary model
# {glue:text}`target_verdict` it.**
#
# Against the untuned baselines, fold by fold ({numref}`tab-differences`), for the paper's three
# baselines: {glue:text}`beats_verdict`

# %% tags=["remove-input"]
table(difference_table, "tab-differences",
      "Default settings: macro F1 of the primary model minus each baseline, per outer fold: mean [Nadeau–Bengio "
      "corrected 95 % interval].")

# %% [markdown]
# ```{glue:figure} fig-lspin-intervals
# :name: fig-lspin-intervals
#
# Macro F1 of every model (mean over outer test folds, 95 % corrected interval), on both feature sets;
# `_tuned` rows were tuned on inner validation splits. Dashed: the paper's claimed LSPIN macro F1.
# ```

# %% [markdown]
# ## The paper's claims beside the measurements
#
# The paper's numbers come from one 80/20 split. A cross-validated mean has a narrow interval, but one
# split's score scatters much more, so the claims are judged by the range (2.5–97.5 %) of the primary
# model's scores over {glue:text}`n_split_repeats` single stratified 80/20 splits; the cross-validated
# interval is stated beside it. A third column gives what the paper's own Fig 11 implies: its caption's
# per-class percentages are column-normalised (precisions), and on the replayed test split they fit
# exactly one confusion matrix (chapter 07), whose recall and F1 differ from Table 2's
# ({numref}`tab-claims`).

# %% tags=["remove-cell"]
single = comparison.single_split_spread(task, "lspin", n_splits=n_split_repeats, params=shrink.get("lspin", {}),
                                        seed=seed, n_jobs=n_jobs)
fig11 = audit.paper_fig11().scores()
claims_table = comparison.claims_frame(reports[PRIMARY], fig11=fig11, single=single)
glue_values({"claims_inside": int(claims_table["consistent"].sum()), "claims_total": len(claims_table)})

# %% tags=["remove-input"]
table(comparison.claims_display(claims_table).rename(index=metric_name), "tab-claims",
      "The paper's LSPIN numbers, what its own Fig 11 matrix gives, and the primary model's scores.")

# %% [markdown]
# {glue:text}`claims_inside` of the paper's {glue:text}`claims_total` numbers lie inside the range of
# single splits.
#
# ## The confusion matrix (paper Fig 11)

# %% tags=["remove-cell"]
counts = np.asarray(reports[PRIMARY].confusion["all"])
fig = lspin_plots.plot_confusion(counts, task.classes, title=f"{PRIMARY}, summed over outer test folds")
glue_figure("fig-lspin-confusion", fig)
glue_values(comparison.confusion_numbers(counts, task.classes))

# %% [markdown]
# ```{glue:figure} fig-lspin-confusion
# :name: fig-lspin-confusion
#
# Confusion matrix of the primary model, summed over every outer test fold of every repeat (each cell is
# counted once per repeat): counts and row percentages (recall per class). The paper's Fig 11 shows
# column percentages of one split.
# ```
#
# {numref}`fig-lspin-confusion` shows {glue:text}`primary` over {glue:text}`n_repeats` repeat(s). Its
# hardest class is {glue:text}`worst_class` (recall {glue:text}`worst_recall`), most often mistaken for
# {glue:text}`worst_confused_with` ({glue:text}`worst_confused_share` of its cells).
#
# ## Do more cells help?
#
# The `actd` feature set uses ACTD's own precomputed features and keeps every mouse cell with a mapped
# subclass: more cells, but a different (smaller) set of features, so a difference mixes both effects
# ({numref}`tab-feature-sets`).

# %% tags=["remove-input"]
effect = comparison.feature_set_effect(reports, reports_compare)
table(effect.rename(columns={"a": f"{feature_set} macro F1", "b": f"{compare_feature_set} macro F1",
                             "intervals_overlap": "intervals overlap"}), "tab-feature-sets",
      f"Mean macro F1 per model on the two feature sets ({len(task):,} and {len(compare_task):,} cells; "
      f"{len(task.feature_names)} and {len(compare_task.feature_names)} features).")

# %% [markdown]
# ## What the tuned LSPINs chose
#
# The hyperparameters Optuna picked on each outer fold's inner validation split; no test cell took part
# ({numref}`tab-tuned-lspin`, {numref}`tab-tuned-lspin-reference`).

# %% tags=["remove-input"]
table(comparison.tuned_parameters(reports_tuned[PRIMARY_TUNED]), "tab-tuned-lspin-reference",
      "The reference LSPIN's tuned hyperparameters per outer fold and the inner validation macro F1 they reached.")

# %% tags=["remove-input"]
table(comparison.tuned_parameters(reports_tuned["lspin_tuned"]), "tab-tuned-lspin",
      "Our LSPIN's tuned hyperparameters per outer fold and the inner validation macro F1 they reached.")

# %% [markdown]
# ## What the next chapters read
#
# Every report is saved under `results_dir/05_lspin/<feature set>/<model>.json` (defaults) and
# `results_dir/05_lspin/<feature set>_tuned/<model>.json` (tuned), with all test predictions; the
# summary is `results_dir/05_lspin/report.json`.

# %% tags=["remove-cell"]
estimates = {**comparison.report_estimates(everything, ["all"]), single_split_label(PRIMARY): single.summaries(),
             **comparison.difference_estimates(PRIMARY, differences),
             **comparison.difference_estimates(PRIMARY_TUNED, tuned_differences)}
print(write_chapter_report(out, params, started=started, estimates=estimates, results={
    "primary": PRIMARY, "primary_tuned": PRIMARY_TUNED,
    "compare_estimates": comparison.report_estimates(reports_compare, ["all"]),
    "claims": claims_table.reset_index().to_dict(orient="records"), "beats": beats.text,
    "beats_tuned": tuned_beats.text,
    "single_split_scores": single.scores.to_dict(orient="records"), "fig11": fig11,
    "lspin_tuned_params": comparison.tuned_parameters(reports_tuned["lspin_tuned"]).reset_index().to_dict(
        orient="records"),
    "model_seconds": {label: r.wall_seconds for label, r in everything.items()}}))
