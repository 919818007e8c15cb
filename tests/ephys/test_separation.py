import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from neurotype.ephys import separation

matplotlib.use("Agg")


@pytest.fixture
def shifted():
    """Two normal samples one standard deviation apart, and a third class further up."""
    rng = np.random.default_rng(0)
    return rng.normal(1.0, 1.0, 400), rng.normal(0.0, 1.0, 500), rng.normal(3.0, 1.0, 300)


def test_cohens_d_recovers_a_one_sd_shift(shifted):
    a, b, _ = shifted
    assert separation.cohens_d(a, b) == pytest.approx(1.0, abs=0.15)
    assert separation.cohens_d(b, a) == pytest.approx(-separation.cohens_d(a, b))


def test_rank_biserial_matches_its_probability_definition(shifted):
    a, b, _ = shifted
    greater = (a[:, None] > b[None, :]).mean() - (a[:, None] < b[None, :]).mean()
    assert separation.rank_biserial(a, b) == pytest.approx(greater, abs=1e-12)
    # For normals one SD apart, P(a > b) = Phi(1 / sqrt 2) = 0.76, so r = 0.52.
    assert separation.rank_biserial(a, b) == pytest.approx(2 * stats.norm.cdf(1 / np.sqrt(2)) - 1, abs=0.06)
    assert separation.rank_biserial([1, 2, 3], [4, 5, 6]) == -1.0


def test_nans_are_dropped_not_propagated(shifted):
    a, b, _ = shifted
    with_nans = np.concatenate([a, [np.nan] * 5])
    assert separation.rank_biserial(with_nans, b) == separation.rank_biserial(a, b)
    assert separation.cohens_d(with_nans, b) == separation.cohens_d(a, b)


def test_eta_and_epsilon_squared_are_zero_without_and_large_with_group_differences(shifted):
    a, b, c = shifted
    values = np.concatenate([a, b, c])
    labels = np.repeat(["a", "b", "c"], [a.size, b.size, c.size])
    assert 0.5 < separation.eta_squared(values, labels) < 0.8
    assert 0.5 < separation.epsilon_squared(values, labels) < 0.8
    shuffled = np.random.default_rng(1).permutation(labels)
    assert separation.eta_squared(values, shuffled) < 0.01
    assert separation.epsilon_squared(values, shuffled) < 0.01
    h = stats.kruskal(a, b, c).statistic
    assert separation.epsilon_squared(values, labels) == pytest.approx(h / (values.size - 1))


def test_bootstrap_interval_is_seeded_and_covers_the_estimate(shifted):
    a, b, _ = shifted
    low, high = separation.bootstrap_rank_biserial(a, b, n_boot=300, rng=np.random.default_rng(3))
    assert low < separation.rank_biserial(a, b) < high
    assert high - low < 0.2
    assert (low, high) == separation.bootstrap_rank_biserial(a, b, n_boot=300, rng=np.random.default_rng(3))


def test_tables_rank_an_informative_feature_above_noise(shifted):
    a, b, c = shifted
    rng = np.random.default_rng(2)
    table = pd.DataFrame({
        "label": np.repeat(["x", "y", "z"], [a.size, b.size, c.size]),
        "informative": np.concatenate([a, b, c]),
        "noise": rng.normal(size=a.size + b.size + c.size),
    })
    two = separation.two_class_separation(table, ["noise", "informative"], "label", "x", "y", n_boot=50)
    assert list(two.index) == ["informative", "noise"]
    assert two.loc["informative", "p_adjusted"] < 1e-10 < two.loc["noise", "p_adjusted"]
    assert two.loc["informative", ["n_a", "n_b"]].tolist() == [400, 500]
    multi = separation.multi_class_separation(table, ["noise", "informative"], "label")
    assert list(multi.index) == ["informative", "noise"]
    ovr = separation.one_vs_rest_rank_biserial(table, ["informative"], "label", ["z", "y"])
    assert list(ovr.columns) == ["z", "y"]
    assert ovr.loc["informative", "z"] > 0.8 and ovr.loc["informative", "y"] < 0


def test_bad_inputs_name_the_problem():
    table = pd.DataFrame({"label": ["x", "x", "y", "y"], "f": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ValueError, match="'missing'"):
        separation.two_class_separation(table, ["missing"], "label", "x", "y")
    with pytest.raises(ValueError, match="no cell of class 'w'"):
        separation.two_class_separation(table, ["f"], "label", "x", "w")
    with pytest.raises(ValueError, match="at least 2 finite values"):
        separation.rank_biserial([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(ValueError, match="differ in length"):
        separation.eta_squared([1.0, 2.0], ["a"])


def test_feature_figures_draw(shifted):
    from neurotype.plots import features as plots

    a, b, c = shifted
    table = pd.DataFrame({"subclass": np.repeat(["Pvalb", "Sst", "Glutamatergic"], [a.size, b.size, c.size]),
                          "width": np.concatenate([a, b, c]), "tau": np.concatenate([b[:400], c, a[:100], b[:400]])[:1200]})
    table["dendrite_type"] = np.where(table["subclass"] == "Glutamatergic", "spiny", "aspiny")
    effects = {s: separation.two_class_separation(table, ["width", "tau"], "dendrite_type", "aspiny", "spiny", n_boot=20)
               for s in ("mouse", "human")}
    multi = separation.multi_class_separation(table, ["width", "tau"], "subclass")
    ovr = separation.one_vs_rest_rank_biserial(table, ["width", "tau"], "subclass")
    figures = [plots.plot_two_class_effects(effects), plots.plot_multi_class_effects(multi, ovr),
               plots.plot_feature_distributions(table, ["width", "tau"], "subclass", ["Pvalb", "Sst", "Glutamatergic"],
                                                references={"fast-spiking": pd.Series({"width": 0.5})})]
    for figure in figures:
        assert figure.axes
    assert any(line.get_label() == "fast-spiking" for line in figures[2].axes[0].lines)
