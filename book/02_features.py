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
# # The features
#
# Every cell enters the classifiers of {cite:t}`ophir2024` as 41 numbers. Fourteen describe the
# action potentials of one *noise* sweep, averaged over its spikes; the other 27 are features the
# Allen Cell Types Database computes itself from *long square*, *short square* and *ramp* sweeps
# and from the subthreshold response {cite:p}`actd2015,gouwens2019`. This chapter shows the four
# stimulus types on two simulated neurons, extracts the 14 noise-sweep features with ipfx (the Allen
# Institute's feature extractor) and checks the extraction against the simulator's own record of
# its spikes, and then measures, on the bundled data, how well each of the 41 features separates
# inhibitory from excitatory cells and the five mouse subclasses.

# %% tags=["parameters"]
profile = None  # full, smoke or paper (None: $NEUROTYPE_PROFILE, else full); see neurotype.book.profiles
results_dir = None  # None: results (full profile) or results/<profile>
seed = None  # seed of every split, model and sampler
sampling_rate = None  # sampling rate of the simulated sweeps (Hz)
noise_epoch_s = None  # length of one simulated noise epoch (s)
noise_gap_s = None  # gap between simulated noise epochs (s)
n_boot = None  # bootstrap resamples of the effect sizes
ramp_slope_pa_per_s = None  # slope of the simulated sessions' ramp (pA/s; ACTD: 25)

# %% tags=["remove-cell"]
# Check the parameters and fill each None with the profile's value (neurotype.book.profiles).
from neurotype.book.profiles import resolve_parameters

params = resolve_parameters("02_features", globals())
globals().update(params.values)

# %% tags=["remove-cell"]
from pathlib import Path

import time

import matplotlib.pyplot as plt

from neurotype import data

from neurotype.book.display import glue_figure, glue_values, table
from neurotype.ephys import features, separation, simulate
from neurotype.experiments import feature_story
from neurotype.plots import features as feature_plots
from neurotype.protocol.reports import write_chapter_report

plt.rcParams["figure.dpi"] = 110
started = time.perf_counter()
# The smoke profile samples at 25 kHz and shortens the noise epochs and the bootstrap; the code path is the same.

# %% [markdown]
# ## Four stimuli, two model cells
#
# ACTD characterises each cell with four families of current injection: 1 s *long squares*, 3 ms
# *short squares*, slow *ramps* rising at 25 pA/s, and *noise*, pink noise with a coefficient of
# variation of 0.2 around 0.75, 1 and 1.5 times the cell's rheobase (the paper's section 2.1 and its
# Fig 2). To show what those protocols evoke, and to have spikes whose times we know exactly, we
# simulate two single-compartment Hodgkin–Huxley neurons (`neurotype.ephys.simulate`, after the minimal
# cortical models of Pospischil et al., 2008): a **fast-spiking** cell with fast potassium kinetics
# and no M-current, standing in for a Pvalb interneuron, and a **regular-spiking** cell with slower
# potassium kinetics and an M-current, standing in for a pyramidal neuron. Each stimulus amplitude
# is set from the model's own thresholds, as ACTD sets them from the cell's.

# %%
responses = {
    model.name: simulate.protocol_responses(model, sampling_rate=sampling_rate, noise_epoch_s=noise_epoch_s,
                                            noise_gap_s=noise_gap_s, seed=seed)
    for model in simulate.CELL_MODELS.values()
}
by_stimulus = {kind: {cell: responses[cell][kind] for cell in responses} for kind in responses["fast-spiking"]}

# %% tags=["remove-cell"]
glue_values({**feature_story.model_cell_numbers(responses), "noise_epoch_s": f"{noise_epoch_s:g}",
             "sampling_khz": f"{sampling_rate / 1e3:g}"})
fig = feature_plots.plot_stimulus_responses(by_stimulus)
glue_figure("fig-stimuli", fig)

# %% [markdown]
# ```{glue:figure} fig-stimuli
# :name: fig-stimuli
#
# The four ACTD stimulus types (top row) and the membrane potential of the two simulated cells
# (below), sampled at {glue:text}`sampling_khz` kHz. Long square at 1.5 × rheobase; short square at
# the smallest 3 ms step that fires; ramp at 25 pA/s up to 1.5 × rheobase; noise epochs of
# {glue:text}`noise_epoch_s` s at 0.75, 1 and 1.5 × rheobase (our analogue of the paper's Fig 2).
# ```
#
# The fast-spiking cell needs {glue:text}`fs_rheobase` pA to fire during a 1 s step and then fires
# {glue:text}`fs_long_spikes` spikes at 1.5 × rheobase without slowing down (last over first
# inter-spike interval {glue:text}`fs_adaptation`); the regular-spiking cell fires at
# {glue:text}`rs_rheobase` pA, fires {glue:text}`rs_long_spikes` spikes at 1.5 × rheobase and
# slows down as its M-current builds up (ratio {glue:text}`rs_adaptation`), {numref}`fig-stimuli`.
# A 3 ms step must be far stronger to fire either cell ({glue:text}`fs_short_threshold` and
# {glue:text}`rs_short_threshold` pA). The noise sweep fires both cells irregularly, more at the
# higher epochs: its spikes are the ones the paper averages.

