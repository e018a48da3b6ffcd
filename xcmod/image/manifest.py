# SPDX-License-Identifier: MIT
"""Launch measurements: SHA-256 digests of what a guest will consume.

The chain is PCR-style, as a TPM extends a register::

    pcr_0 = 32 zero bytes
    pcr_n = SHA-256(pcr_(n-1) || SHA-256(item_n))

so one final value commits to every item and to their order.
"""
import hashlib

from .spec import iter_modules


ZERO_PCR = bytes(32)


def chain(digests):
    """The running PCR values after extending with each digest (bytes) in turn."""
    pcr, out = ZERO_PCR, []
    for d in digests:
        pcr = hashlib.sha256(pcr + d).digest()
        out.append(pcr)
    return out


def block_items(kind, name, data):
    """[(name, bytes)] a manifest measures for one block: each module of an xcmod image
    (``module N TYPE``), a stock block whole.  ``build --manifest`` and ``load
    --measure`` both call this, so their items match one for one."""
    if kind != "image":
        return [(name, data)]
    return [(f"module {i} {m.type_name}", data[m.offset:m.offset + m.length])
            for i, m in enumerate(iter_modules(data))]


def measure(items, whole=None):
    """A JSON-ready manifest of ``items`` [(name, bytes)] and the ``whole`` (name, bytes)."""
    digests = [hashlib.sha256(blob).digest() for _, blob in items]
    pcrs = chain(digests)
    doc = {"algorithm": "sha256",
           "chain": "pcr_0 = 0^32; pcr_n = sha256(pcr_(n-1) || sha256(item_n))",
           "items": [{"name": name, "length": len(blob), "sha256": d.hex(), "pcr": p.hex()}
                     for (name, blob), d, p in zip(items, digests, pcrs)],
           "pcr": (pcrs[-1] if pcrs else ZERO_PCR).hex()}
    if whole is not None:
        name, blob = whole
        doc["image"] = {"name": name, "length": len(blob),
                        "sha256": hashlib.sha256(blob).hexdigest()}
    return doc
