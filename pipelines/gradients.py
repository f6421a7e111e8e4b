"""MLflow entry point: `python pipelines/gradients.py [--out DIR --cells rnn,leaky,lstm,gru ...]`.

The same code as `kerasseq gradients`: ‖∂L/∂h_t‖ over time for several recurrent cells.
"""

import sys

from kerasseq.cli import main

if __name__ == "__main__":
    sys.exit(main(["gradients", *sys.argv[1:]]))
