"""``python -m cliposcope``: the command line."""

import sys

from cliposcope.app.cli import main

sys.exit(main())
