#!/usr/bin/env python3
"""Verifies the DKIM signature of one message with dkimpy, an independent
verifier, against a public key given on the command line instead of DNS.

    python3 tests/dkim_verify.py MESSAGE_FILE SELECTOR DOMAIN KEY_TYPE PUBLIC_KEY_B64 HEADER...

KEY_TYPE is rsa or ed25519; PUBLIC_KEY_B64 is the p= of the DKIM TXT record.
Exits 0 only if the message carries exactly one DKIM-Signature, by that
selector and domain, that verifies, and whose h= names every HEADER (case
does not matter). Anything else exits 1 and says why on stderr; exit 3 means
dkimpy (or for Ed25519, PyNaCl) is missing (`python3 -m pip install dkimpy pynacl`).
"""

import logging
import sys

try:
    import dkim
except ImportError:
    sys.stderr.write("dkimpy is not installed: python3 -m pip install dkimpy\n")
    sys.exit(3)


def main(argv):
    if len(argv) < 6:
        sys.stderr.write(__doc__)
        return 2
    path, selector, domain, key_type, public_key = argv[1:6]
    wanted = [h.lower() for h in argv[6:]]
    with open(path, "rb") as f:
        message = f.read()
    if key_type == "ed25519":
        try:
            import nacl  # noqa: F401  (dkimpy's Ed25519 needs PyNaCl)
        except ImportError:
            sys.stderr.write("PyNaCl is not installed: python3 -m pip install pynacl\n")
            return 3
    record = "v=DKIM1; k=%s; p=%s" % (key_type, public_key)
    expected_name = ("%s._domainkey.%s." % (selector, domain)).lower()

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii")
        if name.lower().rstrip(".") + "." == expected_name:
            return record.encode("ascii")
        sys.stderr.write("unexpected DNS query: %s\n" % name)
        return b""

    d = dkim.DKIM(message)
    signatures = [v for (k, v) in d.headers if k.lower() == b"dkim-signature"]
    if len(signatures) != 1:
        sys.stderr.write("expected one DKIM-Signature, found %d\n" % len(signatures))
        return 1
    if not d.verify(dnsfunc=dnsfunc):
        # Once more, telling why.
        logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
        dkim.DKIM(message, logger=logging.getLogger("dkim")).verify(dnsfunc=dnsfunc)
        sys.stderr.write("the signature does not verify\n")
        return 1
    tags = dkim.util.parse_tag_value(signatures[0].replace(b"\r\n", b""))
    if tags.get(b"s", b"").decode() != selector or tags.get(b"d", b"").decode().lower() != domain.lower():
        sys.stderr.write("signed by s=%r d=%r\n" % (tags.get(b"s"), tags.get(b"d")))
        return 1
    signed = [h.strip().lower() for h in tags[b"h"].decode("ascii").split(":")]
    missing = [h for h in wanted if h not in signed]
    if missing:
        sys.stderr.write("h= (%s) lacks %s\n" % (":".join(signed), ", ".join(missing)))
        return 1
    print("verified: c=%s h=%s" % (tags.get(b"c", b"simple/simple").decode(), ":".join(signed)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
