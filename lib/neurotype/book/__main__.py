"""``python -m neurotype.book``: execute and render the book (see :mod:`neurotype.book.runner`)."""

import sys

from neurotype.book.runner import main

sys.exit(main())
