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
# # What LSPIN's gates say
#
# LSPIN's selling point is interpretability: each cell gets its own gate on each feature, so the gate
# matrix should show which electrophysiological features define each subclass (the paper's Fig 12).
# This chapter reads the gates of **held-out** cells only: for every outer fold of the previous
# chapter, the fold's model (refitted here on the same training cells with the same hyperparameters
# and seed, so it is the model the previous chapter scored) computes the inference gates
# $z = \mathrm{clip}(0.5 + \mu(x), 0, 1)$ of that fold's test cells. It then asks how stable the gates
# are, whether they agree with the permutation importance of a baseline, and — the paper's
# proposed next step — whether putting LSPIN's gate in front of the domain-adversarial network helps
# the broad (aspiny/spiny, mouse + human) task.

# %% tags=["parameters"]
profile = None  # full, smoke or paper (None: $NEUROTYPE_PROFILE, else full); see neurotype.book.profiles
results_dir = None  # None: results (full profile) or results/<profile>
seed = None  # seed of every split, model and sampler
feature_set = None  # paper41 (the paper's 41 features) or actd (ACTD's own features)
lspin_label = None  # which Table 2 LSPIN report the gates are read from
n_members = None  # seeds averaged per fold when reading the gates
perm_repeats = None  # repeats of the permutation importance
n_folds = None  # outer cross-validation folds
n_repeats = None  # repeats of the outer cross-validation
n_trials = None  # Optuna trials per outer fold (0: fixed hyperparameters)
n_jobs = None  # worker processes for the outer folds (one torch thread each)
model_overrides = None  # hyperparameters held fixed per model name, e.g. {'lspin': {'epochs': 100}}
storage = None  # Optuna RDB URL shared by tuning workers (None: SQLite files under results_dir)

# %% tags=["remove-cell"]
# Check the parameters and fill each None with the profile's value (neurotype.book.profiles).
from neurotype.book.profiles import resolve_parameters

params = resolve_parameters("06_interpretation", globals())
globals().update(params.values)

# %% tags=["remove-cell"]
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown
from myst_nb import glue

from neurotype.experiments import comparison, interpret
from neurotype.experiments.comparison import Config
from neurotype.data.tables import broad_task, subclass_task
from neurotype.protocol.evaluation import Report, compare
from neurotype.plots import lspin as lspin_plots
from neurotype.book.display import glue_figure, glue_values, readable_columns, table
from neurotype.protocol.reports import write_chapter_report

plt.rcParams["figure.dpi"] = 110
torch.set_num_threads(1)  # fits in this process share two cores with the worker processes
started = time.perf_counter()
shrink = model_overrides
source = Path(results_dir) / "05_lspin" / feature_set
out = Path(results_dir) / "06_interpretation"
task = subclass_task(feature_set)
report_path = source / f"{lspin_label}.json"
if report_path.is_file():
    lspin_report = Report.load(report_path)
else:  # the chapter can run on its own: fit the paper preset with this chapter's folds
    lspin_report = comparison.run_models(task, {lspin_label: Config("lspin", shrink.get("lspin", {}))},
                                         out / "lspin", n_folds=n_folds, n_repeats=1, seed=seed, n_trials=0,
                                         n_jobs=n_jobs)[lspin_label]
    report_path = out / "lspin" / f"{lspin_label}.json"
glue_values({"lspin_source": str(report_path), "n_members": n_members})

# %% [markdown]
# The gates come from {glue:text}`lspin_source` (the paper's settings). Each fold is refitted as a
# batch of {glue:text}`n_members` LSPINs with different seeds; the first is the reported model, the
# others measure seed-to-seed stability.

# %% tags=["remove-cell"]
gates = interpret.held_out_gates(task, lspin_report, n_members=n_members, repeats=[0], n_jobs=n_jobs)
glue("agreement", f"{gates.agreement:.1%}", display=False)
G = gates.frame(member=0, repeat=0)
labels = gates.labels(repeat=0)
order = interpret.cluster_order(G.to_numpy())
fig = lspin_plots.plot_gate_matrix(G, labels, order)
glue_figure("fig-gate-matrix", fig)

# %% [markdown]
# The refitted models reproduce the previous chapter's test predictions for {glue:text}`agreement` of
# the cells.
#
# ```{glue:figure} fig-gate-matrix
# :name: fig-gate-matrix
#
# Inference gates of {glue:text}`n_gate_cells` held-out mouse cells (rows; each cell's gates come from
# the fold in which it was a test cell), features in the data set's fixed order (columns). Rows are
# ordered by average-linkage hierarchical clustering of their gate vectors; the strip on the left gives
# each cell's true subclass (the paper's Fig 12).
# ```
#
# {numref}`fig-gate-matrix` is the gate matrix; the mean gate over all cells and features is
# {glue:text}`mean_gate`.

