"""Helpers for the test suite: distributed code on CPU (gloo), toy scenes with known answers."""
from .distributed import free_port, init_gloo_rank, run_ranks
from .toy_scenes import cluster_purity, two_plane_scene

__all__ = ['free_port', 'init_gloo_rank', 'run_ranks', 'two_plane_scene', 'cluster_purity']
