# s3pt_mm — the two commands of the README, and the install they need.
#   make demo   pre-train S3PT on synthetic scenes generated here (CPU, a few minutes)
#   make test   install what is missing, then run the test suite
#   make gpu-wheels  download what tools/gpu_check.sh carries to a GPU machine (into gpu_wheels/)
VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTEST_ARGS ?=
GPU_WHEELS ?= gpu_wheels
# The real nuScenes keyframe the benchmarks read, copied beside the wheels when present.
NUSCENES_SAMPLE ?= ../shared/data/nuscenes_sample

.PHONY: install demo test test-fast benchmark clean-venv gpu-wheels

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

# Pure-Python wheels for Python 3.12 (requirements/gpu_wheels.txt, no dependencies resolved:
# the list names each one the GPU machine lacks), then the carried size. See tools/gpu_check.py.
gpu-wheels:
	rm -rf $(GPU_WHEELS) && mkdir -p $(GPU_WHEELS)
	python3 -m pip download -q --disable-pip-version-check --only-binary=:all: \
		--python-version 3.12 --no-deps -d $(GPU_WHEELS) -r requirements/gpu_wheels.txt
	@if [ -d "$(NUSCENES_SAMPLE)" ]; then cp -r "$(NUSCENES_SAMPLE)" $(GPU_WHEELS)/nuscenes_sample; fi
	@du -sh $(GPU_WHEELS)
