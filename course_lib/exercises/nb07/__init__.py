"""Notebook 07 (latent diffusion with text): reparameterisation, KL, decoding latents, tokenizer,
one text-to-image training step."""
NOTEBOOK = "07_latent"
# course_lib.text comes first: it defines the token ids and MAX_LEN, which tokenize's solution
# cell reads, before it imports tokenize from here; so a fresh import of tokenize works too.
import course_lib.text  # noqa: E402, F401
