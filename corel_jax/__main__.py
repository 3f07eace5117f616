"""``python -m corel_jax``: the ``corel-jax`` command."""

import sys

from corel_jax.cli import main

sys.exit(main())
