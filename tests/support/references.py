"""The reference libraries, as fixtures: each is the library, or a skip where it is not installed.

CI installs them all (``.ci/run``: torch pinned exactly, then ``.[references]``) and names them in
``LOSS_SERVICE_TEST_REQUIRE``, which turns a missing one into a failure. Keras runs on the JAX
backend in float64 (``keras_float64``): ``KERAS_BACKEND`` and ``JAX_ENABLE_X64`` are set here,
before anything imports them.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_ENABLE_X64", "1")

#: Fixture name -> (module to import, how to install it).
LIBRARIES = {
    "jax": ("jax", "pip install '.[references]'"),
    "optax": ("optax", "pip install '.[references]'"),
    "keras": ("keras", "pip install '.[references]'"),
    "kornia": ("kornia", "pip install torch==2.13.0 && pip install '.[references]'"),
    "sentence_transformers": ("sentence_transformers", "pip install torch==2.13.0 && pip install '.[references]'"),
    "sklearn": ("sklearn", "pip install '.[references]'"),
}


def load(name: str) -> Any:
    """The library ``name`` (a key of ``LIBRARIES``), or skip; a failure where the run requires it."""
    module, install = LIBRARIES[name]
    try:
        return importlib.import_module(module)
    except ImportError:
        if name in os.environ.get("LOSS_SERVICE_TEST_REQUIRE", "").split(","):
            pytest.fail(f"{name} is required in this run (LOSS_SERVICE_TEST_REQUIRE) but is not installed")
        pytest.skip(f"{name} is not installed: {install}")


@pytest.fixture(scope="session")
def jax() -> Any:
    return load("jax")


@pytest.fixture(scope="session")
def optax(jax: Any) -> Any:
    return load("optax")


@pytest.fixture(scope="session")
def keras(jax: Any) -> Any:
    """Keras 3 on JAX in float64."""
    keras = load("keras")
    keras.config.set_floatx("float64")
    return keras


@pytest.fixture(scope="session")
def kornia() -> Any:
    return load("kornia")


@pytest.fixture(scope="session")
def sentence_transformers() -> Any:
    return load("sentence_transformers")


@pytest.fixture(scope="session")
def sklearn() -> Any:
    return load("sklearn")
