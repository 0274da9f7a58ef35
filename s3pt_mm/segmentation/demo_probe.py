"""The linear-probe step of `make demo`: frozen pre-trained teacher + Segmenter linear head."""
from pathlib import Path
from typing import Optional, Union

import torch

from ..converters import convert_to_mmseg, load_pretrain_checkpoint

PROBE_CONFIG = Path(__file__).resolve().parents[2] / \
    'configs/segmenter/linear_vit-tiny_synthetic-224x224.py'


def run_linear_probe(checkpoint: Union[str, Path], data_root: Union[str, Path],
                     work_dir: Union[str, Path], pretrain_config: Optional[Path] = None,
                     max_iters: Optional[int] = None, source: str = 'teacher') -> dict:
    """Convert the checkpoint's backbone, train a linear head on it frozen, report mIoU.

    Args:
        checkpoint: an S3PT Runner checkpoint.
        data_root: synthetic scenes (``tools/create_synthetic_nuscenes.py`` output).
        work_dir: where the converted weights, logs and the probe checkpoint go.
        pretrain_config: only used in messages. Defaults to None.
        max_iters: head training iterations (default: the probe config's).
        source: ``'teacher'`` (the EMA teacher, what S3PT evaluates) or ``'student'``.

    Returns:
        dict: the validation metrics (``mIoU``, ``aAcc``, ... as mmseg reports them).

    Raises:
        ValueError: for an unknown ``source``, or if the converted backbone does not match
            mmseg's ViT exactly.
    """
    if source not in ('teacher', 'student'):
        raise ValueError(f"source must be 'teacher' or 'student', got {source!r}")
    from mmengine.config import Config
    from mmengine.runner import Runner

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    converted = convert_to_mmseg(load_pretrain_checkpoint(str(checkpoint)), source=source,
                                 name=str(checkpoint))
    if converted.report.missing or converted.report.unexpected:
        raise ValueError(f'{checkpoint}: converted backbone does not match mmseg ViT: '
                         f'missing {converted.report.missing}, unexpected '
                         f'{converted.report.unexpected}')
    weights = work_dir / f'{source}_backbone_mmseg.pth'
    torch.save(dict(state_dict=converted.state_dict), weights)
    print(f'{source} backbone converted for mmseg: {len(converted.state_dict)} tensors, '
          '0 missing / 0 unexpected keys')

    cfg = Config.fromfile(str(PROBE_CONFIG))
    cfg.work_dir = str(work_dir)
    arch = converted.arch
    cfg.model.backbone.update(embed_dims=arch.embed_dims, num_layers=arch.num_layers,
                              init_cfg=dict(type='Pretrained', checkpoint=str(weights)))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(data_root)
    if max_iters is not None:
        cfg.train_cfg.max_iters = max_iters
        cfg.param_scheduler[0].end = max_iters
        cfg.default_hooks.checkpoint.interval = max_iters
    # Validate once, after training (below), not also inside the training loop.
    cfg.train_cfg.val_interval = cfg.train_cfg.max_iters + 1
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    print(f'linear probe on the frozen {source}: val mIoU {metrics["mIoU"]:.2f}, '
          f'aAcc {metrics["aAcc"]:.2f} after {cfg.train_cfg.max_iters} iterations '
          '(per-class table above)')
    return metrics
