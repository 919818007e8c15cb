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
# # Reproduction audit
#
# This appendix re-enacts, in code and on the paper's own tables, what the published scripts of
# {cite:t}`ophir2024` did (github ofek181/Neuronal-Cell-Type-Classification, commit 6eb1bdca, the
# commit our `data/paper41` tables come from), one step at a time, and measures what each flaw does
# next to the honest alternative on the same cells. Each comparison changes one thing and holds
# everything else fixed: the same cells, the same model, the same seed. The functions live in
# `neurotype.experiments.audit` and are tested in `tests/test_audit.py`; the paper's numbers come from
# `neurotype.paper.claims` and are labelled as the paper's.
#
# The flaws, with the script and lines that commit them:
#
# 1. the broad-type scripts (`dann_dendrite_type.py` lines 390–391, `domain_adaptation_comparison.py`
#    lines 321–322) test on the last 20 % of each CSV file, unshuffled; the LSPIN script does not;
# 2. (a) the DANN script concatenates the mouse and human training tables and calls `dropna()` before
#    dropping the mouse-only metadata columns, which removes every human cell; (b) the Table 1 FCNN
#    script (`domain_adaptation_comparison.py` lines 179–183) does the same, so it too trained on mouse
#    cells only;
# 3. the DANN script scales each species' test table with a scaler fitted on that test table itself
#    (lines 204, 227, 233);
# 4. a configuration chosen by its *test* score is reported as if it were fresh;
# 5. the Table 2 baselines (`rf_transgenic_targeting.py` line 87 and its twins) train on 20 % of the
#    cells and test on the other 80 %, not on LSPIN's test set;
# 6. the broad-type scripts report the *binary* precision, recall and F1 of the spiny class
#    (`helper_functions.calculate_metrics`, lines 11–16) as the model's scores;
# 7. Table 2's macro recall and F1 do not match the confusion matrix of its own Fig 11.

# %% tags=["parameters"]
profile = None  # full, smoke or paper (None: $NEUROTYPE_PROFILE, else full); see neurotype.book.profiles
results_dir = None  # None: results (full profile) or results/<profile>
seed = None  # seed of every split, model and sampler
n_jobs = None  # worker processes for the outer folds (one torch thread each)
n_repeats = None  # repeats of the outer cross-validation
n_configurations = None  # random SVC configurations the audit selects among
n_seeds = None  # network seeds of the audit
dann_epochs = None  # epochs of the audit's networks
lspin_epochs = None  # epochs of the audit's LSPIN
n_permutations = None  # random splits of the composition-shift test
split_models = None  # models of the audit's split comparison
summary_model = None  # the model whose numbers enter the audit's summary (fixed in advance)

# %% tags=["remove-cell"]
# Check the parameters and fill each None with the profile's value (neurotype.book.profiles).
from neurotype.book.profiles import resolve_parameters

params = resolve_parameters("07_audit", globals())
globals().update(params.values)

# %% tags=["remove-cell"]
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from neurotype.book.display import glue_figure, glue_values, table
from neurotype.data.tables import broad_task, subclass_task
from neurotype.experiments import audit
from neurotype.experiments.comparison import report_estimates
from neurotype.paper import claims
from neurotype.plots import audit as audit_plots
from neurotype.protocol.evaluation import compare, evaluate
from neurotype.protocol.reports import write_chapter_report

started = time.perf_counter()
torch.set_num_threads(1)
plt.rcParams["figure.dpi"] = 110

tables = audit.read_original_tables()
split = audit.reenact_lspin_split(tables)
glue_values({**split.sizes(), "paper_n_train": claims.LSPIN_SPLIT["train"], "paper_n_test": claims.LSPIN_SPLIT["test"],
             "paper_n_dropped": claims.LSPIN_SPLIT["dropped_nan"], "n_mouse_csv": f"{len(tables['mouse']):,}",
             "n_human_csv": len(tables["human"]), "summary_model": summary_model})

