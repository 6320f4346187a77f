"""The engine: what both the CLI and the API server call. One module per area."""
