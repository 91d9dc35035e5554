"""Connection settings for the server engines, from arguments or NEURAL_SEARCH_* environment variables.

Secrets never leave this object in readable form: the repr and `redacted()` mask them, and
error messages name the URL without credentials.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigurationError

ENGINES = ("embedded", "elasticsearch", "opensearch", "solr")
SERVER_ENGINES = ("elasticsearch", "opensearch", "solr")
DEFAULT_URLS = {
    "elasticsearch": "http://127.0.0.1:9200",
    "opensearch": "http://127.0.0.1:9201",
    "solr": "http://127.0.0.1:8983/solr",
}


def _env(engine: str, key: str) -> str | None:
    value = os.environ.get(f"NEURAL_SEARCH_{engine.upper()}_{key}")
    return value if value not in (None, "") else None


def strip_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


@dataclass(frozen=True)
class EngineConfig:
    engine: str
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    ca_certs: str | None = None
    verify_certs: bool = True
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.engine not in SERVER_ENGINES:
            raise ConfigurationError(f"unknown engine {self.engine!r}; choose one of {', '.join(SERVER_ENGINES)}")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"{self.engine} URL must look like http(s)://host:port, got {strip_credentials(self.url)!r}")
        if parts.username or parts.password:
            # Credentials inside the URL would leak into every log line that names the URL.
            if self.username or self.password:
                raise ConfigurationError("give credentials either in the URL or as username/password, not both")
            object.__setattr__(self, "username", parts.username)
            object.__setattr__(self, "password", parts.password)
            object.__setattr__(self, "url", strip_credentials(self.url))
        if (self.username is None) != (self.password is None):
            raise ConfigurationError(f"{self.engine}: basic auth needs both a username and a password")
        if self.api_key and self.engine == "solr":
            raise ConfigurationError("Solr takes basic auth, not API keys")
        if self.ca_certs and not os.path.isfile(self.ca_certs):
            raise ConfigurationError(f"{self.engine}: CA bundle {self.ca_certs} does not exist")
        if self.timeout <= 0:
            raise ConfigurationError("timeout must be positive")
        object.__setattr__(self, "url", self.url.rstrip("/"))

    def __repr__(self) -> str:
        secret = lambda v: None if v is None else "***"  # noqa: E731
        return (
            f"EngineConfig(engine={self.engine!r}, url={self.url!r}, username={self.username!r}, "
            f"password={secret(self.password)!r}, api_key={secret(self.api_key)!r}, ca_certs={self.ca_certs!r}, "
            f"verify_certs={self.verify_certs!r})"
        )

    __str__ = __repr__

    @classmethod
    def from_env(cls, engine: str, **overrides) -> "EngineConfig":
        """Arguments win over NEURAL_SEARCH_<ENGINE>_{URL,USERNAME,PASSWORD,API_KEY,CA_CERTS,VERIFY_CERTS}."""
        values = {
            "url": _env(engine, "URL") or DEFAULT_URLS.get(engine, ""),
            "username": _env(engine, "USERNAME"),
            "password": _env(engine, "PASSWORD"),
            "api_key": _env(engine, "API_KEY"),
            "ca_certs": _env(engine, "CA_CERTS"),
        }
        verify = _env(engine, "VERIFY_CERTS")
        if verify is not None:
            values["verify_certs"] = verify.lower() not in ("0", "false", "no", "off")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(engine=engine, **values)

    def with_url(self, url: str) -> "EngineConfig":
        return replace(self, url=url)
