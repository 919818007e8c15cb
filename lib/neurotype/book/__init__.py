"""The book's tooling: execute chapters with papermill and render them with Jupyter Book
(:mod:`.runner`, ``python -m neurotype.book``), and check the rendered pages in a real browser
(:mod:`.check`)."""
