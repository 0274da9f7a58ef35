"""Per-point LiDAR labels (``lidarseg/<stem>.bin``) agree with the camera label maps."""
import numpy as np
import pytest
from PIL import Image

from s3pt_mm.datasets.nuscenes_infos import NUSCENES_DATA_PREFIX, load_nuscenes_infos, load_points
from s3pt_mm.ops.depth_projection import project_points_to_pixels
from s3pt_mm.synthetic.classes import SEMANTIC_ID
from s3pt_mm.synthetic.point_labels import lidarseg_path, load_lidarseg


def test_point_labels_match_pixels_that_see_the_point(synthetic_dataset):
    """A point whose pixel sees it (depth map = point depth within 2 %) has the pixel's class."""
    infos = load_nuscenes_infos(synthetic_dataset.root / 'nuscenes_infos_train.pkl',
                                data_prefix=NUSCENES_DATA_PREFIX)
    agree, total, classes = 0, 0, set()
    for info in infos:
        points = load_points(info.lidar_path)
        labels = load_lidarseg(lidarseg_path(synthetic_dataset.root, info.lidar_path),
                               len(points))
        classes |= set(np.unique(labels).tolist())
        for channel, cam in info.cameras.items():
            stem = cam.img_path.rsplit('/', 1)[1][:-len('.jpg')]
            depth = np.load(synthetic_dataset.root / 'depth_gt' / channel / f'{stem}.npy')
            sem = np.array(Image.open(synthetic_dataset.root / 'semseg' / channel / f'{stem}.png'))
            idx, _, row, col, z = project_points_to_pixels(points, cam.lidar2cam, cam.cam2img,
                                                           depth.shape, min_depth=1.0)
            seen = np.abs(depth[row, col] - z) < 0.02 * z
            agree += int((labels[idx[seen]] == sem[row[seen], col[seen]]).sum())
            total += int(seen.sum())
    assert total > 5000
    assert agree / total > 0.97, agree / total
    assert SEMANTIC_ID['sky'] not in classes
    assert {SEMANTIC_ID['driveable_surface'], SEMANTIC_ID['car']} <= classes


def test_label_file_length_is_checked(tmp_path):
    path = tmp_path / 'x.bin'
    np.zeros(3, np.uint8).tofile(path)
    with pytest.raises(ValueError, match='3 labels for 4 points'):
        load_lidarseg(path, 4)
