"""PositionEmbedding3D: normalised frustum coordinates (cell corners, as the official PETR) and
what the 1x1-conv MLP receives."""
import numpy as np
import torch

from s3pt_mm.det3d.geometry import (denormalize_coords, image_aug_matrix, inverse_sigmoid,
                                    project_points, to_homogeneous_4x4)

CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT')


def _lidar2img(info: dict) -> torch.Tensor:
    aug = image_aug_matrix((0.5, 0.5), (0, 130), False, 800)  # test-time 800x320
    mats = [aug @ to_homogeneous_4x4(info['images'][c]['cam2img'])
            @ np.array(info['images'][c]['lidar2cam']) for c in CAMERAS]
    return torch.from_numpy(np.stack(mats))[None]  # (1, 6, 4, 4)


def test_coords_are_the_cells_frustum_in_the_unit_cube(det3d, real_keyframe_info):
    from s3pt_mm.det3d.models import PositionEmbedding3D
    pe = PositionEmbedding3D(embed_dims=32, depth_num=8)
    lidar2img = _lidar2img(real_keyframe_info)
    coords = pe.coords_3d((20, 50), (320, 800), lidar2img)  # (1, 6, 20, 50, 8, 3)
    assert coords.shape == (1, 6, 20, 50, 8, 3)
    xyz = denormalize_coords(coords.double(), pe.position_range)  # float32 coords: ~5e-3 px
    for v in range(6):
        uv, d = project_points(xyz[0, v], lidar2img[0, v])
        # Official PETR: the ray through the cell's corner (16 j, 16 i).
        torch.testing.assert_close(uv[..., 0], (torch.arange(50) * 16.0).double()
                                   [None, :, None].expand(20, 50, 8), atol=0.01, rtol=0)
        torch.testing.assert_close(uv[..., 1], (torch.arange(20) * 16.0).double()
                                   [:, None, None].expand(20, 50, 8), atol=0.01, rtol=0)
        torch.testing.assert_close(d, pe.depths.double().expand(20, 50, 8), atol=1e-4, rtol=0)
    # Farthest bin (LID, i = D - 1): 1 + 60.2 * 7 / 9 = 47.8 m, inside the +-61.2 m square;
    # rays looking down leave the +-10 m z range (inverse_sigmoid clamps those).
    assert float(pe.depths[-1]) == torch.tensor(1 + 60.2 * 7 / 9).float().item()
    assert bool(((coords[..., :2] > 0) & (coords[..., :2] < 1)).all())
    assert float((coords[..., 2] < 0).float().mean()) > 0


def test_encoder_input_is_depth_major_inverse_sigmoid(det3d, real_keyframe_info):
    """Channel 3 i + a of the MLP input is inverse_sigmoid(coordinate a of depth bin i)."""
    from s3pt_mm.det3d.models import PositionEmbedding3D
    torch.manual_seed(0)
    pe = PositionEmbedding3D(embed_dims=32, depth_num=8)
    lidar2img = _lidar2img(real_keyframe_info).repeat(2, 1, 1, 1)
    seen = {}
    pe.position_encoder.register_forward_hook(lambda m, i, o: seen.update(inp=i[0]))
    out = pe((4, 10), (64, 160), lidar2img)
    assert out.shape == (2, 6, 32, 4, 10)
    coords = inverse_sigmoid(pe.coords_3d((4, 10), (64, 160), lidar2img))  # (2,6,4,10,8,3)
    i, a, v, y, x = 5, 1, 3, 2, 7
    assert float(seen['inp'][v, 3 * i + a, y, x]) == float(coords[0, v, y, x, i, a])
    # Same cameras -> same embedding for both samples; different views differ.
    torch.testing.assert_close(out[0], out[1])
    assert float((out[0, 0] - out[0, 1]).abs().mean()) > 1e-3
