"""Where simulated traffic comes from: countries and time zones, ASNs and their address space, and the
client software (user agent plus the TLS fingerprint that client really produces)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

# country -> (UTC offset hours, residential ASNs, population weight)
COUNTRIES: dict[str, tuple[float, tuple[int, ...], float]] = {
    "US": (-6.0, (7922, 701, 7018, 20115, 22773), 0.26),
    "IN": (5.5, (24560, 55836, 45609), 0.10),
    "GB": (0.0, (2856, 5089, 5378), 0.06),
    "DE": (1.0, (3320, 3209, 6805), 0.06),
    "BR": (-3.0, (28573, 18881, 26599), 0.05),
    "FR": (1.0, (3215, 12322, 5410), 0.04),
    "CA": (-5.0, (812, 577, 852), 0.04),
    "JP": (9.0, (4713, 2516, 17676), 0.04),
    "ES": (1.0, (3352, 12479, 12430), 0.03),
    "MX": (-6.0, (8151, 28548), 0.03),
    "KR": (9.0, (4766, 9318), 0.02),
    "AU": (10.0, (1221, 4804, 7545), 0.02),
    "NL": (1.0, (1136, 33915), 0.02),
    "IT": (1.0, (3269, 30722, 1267), 0.02),
    "PL": (1.0, (5617, 12741), 0.02),
    "SG": (8.0, (9506, 4773), 0.02),
    "NG": (1.0, (29465, 36873), 0.02),
    "SE": (1.0, (3301, 2119), 0.01),
    "RU": (3.0, (12389, 8402, 25513), 0.02),
    "CN": (8.0, (4134, 4837), 0.01),
    "TR": (3.0, (9121, 47331), 0.02),
    "ID": (7.0, (7713, 23693), 0.02),
    "PH": (8.0, (9299, 132199), 0.01),
    "VN": (7.0, (7552, 45899), 0.01),
    "AR": (-3.0, (7303, 22927), 0.01),
    "ZA": (2.0, (37457, 3741), 0.01),
    "UA": (2.0, (15895, 25229), 0.01),
}
COUNTRY_CODES = tuple(COUNTRIES)
COUNTRY_WEIGHTS = np.array([COUNTRIES[c][2] for c in COUNTRY_CODES]) / sum(COUNTRIES[c][2] for c in COUNTRY_CODES)

# Cloud providers backends run in, and the cheap hosting ASNs proxy services rent from.
CLOUD_ASNS = {
    16509: "US",
    14618: "US",
    15169: "US",
    396982: "US",
    8075: "US",
    14061: "US",
    63949: "US",
    24940: "DE",
    16276: "FR",
}
CLOUD_MAIN = (16509, 14618, 15169, 396982, 8075)
HOSTING_ASNS = {
    24940: "DE",
    16276: "FR",
    14061: "NL",
    20473: "US",
    9009: "GB",
    60781: "NL",
    51167: "DE",
    63949: "SG",
    45102: "SG",
    132203: "HK",
    4785: "HK",
}
# National research and education networks / campus ASNs.
UNIVERSITY_ASNS = {
    3: "US",
    25: "US",
    237: "US",
    2152: "US",
    786: "GB",
    680: "DE",
    2200: "FR",
    1103: "NL",
    2907: "JP",
    7575: "AU",
    55824: "IN",
    1916: "BR",
    766: "ES",
    137: "IT",
    4538: "CN",
    2603: "SE",
    8501: "PL",
}
# Business ISPs corporate offices egress through.
BUSINESS_ASNS = {3356: "US", 174: "US", 6461: "US", 3257: "DE", 1299: "SE", 2914: "US", 6762: "IT", 5511: "FR"}

_RESERVED_FIRST_OCTETS = {0, 10, 100, 127, 169, 172, 192, 198, 203, 224}


def _prefixes(asn: int, n: int = 6) -> list[tuple[int, int]]:
    """A stable set of public /16 prefixes for an ASN (synthetic but shaped like real allocations)."""
    h = hashlib.blake2b(str(asn).encode(), digest_size=2 * n).digest()
    out = []
    for i in range(n):
        a = 2 + h[2 * i] % 220
        while a in _RESERVED_FIRST_OCTETS or a >= 224:
            a = (a + 7) % 223 + 1
        out.append((a, h[2 * i + 1]))
    return out


def ip_in(asn: int, rng: np.random.Generator, subnet: tuple[int, int, int] | None = None) -> str:
    """A random address in ``asn``'s space (or in the given /24)."""
    if subnet is None:
        subnet = subnet24(asn, rng)
    return f"{subnet[0]}.{subnet[1]}.{subnet[2]}.{int(rng.integers(2, 254))}"


