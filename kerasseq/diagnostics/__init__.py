"""Diagnostics the lectures draw: for recurrent nets, gradient flow through time and
interpretable cells; for Vision Transformers, attention rollout.

- :mod:`kerasseq.diagnostics.gradients`: ‖∂L/∂h_t‖ across time steps (vanishing gradients),
  per cell, at initialisation and after training (:func:`gradient_flow_experiment`).
- :mod:`kerasseq.diagnostics.cells`: per-character activations of a trained character LM,
  units ranked by their correlation with features of the text, and Karpathy's heat map
  (Karpathy, Johnson and Fei-Fei 2016, "Visualizing and understanding recurrent networks").
- :mod:`kerasseq.diagnostics.vision`: the attention weights of a Vision Transformer and their
  rollout over the patches (Abnar and Zuidema 2020, "Quantifying attention flow in
  transformers").
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
from kerasseq.diagnostics.vision import attention_rollout, find_vit, vit_attention_maps
