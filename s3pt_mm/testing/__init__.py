"""Helpers for testing distributed code on CPU (gloo), used by the test suite."""
from .distributed import free_port, init_gloo_rank, run_ranks

__all__ = ['free_port', 'init_gloo_rank', 'run_ranks']
