"""Primitive operations, each beside its VJP rule; composites are built from primitives."""
