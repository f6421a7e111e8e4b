"""MLflow entry point: `python pipelines/plot.py TASK [--param value ...]` (see MLproject).

The same code as `kerasseq plot`; argparse checks every parameter's type, which MLflow does
not do for numbers.
"""

import sys

from kerasseq.cli import main

if __name__ == "__main__":
    sys.exit(main(["plot", *sys.argv[1:]]))
