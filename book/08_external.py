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
# # Another lab's cells
#
# Every number so far was measured on ACTD cells {cite:p}`actd2015,gouwens2019`: one rig, one
# feature pipeline, labels from Cre lines. A lab that adopts a classifier records on another rig,
# computes features with other code and often knows its cells by transcriptomic type. The paper
# never asks how its models travel, although the domain-adversarial idea at its heart
# {cite:p}`ganin2016` is the tool for exactly that question. This chapter asks it with two
# independent Patch-seq data sets, bundled in `data/external/` with their provenance:
#
# - **mouse motor cortex** (M1), Scala et al. (2021), *Nature* 598:144, recorded at room
#   temperature and featurised by the Berens lab's own code (its 184 cells recorded at 33–34 °C
#   serve as a side check);
# - **human GABAergic interneurons**, Lee, Dalley et al. (2023), *Science* 382:eadf6484,
#   featurised with IPFX, the Allen Institute's current feature code.
#
# Models are trained on ACTD mouse cells only (the `actd` feature set, five subclasses) and tested
# on the other labs' cells. No model is trained or tuned on an external label; the only way the
# external cells enter training is as the *unlabelled* target domain of the DANN, and per-lab
# standardisation reads their features, never their labels.

# %% tags=["parameters"]
profile = None  # full, smoke or paper (None: $NEUROTYPE_PROFILE, else full); see neurotype.book.profiles
results_dir = None  # None: results (full profile) or results/<profile>
seed = None  # seed of every split, model and sampler
n_jobs = None  # worker processes for the outer folds (one torch thread each)
n_folds = None  # outer cross-validation folds
n_repeats = None  # repeats of the outer cross-validation
external_models = None  # models trained on ACTD and tested on the external cells
focus_model = None  # the model whose numbers enter the prose and the headline (fixed in advance)
network_seeds = None  # seeds of each network trained on ACTD for the external tests
max_epochs = None  # epoch cap of the networks (None: each model's default)
n_boot_cells = None  # bootstrap resamples over the external cells

# %% tags=["remove-cell"]
# Check the parameters and fill each None with the profile's value (neurotype.book.profiles).
from neurotype.book.profiles import resolve_parameters

params = resolve_parameters("08_external", globals())
globals().update(params.values)

# %% tags=["remove-cell"]
import time
from pathlib import Path

import matplotlib.pyplot as plt

from neurotype.book.display import glue_figure, glue_values, readable_columns, table
from neurotype.data import subclass_task
from neurotype.experiments import external
from neurotype.plots import external as external_plots
from neurotype.protocol.reports import write_chapter_report

plt.rcParams["figure.dpi"] = 110
started = time.perf_counter()
WARM = "scala2021_m1_phys_temp"

# %% [markdown]
# ## Training on ACTD, testing elsewhere
#
# For each data set, `neurotype.experiments.external.run_external` restricts the ACTD subclass task
# to the features the data set's feature map provides, holds out 20 % of the ACTD cells as an
# in-distribution reference no model sees, trains every model on the other 80 % and scores it on
# the external cells and on the held-out ACTD cells. The same models are cross-validated on ACTD
# with the same features (`neurotype.protocol.evaluation.evaluate`), so that what is lost on the
# external cells is the shift alone. Networks are trained with several seeds: their scores are
# means over seeds, and the 95 % intervals come from resampling the external cells.

# %%
actd = subclass_task("actd")
runs = [external.run_external(name, models=external_models, seed=seed, n_seeds=network_seeds, n_folds=n_folds,
                              n_repeats=n_repeats, n_boot=n_boot_cells, n_jobs=n_jobs, max_epochs=max_epochs,
                              others=[WARM] if name == "scala2021_m1" else [], actd=actd)
        for name in ("scala2021_m1", "lee2023_human_gaba")]
numbers = external.chapter_numbers(runs, focus_model, other=WARM)
glue_values(numbers)

