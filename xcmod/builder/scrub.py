# SPDX-License-Identifier: MIT
"""Scrubbing host identifiers: the value each scrubbed field gets under the
policy's scrub mode (``blank``, ``fixed`` or ``pseudonym``), and the forms of a
host value that must not leak elsewhere.

``pseudonym`` gives each field HMAC-SHA256(secret, "xcmod-pseudonym" NUL guest
NUL label): stable for one guest and secret, unlinkable across guests.
"""
import hashlib
import hmac
import uuid

from ..errors import UsageError
from ..fileio import SECRET_MAX, read_input
from ..firmware.fields import BLANK_TEXT, PLACEHOLDERS, uuid_forms

MIN_SECRET_LEN = 16


class Scrubber:
    """Replacement values for scrubbed fields under the policy's mode."""

    def __init__(self, policy):
        self.mode = policy.scrub_mode
        self.value = policy.scrub_value.encode("utf-8")
        self.key = self.guest = None
        if self.mode == "pseudonym":
            if not policy.secret_file:
                raise UsageError("scrub mode pseudonym needs a secret: --secret-file FILE "
                                 "(or scrub.secret_file in the policy)")
            if not policy.guest:
                raise UsageError("scrub mode pseudonym needs the guest's name or UUID: "
                                 "--guest NAME (or scrub.guest in the policy)")
            self.key = read_input(policy.secret_file, "a pseudonym secret", SECRET_MAX).strip()
            if len(self.key) < MIN_SECRET_LEN:
                raise UsageError(f"{policy.secret_file}: secret is {len(self.key)} bytes; "
                                 f"use at least {MIN_SECRET_LEN} random bytes "
                                 f"(e.g. head -c 32 /dev/urandom | base64 > FILE)")
            self.guest = policy.guest.encode("utf-8")

    def _digest(self, label):
        return hmac.new(self.key, b"xcmod-pseudonym\0" + self.guest + b"\0" + label.encode(),
                        hashlib.sha256).digest()

    def string(self, label):
        if self.mode == "blank":
            return None
        if self.mode == "fixed":
            return self.value
        return self._digest(label)[:6].hex().upper().encode()

    def text(self, label):
        """A string that must stay a string (in-place rewrites)."""
        return self.string(label) or BLANK_TEXT

    def uuid(self, label):
        if self.mode == "pseudonym":
            u = uuid.UUID(bytes=self._digest(label)[:16], version=4)
            return u.bytes_le
        if self.mode == "fixed":
            try:
                return uuid.UUID(self.value.decode()).bytes_le
            except ValueError:
                pass
        return bytes(16)    # 7.2.1: all 00h, "ID not present"

    def word(self, label):
        return self._digest(label)[:2] if self.mode == "pseudonym" else bytes(2)


def sensitive_forms(value, kind):
    """The byte forms of a scrubbed field's host value that must not appear anywhere
    else in what is passed (a UUID in both byte orders and as text); none for what
    identifies nothing (an all-zero UUID, a placeholder, fewer than 4 characters)."""
    if kind == "uuid":
        raw = bytes(value)
        if raw in (bytes(16), b"\xff" * 16):
            return set()
        return {raw} | uuid_forms(raw)
    if kind == "word":
        return set()
    v = bytes(value)
    if len(v.strip()) < 4 or v.strip().lower().decode("latin-1") in PLACEHOLDERS:
        return set()
    return {v}
