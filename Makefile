.PHONY: setup demo test bench

setup:
	scripts/setup

demo: setup
	.venv/bin/skyc launch -y -c hello examples/hello.yaml

test: setup
	.venv/bin/python -m pytest -q

bench: setup
	for b in bench/*.py; do .venv/bin/python $$b || exit 1; done