# %% [markdown]
# ## The cells and their labels
#
# Each data set's labels are mapped onto the book's five classes ({numref}`tab-external-counts`):
# M1's excitatory families (IT, ET, CT, NP) become Glutamatergic, Lamp5 and Sncg together stand
# for ACTD's Htr3a+|Vip− class, as does the human LAMP5/PAX6/Other subclass. M1's "low quality"
# family and the cells its authors excluded themselves are left out, and so are cells that lack
# more than half of the mapped features (their prediction would be mostly ACTD medians). The human
# cells carry the study's revised subclass labels (with its original labels, the network's balanced
# accuracy below would read {glue:text}`lee_original_labels` instead of {glue:text}`lee_none`).
# {glue:text}`m1_cells` M1 cells and {glue:text}`lee_cells` human cells remain.

# %% tags=["remove-input"]
table(external.counts_frame(runs), "tab-external-counts",
      "Cells per data set, by the lab's own label and the book's class it maps to.")

# %% [markdown]
# ## The features both labs measure
#
# A model trained on ACTD needs ACTD's features under ACTD's names and units. Each data set comes
# with a feature map, a CSV file in `data/external/feature_maps/`: for every external feature the
# ACTD feature it stands for, its unit (the conversion factor follows from the two units), an
# optional named change of definition, and a note where the definitions differ. Features without a
# counterpart are listed with the reason. M1 maps {glue:text}`m1_mapped` features
# ({glue:text}`m1_unmapped` unmapped, {numref}`tab-map-m1`); the IPFX table maps
# {glue:text}`lee_mapped` ({glue:text}`lee_unmapped` unmapped, {numref}`tab-map-lee`). A test
# checks every mapped pair's median against the ACTD feature's plausible range, which catches a
# forgotten unit factor.

# %% tags=["remove-input"]
table(external.map_frame(runs[0]), "tab-map-m1", "The M1 feature map's mapped rows.")

# %% tags=["remove-input"]
glue_figure("fig-external-shift", external_plots.plot_feature_shift(runs))
table(external.map_frame(runs[1]), "tab-map-lee", "The human interneuron feature map's mapped rows.")

# %% [markdown]
# ```{glue:figure} fig-external-shift
# :name: fig-external-shift
#
# How far each mapped feature's external mean lies from ACTD's, in ACTD standard deviations (bars);
# open circles: the M1 cells recorded at 33–34 °C.
# ```
#
# The largest shift is in {glue:text}`m1_largest_shift` for M1 ({glue:text}`m1_largest_shift_sd`
# standard deviations) and in {glue:text}`lee_largest_shift` for the human cells
# ({glue:text}`lee_largest_shift_sd`; {numref}`fig-external-shift`). Part of each shift is the
# class mix (ACTD is half Glutamatergic, the human set has no excitatory cell at all); part is
# rig, protocol, temperature and species.

# %% [markdown]
# ## The shift, measured
#
# The {glue:text}`focus_model` (the paper's network, the DANN without its domain branch; chosen
# before any run) reaches balanced accuracy {glue:text}`m1_cv` in ACTD cross-validation on the M1
# features and {glue:text}`m1_held_out` on the held-out ACTD cells, but {glue:text}`m1_none` on
# the M1 cells: it {glue:text}`m1_transfer` its accuracy across labs. Over all models the M1 cells
# score {glue:text}`m1_range` against {glue:text}`m1_cv_range` in ACTD cross-validation
# ({numref}`tab-external-scores`, {numref}`fig-external-scores`). On the human interneurons the
# mouse-trained {glue:text}`focus_model` scores {glue:text}`lee_none` (ACTD: {glue:text}`lee_cv`;
# guessing among the five classes scores {glue:text}`chance`), all models {glue:text}`lee_range`;
# the network calls {glue:text}`lee_glut_share` of these interneurons Glutamatergic.

# %% tags=["remove-input"]
glue_figure("fig-external-scores", external_plots.plot_scores(runs))
table(external.summary_frame(runs), "tab-external-scores",
      "Balanced accuracy in ACTD cross-validation (corrected 95 % interval), on the held-out ACTD cells and on "
      "the external cells (bootstrap 95 % interval over cells), with macro F1 and expected calibration error "
      "on the external cells.")

