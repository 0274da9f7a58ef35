"""Run a function in several forked processes joined by a gloo process group."""
import os
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def init_gloo_rank(rank: int, world_size: int, port: int) -> None:
    """Join the gloo group of :func:`run_ranks` (call first thing in the worker).

    One intra-op thread: OpenMP state inherited through ``fork`` would deadlock the child.
    """
    torch.set_num_threads(1)
    os.environ['MASTER_ADDR'] = '127.0.0.1'
    os.environ['MASTER_PORT'] = str(port)
    dist.init_process_group('gloo', rank=rank, world_size=world_size)


def run_ranks(worker, *args, nprocs: int = 2, timeout: float = 120.0) -> None:
    """Run ``worker(rank, nprocs, port, *args)`` in ``nprocs`` forked processes.

    Fork, not spawn, so that the worker need not be importable by name (pytest's importlib
    mode). Results must go through files: tensors sent over a queue die with their process.

    Raises:
        ProcessRaisedException: if a worker raised (re-raised here).
        TimeoutError: if the processes have not all finished within ``timeout`` seconds
            (they are killed).
    """
    context = mp.start_processes(worker, args=(nprocs, free_port(), *args), nprocs=nprocs,
                                 join=False, start_method='fork')
    deadline = time.monotonic() + timeout
    # join() returns once *a* process ends (True when all have); it raises if one failed.
    while not context.join(timeout=max(0.0, deadline - time.monotonic())):
        if time.monotonic() >= deadline:
            for process in context.processes:
                process.kill()
            raise TimeoutError(f'{nprocs}-process gloo run did not finish within {timeout} s')