# %% [markdown]
# ## Mean gate profile per class

# %% tags=["remove-cell"]
profiles = interpret.class_profiles(G, labels, task.classes)
fig = lspin_plots.plot_class_profiles(profiles)
glue_figure("fig-class-profiles", fig)
defining = interpret.defining_features(profiles, top=3)
reading = interpret.reading_sentences(defining)
glue("reading", Markdown("\n".join(f"* {sentence}" for sentence in reading)), display=False)
gate_facts = interpret.gate_numbers(G, labels, task.classes, profiles)
glue_values({k: v for k, v in gate_facts.items() if k != "per_class_open"})

# %% [markdown]
# ```{glue:figure} fig-class-profiles
# :name: fig-class-profiles
#
# Mean inference gate of each feature over the held-out cells of each true subclass.
# ```
#
# The gate that differs most between classes ({numref}`fig-class-profiles`) is
# {glue:text}`most_class_dependent` (range of class means {glue:text}`most_class_dependent_spread`).
# Ranking, for each class, the features by how much more that class opens them than the other classes
# do (class mean gate minus the mean of the other classes' means) gives this computed reading (the top
# three per class, listed when the difference is at least 0.05):
#
# ```{glue:md} reading
# :format: myst
# ```

# %%
defining.round(3)

# %% [markdown]
# ## How many gates does a cell open?

# %% tags=["remove-cell"]
counts = interpret.open_gate_counts(G.to_numpy())
fig = lspin_plots.plot_open_counts(counts, labels, G.shape[1])
glue_figure("fig-open-counts", fig)
per_class_open = pd.Series(gate_facts["per_class_open"], name="median open gates")

# %% [markdown]
# ```{glue:figure} fig-open-counts
# :name: fig-open-counts
#
# Number of open gates ($z > 0$) per held-out cell, by true subclass.
# ```
#
# A cell opens a median of {glue:text}`open_median` of {glue:text}`n_features` gates (10th–90th
# percentile {glue:text}`open_q`; fully open, $z = 1$: median {glue:text}`fully_open_median`),
# {numref}`fig-open-counts`. Median per class:

# %%
per_class_open.to_frame().T

# %% [markdown]
# ## Are the gates stable across seeds and folds?
#
# For every (seed, fold) model we average its gates over its own test cells, then compare these
# profiles with Spearman's rank correlation: the same fold with different seeds (same training cells,
# different initialisation and gate noise) and different folds with the same seed.

# %% tags=["remove-cell"]
corr, stability = interpret.profile_stability(gates.gates, gates.cells[gates.cells["repeat"] == 0])
fig = lspin_plots.plot_stability(corr)
glue_figure("fig-gate-stability", fig)
glue_values(interpret.stability_numbers(stability))

# %% [markdown]
# ```{glue:figure} fig-gate-stability
# :name: fig-gate-stability
#
# Spearman correlation between the mean gate profiles of every (seed `s`, repeat `r`, fold `f`) model.
# ```
#
# Across seeds on the same fold the median correlation is {glue:text}`rho_seeds` (lowest
# {glue:text}`rho_seeds_min`); across folds with the same seed {glue:text}`rho_folds` (lowest
# {glue:text}`rho_folds_min`), {numref}`fig-gate-stability`. A reading of the gates is only as
# trustworthy as these numbers are high.

# %% [markdown]
# ## Do the gates agree with permutation importance?
#
# We take Table 2's RBF support-vector classifier, fixed in advance (picking the baseline that scores
# best would choose on outer test folds), refit it on each outer fold of the first repeat, and measure scikit-learn's permutation importance
# (drop in macro F1 when one feature of the held-out cells is shuffled).

# %% tags=["remove-cell"]
baseline_reports = comparison.load_reports(
    source, [label for label in comparison.SUBCLASS_BASELINES if (source / f"{label}.json").is_file()])
if not baseline_reports:  # standalone run: the SVC with this chapter's folds
    baseline_reports = comparison.run_models(task, {"svc": Config("svc")}, out / "baselines", n_folds=n_folds,
                                             n_repeats=1, seed=seed, n_trials=0, n_jobs=n_jobs)
