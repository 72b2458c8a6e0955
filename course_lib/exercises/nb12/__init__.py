"""Notebook 12 (flow matching), first half: the straight path, the flow-matching loss, the
bridge to the sigma view in both directions, and the Euler sampling loop from t = 1 to 0."""
NOTEBOOK = "12_flow_matching"