# %% [markdown]
# ## The tables, and LSPIN's split replayed
#
# The scripts read the two CSV files of `data/paper41` directly, in file order
# ({numref}`tab-audit-tables`). The LSPIN script (`lspin_transgenic_targeting.py`, `_preprocess_data`,
# lines 45–66) drops all-NaN columns, then every row with a missing value ({glue:text}`n_dropped` rows,
# leaving {glue:text}`n_complete`), drops the metadata columns, turns `transgenic_line` into pandas
# categorical codes (alphabetical), fits **one** `StandardScaler` on all {glue:text}`n_complete` rows,
# and splits with scikit-learn's `train_test_split(x, y, train_size=0.8, random_state=1)`, which
# **shuffles**: {glue:text}`n_train` training and {glue:text}`n_test` test cells (the paper: "trained on
# {glue:text}`paper_n_train` and tested on {glue:text}`paper_n_test`", {glue:text}`paper_n_dropped` NaN
# rows excluded). A second call of the same kind splits the training cells into {glue:text}`n_fit` for
# fitting and {glue:text}`n_validation` for validation. Replaying that call on the bundled table gives
# the test set's class counts exactly ({numref}`tab-audit-lspin-split`). The scaler fitted on every row
# changes no prediction of ours: each model standardises again on its training rows, and two affine maps
# fitted on overlapping rows compose to the same one.

# %% tags=["remove-input"]
table(audit.table_overview(tables), "tab-audit-tables", "The paper's two tables as the scripts read them.")

# %% tags=["remove-input"]
table(split.class_table(), "tab-audit-lspin-split",
      "The LSPIN script's split, replayed: cells per class and categorical code in its training and test rows.")

# %% [markdown]
# ## 1. The broad-type scripts test on the last 20 % of each file
#
# The DANN and FCNN scripts split each table with `train_test_split(..., shuffle=False)`: the test set
# is the last 20 % of the rows. Without shuffling, the test rows' class mix is whatever the end of the
# file holds ({numref}`fig-audit-composition`). We score each model once on that split and on
# stratified shuffled 80/20 splits of the same cells (neurotype's outer folds), with preprocessing
# fitted on training rows in both ({numref}`tab-audit-split`, {numref}`fig-audit-split`).

# %% tags=["remove-cell"]
split_effect = audit.split_effect(tables, split_models, n_repeats=n_repeats, seed=seed, n_permutations=n_permutations,
                                  n_jobs=n_jobs)
glue_figure("fig-audit-composition", audit_plots.plot_composition(split_effect.compositions))
glue_figure("fig-audit-split", audit_plots.plot_split_effect(split_effect.scores, "accuracy", species="human"))
glue_values({**{f"tvd_{s}": f.attrs["tvd"] for s, f in split_effect.compositions.items()},
             **{f"p_{s}": p for s, p in split_effect.pvalues.items()}, "n_permutations": f"{n_permutations:,}",
             **{f"split_{k}": v for k, v in split_effect.numbers(summary_model, "human").items()}})

# %% tags=["remove-input"]
table(split_effect.table(), "tab-audit-split", "Accuracy on the broad-type task: the scripts' unshuffled split "
      "and the mean and 2.5–97.5 % range of shuffled stratified 80/20 splits of the same cells.")

# %% [markdown]
# ```{glue:figure} fig-audit-composition
# :name: fig-audit-composition
#
# Class shares of the training rows (first 80 % of a file) and the test rows (last 20 %) under the
# broad-type scripts' unshuffled split; TVD is the total variation distance between the two.
# ```
#
# ```{glue:figure} fig-audit-split
# :name: fig-audit-split
#
# Accuracy on the human test cells: the unshuffled split (diamond) and shuffled stratified 80/20 splits
# of the same cells (dots; bar = their mean).
# ```
#
# The total variation distance between training and test class shares is {glue:text}`tvd_mouse` for
# mouse and {glue:text}`tvd_human` for human cells; a random split of the same size reaches at least
# that with probability {glue:text}`p_mouse` and {glue:text}`p_human` ({glue:text}`n_permutations`
# random splits). On the human test cells the {glue:text}`summary_model` scores
# {glue:text}`split_unshuffled` on the unshuffled split; shuffled splits give {glue:text}`split_shuffled_mean`
# on average, between {glue:text}`split_shuffled_low` and {glue:text}`split_shuffled_high`
# ({glue:text}`split_n_shuffled` splits). The real cost of one fixed split is that it gives one number
# with no spread.
#
# ## 2. `dropna()` removed every human cell, in the DANN and in the Table 1 FCNN script
#
# Both scripts split each table into its first 80 % and last 20 %, concatenate the training parts and
# call `dropna()` before dropping the metadata columns. The human table has no `transgenic_line`,
# `neurotransmitter` or `reporter_status` column, so after `pandas.concat` each human row holds NaN in
# all three and `dropna()` removes it ({numref}`tab-audit-dropna`).

