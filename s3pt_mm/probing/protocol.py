"""Does pre-training learn? Pre-train DINO, CrIBo and S3PT on one budget, probe them frozen.

The protocol (``benchmarks/pretrain_probe.py``; README "Does pre-training learn?"):

1. one synthetic data set (:mod:`.scenes`): train scenes for pre-training and for fitting the
   probes, val scenes for scoring them;
2. for every method and seed, pre-training with the method's leaf config
   (``configs/{dino,cribo,s3pt}/probe_vit-tiny-p8_synthetic-cpu.py``, all inheriting one budget,
   ``configs/_base_/pretrain_probe_synthetic-cpu.py``) through mmengine's ``Runner``, as
   ``tools/train.py`` would; the seed sets the initialisation, the augmentations and the
   clustering seeds (``randomness.seed`` and ``model.cluster_seed``);
3. the frozen EMA teacher's backbone and, as the baseline, the *same seed's* randomly
   initialised backbone (the student as the runner initialised it, before the first step)
   are scored by the two probes of :mod:`.probes`.
"""
import copy
import json
import math
import pickle
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from torch import nn

from .probes import extract_patch_tokens, object_probe, segmentation_probe
from .scenes import (ProbeImage, load_probe_images, object_statistics, prepare_scenes,
                     scene_config)

REPO = Path(__file__).resolve().parents[2]
#: Method name -> leaf config of the protocol.
METHOD_CONFIGS: Dict[str, str] = {
    'dino': 'configs/dino/probe_vit-tiny-p8_synthetic-cpu.py',
    'cribo': 'configs/cribo/probe_vit-tiny-p8_synthetic-cpu.py',
    's3pt': 'configs/s3pt/probe_vit-tiny-p8_synthetic-cpu.py',
}
#: The metrics of the results table: (key in the evaluation dict, column title).
TABLE_METRICS: Tuple[Tuple[str, str], ...] = (
    ('seg_mIoU', 'seg. mIoU'), ('seg_mIoU_things', 'seg. mIoU objects'),
    ('obj_linear', 'object bal. acc. (linear)'), ('obj_knn', 'object bal. acc. (k-NN)'),
    ('obj_linear_small', 'linear, objects < 1 patch'), ('obj_linear_far', 'linear, > 30 m'))


@dataclass
class ProtocolScale:
    """How big a run is. ``FULL`` makes the README's numbers; ``QUICK`` is a smoke test."""

    num_scenes: int = 20
    samples_per_scene: int = 4
    num_val_scenes: int = 4
    image_size: Tuple[int, int] = (256, 144)
    max_epochs: Optional[int] = None  # None: the configs' (24)
    seeds: Tuple[int, ...] = (0, 1, 2)
    methods: Tuple[str, ...] = ('dino', 'cribo', 's3pt')
    pixels_per_image: int = 96


FULL = ProtocolScale()
QUICK = ProtocolScale(num_scenes=3, samples_per_scene=1, num_val_scenes=1,
                      image_size=(128, 72), max_epochs=1, seeds=(0,), pixels_per_image=64)


def _initial_weights_hook():
    """An mmengine hook keeping the student backbone's weights as initialised (before step 1)."""
    from mmengine.hooks import Hook

    class InitialWeights(Hook):
        state = None

        def before_train(self, runner) -> None:
            self.state = copy.deepcopy(runner.model.backbone.state_dict())

    return InitialWeights()


def method_config(method: str, data_root: Path, work_dir: Path, seed: int,
                  max_epochs: Optional[int] = None):
    """The mmengine ``Config`` of one pre-training run of the protocol.

    Args:
        method (str): a key of ``METHOD_CONFIGS``.
        data_root (Path): the scenes of :func:`prepare_scenes`.
        work_dir (Path): the run's work directory.
        seed (int): initialisation, augmentation and clustering seed.
        max_epochs (int, optional): shorter runs (smoke tests); the config's by default.

    Raises:
        KeyError: for an unknown method.
    """
    from mmengine.config import Config
    if method not in METHOD_CONFIGS:
        raise KeyError(f'unknown method {method!r}; expected one of {sorted(METHOD_CONFIGS)}')
    cfg = Config.fromfile(str(REPO / METHOD_CONFIGS[method]))
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.dataset.data_root = str(data_root)
    cfg.randomness = dict(seed=seed, diff_rank_seed=True)
    cfg.model.cluster_seed = seed
    cfg.default_hooks.checkpoint = None
    if max_epochs is not None:
        cfg.train_cfg.max_epochs = max_epochs
    return cfg


