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

# dlib's face descriptor (--check-identity's judge, the real-face benchmark's judge) and its 68-point predictor: 100 MB,
# about a minute more; the tests and the demo (whose Pointing'04 step needs it) install it
$(VENV)/.judge: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test,judge]'
	touch $@

install: $(VENV)/.installed

# The whole pipeline on the embedded default (CPU): SynthPIE `small` -> aligned crops + protocol manifests ->
# shared recognizer -> independent judge -> GAN (setting1_4r: the warp refiner, CPU configuration) -> identity report
# (raw, frontalized, warp only, fusions; every rank-1 also by the judge) -> real faces (Pointing'04, dlib) -> frontalize
# a sample photo,
# then a summary of where everything is.  Each step prints the command that runs it alone and skips work
# already done (frontalize/pipeline/demo.py).
demo: $(VENV)/.judge
	$(PY) -m frontalize.cli.main demo --out $(OUT)

# The same chain on Setting 2 (all four sessions, 13 poses within +-90): SynthPIE `sessions` -> preparation
# (setting2 manifests, the sessions preview) -> recognizers on setting2's training split -> GAN setting2_4r (CPU
# configuration) -> the report on a fixed probe subsample, folded by |yaw| as the papers print it -> infer a photo
# (docs/setting2.md).
OUT2 ?= runs/demo_setting2
demo-setting2: $(VENV)/.judge
	$(PY) -m frontalize.cli.main demo --protocol setting2 --out $(OUT2)

test: $(VENV)/.judge
	$(PY) -m pytest -q

test-slow: $(VENV)/.judge
	$(PY) -m pytest -q -m slow

benchmark: $(VENV)/.judge
	$(PY) scripts/benchmark.py --json $(OUT)/benchmark.json

.PHONY: install demo demo-setting2 test test-slow benchmark