# %% tags=["remove-cell"]
dropna = audit.reenact_dropna(tables)
dropna_effect = audit.dropna_effect(dropna, max_epochs=dann_epochs, seeds=range(seed, seed + n_seeds), n_jobs=n_jobs)
only_mouse, fcnn_human, dann_human = audit.DROPNA_VARIANTS
glue_values({"concat_total": f"{dropna.count('concatenated training table'):,}",
             "concat_human": dropna.count("concatenated training table", "human"),
             "after_mouse": f"{dropna.count('after dropna()', 'mouse'):,}",
             "after_human": dropna.count("after dropna()", "human"), "paper_train_total": claims.DANN_SPLIT["train_total"],
             "dann_epochs": dann_epochs, "n_seeds": n_seeds,
             **{f"dropna_{i}_{m}": dropna_effect.mean(v, "human", m) for i, v in enumerate(audit.DROPNA_VARIANTS)
                for m in ("accuracy", "balanced_accuracy")}})

# %% tags=["remove-input"]
table(dropna.counts.set_index("stage"), "tab-audit-dropna", "Rows per species at each step of the scripts' "
      "data preparation.")

# %% [markdown]
# The concatenated training table has {glue:text}`concat_total` rows (the paper's
# {glue:text}`paper_train_total` training samples), {glue:text}`concat_human` of them human; after
# `dropna()` {glue:text}`after_mouse` mouse rows and {glue:text}`after_human` human rows remain. With
# one domain left, the DANN's adversarial branch has nothing to align and what learns the labels is its
# label branch alone: a plain network trained on mouse cells, which is also what the FCNN script
# trained. We train that network and, on the same mouse rows plus the human training rows, the same
# network and the semi-supervised DANN; all for {glue:text}`dann_epochs` epochs over
# {glue:text}`n_seeds` seed(s), scored on the same test rows ({numref}`tab-audit-dropna-effect`).

# %% tags=["remove-input"]
table(dropna_effect.table(), "tab-audit-dropna-effect", "The network dropna() left and the networks that "
      "see the human training rows, on each species' test rows (mean over seeds).")

# %% [markdown]
# On the human test cells, the mouse-only network scores {glue:text}`dropna_0_accuracy` accuracy
# (balanced {glue:text}`dropna_0_balanced_accuracy`); with the human training rows the same network
# scores {glue:text}`dropna_1_accuracy` ({glue:text}`dropna_1_balanced_accuracy`) and the DANN
# {glue:text}`dropna_2_accuracy` ({glue:text}`dropna_2_balanced_accuracy`). The paper's human numbers
# for both Table 1 networks are those of models that never saw a human cell in training.
#
# ## 3. Each test table scaled on itself
#
# The DANN script fits one scaler on the pooled training table (after `dropna()`, mouse rows only)
# and scales each species' test table with a scaler fitted on that test table itself. We re-enact that
# and compare it with applying the training table's scaler to the test rows, for two models trained
# on the same rows ({numref}`tab-audit-scaling`).

# %% tags=["remove-cell"]
scaling = audit.dann_scaling_effect(dropna, ["logreg", summary_model], seed=seed, n_jobs=n_jobs)
self_scaled, train_scaled = audit.DANN_SCALINGS
glue_values({f"scal_{s}_{k}": scaling.score(summary_model, v, s) for s in ("human", "mouse")
             for k, v in (("self", self_scaled), ("train", train_scaled))})

# %% tags=["remove-input"]
table(scaling.table(), "tab-audit-scaling", "Accuracy of models trained on the DANN script's training table, "
      "with each test table scaled on itself (the script) or by the training scaler (honest).")