def pretrain(cfg, extra_hooks: Sequence = ()) -> Tuple[nn.Module, nn.Module, List[dict], object]:
    """Run one pre-training; returns (teacher backbone, initial backbone, per-epoch losses, model).

    The backbones are detached copies in eval mode.
    """
    from mmengine.runner import Runner

    from ..engine.hooks import EpochLossRecorderHook
    runner = Runner.from_cfg(cfg)
    initial = _initial_weights_hook()
    recorder = EpochLossRecorderHook(extra_keys=('teacher_entropy',))
    runner.register_hook(initial, priority='LOWEST')
    runner.register_hook(recorder, priority='LOW')
    for hook in extra_hooks:
        runner.register_hook(hook, priority='LOW')
    runner.train()
    model = runner.model
    # (mmpretrain backbones' train() returns None: no chaining of eval().)
    teacher = copy.deepcopy(model.teacher.module.backbone)
    teacher.eval()
    init = copy.deepcopy(model.backbone)
    init.load_state_dict(initial.state)
    init.eval()
    return teacher, init, recorder.epoch_losses, model


@dataclass
class ProbeData:
    """Probe images and the normalisation / patch size of the backbones."""

    train: List[ProbeImage]
    val: List[ProbeImage]
    mean: Sequence[float]
    std: Sequence[float]
    patch_size: int
    pixels_per_image: int = 96


def evaluate(backbone: nn.Module, data: ProbeData, keep_predictions: int = 0) -> dict:
    """Both probes on one frozen backbone (flat dict, percent)."""
    train_tokens = extract_patch_tokens(backbone, [im.rgb for im in data.train], data.mean,
                                        data.std, data.patch_size)
    val_tokens = extract_patch_tokens(backbone, [im.rgb for im in data.val], data.mean,
                                      data.std, data.patch_size)
    seg = segmentation_probe(train_tokens, data.train, val_tokens, data.val,
                             pixels_per_image=data.pixels_per_image,
                             keep_predictions=keep_predictions)
    obj = object_probe(train_tokens, data.train, val_tokens, data.val, data.patch_size)
    out = dict(seg_mIoU=seg['mIoU'], seg_mIoU_things=seg['mIoU_things'], seg_aAcc=seg['aAcc'],
               seg_iterations=seg['iterations'], seg_IoU=seg['IoU'])
    out.update({f'obj_{k}': v for k, v in obj.items()})
    if keep_predictions:
        out['predictions'] = seg['predictions']
    return out


def load_probe_data(data_root: Path, scale: ProtocolScale, cfg) -> ProbeData:
    """The probe images of both splits, with the normalisation of ``cfg``'s preprocessor."""
    config = scene_config(scale.num_scenes, scale.samples_per_scene, scale.image_size,
                          scale.num_val_scenes)
    pre = cfg.model.data_preprocessor
    splits = {}
    for split in ('train', 'val'):
        # Rebuilding the instance maps re-renders every camera: done once, kept beside the data.
        cache = Path(data_root) / f'probe_images_{split}.pkl'
        if cache.is_file():
            with open(cache, 'rb') as f:
                key, images = pickle.load(f)
            if key == repr(config):
                splits[split] = images
                continue
        splits[split] = load_probe_images(data_root, config, split)
        with open(cache, 'wb') as f:
            pickle.dump((repr(config), splits[split]), f)
    return ProbeData(train=splits['train'], val=splits['val'], mean=pre.mean, std=pre.std,
                     patch_size=cfg.model.backbone.patch_size,
                     pixels_per_image=scale.pixels_per_image)


