"""``python -m skdeep.cli``: the ``skdeep`` command."""

import sys

from ._main import main

sys.exit(main())