# %% [markdown]
# With each test table scaled on itself the {glue:text}`summary_model` scores {glue:text}`scal_human_self`
# on the human test cells, against {glue:text}`scal_human_train` with the training scaler (mouse:
# {glue:text}`scal_mouse_self` and {glue:text}`scal_mouse_train`). Standardising a test table on its
# own statistics uses the test cells' class mix, and moves the human cells relative to the boundary
# learnt on mouse cells.
#
# ## 4. Choosing the model by its test score
#
# A study that tries many configurations and reports the one with the best test score reports the
# maximum of many noisy scores {cite:p}`cawley2010`. We draw {glue:text}`sel_n_configurations` random
# RBF-SVC configurations, score each on every outer fold of stratified 80/20 splits of the
# {glue:text}`n_complete` complete mouse cells and on an inner validation split of each fold's training
# rows, pick one per fold by test score and one by inner-validation score, and score each pick on the
# *other* folds ({numref}`tab-audit-selection`, {numref}`fig-audit-selection`).

# %% tags=["remove-cell"]
selection = audit.selection_effect(split.task, n_configurations, n_repeats=n_repeats, seed=seed, n_jobs=n_jobs)
glue_figure("fig-audit-selection", audit_plots.plot_selection(selection.per_fold))
glue_values({**{f"sel_{k}": v for k, v in selection.numbers().items()},
             "sel_positive_share": f"{selection.numbers()['positive_share']:.0%}"})

# %% tags=["remove-input"]
table(selection.table(), "tab-audit-selection", "Macro F1 of the configuration picked by test score and by "
      "inner-validation score: on the fold it was picked on, and on the other folds (means over folds).")

# %% [markdown]
# ```{glue:figure} fig-audit-selection
# :name: fig-audit-selection
#
# Per outer fold (thin lines): the macro F1 a configuration chosen by its test score reports on that
# fold (filled) and its mean on the other folds (open); the same for the choice by inner-validation score.
# ```
#
# Chosen by test score, the pick reports {glue:text}`sel_by_test_reported` and scores
# {glue:text}`sel_by_test_fresh` on fresh folds (optimism {glue:text}`sel_by_test_optimism`, positive on
# {glue:text}`sel_positive_share` of the {glue:text}`sel_n_folds` folds); chosen by inner
# validation, {glue:text}`sel_by_validation_reported` and {glue:text}`sel_by_validation_fresh`.
#
# ## 5. The baselines' own split
#
# The baseline scripts call `train_test_split(x, y, train_size=0.2, random_state=1)` on the same
# {glue:text}`n_complete` rows: {glue:text}`base_n_train` training and {glue:text}`base_n_test` test
# cells. Both splits come from the same seeded permutation, so LSPIN's {glue:text}`n_test` test cells
# lie inside the baselines' test set ({glue:text}`base_nested_test` of them) and the baselines'
# training cells inside LSPIN's ({glue:text}`base_nested_train`). Scoring the baselines as run on
# LSPIN's test cells alone isolates the test set; training them on LSPIN's training rows then isolates
# the training size ({numref}`tab-audit-baselines`).

# %% tags=["remove-cell"]
baselines = audit.baseline_effect(split, ["rf", "svc", "xgb"], seed=seed, n_jobs=n_jobs)
glue_values({"base_n_train": baselines.n_baseline_train, "base_n_test": f"{baselines.n_baseline_test:,}",
             "base_nested_test": baselines.lspin_test_in_baseline_test,
             "base_nested_train": baselines.baseline_train_in_lspin_train,
             "base_share": f"{baselines.n_baseline_train / len(split.train):.0%}",
             **{f"base_{i}": baselines.mean(summary_model, s) for i, s in enumerate(audit.BASELINE_SETTINGS)}})

# %% tags=["remove-input"]
table(baselines.table(), "tab-audit-baselines", "Macro F1 of the Table 2 baselines as the scripts ran them "
      "and on LSPIN's split.")

# %% [markdown]
# The {glue:text}`summary_model` scores {glue:text}`base_0` macro F1 as run, {glue:text}`base_1` on
# LSPIN's test cells with the same 20 % training set, and {glue:text}`base_2` trained on LSPIN's training
# rows: Table 2 compares LSPIN with baselines trained on {glue:text}`base_share` as many cells as LSPIN's
# training rows and scored on other cells.
#
# ## 6. Binary scores reported as the model's
#
# scikit-learn's `precision_score`, `recall_score` and `f1_score` default to `average="binary"`; the
# broad-type scripts call them that way, so their precision, recall and F1 are those of the spiny class
# alone. That explains the paper's cross-species numbers (mouse → human: precision
# {glue:text}`paper_mh_precision`, recall {glue:text}`paper_mh_recall`): a model that calls many human
# spiny cells aspiny has a high spiny precision and a low spiny recall. The LSPIN tuning printout uses
# support-weighted averages instead. {numref}`tab-audit-averages` puts the three side by side for the
# mouse-only network of section 2.

