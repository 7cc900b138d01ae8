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

# The whole pipeline on the embedded default (CPU, about 20 minutes on 2 cores):
# SynthPIE `small` -> aligned crops + protocol manifests -> shared recognizer -> GAN (setting1_4, CPU
# configuration) -> identity report -> frontalize a sample photo.  Each step skips work already done.
SAMPLE := $(OUT)/synthpie/data/session01/multiview/080/01/19_0/080_01_01_190_07.png
demo: install
	$(PY) data_prep/multipie.py --out $(OUT)/prepared --size 128 --preview
	@test -n "$$(ls runs/recognizer/*/recognizer.pt 2>/dev/null)" || \
		$(PY) scripts/train_recognizer.py --config configs/recognizer_synthpie.yaml --quiet data.prepared=$(OUT)/prepared
	@test -n "$$(ls runs/gan/*-setting1_4/summary.json 2>/dev/null)" || \
		$(PY) scripts/train_gan.py --setting 1_4 --cpu --quiet data.prepared=$(OUT)/prepared
	$(PY) scripts/evaluate.py --protocol setting1 --out $(OUT)/report
	$(PY) -m frontalize.cli.main infer $(SAMPLE) --out $(OUT)/infer --side-by-side

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

benchmark: install
	$(PY) scripts/benchmark.py --json $(OUT)/benchmark.json

.PHONY: install demo test test-slow benchmark