# %% [markdown]
# ```{glue:figure} fig-external-scores
# :name: fig-external-scores
#
# Balanced accuracy per model: ACTD cross-validation (grey bar), held-out ACTD cells (diamond) and
# the external cells as met without adaptation, after per-lab standardisation, and by the DANN.
# ```
#
# Which classes survive the move ({numref}`tab-external-recall`, {numref}`fig-external-confusion`):
# on M1, the {glue:text}`focus_model` recalls Vip cells at {glue:text}`m1_recall_vip` and
# Htr3a+|Vip− cells at {glue:text}`m1_recall_htr3a`; on the human cells, Pvalb at
# {glue:text}`lee_recall_pvalb`.

# %% tags=["remove-input"]
glue_figure("fig-external-confusion", external_plots.plot_confusions(runs, focus_model))
table(external.recall_frame(runs, focus_model), "tab-external-recall",
      f"Per-class recall of {focus_model} (DANN columns: the DANN), bootstrap 95 % intervals.")

# %% [markdown]
# ```{glue:figure} fig-external-confusion
# :name: fig-external-confusion
#
# Confusion matrices (each row divided by its true class's cells) of the network on held-out ACTD
# cells and on each external set, without adaptation, with per-lab standardisation and as the DANN.
# ```
#
# ## Calibration
#
# A probability is useful to a lab only if it means what it says. The expected calibration error
# (ECE: the cell-weighted mean gap between confidence and accuracy over ten confidence bins) of the
# {glue:text}`focus_model` is {glue:text}`m1_ece_held_out` on held-out ACTD cells, but
# {glue:text}`m1_ece` on M1 and {glue:text}`lee_ece` on the human cells
# ({numref}`fig-external-reliability`). On M1 the network is {glue:text}`m1_ece_verdict`; on the
# human cells {glue:text}`lee_ece_verdict`. A confident answer on another lab's cell is not the
# promise it is on ACTD's.

# %% tags=["remove-input"]
glue_figure("fig-external-reliability", external_plots.plot_reliability(runs, focus_model))

# %% [markdown]
# ```{glue:figure} fig-external-reliability
# :name: fig-external-reliability
#
# Reliability diagrams: accuracy against mean confidence per confidence bin (left) and how the
# cells fall into the bins (right); the diagonal is perfect calibration.
# ```
#
# ## Can adaptation recover it?
#
# Two corrections that never read an external label. **Per-lab standardisation** moves each
# external feature's mean and standard deviation onto those of the ACTD training cells of the same
# population (for M1: {glue:text}`m1_standardisation_reference`; for the human set:
# {glue:text}`lee_standardisation_reference`, because that study recorded interneurons only, a fact
# of its design rather than a label of any cell). The **DANN** is the paper's network with the
# external cells as its unlabelled target domain (`DANNClassifier(mode="unsupervised")`): target rows
# enter only the domain loss, their label slots hold a training cell's label, and the model counts
# the target rows that reached the label loss: {glue:text}`m1_target_labels` on M1 and
# {glue:text}`lee_target_labels` on the human cells.
#
# On M1, standardisation {glue:text}`m1_standardised_change` for the {glue:text}`focus_model`,
# and the DANN {glue:text}`m1_dann_change`. On the human cells, standardisation
# {glue:text}`lee_standardised_change`, the DANN {glue:text}`lee_dann_change` and calls
# {glue:text}`lee_glut_share_dann` of them Glutamatergic: aligning an interneuron-only target
# with a half-excitatory source is the label shift under which matching marginal distributions can
# move cells onto the wrong class {cite:p}`zhao2019`.
#
# ## Temperature
#
# ACTD records at 34 °C, the main M1 set at room temperature. The same models, unchanged, on the
# {glue:text}`m1_warm_cells` M1 cells the same study recorded at 33–34 °C recall the classes both
# recordings hold ({glue:text}`m1_warm_shared`) at {glue:text}`m1_warm_recall` on average, against
# {glue:text}`m1_room_recall` at room temperature ({numref}`tab-external-temperature`).
# {glue:text}`m1_warm_verdict`. The warm set is small, holds only three of the five classes and
# was targeted differently (mostly Sst cells), so this is a direction, not a measurement of the
# whole shift.

