"""The losses, one pure function each, grouped by family.

Every function takes its inputs as NumPy arrays of the computation dtype (class indices as
int64) and its parameters as keywords, and returns ``Unreduced``: the per-element or
per-sample values and the vector-Jacobian product that turns a cotangent of those values
into gradients. Reductions, sample weights and dtype are handled once, in
``service.engine.compute``.
"""
