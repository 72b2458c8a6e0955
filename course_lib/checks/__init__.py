"""Checks of the notebooks not yet moved to one file per exercise (course_lib/exercises/)."""
