"""S3PT vs DINO training-step time, measured side by side in one run.

    python benchmarks/train_step.py [--batch 8] [--steps 5] [--device cpu|cuda] [--arch deit-small]

Both models use the same backbone and the same two 224² global crops; DINO is the S3PT
config with no assigner, no queue and no object head (exactly ``configs/dino``'s model, without
its local crops, so that the ratio isolates what S3PT adds). Prints:

- the step time of each (forward + backward + optimizer step) and the ratio S3PT / DINO
  (target <= 1.15);
- the shares of the S3PT step spent in the assigner (spatial clustering) and the queue
  (retrieve + enqueue);
- on CUDA: images/s and model-FLOPs utilisation (FLOPs counted by torch's FlopCounterMode on
  one step, divided by the step time and ``--peak-tflops``), and the queue search alone at full
  size (2,500 images × k = 128 objects, 32 images × 64 objects per view querying) with exact
  fp32 scores vs the bf16 shortlist + fp32 re-ranking S3PT uses on CUDA, side by side.
"""
import argparse
import copy
import time

import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import MODELS, init_default_scope
from mmpretrain.structures import DataSample

import s3pt_mm  # noqa: F401

CONFIG = 'configs/s3pt/vit-s16_nuscenes.py'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=8, help='images per step')
    parser.add_argument('--steps', type=int, default=5, help='timed steps (after 2 warm-up)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--arch', default='deit-small', help="'deit-small' (ViT-S) or "
                        "'deit-base' (ViT-B)")
    parser.add_argument('--prototypes', type=int, default=65536, help='P of both heads')
    parser.add_argument('--amp', action='store_true', help='bf16 autocast (GPU)')
    parser.add_argument('--peak-tflops', type=float, default=989.0,
                        help='dense bf16/fp16 peak of the GPU for MFU (H100 SXM: 989)')
    return parser.parse_args()


def build_models(args):
    cfg = Config.fromfile(CONFIG)
    init_default_scope('mmpretrain')
    s3pt_cfg = copy.deepcopy(cfg.model)
    s3pt_cfg.backbone.arch = args.arch
    s3pt_cfg.head.in_channels = 768 if 'base' in args.arch else 384
    s3pt_cfg.head.out_channels = args.prototypes
    dino_cfg = copy.deepcopy(s3pt_cfg)
    dino_cfg.update(assigner=None, queue=None)
    dino_cfg.head.update(with_object_head=False)
    models = {}
    for name, model_cfg in (('DINO', dino_cfg), ('S3PT', s3pt_cfg)):
        torch.manual_seed(0)
        model = MODELS.build(model_cfg).to(args.device)
        if name == 'S3PT':
            model.set_cross_image_enabled(True)
        models[name] = model
    return models


def fake_batch(batch: int, num_tokens: int, device: str):
    views = [torch.randn(batch, 3, 224, 224, device=device) for _ in range(2)]
    samples = []
    for _ in range(batch):
        sample = DataSample()
        sample.set_field(torch.rand(2, num_tokens, 2, device=device) * 1600, 'token_pos')
        sample.set_field(torch.rand(2, num_tokens, device=device) * 60, 'token_depth')
        sample.set_field(torch.rand(2, num_tokens, device=device) > 0.1, 'token_depth_valid')
        samples.append(sample)
    return views, samples


class Timer:
    """Accumulates wall time of wrapped calls (synchronising CUDA around them)."""

    def __init__(self, device: str) -> None:
        self.device, self.total = device, 0.0

    def _sync(self) -> None:
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()

    def wrap(self, fn):
        def timed(*args, **kwargs):
            self._sync()
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            self._sync()
            self.total += time.perf_counter() - start
            return out
        return timed


