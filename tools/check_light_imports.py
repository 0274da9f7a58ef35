"""Import the core and run the S3PT model without mmcv's compiled ops, mmseg, mmdet or mmdet3d.

    python tools/check_light_imports.py [--config configs/s3pt/demo_vit-tiny_synthetic-cpu.py]
                                        [--device cpu|cuda]
    python tools/check_light_imports.py --run SCRIPT [ARGS ...]   # SCRIPT under the same hook
    python tools/check_light_imports.py --run -m MODULE [ARGS ...]
    python tools/check_light_imports.py --help-of SCRIPT [SCRIPT ...]   # each with --help

Before anything else, installs an import hook that refuses ``mmcv.ops``, ``mmcv._ext``,
``mmseg``, ``mmdet`` and ``mmdet3d`` (as on a machine with only mmengine, mmcv-lite and
mmpretrain, such as the GPU machine of tools/gpu_check.sh). Then imports ``s3pt_mm``, the core
functions (Sinkhorn, vMF, spatial clustering, the cross-image queue, LiDAR projection, IP-Basic)
and ``s3pt_mm.converters``, builds the S3PT model of the config, computes its losses once on a
random batch of two images and checks them. Prints ``OK S3PT [loss names]`` and exits 0; any
failure raises. Used by tests/test_architecture/test_import_layers.py and tools/gpu_check.py.

With ``--run``, runs a script or module (e.g. ``-m pytest ...``) under the hook instead, so that
a CPU machine that has those packages can check what would happen on one that has not.
"""
import argparse
import importlib.abc
import runpy
import sys
from pathlib import Path

BLOCKED = ('mmcv.ops', 'mmcv._ext', 'mmseg', 'mmdet', 'mmdet3d')


def _blocked(name: str) -> bool:
    return any(name == b or name.startswith(b + '.') for b in BLOCKED)


class BlockImports(importlib.abc.MetaPathFinder):
    """A meta path finder that raises ImportError for the modules in :data:`BLOCKED`."""

    def find_spec(self, name, path=None, target=None):
        if _blocked(name):
            raise ImportError(f'{name} is blocked by tools/check_light_imports.py')
        return None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='configs/s3pt/demo_vit-tiny_synthetic-cpu.py')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--help-of', nargs='+', metavar='SCRIPT',
                        help='run each script with --help under the import hook, in turn')
    parser.add_argument('--run', nargs=argparse.REMAINDER,
                        help='SCRIPT [ARGS] or -m MODULE [ARGS]: run it under the import hook')
    args = parser.parse_args(argv)

    already = sorted(m for m in sys.modules if _blocked(m))
    if already:
        raise RuntimeError(f'blocked modules were imported before the check: {already}')
    sys.meta_path.insert(0, BlockImports())
    repo = Path(__file__).resolve().parents[1]
    if args.help_of:
        for script in args.help_of:  # one interpreter for all: imports are cached
            sys.argv = [script, '--help']
            try:
                runpy.run_path(script, run_name='__main__')
            except SystemExit as done:
                if done.code not in (0, None):
                    raise
        return
    if args.run:
        if args.run[0] == '-m':
            sys.argv = [args.run[1]] + args.run[2:]
            runpy.run_module(args.run[1], run_name='__main__', alter_sys=True)
        else:
            sys.argv = list(args.run)
            sys.path.insert(0, str(Path(args.run[0]).resolve().parent))
            runpy.run_path(args.run[0], run_name='__main__')
        return
    sys.path.insert(0, str(repo))

    import torch
    from mmengine.config import Config
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.registry import MODELS, init_default_scope
    from mmpretrain.structures import DataSample

    import s3pt_mm  # noqa: F401  registers the pre-training modules
    import s3pt_mm.converters  # noqa: F401
    from s3pt_mm.models.utils import (depth_guided_spatial_clustering, log_vmf_normalizer,
                                      sinkhorn_knopp)
    from s3pt_mm.models.utils.cross_image_queue import CrossImageQueue  # noqa: F401
    from s3pt_mm.ops import fill_in_fast, project_points_to_depth  # noqa: F401

    # The core on tiny inputs: Sinkhorn's marginals (rows 1/n, columns -> 1/k), finite log C_p.
    plan = sinkhorn_knopp(torch.randn(6, 4), num_iters=50, distributed=False)
    if not (torch.allclose(plan.sum(1), torch.full((6, ), 1 / 6), atol=1e-5)
            and torch.allclose(plan.sum(0), torch.full((4, ), 1 / 4), atol=1e-4)):
        raise AssertionError(f'Sinkhorn marginals are wrong: {plan.sum(1)}, {plan.sum(0)}')
    if not torch.isfinite(log_vmf_normalizer(torch.tensor([1.0, 10.0]), 16)).all():
        raise AssertionError('log_vmf_normalizer is not finite')
    del depth_guided_spatial_clustering  # imported: exercised by the model's loss below

    MMLogger.get_instance('check_light_imports', log_level='WARNING')  # no init_weights table
    cfg = Config.fromfile(str(repo / args.config))
    init_default_scope('mmpretrain')
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(args.device)
    model.init_weights()
    crop = cfg.model.backbone.img_size
    patch = cfg.model.backbone.get('patch_size', 16)
    n = (crop // patch)**2
    views = [torch.randn(2, 3, crop, crop, device=args.device) for _ in range(2)]
    samples = []
    for _ in range(2):
        sample = DataSample()
        sample.set_field(torch.rand(2, n, 2, device=args.device) * 200, 'token_pos')
        sample.set_field(torch.rand(2, n, device=args.device) * 40 + 1, 'token_depth')
        sample.set_field(torch.rand(2, n, device=args.device) > 0.2, 'token_depth_valid')
        samples.append(sample)
    losses = model.loss(views, samples)
    names = sorted(k for k in losses if k.startswith('loss'))
    if not {'loss_global', 'loss_object'} <= set(names):
        raise AssertionError(f'S3PT returned the losses {names}')
    total = sum(losses[k] for k in names)
    if not torch.isfinite(total):
        raise AssertionError(f'non-finite S3PT loss: {losses}')
    total.backward()
    leaked = sorted(m for m in sys.modules if _blocked(m))
    if leaked:
        raise AssertionError(f'blocked modules imported anyway: {leaked}')
    print('OK', type(model).__name__, names)


if __name__ == '__main__':
    main()
