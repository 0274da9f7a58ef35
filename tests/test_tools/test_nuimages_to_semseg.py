"""nuImages -> image + label PNGs, on a tiny nuImages-format dataset the devkit loads."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s3pt_mm.testing.nuimages_fixture import write_tiny_nuimages
from s3pt_mm.segmentation.nuimages_semseg import convert_nuimages_version
from s3pt_mm.segmentation.label_spaces import NUIMAGES_SEG_CLASSES, nuimages_category_lut

REPO = Path(__file__).resolve().parents[2]
VERSIONS = ('v1.0-train', 'v1.0-val')


def _tool():
    spec = importlib.util.spec_from_file_location(
        'nuimages_to_semseg', REPO / 'tools' / 'dataset_converters' / 'nuimages_to_semseg.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return write_tiny_nuimages(str(tmp_path_factory.mktemp('nuimages')), versions=VERSIONS)


@pytest.fixture(scope='module')
def converted(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp('nuimages_semseg')
    _tool().main(['--data-root', str(tiny.dataroot), '--out-dir', str(out), '--versions',
                  *VERSIONS])
    return out


@pytest.mark.parametrize('version', VERSIONS)
def test_tiny_dataset_passes_the_devkit_checks(tiny, version):
    from nuimages import NuImages
    from nuimages.tests.test_foreign_keys import TestForeignKeys
    checks = TestForeignKeys(version=version, dataroot=str(tiny.dataroot))
    checks.test_foreign_keys()  # every token resolves, every category / attribute is used
    checks.test_prev_next()
    nuim = NuImages(version=version, dataroot=str(tiny.dataroot), verbose=False)
    assert len(nuim.sample) == 3 and len(nuim.sample_data) == 6  # key frame + sweep each
    assert len(nuim.category) == 25


@pytest.mark.parametrize('version', VERSIONS)
def test_labels_equal_painted_masks_and_devkit_segmentation(tiny, converted, version):
    from nuimages import NuImages
    from nuimages.utils.utils import name_to_index_mapping
    nuim = NuImages(version=version, dataroot=str(tiny.dataroot), verbose=False)
    # The devkit's semantic ids: 0 background, categories by its own index (1..23, 24, 31).
    devkit_lut = np.zeros(32, dtype=np.uint8)
    for name, index in name_to_index_mapping(nuim.category).items():
        devkit_lut[index] = nuimages_category_lut([name])[0]
    split = version.split('-')[-1]
    for sample in nuim.sample:
        sd = nuim.get('sample_data', sample['key_camera_token'])
        stem = Path(sd['filename']).stem
        labels = np.array(Image.open(converted / 'annotations' / split / f'{stem}.png'))
        # 1) the masks the fixture painted (no RLE involved)
        np.testing.assert_array_equal(labels, tiny.labels[version][stem])
        # 2) the devkit's own semantic mask, mapped to our classes
        semantic, _ = nuim.get_segmentation(sd['token'])
        np.testing.assert_array_equal(labels, devkit_lut[semantic])
        image = converted / 'images' / split / f'{stem}.jpg'
        assert image.is_symlink() and image.resolve() == (tiny.dataroot / sd['filename']).resolve()
    # Sweeps (non-key frames) are not converted.
    assert len(list((converted / 'annotations' / split).glob('*.png'))) == 3


def test_label_values_cover_the_classes(tiny, converted):
    values = set()
    for png in (converted / 'annotations').rglob('*.png'):
        values |= set(np.unique(np.array(Image.open(png))).tolist())
    # background, all 10 objects, driveable surface, and 255 for ignored categories / ego hood
    assert values == set(range(len(NUIMAGES_SEG_CLASSES))) | {255}


def test_progress_bar_and_summary(tiny, tmp_path, capsys):
    _tool().main(['--data-root', str(tiny.dataroot), '--out-dir', str(tmp_path), '--versions',
                  'v1.0-val', '--image-mode', 'copy'])
    captured = capsys.readouterr()
    assert 'nuImages v1.0-val' in captured.err and '3/3' in captured.err  # tqdm
    assert '3 images' in captured.out
    copies = list((tmp_path / 'images' / 'val').glob('*.jpg'))
    assert len(copies) == 3 and not any(p.is_symlink() for p in copies)


def test_pixel_counts_match_labels(tiny, tmp_path):
    summary = convert_nuimages_version(str(tiny.dataroot), 'v1.0-val', str(tmp_path),
                                       image_mode='none')
    expected = sum(np.bincount(lab.ravel(), minlength=256)
                   for lab in tiny.labels['v1.0-val'].values())
    np.testing.assert_array_equal(summary.pixel_counts, expected)
    assert summary.split == 'val' and summary.num_images == 3
    assert not (tmp_path / 'images').exists()


def test_errors_name_the_problem(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match='v1.0-nope'):
        convert_nuimages_version(str(tiny.dataroot), 'v1.0-nope', str(tmp_path))
    root = write_tiny_nuimages(str(tmp_path / 'broken'), versions=('v1.0-mini', ),
                               samples_per_version=1).dataroot
    categories = json.loads((root / 'v1.0-mini' / 'category.json').read_text())
    categories[0]['name'] = 'vehicle.hovercraft'
    (root / 'v1.0-mini' / 'category.json').write_text(json.dumps(categories))
    with pytest.raises(ValueError, match='vehicle.hovercraft'):
        convert_nuimages_version(str(root), 'v1.0-mini', str(tmp_path / 'out'))
    categories[0]['name'] = 'animal'
    (root / 'v1.0-mini' / 'category.json').write_text(json.dumps(categories))
    image = next((root / 'samples').rglob('*.jpg'))
    image.unlink()
    with pytest.raises(FileNotFoundError, match=image.name):
        convert_nuimages_version(str(root), 'v1.0-mini', str(tmp_path / 'out'))


def test_registered_dataset_reads_the_output(converted):
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATASETS

    import s3pt_mm.segmentation  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmseg'):
        dataset = DATASETS.build(dict(
            type='NuImagesSegDataset', data_root=str(converted),
            data_prefix=dict(img_path='images/val', seg_map_path='annotations/val'),
            pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                      dict(type='PackSegInputs')]))
        assert len(dataset) == 3
        assert dataset.metainfo['classes'] == NUIMAGES_SEG_CLASSES
        item = dataset[0]
    stem = Path(item['data_samples'].img_path).stem
    labels = item['data_samples'].gt_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(labels, np.array(Image.open(
        converted / 'annotations' / 'val' / f'{stem}.png')))
    with DefaultScope.overwrite_default_scope('mmseg'):
        with pytest.raises(FileNotFoundError, match='nuimages_to_semseg'):
            DATASETS.build(dict(type='NuImagesSegDataset', data_root=str(converted),
                                data_prefix=dict(img_path='images/test',
                                                 seg_map_path='annotations/test')))
