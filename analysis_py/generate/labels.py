"""Canonical vocabularies and the messy label variants each source system emits.

Staging canonicalises labels through the map seeds (``seeds/*_map.csv``) keyed on
``lower(trim(label))``; ``tests/python/generate/test_seeds.py`` asserts the seeds cover every
variant listed here, so adding a variant here without a seed row fails the tests.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

PRODUCTS = ("Payments", "Trade Finance", "Cash Management", "Digital Channels", "FX")
CHANNELS = ("chat", "phone", "portal", "email")
PRIORITIES = ("P1", "P2", "P3", "P4")
RAILS = ("SWIFT", "ACH", "RTP", "SEPA", "CHAPS", "FEDWIRE")
INITIATION_CHANNELS = ("portal", "api", "file", "manual")
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
SURFACES = ("portal", "mobile", "api")
SEGMENTS = ("Large Corporate", "Mid Corporate", "Financial Institution", "Public Sector")
TIERS = ("Platinum", "Gold", "Silver", "Bronze")
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "HKD", "SGD", "INR")
MINOR_DIGITS = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "HKD": 2, "SGD": 2, "INR": 2}
EVENT_TYPES = (
    "opened",
    "assigned",
    "first_response",
    "pending_client",
    "reopened",
    "resolved",
    "closed",
)

CHANNEL_VARIANTS = {
    "email": ("email", "E-mail", "EMAIL ", "Email", " e-mail", "E-Mail"),
    "chat": ("chat", "Chat", "chat ", "CHAT", "Live Chat"),
    "phone": ("phone", "Phone", "PHONE", "Telephone", " phone"),
    "portal": ("portal", "Portal", "web portal", "PORTAL", "Client Portal"),
}
PRIORITY_VARIANTS = {
    "P1": ("P1", "1", "Critical", "p1", "CRITICAL "),
    "P2": ("P2", "2", "High", "p2", "HIGH"),
    "P3": ("P3", "3", "Medium", "p3", "medium "),
    "P4": ("P4", "4", "Low", "p4", "LOW"),
}
INITIATION_VARIANTS = {
    "portal": ("portal", "Portal", "PORTAL", "Web Portal"),
    "api": ("api", "API", "Api", "H2H API"),
    "file": ("file", "H2H File", "FILE", "File Upload"),
    "manual": ("manual", "MANUAL", "Manual", "manual "),
}
SEVERITY_VARIANTS = {
    "SEV1": ("SEV1", "Sev 1", "1", "sev1", "SEV-1"),
    "SEV2": ("SEV2", "Sev 2", "2", "sev2", "SEV-2"),
    "SEV3": ("SEV3", "Sev 3", "3", "sev3", "SEV-3"),
    "SEV4": ("SEV4", "Sev 4", "4", "sev4", "SEV-4"),
}
SEGMENT_VARIANTS = {s: (s, s.upper(), s.lower(), f" {s}", f"{s}  ") for s in SEGMENTS}
RAIL_VARIANTS = {r: (r, r.lower(), r.title()) for r in RAILS}
EVENT_TYPE_VARIANTS = {e: (e, e.upper(), f"{e} ", e.title()) for e in EVENT_TYPES}
IS_TEST_VARIANTS = {True: ("Y", "true"), False: ("N", "false", None)}

#: seed file -> variants mapping (the test checks each seed covers its mapping).
SEED_MAPS = {
    "channel_map.csv": ("channel", CHANNEL_VARIANTS),
    "priority_map.csv": ("priority", PRIORITY_VARIANTS),
    "initiation_channel_map.csv": ("initiation_channel", INITIATION_VARIANTS),
    "severity_map.csv": ("severity", SEVERITY_VARIANTS),
    "segment_map.csv": ("segment", SEGMENT_VARIANTS),
}


def messy_labels(
    rng: np.random.Generator,
    codes: np.ndarray,
    canon: tuple[str, ...],
    variants: dict,
    clean_share: float = 0.6,
) -> pa.Array:
    """A string array where ``canon[codes[i]]`` is written as one of its variants.

    The first variant (the canonical spelling) is used with probability ``clean_share``,
    the others uniformly otherwise. Vectorised through a dictionary array.
    """
    vocab: list[str | None] = []
    offsets = np.zeros(len(canon), dtype=np.int64)
    lengths = np.zeros(len(canon), dtype=np.int64)
    for i, c in enumerate(canon):
        offsets[i] = len(vocab)
        lengths[i] = len(variants[c])
        vocab.extend(variants[c])
    n = len(codes)
    pick_clean = rng.random(n) < clean_share
    other = 1 + np.floor(rng.random(n) * (lengths[codes] - 1)).astype(np.int64)
    idx = offsets[codes] + np.where(pick_clean | (lengths[codes] == 1), 0, other)
    return dictionary_take(vocab, idx)


def dictionary_take(vocab: list[str | None], idx: np.ndarray) -> pa.Array:
    """``vocab[idx]`` as a plain Arrow string array (nulls where the vocab entry is None)."""
    arr = pa.DictionaryArray.from_arrays(
        pa.array(idx, type=pa.int32()), pa.array(vocab, type=pa.string())
    )
    return arr.cast(pa.string())
