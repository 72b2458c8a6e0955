"""The graded exercises, one file each, grouped by notebook: nb00/mse.py, nb01/add_noise.py, ...

Each file holds everything about one exercise: its solution cell (the reference answer, kept
byte-equal to the cell in solutions/ by `python -m course_lib.build`), the probe cases, the
properties a right answer has, planted wrong answers (BUGS) that must fail and other right
answers (ALTERNATIVES) that must pass. The teaching modules re-export the references, so
later cells and notebooks call the one copy. course_lib/checking/registry.py lists them all.
"""