def subnet24(asn: int, rng: np.random.Generator) -> tuple[int, int, int]:
    """A random /24 inside ``asn``'s space."""
    prefixes = _prefixes(asn)
    a, b = prefixes[int(rng.integers(len(prefixes)))]
    return (a, b, int(rng.integers(0, 256)))


def ipv6_in(asn: int, rng: np.random.Generator) -> str:
    """A residential-looking IPv6 address for ``asn``."""
    h = hashlib.blake2b(str(asn).encode(), digest_size=4).digest()
    groups = [int(x) for x in rng.integers(0, 65536, size=4)]
    return f"2a0{h[0] % 10}:{h[1]:x}{h[2]:02x}:{groups[0]:x}:{groups[1]:x}::{groups[2]:x}:{groups[3]:x}"


@dataclass(frozen=True, slots=True)
class Client:
    """One client build: its user agent and the TLS fingerprint its network stack really produces."""

    user_agent: str
    tls: str
    browser: bool


# JA4-style fingerprints per TLS stack (stable across versions of the same stack, as in reality).
TLS_CHROME = "t13d1516h2_8daaf6152771_e5627efa2ab1"
TLS_FIREFOX = "t13d1715h2_5b57614c22b0_3d5424432f57"
TLS_SAFARI = "t13d2014h2_a09f3c656075_14788d8d241b"
TLS_PYTHON = "t13d1812h2_85036bcba153_375ca2c5e164"
TLS_PYTHON_OLD = "t13d1811h2_85036bcba153_2a0e1c09bd33"
TLS_NODE = "t13d1712h2_5b57614c22b0_eeeea6562960"
TLS_GO = "t13d1311h2_f57a46bbacb6_ab7e3b40a677"
TLS_CURL = "t13d3112h2_e8f1e7e78f70_6bebaf5329ac"
TLS_OKHTTP = "t13d1713h2_5b57614c22b0_b0b3e1a6f2c9"
TLS_JAVA = "t13d4907h2_0d8feac7bc37_7395dae3b2f3"
TLS_DOTNET = "t13d1110h2_c866b44c5a26_9d0b8e4b5f23"

_WIN = "Windows NT 10.0; Win64; x64"
_MAC = "Macintosh; Intel Mac OS X 10_15_7"
_LINUX = "X11; Linux x86_64"


def _chrome(os_: str, v: int, edge: bool = False) -> Client:
    tail = f" Edg/{v}.0.0.0" if edge else ""
    return Client(
        f"Mozilla/5.0 ({os_}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36{tail}",
        TLS_CHROME,
        True,
    )


BROWSERS: tuple[Client, ...] = (
    *(_chrome(o, v) for o in (_WIN, _MAC, _LINUX) for v in (120, 121, 122, 123)),
    *(_chrome(_WIN, v, edge=True) for v in (121, 122)),
    Client(
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.6261.105 Mobile Safari/537.36",
        TLS_CHROME,
        True,
    ),
    Client(
        "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.178 Mobile Safari/537.36",
        TLS_CHROME,
        True,
    ),
    *(
        Client(f"Mozilla/5.0 ({o}; rv:{v}.0) Gecko/20100101 Firefox/{v}.0", TLS_FIREFOX, True)
        for o in (_WIN, _MAC, _LINUX)
        for v in (122, 123)
    ),
    Client(
        f"Mozilla/5.0 ({_MAC}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15", TLS_SAFARI, True
    ),
    Client(
        f"Mozilla/5.0 ({_MAC}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2.1 Safari/605.1.15",
        TLS_SAFARI,
        True,
    ),
    Client(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1",
        TLS_SAFARI,
        True,
    ),
    Client(
        "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
        TLS_SAFARI,
        True,
    ),
)
BROWSER_WEIGHTS = np.array(
    [
        3.0 if "Windows" in c.user_agent and "Chrome" in c.user_agent else 1.5 if c.tls == TLS_CHROME else 1.0
        for c in BROWSERS
    ]
)
BROWSER_WEIGHTS /= BROWSER_WEIGHTS.sum()

# What hydra proxies present: one scripted client, sometimes dressed up as a browser (the TLS stack gives it away).
PROXY_CLIENTS: tuple[Client, ...] = (
    Client("python-httpx/0.26.0", TLS_PYTHON, False),
    Client(
        f"Mozilla/5.0 ({_WIN}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36", TLS_GO, False
    ),
    Client("anthropic-python/0.42.0", TLS_PYTHON_OLD, False),
    Client("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", TLS_NODE, False),
    Client(
        f"Mozilla/5.0 ({_MAC}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36", TLS_PYTHON, False
    ),
    Client("axios/1.6.7", TLS_NODE, False),
    Client("anthropic-typescript/0.32.1", TLS_NODE, False),
)

