"""tests/x64 runs with 64-bit types on, inside the main pytest run.

Each test (and each fixture it uses) runs under `jax.enable_x64(True)`, a
thread-local config context, so the float32 tests beside it are unchanged.
Module-level code in these files must not create JAX arrays: import time
is outside the context.
"""

import jax
import pytest


@pytest.fixture(autouse=True)
def _float64():
  with jax.enable_x64(True):
    yield
