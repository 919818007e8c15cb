"""Figures of the book; each function takes computed tables and returns a matplotlib Figure."""
