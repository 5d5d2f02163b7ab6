"""Stable pseudonymous learner ids: never an email in the clear.

An email (xAPI ``mbox``, a Caliper ``mailto:`` actor, an account name that is
an address) becomes ``mbox_sha1:<sha1 of "mailto:" + lower-cased address>``,
which is exactly the xAPI ``mbox_sha1sum`` of that address: a tool that only
sends ``mbox_sha1sum`` and one that sends ``mbox`` map the same person to the
same learner id.

>>> from_mbox("mailto:Ada@Example.org")
'mbox_sha1:d714b8a95bd857a37405a7b56db9108b60ae42bd'
>>> from_mbox_sha1sum("D714B8A95BD857A37405A7B56DB9108B60AE42BD")
'mbox_sha1:d714b8a95bd857a37405a7b56db9108b60ae42bd'
>>> from_account("https://lms.example.com", "1234")
'account:https://lms.example.com|1234'
>>> from_iri("https://example.edu/users/554433")
'https://example.edu/users/554433'
"""

from __future__ import annotations

import hashlib
import re

_EMAIL = re.compile(r"^[^@\s/:]+@[^@\s/]+\.[^@\s/]+$")


def looks_like_email(value: str) -> bool:
    return bool(_EMAIL.match(value.strip()))


def from_email(address: str) -> str:
    digest = hashlib.sha1(f"mailto:{address.strip().lower()}".encode()).hexdigest()  # noqa: S324
    return f"mbox_sha1:{digest}"


def from_mbox(mbox: str) -> str:
    """``mailto:`` IRI -> pseudonymous id (the caller has checked the ``mailto:`` scheme)."""
    return from_email(mbox.split(":", 1)[1])


def from_mbox_sha1sum(hexsum: str) -> str:
    return f"mbox_sha1:{hexsum.lower()}"


def from_openid(uri: str) -> str:
    return f"openid:{uri}"


def from_account(home_page: str, name: str) -> str:
    if looks_like_email(name):
        return f"account:{home_page}|{from_email(name)}"
    return f"account:{home_page}|{name}"


def from_iri(iri: str) -> str:
    """A Caliper/Open edX actor id; ``mailto:`` IRIs and bare addresses are hashed."""
    if iri.lower().startswith("mailto:"):
        return from_mbox(iri)
    if looks_like_email(iri):
        return from_email(iri)
    return iri
