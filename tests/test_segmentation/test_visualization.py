"""image | prediction | ground truth panels."""
import numpy as np
import pytest

from s3pt_mm.segmentation.visualization import colorize_labels, comparison_panel

PALETTE = [(10, 20, 30), (200, 100, 0), (0, 255, 0)]


def test_panel_layout_and_colours():
    image = np.full((4, 5, 3), 7, dtype=np.uint8)
    pred = np.array([[0, 1, 2, 1, 0]] * 4)
    gt = np.array([[2, 2, 255, 0, 1]] * 4)
    panel = comparison_panel(image, pred, gt, PALETTE)
    assert panel.shape == (4, 15, 3) and panel.dtype == np.uint8
    np.testing.assert_array_equal(panel[:, :5], image)
    np.testing.assert_array_equal(panel[0, 5:10], np.array(PALETTE)[[0, 1, 2, 1, 0]])
    np.testing.assert_array_equal(panel[0, 10:], [PALETTE[2], PALETTE[2], (0, 0, 0),
                                                  PALETTE[0], PALETTE[1]])
    # a model with other classes (DG) gets its own palette; no ground truth -> two panels
    two = comparison_panel(image, pred, None, PALETTE, pred_palette=[(1, 1, 1)] * 3)
    assert two.shape == (4, 10, 3) and (two[:, 5:] == 1).all()
    with pytest.raises(ValueError, match='same size'):
        comparison_panel(image, pred[:, :4], gt, PALETTE)


def test_unknown_ids_get_the_unknown_colour():
    out = colorize_labels(np.array([[0, 3, 255]]), PALETTE, unknown_color=(9, 9, 9))
    np.testing.assert_array_equal(out[0], [PALETTE[0], (9, 9, 9), (9, 9, 9)])
