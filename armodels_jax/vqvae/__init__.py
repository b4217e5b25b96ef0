"""VQ-VAE with an autoregressive prior over its code maps (two-stage training).

References: van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning"
(NeurIPS), sections 3-4; Razavi, van den Oord & Vinyals 2019, "Generating Diverse High-Fidelity Images
with VQ-VAE-2", section 3.2 (stage 2: an autoregressive prior fitted to the code maps of the trained
encoder).
"""
