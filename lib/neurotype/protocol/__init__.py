"""The honest evaluation protocol: nested cross-validation and tuning (:mod:`.evaluation`), Optuna studies
shared by any number of workers on one machine or many (:mod:`.tuning`), metrics and intervals
(:mod:`.metrics`), and the JSON reports chapters hand on (:mod:`.reports`)."""