# The official SDKs at the versions most developers run: what an adaptive attacker picks to blend in.
OFFICIAL_SDKS: tuple[Client, ...] = (
    *(Client(f"anthropic-python/{v}", TLS_PYTHON, False) for v in ("0.45.2", "0.47.0", "0.49.0", "0.50.1")),
    *(Client(f"anthropic-typescript/{v}", TLS_NODE, False) for v in ("0.36.3", "0.37.0", "0.39.0")),
)
SDKS: tuple[Client, ...] = (
    *OFFICIAL_SDKS,
    Client("python-httpx/0.27.0", TLS_PYTHON, False),
    Client("python-requests/2.31.0", TLS_PYTHON, False),
    Client("python-requests/2.28.2", TLS_PYTHON_OLD, False),
    Client("langchain-anthropic/0.1.23 anthropic-python/0.34.2", TLS_PYTHON, False),
    Client("llama-index/0.10.55 anthropic-python/0.40.0", TLS_PYTHON, False),
    Client("curl/8.5.0", TLS_CURL, False),
    Client("Go-http-client/2.0", TLS_GO, False),
    Client("okhttp/4.12.0", TLS_OKHTTP, False),
    Client("Java-http-client/17.0.10", TLS_JAVA, False),
    Client("anthropic-sdk-go/0.2.0-alpha.4", TLS_GO, False),
    Client("Anthropic.SDK/3.4.0 (.NET 8.0)", TLS_DOTNET, False),
    # the plain library clients proxies also use: ordinary scripts send them too
    *(c for c in PROXY_CLIENTS if not c.user_agent.startswith("Mozilla")),
)
SDK_WEIGHTS = np.array([4, 4, 5, 5, 3, 2, 3, 2, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1] + [1] * 5, dtype=float)[: len(SDKS)]
SDK_WEIGHTS /= SDK_WEIGHTS.sum()


def pick_browser(rng: np.random.Generator) -> Client:
    """A browser build, weighted by market share."""
    return BROWSERS[int(rng.choice(len(BROWSERS), p=BROWSER_WEIGHTS))]


def pick_sdk(rng: np.random.Generator) -> Client:
    """An SDK or HTTP library, weighted by popularity."""
    return SDKS[int(rng.choice(len(SDKS), p=SDK_WEIGHTS))]


OFFICIAL_SDK_WEIGHTS = SDK_WEIGHTS[: len(OFFICIAL_SDKS)] / SDK_WEIGHTS[: len(OFFICIAL_SDKS)].sum()


def pick_official_sdk(rng: np.random.Generator) -> Client:
    """An official SDK build, weighted by popularity (shared with many developers)."""
    return OFFICIAL_SDKS[int(rng.choice(len(OFFICIAL_SDKS), p=OFFICIAL_SDK_WEIGHTS))]


def pick_country(rng: np.random.Generator) -> str:
    """A billing/IP country, weighted by usage."""
    return COUNTRY_CODES[int(rng.choice(len(COUNTRY_CODES), p=COUNTRY_WEIGHTS))]


def residential_ip(country: str, rng: np.random.Generator) -> tuple[str, int]:
    """A home/mobile address in ``country``: (ip, asn)."""
    asn = int(rng.choice(COUNTRIES[country][1]))
    ip = ipv6_in(asn, rng) if rng.random() < 0.12 else ip_in(asn, rng)
    return ip, asn


_WIDE = {
    "US": (-2.0, -1.0, 0.0, 1.0),
    "CA": (-3.0, -2.0, 0.0, 1.5),
    "BR": (0.0, -1.0),
    "AU": (-2.0, 0.0, 1.0),
    "RU": (-1.0, 0.0, 2.0, 4.0),
    "MX": (0.0, -1.0, 1.0),
    "ID": (0.0, 1.0, 2.0),
}
VPN_ASNS = {9009: "GB", 60068: "NL", 212238: "US", 20473: "US", 136787: "SG"}


def local_offset(country: str, rng: np.random.Generator) -> float:
    """A person's UTC offset: the country's, spread over its time zones for wide countries."""
    shifts = _WIDE.get(country)
    return COUNTRIES[country][0] + (float(rng.choice(shifts)) if shifts else 0.0)


def cgnat_ip(country: str, rng: np.random.Generator) -> tuple[str, int]:
    """A mobile carrier's shared (CGNAT) egress address in ``country``: one /24 per carrier, so unrelated
    subscribers share addresses."""
    asn = COUNTRIES[country][1][-1]
    a, b = _prefixes(asn)[0]
    return f"{a}.{b}.{100 + asn % 50}.{int(rng.integers(1, 255))}", asn


def utc_offset(country: str) -> float:
    """The country's (representative) UTC offset in hours."""
    return COUNTRIES[country][0]
