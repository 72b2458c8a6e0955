"""Benchmarks that print figures (never timed tests): run each on an otherwise idle machine.

    python -m course_lib.bench.samplers   # notebooks 01-04: quality vs steps per sampler
    python -m course_lib.bench.spiral     # notebook 01's recipe against smalldiffusion's
    python -m course_lib.bench.checks     # check latency in the notebook, per exercise
    python -m course_lib.bench.metrics    # notebook 09: FID / KID / CLIP score behaviour
    python -m course_lib.bench.sd         # notebook 08: CPU seconds per image of the SD model
    python -m course_lib.bench.grade      # the class grader: one student, a class of 30
"""
