"""``python -m ablation.ui``: see :mod:`ablation.ui.cli`."""

import sys

from ablation.ui.cli import main

if __name__ == "__main__":
    sys.exit(main())
