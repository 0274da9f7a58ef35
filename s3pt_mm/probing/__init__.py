"""Does pre-training learn? Synthetic-scene protocol, frozen-backbone probes and pictures.

See ``benchmarks/pretrain_probe.py`` (the protocol's command line) and ``tools/demo.py``.
"""
