"""How chapters show numbers to people: named metrics, "mean [low, high]" cells, numbered tables.

Jupyter Book numbers a glued DataFrame as a figure. :func:`table` instead emits a MyST ``{table}``
directive holding a pipe table as the cell's Markdown output; with ``nb_render_markdown_format: myst``
(``_config.yml``) Sphinx parses it, numbers it "Table N" and lets prose cite it with ``{numref}``.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from neurotype.protocol.metrics import METRIC_NAMES, metric_name

__all__ = ["METRIC_NAMES", "metric_name", "readable_columns", "table_markdown", "table", "glue_values",
           "glue_figure"]

def readable_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The same table with metric keys in its columns replaced by their display names."""
    return frame.rename(columns={c: metric_name(c) for c in frame.columns if isinstance(c, str)})


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        value = f"{value:.3f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table_markdown(frame: pd.DataFrame, name: str, caption: str) -> str:
    """A MyST ``{table}`` directive (caption, label ``name``) around ``frame`` as a pipe table.

    The index becomes the leading column(s) unless it is a plain range index.
    """
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"table label {name!r}: use letters, digits, '-' and '_'")
    shown = frame if isinstance(frame.index, pd.RangeIndex) else frame.reset_index()
    header = [_cell(c if not isinstance(c, tuple) else " ".join(map(str, c))) for c in shown.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in shown.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    body = "\n".join(lines)
    return f"```{{table}} {' '.join(caption.split())}\n:name: {name}\n\n{body}\n```\n"


def table(frame: pd.DataFrame, name: str, caption: str):
    """Show ``frame`` as a numbered, captioned table (the cell's output; cite it as ``{numref}`name```)."""
    from IPython.display import Markdown

    return Markdown(table_markdown(frame, name, caption))


def glue_values(values: Mapping[str, Any], digits: int = 3) -> None:
    """Glue each value for ``{glue:text}`` in prose: floats with ``digits`` decimals, the rest as text."""
    from myst_nb import glue

    for key, value in values.items():
        text = f"{value:.{digits}f}" if isinstance(value, float) else f"{value}"
        glue(key, text, display=False)


def glue_figure(name: str, fig) -> None:
    """Glue a Matplotlib figure for a ``{glue:figure}`` directive and close it (it is not shown twice)."""
    import matplotlib.pyplot as plt
    from myst_nb import glue

    glue(name, fig, display=False)
    plt.close(fig)
