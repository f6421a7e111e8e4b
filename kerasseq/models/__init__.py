"""Model builders: plain functions returning ``keras.Model`` (backend-agnostic)."""

from kerasseq.models.char_lm import build_char_language_model, generate, sample_next
from kerasseq.models.recurrent import (CELL_NAMES, RECURRENT_LAYERS, build_stacked_rnn,
                                     recurrent_layer, reset_recurrent_states, state_sizes)
