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
smoke = False
results_dir = "results"
seed = 0

# %% tags=["remove-cell"]
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from myst_nb import glue
from scipy import stats

from neurotype import data

from neurotype.ephys import features, separation, simulate
from neurotype.plots import features as feature_plots
from neurotype.protocol.reports import write_report

plt.rcParams["figure.dpi"] = 110
# Smoke runs sample at 25 kHz, shorten the noise epochs and the bootstrap; the code path is the same.
sampling_rate = 25_000.0 if smoke else 50_000.0
noise_epoch_s, noise_gap_s = (0.5, 0.25) if smoke else (3.0, 1.0)
n_boot = 50 if smoke else 1000

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
for cell, key in (("fast-spiking", "fs"), ("regular-spiking", "rs")):
    runs = responses[cell]
    glue(f"{key}_rheobase", f"{runs['long_square'].stimulus.meta['rheobase_pa']:.0f}", display=False)
    glue(f"{key}_short_threshold", f"{runs['short_square'].stimulus.meta['amplitude_pa']:.0f}", display=False)
    glue(f"{key}_long_spikes", f"{runs['long_square'].n_spikes}", display=False)
    isi = np.diff(runs["long_square"].spike_times)
    glue(f"{key}_adaptation", f"{isi[-1] / isi[0]:.2f}", display=False)
glue("noise_epoch_s", f"{noise_epoch_s:g}", display=False)
glue("sampling_khz", f"{sampling_rate / 1e3:g}", display=False)
fig = feature_plots.plot_stimulus_responses(by_stimulus)
glue("fig-stimuli", fig, display=False)
plt.close(fig)

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
noise_features = {cell: features.sweep_spike_features(runs["noise"].t, runs["noise"].v, runs["noise"].i)
                  for cell, runs in responses.items()}
detected = {cell: series.attrs["n_spikes"] for cell, series in noise_features.items()}
model_features = pd.DataFrame(noise_features)
truth = {cell: runs["noise"].n_spikes for cell, runs in responses.items()}
broad = data.select_cells("paper41", "broad").table
mouse = broad[broad["species"] == "mouse"]
reference = mouse.groupby("subclass")[list(features.SPIKE_FEATURES)].median().T[["Pvalb", "Glutamatergic"]]
comparison = pd.concat([model_features, reference.add_prefix("median ")], axis=1)
comparison.insert(0, "unit", [features.SPIKE_FEATURE_UNITS[f] for f in comparison.index])
comparison.round(4)

# %% tags=["remove-cell"]
glue("fs_noise_spikes", f"{truth['fast-spiking']}", display=False)
glue("rs_noise_spikes", f"{truth['regular-spiking']}", display=False)
glue("spike_counts_match", "matches" if detected == truth else "does NOT match", display=False)
for cell, key in (("fast-spiking", "fs"), ("regular-spiking", "rs")):
    glue(f"{key}_width_ms", f"{model_features.loc['width', cell] * 1e3:.2f}", display=False)
    glue(f"{key}_ratio", f"{model_features.loc['upstroke_downstroke_ratio', cell]:.1f}", display=False)
glue("pvalb_width_ms", f"{reference.loc['width', 'Pvalb'] * 1e3:.2f}", display=False)
glue("glu_width_ms", f"{reference.loc['width', 'Glutamatergic'] * 1e3:.2f}", display=False)
glue("pvalb_ratio", f"{reference.loc['upstroke_downstroke_ratio', 'Pvalb']:.1f}", display=False)
glue("glu_ratio", f"{reference.loc['upstroke_downstroke_ratio', 'Glutamatergic']:.1f}", display=False)
same_direction = all(
    (model_features.loc[f, "fast-spiking"] < model_features.loc[f, "regular-spiking"])
    == (reference.loc[f, "Pvalb"] < reference.loc[f, "Glutamatergic"])
    for f in ("width", "upstroke_downstroke_ratio"))
glue("model_direction", "reproduce" if same_direction else "do NOT reproduce", display=False)

# %% [markdown]
# The simulator reports its own spikes from the model state (upward crossings of −20 mV), without
# any feature extractor: {glue:text}`fs_noise_spikes` for the fast-spiking and
# {glue:text}`rs_noise_spikes` for the regular-spiking cell. ipfx's count
# {glue:text}`spike_counts_match` them; the tests (`tests/features/`) check the same on every cell and
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
broad_effects["mouse"].head(10).round(3)

# %% tags=["remove-cell"]
mouse_r, human_r = (broad_effects[s]["rank_biserial"].reindex(feature_list) for s in ("mouse", "human"))
rho = stats.spearmanr(mouse_r, human_r).statistic
top_mouse = broad_effects["mouse"].index[0]
top_human = broad_effects["human"].index[0]
for species, top in (("mouse", top_mouse), ("human", top_human)):
    row = broad_effects[species].loc[top]
    glue(f"broad_top_{species}", f"{top}", display=False)
    glue(f"broad_top_{species}_r", f"{row['rank_biserial']:.2f} [{row['rb_low']:.2f}, {row['rb_high']:.2f}]",
         display=False)
    glue(f"broad_top_{species}_d", f"{row['cohens_d']:.1f}", display=False)
    strong = broad_effects[species]["rank_biserial"].abs() > 0.5
    glue(f"broad_strong_{species}", f"{int(strong.sum())}", display=False)
    weak = (broad_effects[species]["p_adjusted"] > 0.05)
    glue(f"broad_null_{species}", f"{int(weak.sum())}", display=False)
glue("broad_rho", f"{rho:.2f}", display=False)
markers = ["width", "peak_v", "fast_trough_v", "upstroke_downstroke_ratio"]
for marker in markers:
    glue(f"broad_{marker}_r", f"{mouse_r[marker]:.2f} / {human_r[marker]:.2f}", display=False)
