"""Runnable worker entry points: ``python -m workers.worker`` and ``python -m workers.demo``."""
