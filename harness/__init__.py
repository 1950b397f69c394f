"""splitbrain: Jepsen-style fault injection for real databases."""

__version__ = "0.1.0"
