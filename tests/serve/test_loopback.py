"""is_loopback decides whether `vlaforge serve` may run without a token: IPs parsed, names resolved, never guessed from text."""

import socket

import pytest

from vlaforge.serve.server import is_loopback


def _resolver(table):
    """A stand-in DNS: name -> addresses, anything else fails like an unknown name (no traffic leaves the test)."""

    def resolve(host, port):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in table[host]]

    return resolve


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.5", "127.255.255.254", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_addresses(host):
    assert is_loopback(host, resolve=_resolver({}))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.1", "192.168.1.20", "8.8.8.8", "2001:db8::1", "", "128.0.0.1"])
def test_other_addresses_are_not_loopback(host):
    assert not is_loopback(host, resolve=_resolver({}))


def test_name_that_looks_like_loopback_but_does_not_resolve_is_not():
    assert not is_loopback("127.attacker.example", resolve=_resolver({}))


def test_name_is_loopback_only_if_every_address_is():
    dns = _resolver({"robot-local": ["127.0.0.1", "::1"], "mixed": ["127.0.0.1", "10.1.2.3"], "lan": ["192.168.0.9"]})
    assert is_loopback("robot-local", resolve=dns)
    assert not is_loopback("mixed", resolve=dns)
    assert not is_loopback("lan", resolve=dns)

