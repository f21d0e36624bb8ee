"""Errors raised for unreadable bags. Each names the file and what is wrong with it."""
from __future__ import annotations


class BagError(Exception):
    """Base class of every bag problem."""


class BagNotFoundError(BagError, FileNotFoundError):
    """The bag path does not exist or holds no bag files."""


class BagFormatError(BagError, ValueError):
    """The input is not a bag this tool reads (not MCAP, not CDR, unknown schema encoding)."""


class BagCorruptError(BagError):
    """A bag file ends early or holds a damaged record.

    Attributes:
        path: the damaged file.
        offset: byte offset where reading failed (or -1 if unknown).
        messages_read: messages read successfully from the bag before the failure.
    """

    def __init__(self, path: str, offset: int, messages_read: int, reason: str):
        self.path, self.offset, self.messages_read, self.reason = path, offset, messages_read, reason
        super().__init__(f"bag file {path} is truncated or corrupt at byte {offset}: {reason} "
                         f"({messages_read} messages before it were read)")