importance_baseline = interpret.IMPORTANCE_BASELINE
importance = interpret.permutation_importances(task, baseline_reports[importance_baseline], n_repeats=perm_repeats,
                                               seed=seed, n_jobs=n_jobs).mean()
mean_gate = G.mean()
agreement = interpret.rank_agreement(mean_gate, importance, top=10)
fig = lspin_plots.plot_gate_vs_importance(mean_gate, importance,
                                          importance_label=f"{importance_baseline} permutation importance")
glue_figure("fig-gate-importance", fig)
glue_values({"importance_baseline": importance_baseline, **interpret.importance_numbers(mean_gate, importance, agreement)})

# %% [markdown]
# ```{glue:figure} fig-gate-importance
# :name: fig-gate-importance
#
# LSPIN's mean gate per feature (held-out cells) against the permutation importance of
# {glue:text}`importance_baseline` on held-out cells; the features at the top of either ranking are named.
# ```
#
# The baseline is {glue:text}`importance_baseline`. Its three most important features are
# {glue:text}`top_importance`; LSPIN's three most open gates are {glue:text}`top_gate`. The rank
# correlation between the two per-feature scores is {glue:text}`rho_importance`, and
# {glue:text}`top_overlap` of the top {glue:text}`top_n` features are shared
# ({numref}`fig-gate-importance`). An open gate says the prediction network *sees* a feature, not that
# the prediction depends on it, so the two rankings need not agree.

# %% [markdown]
# ## The LSPIN-gated DANN on the broad task
#
# The paper proposes, as its next step, to put LSPIN's gating network in front of the
# domain-adversarial network that classifies aspiny versus spiny cells of mouse (source domain) and
# human (target domain). `neurotype.models.gated_dann` does exactly that: the gates multiply the
# features before the DANN's feature extractor, and the loss adds LSPIN's sparsity term. Here it runs
# beside the plain DANN and logistic regression, all three with the same folds and default settings
# (the DANN's semi-supervised mode, as in the paper); {numref}`tab-gated-dann` lists their scores.

# %% tags=["remove-cell"]
broad = broad_task(feature_set)
broad_configs = {name: Config(name, shrink.get(name, {}), n_trials > 0) for name in ("logreg", "dann", "gated_dann")}
broad_reports = comparison.run_models(broad, broad_configs, out / "broad", n_folds=n_folds, n_repeats=n_repeats,
                                      seed=seed, n_trials=n_trials, n_jobs=n_jobs,
                                      study_dir=Path(results_dir) / "optuna", storage=storage)

# %% tags=["remove-input"]
table(readable_columns(compare(broad_reports, metrics=("balanced_accuracy", "f1_macro", "accuracy"))), "tab-gated-dann",
      "Broad type (aspiny vs spiny): the gated DANN beside the plain DANN and logistic regression, mean [corrected "
      "95 % interval] over the same outer folds, per species.")

# %% tags=["remove-cell"]
glue_values(interpret.broad_gate_numbers(broad_reports))
glue("broad_folds", f"{n_folds} × {n_repeats}", display=False)

# %% [markdown]
# With {glue:text}`broad_folds` outer folds, the gated DANN's balanced accuracy is
# {glue:text}`gated_all` on all test cells and {glue:text}`gated_human` on human test cells, against
# {glue:text}`dann_all` and {glue:text}`dann_human` for the plain DANN (difference
# {glue:text}`gated_minus_dann_all` and {glue:text}`gated_minus_dann_human`) and {glue:text}`logreg_all`
# and {glue:text}`logreg_human` for logistic regression. The intervals in the table are the ones to read
# before calling any of these differences real.

# %% [markdown]
# ## What this chapter writes
#
# `results_dir/06_interpretation/report.json` holds every number above; the gated-DANN reports are in
# `results_dir/06_interpretation/broad/`.

# %% tags=["remove-cell"]
print(write_chapter_report(out, params, started=started,
                           estimates={label: r.metrics for label, r in broad_reports.items()}, results={
    "lspin_report": str(report_path),
    "refit_agreement": gates.agreement, "class_profiles": profiles.to_dict(orient="index"),
    "defining_features": defining.to_dict(orient="records"), "reading": reading,
    "open_gates": {"median": float(np.median(counts)), "per_class_median": gate_facts["per_class_open"]},
    "stability": stability, "importance_baseline": importance_baseline, "permutation_importance": importance.to_dict(),
    "gate_importance_agreement": agreement,
    "broad_seconds": {label: r.wall_seconds for label, r in broad_reports.items()},
}))