# %% [markdown]
# ## Extracting the 14 noise-sweep features
#
# `neurotype.ephys.features.sweep_spike_features` takes one sweep (time in s, potential in mV, current in
# pA), checks it (equal lengths, no NaNs, plausible units: a potential in volts or a current in nA
# is refused with an error that says so), detects the spikes with ipfx's `SpikeFeatureExtractor`
# and averages the paper's 14 features over them, in the paper's units: potentials in mV, currents
# in pA, dV/dt in mV/ms, the width in seconds.

# %%
broad = data.select_cells("paper41", "broad").table
mouse = broad[broad["species"] == "mouse"]
noise = feature_story.compare_noise_features(responses, mouse)
model_features = noise.model_features

# %% tags=["remove-input"]
glue_values(noise.numbers())
table(noise.table(), "tab-noise-features",
      "The 14 Noise-sweep spike features of the two simulated cells beside the medians of the mouse Pvalb and "
      "Glutamatergic cells of the paper's table.")

# %% [markdown]
# The simulator reports its own spikes from the model state (upward crossings of −20 mV), without
# any feature extractor: {glue:text}`fs_noise_spikes` for the fast-spiking and
# {glue:text}`rs_noise_spikes` for the regular-spiking cell. ipfx's count
# {glue:text}`spike_counts_match` them; the tests (`tests/ephys/`) check the same on every cell and
# stimulus, peak times to the sample, and that allensdk's older `EphysSweepFeatureExtractor`, which
# the live-refresh path uses (below), gives the same 14 features on the same sweep.
#
# Without being fitted to any data, the two model cells {glue:text}`model_direction` the direction of
# two classic markers of fast-spiking interneurons: spike width
# {glue:text}`fs_width_ms` ms (fast-spiking) vs {glue:text}`rs_width_ms` ms (regular-spiking),
# against real medians of {glue:text}`pvalb_width_ms` ms (Pvalb) and {glue:text}`glu_width_ms` ms
# (Glutamatergic); upstroke/downstroke ratio {glue:text}`fs_ratio` vs {glue:text}`rs_ratio`, against
# {glue:text}`pvalb_ratio` and {glue:text}`glu_ratio`. The absolute values differ (the models are
# illustrations, not fits), which is why the tests compare extractors with each other and with the
# simulator's ground truth, never with hard-coded numbers.

# %% [markdown]
# ## Which features separate the classes
#
# Pictures of distributions hide how much two classes overlap, so we score each feature with
# effect sizes (`neurotype.ephys.separation`). For the broad type we use the **rank-biserial
# correlation** $r = P(X_\mathrm{aspiny} > X_\mathrm{spiny}) - P(X_\mathrm{aspiny} < X_\mathrm{spiny})$,
# which ignores units and heavy tails ($|r| = 0.5$ means a cell of one class beats one of the
# other 75 % of the time), with a stratified bootstrap interval, and Cohen's $d$ beside it. For
# the five subclasses we use the Kruskal–Wallis $\varepsilon^2 = H/(n-1)$, the share of the ranks'
# variance that the subclass explains, with the ANOVA $\eta^2$ on raw values beside it. Each
# statistic uses the cells where the feature exists (the ramp features are missing for 41 mouse
# cells), on the paper's own tables as selected in the data chapter.

# %%
feature_list = list(data.PAPER41_FEATURES)
broad_effects = {
    species: separation.two_class_separation(broad[broad["species"] == species], feature_list, "dendrite_type",
                                             "aspiny", "spiny", n_boot=n_boot, seed=seed)
    for species in data.SPECIES
}

# %% tags=["remove-input"]
broad_numbers = feature_story.broad_separation_numbers(broad_effects, feature_list)
glue_values({**broad_numbers, "n_boot": f"{n_boot:,}"})
fig = feature_plots.plot_two_class_effects(broad_effects)
glue_figure("fig-broad-effects", fig)
table(feature_story.effects_display(broad_effects["mouse"]), "tab-broad-effects",
      "The ten features that separate aspiny from spiny mouse cells most (|rank-biserial r|), with its bootstrap "
      "interval, Cohen's d and the Benjamini-Hochberg adjusted p-value.")

