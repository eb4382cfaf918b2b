"""Benchmarks (not tests): `python -m bench <name> [args]` runs `bench/<name>.py`'s `main(argv)`.

Results go to bench/results/ (git-ignored); the figures worth keeping are written up in
docs/benchmarks.md.
"""
