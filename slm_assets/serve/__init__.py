"""Serving a domain's model: OpenAI- and Ollama-compatible HTTP APIs, metrics and a playground.

`app.create_app(models, settings)` builds the FastAPI app; `command.serve` is the CLI entry point;
`registry_loader.resolve_served_model` finds a registered version's files. No Dagster imports here.
"""
