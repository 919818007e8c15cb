# The chapters in JupyterLab: `make lab` (LAB_ARGS="--port 9999 --no-browser" passes options).
# jupytext's contents manager opens each book/*.py chapter as a notebook and saves it back to the .py file.
LAB_ARGS ?=

.PHONY: lab

lab: $(STAMP)
	$(PY) -m neurotype.book.lab $(LAB_ARGS)