def merge_results(paths: Sequence[Path]) -> dict:
    """Combine the ``results.json`` of runs made separately (e.g. one process per seed).

    Returns:
        dict: ``runs`` (method -> seed -> metrics), ``seconds`` and the new ``summary``.

    Raises:
        ValueError: if two files hold the same method and seed.
    """
    runs: Dict[str, Dict[int, dict]] = {}
    seconds: Dict[str, float] = {}
    for path in paths:
        saved = json.loads(Path(path).read_text())
        for method, by_seed in saved['runs'].items():
            if not by_seed:  # a method an interrupted run did not reach
                continue
            for seed, metrics in by_seed.items():
                seed = int(seed)
                if method != 'random' and seed in runs.get(method, {}):
                    raise ValueError(f'{path}: {method} seed {seed} is also in another file')
                runs.setdefault(method, {})[seed] = {
                    k: (float('nan') if v is None else v) for k, v in metrics.items()}
        seconds.update(saved.get('seconds', {}))
    return dict(runs=runs, seconds=seconds, summary=summarise(runs))


def run_protocol(scale: ProtocolScale, data_root: Path, work_dir: Path,
                 log: Callable[[str], None] = print) -> dict:
    """Everything: scenes, pre-training of every method and seed, probes, statistics.

    Returns:
        dict: ``scale``, ``data`` (object statistics), ``runs`` (method -> seed -> metrics,
        ``random`` included), ``losses``, ``seconds`` and the ``summary`` of
        :func:`summarise`. Also written to ``work_dir/results.json``.
    """
    start = time.time()
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    config = scene_config(scale.num_scenes, scale.samples_per_scene, scale.image_size,
                          scale.num_val_scenes)
    prepare_scenes(Path(data_root), config)
    log(f'scenes ready in {data_root} ({time.time() - start:.0f} s)')
    cfg0 = method_config(scale.methods[0], data_root, work_dir, 0, scale.max_epochs)
    data = load_probe_data(data_root, scale, cfg0)
    stats = dict(train=object_statistics(data.train, data.patch_size),
                 val=object_statistics(data.val, data.patch_size))
    log(f'probe images: {len(data.train)} train / {len(data.val)} val; objects {stats}')
    runs: Dict[str, Dict[int, dict]] = {m: {} for m in ('random',) + tuple(scale.methods)}
    losses: Dict[str, Dict[int, list]] = {m: {} for m in scale.methods}
    seconds: Dict[str, float] = {}
    for seed in scale.seeds:
        for method in scale.methods:
            t0 = time.time()
            cfg = method_config(method, data_root, work_dir / method / f'seed{seed}', seed,
                                scale.max_epochs)
            teacher, init, epoch_losses, _ = pretrain(cfg)
            seconds[f'{method}/seed{seed}/pretrain'] = time.time() - t0
            losses[method][seed] = epoch_losses
            t0 = time.time()
            runs[method][seed] = evaluate(teacher, data)
            if seed not in runs['random']:
                # Same seed -> same initialisation for every method: score it once.
                runs['random'][seed] = evaluate(init, data)
            seconds[f'{method}/seed{seed}/probe'] = time.time() - t0
            log(f'{method} seed {seed}: ' + _metrics_line(runs[method][seed]) +
                f'  | random init: {_metrics_line(runs["random"][seed])}')
            # Partial results survive an interrupted run.
            (work_dir / 'results.json').write_text(json.dumps(_jsonable(dict(
                scale=asdict(scale), data=stats, runs=runs, losses=losses, seconds=seconds)),
                indent=1))
    summary = summarise(runs)
    result = dict(scale=asdict(scale), data=stats, runs=runs, losses=losses, seconds=seconds,
                  total_seconds=time.time() - start, summary=summary)
    (work_dir / 'results.json').write_text(json.dumps(_jsonable(result), indent=1))
    return result


