# Two commands for a fresh machine: `make demo` (set up and run the Fashion-MNIST demo)
# and `make test` (the test suite). Both use the virtualenv in .venv.
PY := .venv/bin/python

.venv/installed: requirements.txt setup.py
	python3 -m venv .venv
	.venv/bin/pip install --quiet --upgrade pip
	.venv/bin/pip install --quiet -r requirements.txt
	.venv/bin/pip install --quiet --no-deps -e .
	touch $@

venv: .venv/installed

test: venv
	$(PY) -m pytest -q tests

bench: venv
	$(PY) bench/step.py --depth 18 --image_size 32 --batch_per_device 32

.PHONY: venv test bench
