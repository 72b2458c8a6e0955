"""Notebook 09 (measuring generative models): Frechet distance, FID, MMD^2, CLIP loss, score."""
NOTEBOOK = "09_metrics"
# metrics re-exports these exercises and two solution cells call metrics: loading metrics
# first, here, lets either side be imported first without a circular-import error.
from course_lib import metrics  # noqa: E402, F401
