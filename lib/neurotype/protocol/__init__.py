"""The honest evaluation protocol: nested cross-validation and tuning (:mod:`.evaluation`), metrics and
intervals (:mod:`.metrics`), and the JSON reports chapters hand on (:mod:`.reports`)."""
