"""Notebook 05 (guidance): condition dropout, guided prediction, one-call guidance, the guided
sampling loop, adherence."""
NOTEBOOK = "05_guidance"
# The teaching module comes first: it defines NULL, which these files read, before it imports
# the references from them; so a fresh import of any exercise file here works too.
import course_lib.guidance  # noqa: E402, F401
