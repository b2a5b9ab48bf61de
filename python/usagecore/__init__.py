"""usagecore: one local ledger of every token and dollar AI coding agents spend."""

from usagecore._core import __version__

__all__ = ["__version__"]