def _metrics_line(m: dict) -> str:
    return ', '.join(f'{title} {m[key]:.1f}' for key, title in TABLE_METRICS[:4])


def summarise(runs: Dict[str, Dict[int, dict]]) -> dict:
    """Mean ± std over seeds, and each method against random init and against each other.

    Against random init the test is **paired** by seed (the same seed's random backbone is
    that run's starting point): one-sided paired t-test of ``method > random``; also whether
    the mean gain exceeds 2 standard deviations (of the method's and of random init's scores,
    the larger). Between methods: Welch's two-sided t-test.

    Returns:
        dict: ``table`` (method -> metric -> (mean, std, n)), ``vs_random`` (method -> metric
        -> dict(gain, p_paired, above_2std)), ``pairwise`` ((a, b) -> metric -> p).
    """
    from scipy import stats as st
    table, vs_random, pairwise = {}, {}, {}
    keys = [k for k, _ in TABLE_METRICS]
    for method, by_seed in runs.items():
        table[method] = {}
        for k in keys:
            v = np.array([by_seed[s][k] for s in sorted(by_seed)], dtype=np.float64)
            table[method][k] = (float(np.nanmean(v)), float(np.nanstd(v, ddof=1))
                                if len(v) > 1 else float('nan'), int(len(v)))
    random_runs = runs.get('random', {})
    for method, by_seed in runs.items():
        if method == 'random':
            continue
        vs_random[method] = {}
        seeds = sorted(set(by_seed) & set(random_runs))
        for k in keys:
            a = np.array([by_seed[s][k] for s in seeds])
            b = np.array([random_runs[s][k] for s in seeds])
            gain = float(np.mean(a - b)) if len(seeds) else float('nan')
            p = float('nan')
            if len(seeds) > 1 and np.std(a - b) > 0:
                p = float(st.ttest_rel(a, b, alternative='greater').pvalue)
            spread = max(table[method][k][1], table['random'][k][1]) if len(seeds) > 1 \
                else float('nan')
            vs_random[method][k] = dict(gain=gain, p_paired=p,
                                        above_2std=bool(gain > 2 * spread)
                                        if not math.isnan(spread) else None)
    methods = [m for m in runs if m != 'random']
    for i, a in enumerate(methods):
        for b in methods[i + 1:]:
            pairwise[f'{a} vs {b}'] = {}
            for k in keys:
                x = [runs[a][s][k] for s in sorted(runs[a])]
                y = [runs[b][s][k] for s in sorted(runs[b])]
                p = float('nan')
                if len(x) > 1 and len(y) > 1 and (np.std(x) > 0 or np.std(y) > 0):
                    p = float(st.ttest_ind(x, y, equal_var=False).pvalue)
                pairwise[f'{a} vs {b}'][k] = p
    return dict(table=table, vs_random=vs_random, pairwise=pairwise)


def markdown_table(summary: dict) -> str:
    """The README table: one row per method, ``mean ± std`` per metric, gain over random."""
    head = '| backbone | ' + ' | '.join(t for _, t in TABLE_METRICS) + ' |'
    lines = [head, '|' + ' --- |' * (len(TABLE_METRICS) + 1)]
    names = dict(random='random init', dino='DINO', cribo='CrIBo', s3pt='S3PT')
    for method, metrics in summary['table'].items():
        cells = []
        for k, _ in TABLE_METRICS:
            mean, std, n = metrics[k]
            cell = f'{mean:.1f} ± {std:.1f}' if n > 1 else f'{mean:.1f}'
            vs = summary['vs_random'].get(method, {}).get(k)
            if vs is not None:
                mark = ' ✓' if vs['above_2std'] else ''
                p = '' if math.isnan(vs['p_paired']) else f', p={vs["p_paired"]:.3f}'
                cell += f' ({vs["gain"]:+.1f}{p}{mark})'
            cells.append(cell)
        lines.append(f'| {names.get(method, method)} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, float) and math.isnan(x):
        return None
    return x
