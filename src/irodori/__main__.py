"""`python -m irodori` = the `irodori` command."""

import sys

from .cli import main

sys.exit(main())
