"""Models: the interface and spec every model meets (:mod:`.spec`), the explicit registry of names
(:mod:`.registry`), the scikit-learn baselines (:mod:`.baselines`) and the PyTorch networks with
scikit-learn-style estimators (:mod:`.base`, :mod:`.fcnn`, :mod:`.dann`, :mod:`.lspin`, :mod:`.gated_dann`,
their registry entries in :mod:`.neural`), with the seed-ensemble plumbing of the FCNN and the DANN
(:mod:`.members`) and their fused training engine (:mod:`.fused`)."""
