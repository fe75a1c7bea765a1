"""Benchmarks (scripts and pytest-benchmark files). They import the production code as the Lambda does; the
project is installed as a package (pyproject.toml), so no path set-up is needed."""
