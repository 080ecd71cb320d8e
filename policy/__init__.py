"""strata's policy rules (``policy.rules``) and the CrossGuard pack that wires them (``__main__.py``).

The rules import nothing but the standard library, so the same file runs in ``strata check`` / ``strata plan``
(offline, on resolved plans and cluster specs) and inside ``pulumi preview --policy-pack policy`` (on the
resources a program registers).
"""
