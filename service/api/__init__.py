"""The HTTP layer: routes by resource, request schemas generated from the engine's catalog, problems."""