# %% tags=["remove-input"]
table(external.temperature_frame(runs[0], WARM, focus_model), "tab-external-temperature",
      f"Recall of {focus_model} on M1 cells recorded at room temperature and at 33–34 °C, per class both hold.")

# %% [markdown]
# ## Mouse → human, acute and cultured slices
#
# Most of the human cells were recorded in slices kept in culture for days, which may change
# their physiology; the rest in acute slices, as ACTD's cells. Split by condition, the
# {glue:text}`focus_model`'s balanced accuracy is {glue:text}`lee_acute` in acute slices and
# {glue:text}`lee_culture` in culture ({numref}`tab-external-condition`), against
# {glue:text}`lee_cv` for mouse cells in ACTD cross-validation.

# %% tags=["remove-input"]
condition = external.breakdown(runs[1], focus_model, "none", "condition")
table(readable_columns(condition), "tab-external-condition", f"{focus_model} on the human cells by slice condition (means over seeds).")

# %% [markdown]
# ## Knowing when not to answer
#
# Each external cell gets three out-of-distribution scores: one minus the model's highest
# probability, the mean distance to its ten nearest ACTD training cells, and the Mahalanobis
# distance to the nearest ACTD class mean (both in the training cells' standardised space). Keeping
# only the cells with the lowest score traces accuracy against coverage
# ({numref}`fig-external-coverage`, {numref}`tab-external-coverage`). On the half of the M1 cells
# the {glue:text}`focus_model` is most confident about it is right {glue:text}`m1_confident_half`
# of the time (all cells: {glue:text}`m1_all_cells`; held-out ACTD: {glue:text}`m1_confident_half_actd`).
# On the human cells {glue:text}`lee_coverage_verdict` ({glue:text}`lee_confident_half` on the
# confident half, {glue:text}`lee_all_cells` on all). Flagging the cells beyond the 95th percentile
# of the held-out ACTD cells' neighbour distance flags {glue:text}`m1_knn_flagged` of M1 and
# {glue:text}`lee_knn_flagged` of the human cells: by that measure much of each external set lies
# outside what the model was trained on, and a lab should read its predictions for those cells as
# guesses.

# %% tags=["remove-input"]
glue_figure("fig-external-coverage", external_plots.plot_coverage(runs, focus_model))
table(external.coverage_frame(runs, focus_model), "tab-external-coverage",
      f"{focus_model}: cells beyond the 95th percentile of held-out ACTD scores (flagged), accuracy of kept and "
      "flagged cells, and accuracy on the half of the cells with the lowest score.")

# %% [markdown]
# ```{glue:figure} fig-external-coverage
# :name: fig-external-coverage
#
# Accuracy on the share of cells with the lowest score, per score; dashed: the held-out ACTD cells.
# ```
#
# ## For a lab's own files
#
# The route above is the one a lab takes with its own table: `neurotype predict --model DIR
# --input cells.csv --feature-map map.csv` renames and converts the columns with the same function
# (`neurotype.data.feature_map.apply_feature_map`) before predicting; a map that names an unknown
# ACTD feature or unit, or maps two columns onto one feature, stops with one line naming the file,
# row and value. The model must have been trained on features the map provides.

# %% tags=["remove-cell"]
report_path = write_chapter_report(Path(results_dir) / "08_external", params, started=started,
                                   estimates=external.run_estimates(runs), results={
    "datasets": [run.dataset for run in runs], "numbers": numbers,
    "counts": external.counts_frame(runs), "summary": external.summary_frame(runs),
    "funnels": {run.dataset: run.funnel for run in runs},
    "feature_shift": {run.dataset: run.shift for run in runs},
    "coverage": external.coverage_frame(runs, focus_model),
    "lee_by_condition": condition,
    "lee_original_labels": external.relabelled(runs[1], focus_model, "none", "original_subclass"),
    "temperature": external.temperature_frame(runs[0], WARM, focus_model)})
print(report_path)
