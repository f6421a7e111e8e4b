"""Keras layers and cells (``keras.ops`` only; TensorFlow and JAX backends).

Every public layer is registered under the ``kerasseq`` package for ``.keras`` save/load.
The recurrent tasks so far use Keras core recurrent layers through
:func:`kerasseq.models.build_stacked_rnn`; new cells and attention layers land here.
"""
