"""``python -m dreamvideo``."""

import sys

from .cli import main

sys.exit(main())
