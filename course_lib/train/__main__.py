"""`python -m course_lib.train`: see course_lib/train/__init__.py."""
import sys

from course_lib.train import main

sys.exit(main())
