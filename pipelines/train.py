"""MLflow entry point: `python pipelines/train.py TASK [--param value ...]` (see MLproject).

The same code as `kerasseq train`; argparse checks every parameter's type, which MLflow does
not do for numbers.
"""

import sys

from kerasseq.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
