"""The paper's own numbers (:mod:`.claims`, written once) and the book's headline table that sets them
beside our measurements (:mod:`.headline`)."""