agree = bool((np.sign(mouse_r[markers]) == np.sign(human_r[markers])).all())
glue("broad_markers_agree", "point the same way" if agree else "do NOT all point the same way", display=False)
shift = (mouse_r - human_r).abs().sort_values(ascending=False)
gap = shift.index[0]
glue("broad_shift_feature", f"{gap}", display=False)
glue("broad_shift_values", f"{mouse_r[gap]:.2f} in mouse, {human_r[gap]:.2f} in human", display=False)
glue("broad_shift_kind", "the direction flips" if np.sign(mouse_r[gap]) != np.sign(human_r[gap])
     else "the direction holds but the size differs", display=False)
glue("broad_sign_flips", f"{int((np.sign(mouse_r) != np.sign(human_r)).sum())}", display=False)
glue("n_boot", f"{n_boot:,}", display=False)
fig = feature_plots.plot_two_class_effects(broad_effects)
glue("fig-broad-effects", fig, display=False)
plt.close(fig)

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
subclass_effects.head(10).round(3)

# %% tags=["remove-cell"]
top_subclass = subclass_effects.index[0]
glue("sub_top", f"{top_subclass}", display=False)
glue("sub_top_eps", f"{subclass_effects.loc[top_subclass, 'epsilon_squared']:.2f}", display=False)
glue("sub_top_eta", f"{subclass_effects.loc[top_subclass, 'eta_squared']:.2f}", display=False)
glue("sub_n_above_03", f"{int((subclass_effects['epsilon_squared'] > 0.3).sum())}", display=False)
broad_rank_agreement = stats.spearmanr(subclass_effects["epsilon_squared"].reindex(feature_list),
                                      mouse_r.abs().reindex(feature_list)).statistic
glue("sub_broad_rho", f"{broad_rank_agreement:.2f}", display=False)
for subclass_name, key in (("Pvalb", "pvalb"), ("Sst", "sst"), ("Vip", "vip"), ("Htr3a+|Vip-", "htr3a"),
                           ("Glutamatergic", "glu")):
    feature = one_vs_rest[subclass_name].abs().idxmax()
    glue(f"ovr_{key}", f"{feature}, r = {one_vs_rest.loc[feature, subclass_name]:.2f}", display=False)
# Every pair of interneuron subclasses: how far apart does the single best feature put them?
interneurons = [s for s in data.SUBCLASSES if s != "Glutamatergic"]
pairs = []
for i, first in enumerate(interneurons):
    for second in interneurons[i + 1:]:
        pair = mouse[mouse["subclass"].isin([first, second])]
        best = separation.two_class_separation(pair, feature_list, "subclass", first, second, n_boot=0).iloc[0]
        pairs.append({"pair": f"{first} vs {second}", "feature": best.name, "rank_biserial": best["rank_biserial"]})
pairs = pd.DataFrame(pairs).assign(strength=lambda t: t["rank_biserial"].abs()).sort_values("strength")
glue("pair_hardest", f"{pairs.iloc[0]['pair']} (best single feature {pairs.iloc[0]['feature']}, "
                     f"|r| = {pairs.iloc[0]['strength']:.2f})", display=False)
glue("pair_easiest", f"{pairs.iloc[-1]['pair']} ({pairs.iloc[-1]['feature']}, |r| = {pairs.iloc[-1]['strength']:.2f})",
     display=False)
fig = feature_plots.plot_multi_class_effects(subclass_effects, one_vs_rest)
glue("fig-subclass-effects", fig, display=False)
plt.close(fig)
shown = list(subclass_effects.index[:6])
fig = feature_plots.plot_feature_distributions(
    mouse, shown, "subclass", data.SUBCLASSES, units=features.FEATURE_UNITS,
    references={cell: model_features[cell] for cell in model_features.columns})
glue("fig-subclass-distributions", fig, display=False)
plt.close(fig)

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

# %%
report_path = write_report(Path(results_dir) / "02_features" / "report.json", {
    "parameters": {"smoke": smoke, "seed": seed, "sampling_rate_hz": sampling_rate, "noise_epoch_s": noise_epoch_s,
                   "n_boot": n_boot},
    "models": {cell: {"parameters": simulate.CELL_MODELS[cell].as_dict(),
                      "rheobase_pa": runs["long_square"].stimulus.meta["rheobase_pa"],
                      "short_square_threshold_pa": runs["short_square"].stimulus.meta["amplitude_pa"],
                      "spikes": {kind: r.n_spikes for kind, r in runs.items()},
                      "ipfx_noise_spikes": detected[cell],
                      "noise_features": model_features[cell].to_dict()}
               for cell, runs in responses.items()},
    "broad_type": {species: table.reset_index().to_dict(orient="records") for species, table in broad_effects.items()},
    "broad_type_species_spearman": rho,
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
session_options = (dict(sampling_rate=25_000.0, ramp_slope_pa_per_s=100.0, noise_epoch_s=0.4, noise_gap_s=0.2)
                   if smoke else dict(sampling_rate=50_000.0, noise_epoch_s=3.0, noise_gap_s=1.0))
nwb_files = [nwb.write_nwb(nwb_dir / f"{name}.nwb", sessions.simulated_session(model, **session_options).sweeps)
             for name, model in simulate.CELL_MODELS.items()]
cell_features = extract.extract_features(nwb_files).set_index("cell_id")
cell_features[["vrest", "ri", "tau", "threshold_i_long_square", "f_i_curve_slope", "threshold_i_short_square",
               "threshold_v_ramp", "width", "upstroke_downstroke_ratio", "failed_features"]].T
