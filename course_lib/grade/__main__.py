"""`python -m course_lib.grade`: see course_lib/grade/__init__.py."""
import sys

from course_lib.grade import main

sys.exit(main())
