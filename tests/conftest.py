"""Fixtures shared by the test files: the digits dataset and small sweep configurations."""

import pytest


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits (offline): 1,079 training, 359 validation, 359 test examples of
    8 × 8 images, 10 classes."""
    from corel_jax.data import load_dataset

    return load_dataset("digits")
