"""Pure, bounded parsers of untrusted bytes: they describe, never judge."""
