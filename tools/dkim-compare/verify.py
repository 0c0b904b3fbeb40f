"""Verifies the mails dkim-compare signed, with dkimpy, against the keys it
wrote: both signers' mails must pass before their speeds are compared."""
import sys

import dkim

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/dkim-compare"
ok = True
for alg in ("rsa", "ed25519"):
    txt = open(f"{out}/{alg}.txt").read().strip().encode()
    for who in ("ours", "theirs"):
        msg = open(f"{out}/{who}-{alg}.eml", "rb").read()
        passed = dkim.verify(msg, dnsfunc=lambda name, timeout=5: txt)
        print(f"{alg} {who}: {'pass' if passed else 'FAIL'}")
        ok = ok and passed
sys.exit(0 if ok else 1)
