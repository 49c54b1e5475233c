# The two commands of the README: `make demo` (the main job) and `make test`. Both set up first.
.PHONY: setup demo test check
setup:
	@scripts/setup.sh
demo: setup
	.venv/bin/arp demo
# Lint, format, types and the layering contract (pyproject.toml), then the whole suite.
check: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports --no-cache
	.venv/bin/mypy
test: check
	.venv/bin/python -m pytest -q