# %% tags=["remove-cell"]
averages = audit.broad_metric_averages(dropna_effect)
glue_values({"paper_mh_precision": claims.FCNN_TRANSFER["mouse→human"]["precision"],
             "paper_mh_recall": claims.FCNN_TRANSFER["mouse→human"]["recall"],
             **{f"avg_{c}": averages.loc[("human", "f1"), c] for c in averages.columns[:2]}})

# %% tags=["remove-input"]
table(averages, "tab-audit-averages",
      "Precision, recall and F1 of the mouse-only network's predictions: binary (spiny as the positive class, "
      "as the scripts), macro and support-weighted (mean over seeds).")

# %% [markdown]
# On the human test cells its binary F1 is {glue:text}`avg_binary`, its macro F1 {glue:text}`avg_macro`:
# the binary score hides the aspiny minority, which is the class a mouse-trained model gets wrong.
#
# ## 7. Table 2 against its own Fig 11
#
# The Fig 11 heatmap divides each column of the confusion matrix by its sum (line 225); the columns
# are the predicted classes, so the caption's per-class percentages are **precisions**. With the
# replayed test set's row totals, we search every combination of diagonal counts and column totals
# whose column percentages print as the caption's ({numref}`tab-audit-fig11`).

# %% tags=["remove-cell"]
fig11 = audit.paper_fig11(tables)
glue_values({"fig11_n_fits": len(fig11.fits), "fig11_n_recall_fits": fig11.n_recall_fits,
             **{f"fig11_{k}": v for k, v in fig11.scores().items()},
             **{f"paper_{k}": v for k, v in claims.LSPIN.items()}, "recorded": f"{claims.LSPIN_RECORDED_ACCURACY}"})

# %% tags=["remove-input"]
table(fig11.table(), "tab-audit-fig11", "The one confusion matrix whose column percentages print as the caption "
      "of Fig 11 on the replayed test set: its diagonal, column totals and per-class scores.")

# %% [markdown]
# Exactly {glue:text}`fig11_n_fits` combination fits; read as recalls of the replayed test set, the
# caption fits {glue:text}`fig11_n_recall_fits`. The matrix has {glue:text}`fig11_n_correct` correct of
# {glue:text}`fig11_n_test` cells, accuracy {glue:text}`fig11_accuracy`: the accuracy the repository
# records ({glue:text}`recorded`), which the paper truncates to {glue:text}`paper_accuracy`. Its macro
# precision is {glue:text}`fig11_precision_macro` (the paper: {glue:text}`paper_precision_macro`), but
# its macro recall is {glue:text}`fig11_recall_macro` and its macro F1 {glue:text}`fig11_f1_macro`,
# where Table 2 reports {glue:text}`paper_recall_macro` and {glue:text}`paper_f1_macro`.
#
# What LSPIN does on this split: the paper's settings ({glue:text}`lspin_epochs` epochs), fitted on the
# {glue:text}`n_fit` fitting rows with the script's scaling and scored on the {glue:text}`n_test` test
# cells, once (seed {glue:text}`seed`), with the confusion matrix normalised as Fig 11
# ({numref}`tab-audit-lspin-replay`).

# %% tags=["remove-cell"]
replay = audit.lspin_on_original_split(split, epochs=lspin_epochs, seed=seed)
glue_values({"lspin_epochs": lspin_epochs, "seed": seed, **{f"replay_{k}": v for k, v in replay.scores.items()}})

# %% tags=["remove-input"]
table(replay.column_normalised().round(3), "tab-audit-lspin-replay", "Our LSPIN on the replayed split: each "
      "column divided by its sum, as in Fig 11 (rows true, columns predicted; the diagonal holds precisions).")

