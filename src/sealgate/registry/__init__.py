"""The signed registry: a TUF repository of approved artifacts (ARCHITECTURE.md "Formats: Registry").

``layout`` fixes names and paths; ``view`` is the gate's offline, import-light verifier of
the cached metadata; ``repository``/``proposal`` write the registry with python-tuf;
``client`` pins roots and refreshes with ``tuf.ngclient``.
"""
