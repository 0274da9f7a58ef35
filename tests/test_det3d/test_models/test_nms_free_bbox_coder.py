"""NMSFreeBBoxCoder: top-k over (query, class) scores, range and score filters."""
import torch

from s3pt_mm.det3d.box_coding import encode_boxes


def test_topk_over_query_class_pairs(det3d):
    from s3pt_mm.det3d.models import NMSFreeBBoxCoder
    coder = NMSFreeBBoxCoder(num_classes=3, max_num=4,
                             post_center_range=[-10, -10, -5, 10, 10, 5])
    logits = torch.full((5, 3), -10.0)
    logits[1, 2], logits[3, 0], logits[3, 1], logits[0, 1] = 3.0, 2.0, 1.0, 0.5
    boxes = torch.tensor([[float(i), 1.0, 0.0, 4.0, 2.0, 1.5, 0.1 * i, 0.0, 0.0]
                          for i in range(5)])
    boxes[0, 0] = 12.0  # query 0 is outside post_center_range
    out = coder.decode(logits, encode_boxes(boxes))
    # Scores: q1/c2 (3.0) > q3/c0 (2.0) > q3/c1 (1.0) > q0/c1 (0.5, dropped by the range).
    torch.testing.assert_close(out['scores'], torch.sigmoid(torch.tensor([3.0, 2.0, 1.0])))
    assert out['labels'].tolist() == [2, 0, 1]
    torch.testing.assert_close(out['bboxes'], boxes[[1, 3, 3]])

    thresholded = NMSFreeBBoxCoder(num_classes=3, max_num=10, score_threshold=0.8)
    assert thresholded.decode(logits, encode_boxes(boxes))['labels'].tolist() == [2, 0]
