"""The Translator: its compiled search equals the eager search over the same step function,
for the recurrent and the Transformer models; alignments; EOS stripping."""

import keras
import numpy as np
import pytest

from kerasseq.decoding import beam_search, greedy_decode
from kerasseq.models import (build_seq2seq, build_seq2seq_inference, build_transformer,
                             seq2seq_decoding, transformer_decoding)
from kerasseq.models.translator import Translator, is_transformer, strip_eos

VOCAB = 23


def _model(kind):
    keras.utils.set_random_seed(1)
    if kind == "transformer":
        return build_transformer(VOCAB, VOCAB, num_layers=2, d_model=8, num_heads=2,
                                 intermediate_dim=16)
    return build_seq2seq(VOCAB, VOCAB, embedding_dim=6, units=8,
                         attention=None if kind == "seq2seq" else kind)


def _source():
    source = np.random.default_rng(0).integers(4, VOCAB, (3, 6)).astype("int32")
    source[2, 4:] = 0
    return source


@pytest.mark.parametrize("kind,beam_width", [("seq2seq", 1), ("bahdanau", 3), ("luong", 1),
                                             ("transformer", 1), ("transformer", 3)])
def test_compiled_search_equals_eager_search(kind, beam_width):
    model = _model(kind)
    translator = Translator(model, beam_width=beam_width, extra_length=4)
    source = _source()
    ids = translator.translate_ids(source)
    assert ids.shape == (3, 10) and ids.dtype == np.int32

    if is_transformer(model):
        step_fn, cache = transformer_decoding(translator.encoder, translator.decoder, source, 10)
    else:
        step_fn, cache = seq2seq_decoding(*build_seq2seq_inference(model), source)
    if beam_width == 1:
        expected, _ = greedy_decode(step_fn, cache, batch_size=3, max_length=10)
    else:
        expected, _ = beam_search(step_fn, cache, batch_size=3, max_length=10, beam_width=3)
    np.testing.assert_array_equal(ids, keras.ops.convert_to_numpy(expected))


@pytest.mark.parametrize("kind", ["bahdanau", "luong", "transformer"])
def test_alignment_rows_are_distributions_over_the_source(kind):
    translator = Translator(_model(kind))
    weights = translator.alignment([5, 6, 7, 8], [9, 10])
    assert weights.shape == (3, 4)  # two words and EOS, over four source subwords
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert np.all(weights >= 0)
    if kind == "transformer":
        assert translator.alignment([5, 6, 7, 8], [9, 10], head=1).shape == (3, 4)


def test_alignment_needs_attention():
    with pytest.raises(ValueError, match="no attention"):
        Translator(_model("seq2seq")).alignment([5, 6], [7])


def test_strip_eos():
    assert strip_eos([7, 8, 3, 9, 0]) == [7, 8]
    assert strip_eos(np.array([7, 0, 0])) == [7]
    assert strip_eos([3]) == []
