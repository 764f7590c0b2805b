"""Which address a request comes from: the socket peer, unless a configured proxy vouches for another."""

import ipaddress

from hostplane.api.deps import resolve_client_ip

PROXIES = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.9.0.0/16"))


def test_the_socket_peer_is_the_client_without_forwarded_headers() -> None:
    assert resolve_client_ip("198.51.100.4", None, PROXIES) == "198.51.100.4"


def test_a_forwarded_header_from_an_untrusted_peer_is_ignored() -> None:
    assert resolve_client_ip("198.51.100.4", "10.1.2.3", PROXIES) == "198.51.100.4"


def test_a_trusted_proxy_is_believed() -> None:
    assert resolve_client_ip("127.0.0.1", "198.51.100.4", PROXIES) == "198.51.100.4"


def test_the_rightmost_untrusted_hop_wins_over_a_spoofed_leftmost_entry() -> None:
    assert resolve_client_ip("127.0.0.1", "10.1.2.3, 198.51.100.4, 10.9.1.1", PROXIES) == "198.51.100.4"


def test_garbage_in_the_forwarded_chain_falls_back_to_the_last_trusted_hop() -> None:
    assert resolve_client_ip("127.0.0.1", "not-an-ip", PROXIES) == "127.0.0.1"


def test_ipv4_mapped_ipv6_peers_are_folded_to_ipv4() -> None:
    assert resolve_client_ip("::ffff:198.51.100.4", None, PROXIES) == "198.51.100.4"
    assert resolve_client_ip("::ffff:127.0.0.1", "198.51.100.4", PROXIES) == "198.51.100.4"


def test_no_proxies_configured_means_nobody_is_believed() -> None:
    assert resolve_client_ip("127.0.0.1", "198.51.100.4", ()) == "127.0.0.1"
