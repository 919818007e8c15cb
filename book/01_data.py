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
# # The data
#
# Both tasks use cells of the Allen Cell Types Database {cite:p}`actd2015,gouwens2019`: patch-clamp
# recordings from mouse visual cortex and from human neurosurgical tissue, each cell tagged with
# its dendrite type (spiny, sparsely spiny or aspiny) and, for mouse, the Cre line that labelled
# it. This chapter rebuilds the paper's cell selection from the bundled snapshot, counts what each
# rule removes, and draws the paper's data figures (its Figs 3–6) from the tables we actually use.

# %% tags=["parameters"]
profile = None  # full, smoke or paper (None: $NEUROTYPE_PROFILE, else full); see neurotype.book.profiles
results_dir = None  # None: results (full profile) or results/<profile>
feature_set = None  # paper41 (the paper's 41 features) or actd (ACTD's own features)

# %% tags=["remove-cell"]
# Check the parameters and fill each None with the profile's value (neurotype.book.profiles).
from neurotype.book.profiles import resolve_parameters

params = resolve_parameters("01_data", globals())
globals().update(params.values)

# %% tags=["remove-cell"]
import time
from pathlib import Path

import matplotlib.pyplot as plt
from myst_nb import glue

from neurotype import data

from neurotype.experiments import summary
from neurotype.plots import data as data_plots
from neurotype.protocol.reports import write_chapter_report

plt.rcParams["figure.dpi"] = 110
started = time.perf_counter()

# %% [markdown]
# ## Selecting cells
#
# The snapshot holds every ACTD cell with electrophysiology. We load it with `neurotype.data.tables`
# and apply the selection rules of the broad-type task, which for the paper's feature set
# (`paper41`) are the paper's own: sparsely spiny cells are dropped (they sit between the two
# classes); a mouse cell whose Cre line is not in the five-subclass mapping is dropped; so is a
# spiny cell of an inhibitory line or an aspiny cell of an excitatory line (the label and the line
# disagree); finally the paper kept only cells for which it could average spike features over a
# Noise sweep.

# %%
broad = data.select_cells(feature_set, "broad")
subclass = data.select_cells(feature_set, "subclass")
funnel = broad.funnel_frame()
funnel

# %% tags=["remove-cell"]
steps = funnel.set_index(["species", "rule"])
counts = {
    "n_actd_mouse": int(steps.loc[("mouse", "start"), "remaining"]),
    "n_actd_human": int(steps.loc[("human", "start"), "remaining"]),
    "n_mouse": int((broad.table["species"] == "mouse").sum()),
    "n_human": int((broad.table["species"] == "human").sum()),
}
removed = {f"removed_{species}_{rule}": int(row["removed"]) for (species, rule), row in steps.iterrows() if rule != "start"}
for key, value in {**counts, **removed}.items():
    glue(key, f"{value:,}", display=False)
fig = data_plots.plot_funnel(funnel)
glue("fig-funnel", fig, display=False)
plt.close(fig)

# %% [markdown]
# Of {glue:text}`n_actd_mouse` mouse and {glue:text}`n_actd_human` human cells,
# {glue:text}`n_mouse` mouse and {glue:text}`n_human` human cells remain
# ({numref}`fig-funnel`): the paper reports 1,424 and 299, and so do we, because every cell of its
# tables survives our rules. Dropping sparsely spiny cells removes
# {glue:text}`removed_mouse_sparsely_spiny` mouse and {glue:text}`removed_human_sparsely_spiny` human
# cells; unmapped lines remove {glue:text}`removed_mouse_unknown_line`, contradicting dendrite types
# {glue:text}`removed_mouse_dendrite_contradicts_line`; the missing Noise-sweep features remove the
# rest ({glue:text}`removed_mouse_no_noise_sweep_features` mouse,
# {glue:text}`removed_human_no_noise_sweep_features` human). The `actd` feature set, built from ACTD's
# own precomputed features, needs no Noise sweep and keeps more cells; later chapters ask whether
# those extra cells help.
#
# ```{glue:figure} fig-funnel
# :name: fig-funnel
#
# Cells remaining after each selection rule, per species (the counts behind the paper's Fig 4).
# In brackets: cells removed by the rule.
# ```

