# The two commands of the README: `make demo` (the main job) and `make test`. Both set up first.
.PHONY: setup demo test
setup:
	@scripts/setup.sh
demo: setup
	.venv/bin/arp demo
test: setup
	.venv/bin/python -m pytest -q
