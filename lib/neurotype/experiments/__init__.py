"""One module per question a chapter asks: cross-species transfer and Table 1 (:mod:`.transfer`),
species alignment (:mod:`.alignment`), Table 2 (:mod:`.comparison`), LSPIN's gates (:mod:`.interpret`),
the reproduction audit (:mod:`.audit`) and cell-count summaries (:mod:`.summary`)."""
