"""Shared test set-up: fast mode for every notebook kernel the tests start."""
import os

os.environ["COURSE_FAST"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
