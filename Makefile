# s3pt_mm — the two commands of the README, and the install they need.
#   make demo   pre-train S3PT on synthetic scenes generated here (CPU, a few minutes)
#   make test   install what is missing, then run the test suite
VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install demo test test-fast benchmark clean-venv

install:
	@bash tools/install.sh $(VENV)

demo: install
	@$(PY) tools/demo.py

test: install
	@$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	@$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
