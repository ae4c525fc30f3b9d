"""``python -m optkit``: the same as the ``optkit`` command."""

import sys

from optkit.cli import main

sys.exit(main())
