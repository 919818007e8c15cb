"""Neural models: the paper's FCNN, the DANN and LSPIN (PyTorch), with scikit-learn-style estimators."""

from neurotype.models.estimators import LSPIN_PAPER_PRESET, DANNClassifier, FCNNClassifier, LSPINClassifier

__all__ = ["FCNNClassifier", "DANNClassifier", "LSPINClassifier", "LSPIN_PAPER_PRESET"]
