"""Loss values and gradients over HTTP, exactly as PyTorch and Keras compute them.

The package has three layers, each importable without the ones above it:

- ``service.engine``: the losses, pure NumPy; knows nothing of HTTP.
- ``service.transport``: request bytes to NumPy arrays and results back to bytes.
- ``service.api``: the FastAPI routes, request schemas and problem responses.
"""

__version__ = "0.1.0"
