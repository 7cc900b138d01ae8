# Two entry points (see README): `make demo` runs the pipeline on SynthPIE, `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
OUT    ?= runs/demo
export NO_ALBUMENTATIONS_UPDATE := 1

# torch and torchvision pinned to the releases known to work with facenet-pytorch 2.5.3
TORCH := torch==2.14.1 torchvision==0.29.1

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# prep generates SynthPIE `small` under $(OUT)/synthpie when given no --root
demo: install
	$(PY) data_prep/multipie.py --out $(OUT)/prepared --size 128 --preview

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

benchmark: install
	$(PY) scripts/benchmark.py --json $(OUT)/benchmark.json

.PHONY: install demo test test-slow benchmark
