"""What a lab runs on its own cells: the ``neurotype`` command line (:mod:`.cli`), saved model
directories (:mod:`.saved`) and prediction on a CSV of features (:mod:`.predict`)."""
