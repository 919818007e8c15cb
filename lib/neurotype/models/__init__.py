"""Neural models (PyTorch) with scikit-learn-style estimators: the paper's FCNN, the DANN and LSPIN."""

from neurotype.models.dann import DANNClassifier
from neurotype.models.fcnn import FCNNClassifier
from neurotype.models.lspin import LSPIN_PAPER_PRESET, LSPINClassifier

__all__ = ["FCNNClassifier", "DANNClassifier", "LSPINClassifier", "LSPIN_PAPER_PRESET"]