def step_fn(model, optimizer, views, samples, amp: bool, device: str):
    def step():
        dtype = torch.bfloat16 if amp else torch.float32
        with torch.autocast(device_type=device.split(':')[0], dtype=dtype, enabled=amp):
            losses = model.loss(views, samples)
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def time_steps(step, steps: int, device: str) -> float:
    for _ in range(2):
        step()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def compare_queue_search(device: str, queries_per_view: int = 32 * 64, repeats: int = 5) -> None:
    """Time CrossImageQueue.retrieve at S3PT's size with each search mode, side by side."""
    from s3pt_mm.models.utils.cross_image_queue import CrossImageQueue
    gen = torch.Generator(device=device).manual_seed(0)
    results = {}
    for search in ('exact', 'bf16_rerank'):
        queue = CrossImageQueue(2500, 128, 384, search=search).to(device)
        queue.tokens.copy_(torch.randn(queue.tokens.shape, generator=gen, device=device))
        queue.valid.fill_(True)
        objects = torch.randn(2, queries_per_view, 384, generator=gen, device=device)
        queue.retrieve(objects)  # warm-up
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            match = queue.retrieve(objects)
        torch.cuda.synchronize()
        results[search] = ((time.perf_counter() - start) / repeats, match.indices)
        gen.manual_seed(0)  # same queue and queries for both modes
    exact_time, exact_idx = results['exact']
    fast_time, fast_idx = results['bf16_rerank']
    agree = (exact_idx == fast_idx).float().mean().item()
    print(f'queue retrieve, 2500 x 128 entries, {queries_per_view} queries per view: exact fp32 '
          f'{exact_time * 1e3:.1f} ms, bf16 + re-rank {fast_time * 1e3:.1f} ms '
          f'({exact_time / fast_time:.1f}x), same neighbour for {agree:.2%} of queries')


def main() -> None:
    args = parse_args()
    MessageHub.get_current_instance().update_info('max_iters', 1000)
    models = build_models(args)
    patch = models['S3PT'].backbone.patch_size if hasattr(models['S3PT'].backbone,
                                                          'patch_size') else 16
    num_tokens = (224 // patch)**2
    views, samples = fake_batch(args.batch, num_tokens, args.device)
    steps, optimizers = {}, {}
    for name, model in models.items():
        optimizers[name] = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=1e-4)
        steps[name] = step_fn(model, optimizers[name], views, samples, args.amp, args.device)

    s3pt = models['S3PT']
    assign_timer, queue_timer = Timer(args.device), Timer(args.device)
    s3pt.assigner.assign = assign_timer.wrap(s3pt.assigner.assign)
    s3pt.queue.retrieve = queue_timer.wrap(s3pt.queue.retrieve)
    s3pt.queue.enqueue = queue_timer.wrap(s3pt.queue.enqueue)

    # Interleave the two models so that machine noise hits both alike.
    times = {'DINO': [], 'S3PT': []}
    for _ in range(2):
        for name in ('DINO', 'S3PT'):
            if name == 'S3PT':
                assign_timer.total = queue_timer.total = 0.0
            times[name].append(time_steps(steps[name], args.steps, args.device))
    dino, s3pt_time = min(times['DINO']), min(times['S3PT'])
    # The shares come from the last S3PT round (2 warm-up + `steps` timed steps were wrapped).
    calls = args.steps + 2
    assign_share = assign_timer.total / calls / times['S3PT'][-1]
    queue_share = queue_timer.total / calls / times['S3PT'][-1]

    device_name = (torch.cuda.get_device_name() if args.device.startswith('cuda') else
                   f'CPU ({torch.get_num_threads()} threads)')
    print(f'device: {device_name} | arch {args.arch} | batch {args.batch} | 2 global crops 224² '
          f'| P = {args.prototypes} | amp {args.amp}')
    print(f'{"model":<6} {"step (ms)":>10} {"images/s":>9}')
    for name, value in (('DINO', dino), ('S3PT', s3pt_time)):
        print(f'{name:<6} {value * 1e3:>10.1f} {args.batch / value:>9.1f}')
    print(f'S3PT / DINO step time: {s3pt_time / dino:.3f} (target <= 1.15)')
    print(f'S3PT step shares: assigner {assign_share:.1%}, queue {queue_share:.1%}')

    if args.device.startswith('cuda'):
        from torch.utils.flop_counter import FlopCounterMode
        for name in ('DINO', 'S3PT'):
            with FlopCounterMode(display=False) as counter:
                steps[name]()
            flops = counter.get_total_flops()
            seconds = dino if name == 'DINO' else s3pt_time
            mfu = flops / seconds / (args.peak_tflops * 1e12)
            print(f'{name}: {flops / 1e12:.2f} TFLOP per step, model-FLOPs utilisation '
                  f'{mfu:.1%} of {args.peak_tflops:.0f} TFLOP/s')
        compare_queue_search(args.device)


if __name__ == '__main__':
    main()
