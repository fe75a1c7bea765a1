"""Offline tools (evaluation, training) for the router. They import the production code (`routing_engine.*`)
exactly as the Lambda runs it; the project is installed as a package (pyproject.toml), so no path set-up is needed.
"""
