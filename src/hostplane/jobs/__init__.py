"""Long work as jobs: a table, an in-process worker, progress and errors readable through the API and the CLI."""
