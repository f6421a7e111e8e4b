"""MLflow entry point: `python pipelines/evaluate.py TASK [--param value ...]` (see MLproject).

The same code as `kerasseq evaluate`; argparse checks every parameter's type, which MLflow does
not do for numbers.
"""

import sys

from kerasseq.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
