# Two commands for a fresh Debian machine:
#   make demo   virtualenv + requirements + Fashion-MNIST, then the SimCLR demo on it
#   make test   the test suite (8 simulated CPU devices)
PY := .venv/bin/python
FASHION_MNIST := /usr/share/datasets/fashion-mnist
DEMO_DIR ?= runs/fashion_mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.venv/installed: requirements.txt setup.py
	python3 -m venv .venv
	.venv/bin/pip install --quiet --upgrade pip
	.venv/bin/pip install --quiet -r requirements.txt
	.venv/bin/pip install --quiet --no-deps -e .
	touch $@

venv: .venv/installed

data:
	@[ -d $(FASHION_MNIST) ] || { $(SUDO) apt-get update && \
	  $(SUDO) apt-get install -y dataset-fashion-mnist; }

demo: venv data
	$(PY) -m simclr_jax.main --config=configs/fashion_mnist.py --workdir=$(DEMO_DIR)

test: venv
	$(PY) -m pytest -q tests

bench: venv
	$(PY) bench/step.py --depth 18 --image_size 32 --batch_per_device 32
	$(PY) bench/input.py

.PHONY: venv data demo test bench