# %% [markdown]
# ```{glue:figure} fig-broad-effects
# :name: fig-broad-effects
#
# Rank-biserial correlation of each of the 41 features between aspiny (inhibitory) and spiny
# (excitatory) cells, mouse and human, with 95 % bootstrap intervals ({glue:text}`n_boot`
# resamples). Rows are ordered by the mouse effect.
# ```
#
# The broad type is written all over the features ({numref}`fig-broad-effects`):
# {glue:text}`broad_strong_mouse` of the 41 have $|r| > 0.5$ in mouse and
# {glue:text}`broad_strong_human` in human. The strongest in mouse is {glue:text}`broad_top_mouse`
# ($r$ = {glue:text}`broad_top_mouse_r`, $d$ = {glue:text}`broad_top_mouse_d`); in human it is
# {glue:text}`broad_top_human` ($r$ = {glue:text}`broad_top_human_r`). The classic markers
# {glue:text}`broad_markers_agree` in both species (mouse / human $r$): spike width {glue:text}`broad_width_r`, peak
# {glue:text}`broad_peak_v_r`, fast trough {glue:text}`broad_fast_trough_v_r`, upstroke/downstroke
# ratio {glue:text}`broad_upstroke_downstroke_ratio_r`; negative values mean narrower spikes,
# lower peaks, deeper troughs and relatively faster repolarisation in aspiny cells. Over all 41
# features the two species' effects correlate (Spearman {glue:text}`broad_rho`) but are not the
# same: {glue:text}`broad_sign_flips` features change sign between species, and the largest gap is
# {glue:text}`broad_shift_feature` ({glue:text}`broad_shift_values`: {glue:text}`broad_shift_kind`).
# That is the domain shift the paper's domain-adversarial network is meant to absorb. After
# Benjamini–Hochberg adjustment {glue:text}`broad_null_mouse` features in mouse and
# {glue:text}`broad_null_human` in human show no significant difference.

# %%
subclass_effects = separation.multi_class_separation(mouse, feature_list, "subclass")
one_vs_rest = separation.one_vs_rest_rank_biserial(mouse, feature_list, "subclass", data.SUBCLASSES)

# %% tags=["remove-input"]
glue_values(feature_story.subclass_separation_numbers(subclass_effects, one_vs_rest, broad_effects["mouse"],
                                                      feature_list))
# Every pair of interneuron subclasses: how far apart does the single best feature put them?
pairs, pair_text = feature_story.interneuron_pairs(mouse, feature_list, data.SUBCLASSES)
glue_values(pair_text)
fig = feature_plots.plot_multi_class_effects(subclass_effects, one_vs_rest)
glue_figure("fig-subclass-effects", fig)
shown = list(subclass_effects.index[:6])
fig = feature_plots.plot_feature_distributions(
    mouse, shown, "subclass", data.SUBCLASSES, units=features.FEATURE_UNITS,
    references={cell: model_features[cell] for cell in model_features.columns})
glue_figure("fig-subclass-distributions", fig)
table(feature_story.effects_display(subclass_effects), "tab-subclass-effects",
      "The ten features that separate the five mouse subclasses most (Kruskal-Wallis ε² on ranks, ANOVA η² on "
      "values, H, and the adjusted p-value).")

# %% [markdown]
# ```{glue:figure} fig-subclass-effects
# :name: fig-subclass-effects
#
# Left: share of variance explained by the five mouse subclasses for each feature
# (Kruskal–Wallis $\varepsilon^2$ on ranks, bars; ANOVA $\eta^2$ on values, ticks). Right: the
# rank-biserial correlation of each subclass against all other mouse cells (red: larger in that
# subclass).
# ```
#
# ```{glue:figure} fig-subclass-distributions
# :name: fig-subclass-distributions
#
# The six features with the largest $\varepsilon^2$, by subclass (boxes: quartiles; dots: cells).
# Dashed and dotted lines: the fast-spiking and regular-spiking model cells, for the noise-sweep
# features they have.
# ```
#
# Across the five subclasses the strongest single feature is {glue:text}`sub_top`
# ($\varepsilon^2$ = {glue:text}`sub_top_eps`, $\eta^2$ = {glue:text}`sub_top_eta`), and
# {glue:text}`sub_n_above_03` features explain more than 30 % of the rank variance
# ({numref}`fig-subclass-effects`). Much of that is the excitatory/inhibitory split again: the
# ranking of features by $\varepsilon^2$ follows their mouse broad-type $|r|$ (Spearman
# {glue:text}`sub_broad_rho`). The one-vs-rest map shows which feature singles out each subclass
# best: Glutamatergic {glue:text}`ovr_glu`; Pvalb {glue:text}`ovr_pvalb`; Sst {glue:text}`ovr_sst`;
# Vip {glue:text}`ovr_vip`; Htr3a+|Vip− {glue:text}`ovr_htr3a`. Among pairs of interneuron
# subclasses the hardest to tell apart with any single feature is {glue:text}`pair_hardest`, the
# easiest {glue:text}`pair_easiest` ({numref}`fig-subclass-distributions` shows the six
# strongest features). A classifier has to combine features to separate the hard pairs, so the
# later chapters' confusion matrices are worth reading pair by pair.

