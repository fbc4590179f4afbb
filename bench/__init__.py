"""Talkbox's benchmarks: `make bench` (or `uv run python -m bench --help`). See bench/README.md."""
