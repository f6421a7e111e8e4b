"""Task metrics that Keras lacks (backend-agnostic)."""

from kerasseq.metrics.information import BitsPerToken, nats_to_bits