# %% [markdown]
# It scores {glue:text}`replay_accuracy` accuracy, {glue:text}`replay_f1_macro` macro F1 and
# {glue:text}`replay_recall_macro` macro recall: one split and one seed, a single draw.
#
# ## The honest protocol on the same cells
#
# For reference, neurotype's protocol (repeated stratified, duplicate-aware 5-fold cross-validation,
# preprocessing inside each training fold, corrected 95 % intervals) with the {glue:text}`summary_model`
# at its default settings: on the five subclasses (all {glue:text}`n_mouse_csv` mouse cells, missing
# values imputed inside the folds) and trained on mouse cells, tested on human cells
# ({numref}`tab-audit-honest`). In the species-restricted run the Nadeau–Bengio correction uses that
# run's own sizes: the mouse cells each fold trains on ({glue:text}`honest_n_train`) and the human cells it
# tests on ({glue:text}`honest_n_test`), ratio {glue:text}`honest_ratio`, because those are the training
# sets that overlap across folds and the test sets whose size sets the noise.

# %% tags=["remove-cell"]
protocol = dict(n_folds=5, n_repeats=n_repeats, seed=seed, n_jobs=n_jobs)
honest = {f"{summary_model}, mouse subclasses": evaluate(subclass_task(), summary_model, **protocol),
          f"{summary_model}, mouse → human": evaluate(broad_task(), summary_model, **protocol, train_species="mouse",
                                                      test_species="human")}
transfer_cells = honest[f"{summary_model}, mouse → human"].cells
glue_values({"honest_n_train": f"{transfer_cells['train']['all']:.0f}", "honest_n_test": f"{transfer_cells['test']['all']:.0f}",
             "honest_ratio": transfer_cells["test"]["all"] / transfer_cells["train"]["all"]})

# %% tags=["remove-input"]
table(compare(honest, metrics=["accuracy", "balanced_accuracy", "f1_macro"], species=["all"]).droplevel(1).rename(
    columns={"balanced_accuracy": "balanced accuracy", "f1_macro": "macro F1"}), "tab-audit-honest",
      "The honest protocol: mean [corrected 95 % interval] over outer folds.")

# %% [markdown]
# ## Summary
#
# Each row changes one thing ({numref}`tab-audit-summary`, {numref}`fig-audit-summary`): "as the
# original ran it" is the number the flawed step produces, "honest" the number of the same model on the
# same cells without the flaw. For row 7 the original's number is the paper's Table 2 and the honest one
# is what its own Fig 11 gives; the intro's headline reads the same reconstruction.

# %% tags=["remove-cell"]
summary = audit.summary_rows(summary_model, split_effect, dropna_effect, scaling, selection, baselines, averages, fig11)
glue_figure("fig-audit-summary", audit_plots.plot_summary(audit.summary_frame(summary, raw=True)))

# %% tags=["remove-input"]
table(audit.summary_frame(summary), "tab-audit-summary", "The audit in one table: per flaw, the number as the "
      "original ran it, the honest number and their difference.")

# %% [markdown]
# ```{glue:figure} fig-audit-summary
# :name: fig-audit-summary
#
# The audit table as a chart: per flaw, the original's number (red) and the honest one (blue).
# ```
#
# Two flaws change what a number means rather than its size: after `dropna()` the Table 1 human numbers
# are those of mouse-only networks, and Table 2's recall and F1 are not those of the matrix its Fig 11
# shows. The others move the numbers by the effects in the table; selection by test score and the
# baselines' own split bear on Table 2's comparison of LSPIN with its baselines, and a test table scaled
# on itself on the cross-species numbers.

# %% tags=["remove-cell"]
print(write_chapter_report(Path(results_dir) / "07_audit", params, started=started,
                           estimates=report_estimates(honest), results={
    "summary": audit.summary_frame(summary, raw=True).to_dict(orient="records"), "lspin_split": split.sizes(),
    "lspin_test_counts": split.test_counts(), "fig11": {"fits": fig11.fits, "n_recall_fits": fig11.n_recall_fits,
                                                        **fig11.scores()},
    "split_effect": split_effect.scores.to_dict(orient="records"),
    "dropna_counts": dropna.counts.to_dict(orient="records"),
    "dropna_scores": dropna_effect.scores.drop(columns=["y_true", "y_pred"]).to_dict(orient="records"),
    "scaling": scaling.scores.to_dict(orient="records"), "selection": selection.per_fold.to_dict(orient="records"),
    "baselines": baselines.scores.to_dict(orient="records"), "lspin_replay": replay.scores}))
