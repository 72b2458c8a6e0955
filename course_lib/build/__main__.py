"""`python -m course_lib.build`: see course_lib/build/__init__.py."""
import sys

from course_lib.build import main

sys.exit(main())
