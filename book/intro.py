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
# # neurotype
#
# An executable, honest reproduction of {cite:t}`ophir2024`, who classify neurons of the
# Allen Cell Types Database {cite:p}`actd2015,gouwens2019` from 41 electrophysiological features:
#
# 1. **Broad type** (spiny/excitatory vs aspiny/inhibitory) of human and mouse cells with one
#    domain-adversarial network {cite:p}`ganin2016`;
# 2. **Five mouse subclasses** (Glutamatergic, Pvalb, Sst, Vip, Htr3a+|Vip−) with LSPIN
#    {cite:p}`yang2022lspin`, a locally sparse network whose gates pick features per cell.
#
# Every chapter is a percent-format Python file in `book/` that calls the tested `neurotype`
# package; `make book` executes each one with papermill on the bundled data and renders the result
# you are reading, so every figure and every number in the prose comes from a run. We keep the
# paper's *design* and evaluate it with a protocol that cannot leak: preprocessing fitted on training
# cells only, tuning on inner validation splits only, repeated cross-validation, and 95 % intervals
# {cite:p}`nadeau2003` on every metric. Where our measurements disagree with the paper, we say so.

# %% tags=["parameters", "remove-cell"]
profile = None  # the profile whose reports the headline reads (None: $NEUROTYPE_PROFILE, else full)
results_dir = None  # None: results (full profile) or results/<profile>

# %% tags=["remove-cell"]
# Check the parameters (neurotype.book.profiles).
from neurotype.book.profiles import resolve_parameters

params = resolve_parameters("intro", globals())
globals().update(params.values)

# %% tags=["remove-cell"]
from neurotype.book.display import glue_values, table
from neurotype.paper.headline import external_rows, headline_frame, headline_rows

rows = headline_rows(results_dir)  # refuses reports of different profiles or seeds
beyond = external_rows(results_dir)
claims_once = [r for r in rows if not r.repeats_claim]  # a claim measured twice counts once (its first row)
glue_values({"n_claims": len(claims_once), "n_consistent": sum(r.consistent for r in claims_once),
             "n_repeated": len(rows) - len(claims_once), "n_external": len(beyond),
             "n_transfers": sum(r.consistent for r in beyond)})

# %% [markdown]
# ## What holds up
#
# {numref}`tab-headline` sets each claim of the paper beside our measurement, read from the
# chapters' reports of this build. The paper's numbers each come from one 80/20 split, so where a
# chapter measured it, a claim is judged by the range (2.5–97.5 %) of single stratified 80/20 split
# scores under the honest protocol; the cross-validated mean and its interval stand beside it.
# {glue:text}`n_consistent` of the {glue:text}`n_claims` claims are consistent with what we measure
# (counting each claim by its first row: {glue:text}`n_repeated` row measures the claim above it again,
# with every model tuned alike); each verdict is computed from the numbers by the same functions the
# chapters use, and the notes on what the original code did come from the reproduction audit
# (chapter 07). The chapters give the
# detail: the data and its selection, the features, the domain-adversarial network and its baselines,
# the cross-species ablation, LSPIN and its baselines, what LSPIN's gates say about each subclass, and
# the audit.

# %% tags=["remove-input"]
table(headline_frame(rows), "tab-headline", "The paper's claims and our measurements: single 80/20 splits "
      "as mean [2.5 %, 97.5 %] over repeated stratified splits; cross-validation as mean [corrected 95 % interval] "
      "over outer folds.")

# %% [markdown]
# ## Beyond the paper: other labs' cells
#
# The paper measured every number on ACTD cells. Chapter 08 applies models trained on ACTD to two
# independent Patch-seq data sets, recorded and featurised by other labs and labelled by
# transcriptomics ({numref}`tab-external-headline`): the model keeps its ACTD accuracy on
# {glue:text}`n_transfers` of the {glue:text}`n_external` sets.

# %% tags=["remove-input"]
table(headline_frame(beyond).drop(columns=["paper", "ours, single 80/20 splits"]), "tab-external-headline",
      "Models trained on ACTD, applied to other labs' cells: balanced accuracy, mean [95 % bootstrap interval "
      "over the external cells], and the verdict against ACTD cross-validation on the same features.")

# %% [markdown]
# ```{tableofcontents}
# ```
#
# ## References
#
# ```{bibliography}
# ```
