"""Dataset readers over the real file formats, and tf.data pipelines.

Readers take a data directory (argument, else ``KERASSEQ_DATA_DIR``) and verify checksums.
TensorFlow is imported only by the functions that build tf.data pipelines.
"""

from kerasseq.data.files import DATA_DIR_ENV, dataset_file, resolve_data_dir
from kerasseq.data.shakespeare import char_lm_dataset, load_tinyshakespeare
from kerasseq.data.text import CharVocabulary, tbptt_batches
