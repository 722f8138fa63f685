"""Addresses for the show's network controls (the web page, OSC): parsing ``[HOST:]PORT``, which
hosts count as this machine, and which senders are allowed."""

import ipaddress
import socket

from offline.errors import UserError

LOOPBACK = "127.0.0.1"


def parse_address(text, flag, default_port, default_host=LOOPBACK):
    """``PORT``, ``HOST:PORT`` or ``HOST`` -> (host, port); ``flag`` names the option in errors."""
    text = str(text).strip()
    host, _, port = text.rpartition(":") if ":" in text else ("", "", text)
    if not port.isdigit() and not host:  # a bare host
        host, port = text, str(default_port)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"{flag} {text}: expected PORT, HOST:PORT or HOST (port 1..65535)")
    return host.strip("[]") or default_host, int(port)


def is_loopback(host):
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_ip(host):
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def local_names():
    """Names a browser may use for this machine (beyond IP literals, which need no DNS and so
    cannot be rebound): localhost and the host's own name."""
    name = socket.gethostname().lower()
    return {"localhost", name, f"{name}.local", socket.getfqdn().lower()}


def parse_allow(text, flag="--osc-allow"):
    """'IP[,IP|NETWORK...]' or 'any' -> a list of networks (None: any sender)."""
    text = str(text).strip()
    if text.lower() == "any":
        return None
    nets = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise UserError(f"{flag}: {part!r} is not an IP address or network (e.g. 192.168.1.20 or 192.168.1.0/24)") from None
    if not nets:
        raise UserError(f"{flag}: name at least one sender address, or 'any'")
    return nets


def allowed(address, nets):
    """Is the sender ``address`` (an IP string) in ``nets`` (None: anyone)? Loopback always is."""
    if nets is None:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or any(ip in n for n in nets if n.version == ip.version)
