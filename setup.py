"""simclr_jax: contrastive self-supervised learning (SimCLR and relatives) in JAX/Flax."""

from setuptools import find_packages, setup

setup(
    name="simclr_jax",
    version="0.1.0",
    description="SimCLR and related contrastive methods in JAX/Flax, sharded over device meshes.",
    packages=find_packages(include=["simclr_jax", "simclr_jax.*"]),
    python_requires=">=3.10",
    # Versions are pinned in requirements.txt; here only what the package imports.
    install_requires=[
        "jax",
        "flax",
        "optax",
        "chex",
        "orbax-checkpoint",
        "ml-collections",
        "numpy",
        "tensorflow-cpu",
        "tensorflow-datasets",
        "tensorboard",
        "pillow",
        "matplotlib",
        "scikit-learn",
    ],
)
