"""Notebook 12 (flow matching and transformers): the straight path, the flow-matching loss,
the bridge to the sigma view in both directions, the Euler sampling loop from t = 1 to 0;
then the diffusion transformer's parts: patch tokens and back, adaptive layer norm and the
adaLN-Zero modulation."""
NOTEBOOK = "12_flow_matching"