# %% [markdown]
# ## Refreshing the data from the live database
#
# Everything above runs on the bundled snapshot. `make refresh-data` rebuilds it from the live
# ACTD with allensdk's `CellTypesCache` in a separate environment (`.venv-allensdk`, allensdk
# 2.16.2, whose old numpy pin cannot share ours) and writes to `data/refresh/`, never over the
# bundled files unless given `--force`. With `REFRESH_ARGS="--with-sweeps"` it also downloads each
# cell's NWB file and recomputes the 14 noise-sweep features into tables laid out like the paper's;
# ipfx is not installed in that environment, so it uses allensdk's `EphysSweepFeatureExtractor`,
# which the tests show gives the same features as ipfx to floating-point precision. The tests run this
# path offline: allensdk reads the bundled cache directory and synthetic NWB files holding the
# simulated sweeps of this chapter.

# %% [markdown]
# The numbers of this chapter are written to `results_dir/02_features/report.json`.

# %% tags=["remove-cell"]
report_path = write_chapter_report(Path(results_dir) / "02_features", params, started=started, estimates={}, results={
    "models": {cell: {"parameters": simulate.CELL_MODELS[cell].as_dict(),
                      "rheobase_pa": runs["long_square"].stimulus.meta["rheobase_pa"],
                      "short_square_threshold_pa": runs["short_square"].stimulus.meta["amplitude_pa"],
                      "spikes": {kind: r.n_spikes for kind, r in runs.items()},
                      "ipfx_noise_spikes": noise.detected[cell],
                      "noise_features": model_features[cell].to_dict()}
               for cell, runs in responses.items()},
    "broad_type": {species: table.reset_index().to_dict(orient="records") for species, table in broad_effects.items()},
    "broad_type_species_spearman": broad_numbers["broad_type_species_spearman"],
    "subclass": subclass_effects.reset_index().to_dict(orient="records"),
    "subclass_one_vs_rest": one_vs_rest.to_dict(orient="index"),
    "interneuron_pairs": pairs.to_dict(orient="records"),
})
print(report_path)

# %% [markdown]
# ## From NWB files to a feature table
#
# A lab's own cells take the same route as ACTD's. `neurotype features` reads NWB files (NWB 2, or
# ACTD's NWB 1), recognises the stimuli by name (a mapping the user extends with
# `--stimulus-map FILE`) and measures, with the same ipfx analyses ACTD used, the long-square,
# short-square, ramp, subthreshold and noise features in ACTD's names and units;
# `neurotype predict --model M --nwb FILES` feeds them to a saved model. Here the two model cells'
# simulated sessions (hyperpolarising and firing long squares, short squares, a ramp, a noise
# sweep) are written to NWB 2 files and read back. Every feature a current-clamp recording holds
# is measured; `failed_features` names the two ACTD measures in voltage clamp.

# %%
from neurotype.ephys import extract, nwb, sessions

nwb_dir = Path(results_dir) / "02_features" / "nwb"
nwb_dir.mkdir(parents=True, exist_ok=True)
session_options = dict(sampling_rate=sampling_rate, ramp_slope_pa_per_s=ramp_slope_pa_per_s,
                       noise_epoch_s=noise_epoch_s, noise_gap_s=noise_gap_s)
nwb_files = [nwb.write_nwb(nwb_dir / f"{name}.nwb", sessions.simulated_session(model, **session_options).sweeps)
             for name, model in simulate.CELL_MODELS.items()]
cell_features = extract.extract_features(nwb_files).set_index("cell_id")
shown = ["vrest", "ri", "tau", "threshold_i_long_square", "f_i_curve_slope", "threshold_i_short_square",
         "threshold_v_ramp", "width", "upstroke_downstroke_ratio", "failed_features"]
table(cell_features[shown].T.rename_axis("feature"), "tab-nwb-features",
      "Features measured from the two simulated cells' NWB 2 files, in ACTD's names and units.")
