from .checkpoint import load_trusted_checkpoint, register_checkpoint_safe_globals

__all__ = ['load_trusted_checkpoint', 'register_checkpoint_safe_globals']
