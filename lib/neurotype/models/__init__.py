"""Neural models (PyTorch) with scikit-learn-style estimators: the paper's FCNN, the DANN, LSPIN and the
LSPIN-gated DANN."""

from neurotype.models.dann import DANNClassifier
from neurotype.models.fcnn import FCNNClassifier
from neurotype.models.gated_dann import GatedDANNClassifier
from neurotype.models.lspin import LSPIN_PAPER_PRESET, LSPINClassifier

__all__ = ["FCNNClassifier", "DANNClassifier", "GatedDANNClassifier", "LSPINClassifier", "LSPIN_PAPER_PRESET"]