# %% [markdown]
# ## From Cre lines to five subclasses
#
# Mouse cells carry the Cre driver line used to label them. Following the paper's Fig 3
# {cite:p}`rodriguez2021,tremblay2016`, the lines fall into four GABAergic subclasses (Pvalb, Sst,
# Vip, and Htr3a-positive Vip-negative) and one Glutamatergic subclass made of the excitatory
# lines. The mapping is written once, as data, in `neurotype.data.tables.CRE_LINE_SUBCLASS`; a test checks
# that it reproduces the label of every cell in the paper's table.

# %% tags=["remove-cell"]
lines = summary.line_counts(subclass.table)
glue("n_lines", f"{len(lines)}", display=False)
glue("n_lines_total", f"{len(data.CRE_LINE_SUBCLASS)}", display=False)
fig = data_plots.plot_taxonomy(lines)
glue("fig-taxonomy", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig-taxonomy
# :name: fig-taxonomy
#
# The subclass taxonomy: each Cre line with its number of cells in the selected mouse table,
# grouped into the five subclasses and the two broad types (the paper's Fig 3).
# ```
#
# {glue:text}`n_lines` of the {glue:text}`n_lines_total` mapped lines contribute cells
# ({numref}`fig-taxonomy`).

# %% [markdown]
# ## Class balance
#
# The two tasks are imbalanced in different ways ({numref}`fig-dendrite` and {numref}`fig-subclass`):
# mouse cells are close to half spiny, human cells mostly spiny, because human tissue comes from
# surgical resections in which interneurons were rarely targeted. Accuracy alone therefore flatters a
# classifier on human cells; the later chapters also report balanced accuracy and macro F1.

# %% tags=["remove-cell"]
dendrites = summary.dendrite_counts(broad.table)
subclasses = summary.subclass_counts(subclass.table)
glue("human_aspiny", f"{dendrites.loc['human', 'aspiny']:,}", display=False)
glue("human_spiny", f"{dendrites.loc['human', 'spiny']:,}", display=False)
glue("human_aspiny_share", f"{dendrites.loc['human', 'aspiny'] / dendrites.loc['human'].sum():.0%}", display=False)
glue("mouse_aspiny", f"{dendrites.loc['mouse', 'aspiny']:,}", display=False)
glue("mouse_spiny", f"{dendrites.loc['mouse', 'spiny']:,}", display=False)
glue("smallest_subclass", subclasses.idxmin(), display=False)
glue("smallest_subclass_n", f"{subclasses.min():,}", display=False)
fig = data_plots.plot_dendrite_by_species(dendrites)
glue("fig-dendrite", fig, display=False)
plt.close(fig)
fig = data_plots.plot_subclass_counts(subclasses)
glue("fig-subclass", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig-dendrite
# :name: fig-dendrite
#
# Dendrite type by species in the selected cells (the paper's Fig 5).
# ```
#
# Human cells: {glue:text}`human_spiny` spiny and {glue:text}`human_aspiny` aspiny
# ({glue:text}`human_aspiny_share` aspiny); mouse cells: {glue:text}`mouse_spiny` spiny and
# {glue:text}`mouse_aspiny` aspiny.
#
# ```{glue:figure} fig-subclass
# :name: fig-subclass
#
# Cells per mouse subclass (the paper's Fig 6).
# ```
#
# The smallest subclass, {glue:text}`smallest_subclass`, has {glue:text}`smallest_subclass_n` cells.

# %% [markdown]
# ## What the later chapters read
#
# The selection counts are written to `results_dir/01_data/report.json`, the hand-off to later
# chapters and to the book's summary page.

# %% tags=["remove-cell"]
report_path = write_chapter_report(Path(results_dir) / "01_data", params, started=started, estimates={}, results={
    "funnel": funnel.to_dict(orient="records"),
    "dendrite_counts": dendrites.to_dict(orient="index"),
    "subclass_counts": subclasses.to_dict(),
    "cre_lines": lines.to_dict(orient="records"),
})
print(report_path)
