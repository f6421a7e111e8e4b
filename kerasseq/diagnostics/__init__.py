"""Diagnostics the lectures draw for recurrent nets: gradient flow through time and
interpretable cells.

- :mod:`kerasseq.diagnostics.gradients`: ‖∂L/∂h_t‖ across time steps (vanishing gradients),
  per cell, at initialisation and after training (:func:`gradient_flow_experiment`).
- :mod:`kerasseq.diagnostics.cells`: per-character activations of a trained character LM,
  units ranked by their correlation with features of the text, and Karpathy's heat map
  (Karpathy, Johnson and Fei-Fei 2016, "Visualizing and understanding recurrent networks").
"""

from kerasseq.diagnostics.cells import (
    TEXT_FEATURES,
    cell_activations,
    inside_brackets,
    inside_quotes,
    inside_speaker_name,
    plot_cell_heatmap,
    position_in_line,
    position_in_word,
    rank_cells,
)
from kerasseq.diagnostics.gradients import (
    UnsupportedLayerError,
    compare_gradient_flow,
    gradient_flow_experiment,
    plot_gradient_flow,
    state_gradient_norms,
    state_probe_model,
    validation_windows,
)
