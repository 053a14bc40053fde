"""simclr_jax: SimCLR and related contrastive methods in JAX/Flax."""

__version__ = "0.1.0"
