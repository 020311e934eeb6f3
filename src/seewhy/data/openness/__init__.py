"""Openness knowledge: MOF components and licenses, OSAI parameters, claim phrases."""
