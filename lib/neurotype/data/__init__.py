"""Data layer: the bundled tables, cell selection and tasks (:mod:`~neurotype.data.tables`), splits,
preprocessing fitted on training rows, the ACTD snapshot builder and the live refresh.

The public names of :mod:`neurotype.data.tables` are re-exported here, so ``from neurotype.data import
subclass_task`` works as before.
"""

from neurotype.data.tables import *  # noqa: F401,F403
from neurotype.data.tables import __all__  # noqa: F401
