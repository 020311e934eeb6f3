"""Security analyzers: what in a release could hurt whoever loads it, and its provenance."""
