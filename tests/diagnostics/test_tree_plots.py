"""The sentiment tree figure: layout of a small tree and a written PNG."""

import numpy as np

from kerasseq.data.treebank import build_vocabulary, parse_tree, tree_arrays
from kerasseq.diagnostics.tree_plots import plot_sentiment_tree, tree_layout


def test_layout_and_figure(tmp_path):
    tree = parse_tree("(3 (2 (2 a) (3 (3 gripping) (2 film))) (2 .))")
    x = tree_arrays([tree], build_vocabulary([tree]), "fine", max_nodes=9)
    xs, ys = tree_layout(x["left"][0], x["right"][0], x["level"][0])
    assert len(xs) == 7  # padding is not drawn
    leaves = x["left"][0][:7] < 0
    np.testing.assert_array_equal(xs[leaves], [0, 1, 2, 3])  # the words left to right
    assert ys[6] == 3 and xs[6] == (xs[4] + xs[5]) / 2  # the root above its two children
    predicted = np.array([2, 3, 2, 3, 3, 2, 3, 0, 0])
    path = plot_sentiment_tree(tree.leaves(), x["left"][0], x["right"][0], x["level"][0],
                               predicted, x["labels"][0], tmp_path / "tree.png")
    assert path.stat().st_size > 5000
    sentence_only = np.full(9, -1)
    sentence_only[6] = 4
    path = plot_sentiment_tree(tree.leaves(), x["left"][0], x["right"][0], x["level"][0],
                               sentence_only, x["labels"][0], tmp_path / "root.png")
    assert path.stat().st_size > 5000
