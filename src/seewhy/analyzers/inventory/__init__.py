"""The inventory analyzer: what a release is, with every structural problem."""

from seewhy.analyzers.inventory.analyzer import InventoryAnalyzer

__all__ = ["InventoryAnalyzer"]
