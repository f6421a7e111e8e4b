"""Detection pictures: a grid PNG of canvases whose predicted boxes are drawn (and hidden below
the score threshold), from dict or tuple detections and padded ground truth."""

import numpy as np
from matplotlib.image import imread

from kerasseq.diagnostics.detection_plots import plot_detections

PNG = b"\x89PNG\r\n\x1a\n"
DIGITS = [str(d) for d in range(10)]


def test_predictions_are_drawn_over_padded_ground_truth(tmp_path):
    images = np.zeros((3, 64, 64, 1), np.uint8)
    images[:, 20:40, 25:35] = 255
    truth = [{"boxes": [[25, 20, 35, 40], [0, 0, 0, 0]], "labels": [7, -1]}] * 3
    predictions = [{"boxes": [[24, 21, 36, 40]], "scores": [0.9], "labels": [7]},
                   ([[5, 5, 20, 20]], [0.6], [1]),
                   {"boxes": np.zeros((0, 4)), "scores": [], "labels": []}]
    drawn = plot_detections(images, predictions, truth, DIGITS, tmp_path / "a" / "drawn.png",
                            columns=2, title="detections")
    hidden = plot_detections(images, predictions, truth, DIGITS, tmp_path / "hidden.png",
                             columns=2, title="detections", score_threshold=0.95)
    none = plot_detections(images, None, truth, DIGITS, tmp_path / "none.png", columns=2,
                           title="detections")
    assert drawn.read_bytes()[:8] == PNG and drawn.parent.name == "a"
    drawn, hidden, none = imread(drawn), imread(hidden), imread(none)
    assert drawn.shape == none.shape and drawn.shape[0] > drawn.shape[1] * 0.8  # 2 × 2 grid
    assert not np.array_equal(drawn, none)
    np.testing.assert_array_equal(hidden, none)  # every prediction is under the threshold
