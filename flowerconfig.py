"""Flower's configuration file, read only when `celery -A lms flower` runs in this folder.

Nothing needs to be here: the rules of ours (credentials required outside DEBUG, 127.0.0.1
unless FLOWER_ADDRESS or --address says otherwise) live in lms/jobs/flower.py, which Celery
runs for every Flower start whatever its working directory. Flower reads its options from
FLOWER_* environment variables first, then from this file, then from the command line; only
option names may be assigned at module level here.
"""
