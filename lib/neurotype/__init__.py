"""neurotype: classify neurons from their electrophysiology, honestly evaluated."""

__version__ = "0.1.0"
