"""usagecore: one local ledger of every token and dollar AI coding agents spend.

Importing the package loads nothing else: the hook path (`usagecore ingest`)
must start in a few milliseconds, so the native module is loaded on first use.
"""

__all__ = ["__version__"]


def __getattr__(name: str):
    if name == "__version__":
        from usagecore._core import __version__

        return __version__
    raise AttributeError(name)
