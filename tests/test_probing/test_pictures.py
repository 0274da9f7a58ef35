"""`make demo`'s pictures: written, and the cluster maps are the assignment the loss used."""
import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate
from mmengine.logging import MessageHub
from mmpretrain.registry import DATASETS, MODELS
from PIL import Image

from s3pt_mm.probing.protocol import method_config
from s3pt_mm.probing.scenes import load_probe_images
from s3pt_mm.probing.visualise import (cluster_overlay, teacher_clusters, whole_image_views,
                                       write_pictures)


@pytest.fixture(scope='module')
def s3pt_model(probe_scenes, tmp_path_factory):
    root, _ = probe_scenes
    cfg = method_config('s3pt', root, tmp_path_factory.mktemp('work'), seed=0)
    MessageHub.get_current_instance().update_info('max_iters', 100)  # the EMA's cosine
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model, cfg


def _spy_assignments(model):
    recorded, original = [], model.assigner.assign

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        recorded.append(out.assignment.clone())
        return out
    return recorded, original, spy


def test_cluster_maps_are_the_assignment_the_loss_used(s3pt_model):
    model, cfg = s3pt_model
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    data = model.data_preprocessor(default_collate([dataset[i] for i in range(3)]), True)
    recorded, _, spy = _spy_assignments(model)
    for _ in range(2):  # the second step: a moved teacher, another EMA step, other seeds
        model.assigner.assign = spy
        try:
            model.loss(data['inputs'], data['data_samples'])
        finally:
            del model.assigner.assign  # back to the class's method
        maps = teacher_clusters(model, data['inputs'], data['data_samples'])
        assert maps.shape == (3, 2, 64)
        assert torch.equal(maps.flatten(1), recorded[-1].view(3, -1))
    assert not torch.equal(recorded[0], recorded[1])
    # Without the depth term: another clustering, and the model's assigner is left as it was.
    alpha = model.assigner.alpha_depth
    flat = teacher_clusters(model, data['inputs'], data['data_samples'], with_depth=False)
    assert model.assigner.alpha_depth == alpha != 0
    model.assigner.set_alpha_depth(0.0)
    try:
        expected = teacher_clusters(model, data['inputs'], data['data_samples'])
    finally:
        model.assigner.set_alpha_depth(alpha)
    assert torch.equal(flat, expected)


def test_pictures_are_written_with_the_teacher_clusters(s3pt_model, probe_scenes, tmp_path):
    model, _ = s3pt_model
    root, config = probe_scenes
    images = load_probe_images(root, config, 'val', max_images=2)
    predictions = [im.semantic for im in images]
    paths = write_pictures(model, images, predictions, tmp_path / 'pictures',
                           tensorboard_dir=tmp_path / 'tb')
    assert len(paths) == 2 and all(p.is_file() for p in paths)
    height, width = images[0].rgb.shape[:2]
    inputs, samples = whole_image_views(model, images)
    clusters = teacher_clusters(model, inputs, samples)[:, 0].numpy()
    no_depth = teacher_clusters(model, inputs, samples, with_depth=False)[:, 0].numpy()
    grid = (height // 8, width // 8)
    for i, path in enumerate(paths):
        picture = np.asarray(Image.open(path))
        assert picture.shape == (2 * (height + 14), 3 * width, 3)
        tile = lambda r, c: picture[r * (height + 14) + 14:(r + 1) * (height + 14),  # noqa: E731
                                    c * width:(c + 1) * width]
        assert np.array_equal(tile(0, 0), images[i].rgb)
        assert np.array_equal(tile(0, 2), cluster_overlay(images[i].rgb, clusters[i], grid))
        assert np.array_equal(tile(1, 0), cluster_overlay(images[i].rgb, no_depth[i], grid))
    assert list((tmp_path / 'tb').glob('events.out.tfevents.*'))
