"""PETR's box code: (x, y, log l, log w, z, log h, sin, cos, vx, vy)."""
import math

import pytest
import torch

from s3pt_mm.det3d.box_coding import CENTER_INDICES, decode_boxes, encode_boxes


def test_encode_closed_form_and_round_trip():
    boxes = torch.tensor([[1.0, -2.0, 0.5, 4.0, 2.0, 1.5, 0.3, 1.2, -0.4],
                          [10.0, 3.0, -1.0, 0.6, 0.6, 1.8, -2.9, 0.0, 0.0]])
    code = encode_boxes(boxes)
    torch.testing.assert_close(code[0], torch.tensor([
        1.0, -2.0, math.log(4.0), math.log(2.0), 0.5, math.log(1.5), math.sin(0.3),
        math.cos(0.3), 1.2, -0.4]))
    assert [float(code[0, i]) for i in CENTER_INDICES] == [1.0, -2.0, 0.5]
    torch.testing.assert_close(decode_boxes(code), boxes)
    torch.testing.assert_close(decode_boxes(encode_boxes(boxes[:, :7])), boxes[:, :7])


def test_decode_wraps_yaw_and_accepts_unnormalised_sin_cos():
    code = encode_boxes(torch.tensor([[0, 0, 0, 1, 1, 1, 3.5]], dtype=torch.float32))
    code[:, 6:8] *= 3.0  # the head's (sin, cos) are not unit length
    assert float(decode_boxes(code)[0, 6]) == pytest.approx(3.5 - 2 * math.pi, abs=1e-6)


def test_bad_widths_raise():
    with pytest.raises(ValueError, match='7 or 9'):
        encode_boxes(torch.zeros(2, 8))
    with pytest.raises(ValueError, match='8 or 10'):
        decode_boxes(torch.zeros(2, 9))
