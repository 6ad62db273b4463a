"""Small network facts shared by the collectors and the report delivery."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """'localhost' or a loopback IP address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
