"""S3PT = CrIBo + exactly the paper's three changes (docs/method.md §9): the resolved configs of
CrIBo, the ablation steps 0..3 and S3PT compared key by key; any other difference fails."""
from functools import lru_cache
from pathlib import Path

import pytest
from mmengine.config import Config

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'
ABLATIONS = CONFIG_DIR / 's3pt' / 'ablations'
PIPELINE = 'train_dataloader.dataset.pipeline'

#: The paper's three changes, as the keys of a resolved config each may touch.
CHANGES = {
    # vMF normalisation with probability centering (vMF needs the weight-norm gains free).
    'vmf': {'model.head.use_vmf', 'model.head.centering', 'model.head.norm_last_layer'},
    # object-diversity Sinkhorn: 1 round, 128 clusters, a 2500-image queue.
    'sinkhorn': {'model.assigner.num_clusters', 'model.assigner.sinkhorn_iterations',
                 'model.queue.queue_size'},
    # the depth term: its weight, and the pipeline that brings a depth to every token.
    'depth': {'model.assigner.alpha_depth', 'train_dataloader.dataset.depth_prefix'} | {
        f'{pipeline}{key}' for pipeline in (PIPELINE, 'train_pipeline')
        for key in ('[LoadPrecomputedDepth]', '[MultiCropWithDepth].with_depth',
                    '[PackInputs].algorithm_keys')},
}
#: Keys that must differ for a change to count as made.
CORE = {'vmf': {'model.head.use_vmf', 'model.head.centering'},
        'sinkhorn': CHANGES['sinkhorn'],
        'depth': {'model.assigner.alpha_depth', f'{PIPELINE}[MultiCropWithDepth].with_depth'}}


def flatten(value, prefix=''):
    """Resolved config → {dotted key: leaf}. Lists of typed dicts (transforms, hooks,
    schedulers) are keyed by their type, so that inserting one does not shift the others."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(flatten(item, f'{prefix}.{key}' if prefix else str(key)))
        return out
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, dict) and 'type' in v for v in value):
        out, seen = {}, {}
        for item in value:
            name = str(item['type'])
            seen[name] = seen.get(name, 0) + 1
            label = name if seen[name] == 1 else f'{name}#{seen[name]}'
            out.update(flatten({k: v for k, v in item.items() if k != 'type'},
                               f'{prefix}[{label}]'))
            out.setdefault(f'{prefix}[{label}]', 'present')
        return out
    return {prefix: tuple(value) if isinstance(value, list) else value}


def resolved(path: Path) -> dict:
    return dict(_resolved(str(path)))


@lru_cache(maxsize=None)
def _resolved(path: str) -> tuple:
    cfg = Config.fromfile(path).to_dict()
    cfg.pop('filename', None)
    return tuple(flatten(cfg).items())


def differing(a: dict, b: dict) -> set:
    """Keys whose values differ; a transform present in one config only counts once, under
    its own key."""
    keys = {k for k in a.keys() | b.keys() if a.get(k, '<absent>') != b.get(k, '<absent>')}
    added = {k for k in keys if k.endswith(']') and (k in a) != (k in b)}
    return {k for k in keys if not any(k != t and k.startswith(t) for t in added)}


def assert_differ_by(a: Path, b: Path, changes):
    diff = differing(resolved(a), resolved(b))
    allowed = set().union(*(CHANGES[c] for c in changes))
    extra = sorted(diff - allowed)
    assert not extra, f'{a.name} -> {b.name}: differences outside {changes}: {extra}'
    for change in changes:
        missing = sorted(CORE[change] - diff)
        assert not missing, f'{a.name} -> {b.name}: change {change!r} not made: {missing}'


STEPS = [ABLATIONS / 'step0_cribo_vit-s16_nuscenes-100e.py',
         ABLATIONS / 'step1_cribo+vmf_vit-s16_nuscenes-100e.py',
         ABLATIONS / 'step2_cribo+vmf+sk_vit-s16_nuscenes-100e.py',
         ABLATIONS / 'step3_s3pt_vit-s16_nuscenes-100e.py']


@pytest.mark.parametrize('step, change', [(1, 'vmf'), (2, 'sinkhorn'), (3, 'depth')])
def test_each_ablation_step_makes_exactly_one_change(step, change):
    assert_differ_by(STEPS[step - 1], STEPS[step], [change])


@pytest.mark.parametrize('cribo, s3pt', [('cribo/vit-s16_nuscenes.py', 's3pt/vit-s16_nuscenes.py'),
                                         ('cribo/vit-b16_nuscenes.py', 's3pt/vit-b16_nuscenes.py'),
                                         (STEPS[0], STEPS[3])])
def test_s3pt_is_cribo_plus_the_three_changes(cribo, s3pt):
    assert_differ_by(CONFIG_DIR / cribo, CONFIG_DIR / s3pt, ['vmf', 'sinkhorn', 'depth'])


def test_step0_is_the_cribo_config_at_100_epochs():
    """Step 0 = configs/cribo with the ablation's 100-epoch schedule, both with CrIBo's
    conventions switched on."""
    step0, cribo = resolved(STEPS[0]), resolved(CONFIG_DIR / 'cribo/vit-s16_nuscenes.py')
    assert step0['model.cribo_conventions'] is True and cribo['model.cribo_conventions'] is True
    diff = differing(step0, cribo)
    assert diff and all(k.startswith(('param_scheduler', 'train_cfg', 'custom_hooks'))
                        for k in diff), sorted(diff)


def test_the_comparison_catches_any_other_difference(tmp_path):
    """A config that also changes, e.g., λ is refused."""
    bad = tmp_path / 'step1_bad.py'
    bad.write_text(f"_base_ = ['{STEPS[1]}']\nmodel = dict(assigner=dict(lam=25.0))\n")
    with pytest.raises(AssertionError, match='model.assigner.lam'):
        assert_differ_by(STEPS[0], bad, ['vmf'])
