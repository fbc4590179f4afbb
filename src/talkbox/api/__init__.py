"""The HTTP API for applications, under /api/v1 (docs/api.md)."""
