"""Connection settings for the server engines, from arguments or NEURAL_SEARCH_* environment variables.

Secrets never leave this object in readable form: the repr and `redacted()` mask them, and
error messages name the URL without credentials.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from urllib.parse import unquote, urlsplit

from .errors import ConfigurationError
from .registry import DEFAULT_URLS, SERVER_ENGINES

log = logging.getLogger(__name__)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _env(engine: str, key: str) -> str | None:
    value = os.environ.get(f"NEURAL_SEARCH_{engine.upper()}_{key}")
    return value if value not in (None, "") else None


def strip_credentials(url: str) -> str:
    """`url` without a `user:password@` part (safe to log and to put in messages), also when
    the URL is malformed (no scheme, a bad port)."""
    if not isinstance(url, str):
        return "<not a URL>"
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    ends = [i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0]
    authority_end = min(ends) if ends else len(rest)
    authority = rest[:authority_end]
    if "@" not in authority:
        return url
    return f"{scheme}{separator}{authority.rpartition('@')[2]}{rest[authority_end:]}"


def _parse_bool(engine: str, key: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigurationError(f"NEURAL_SEARCH_{engine.upper()}_{key} must be one of {', '.join(_TRUE + _FALSE)}, got {value!r}")


@dataclass(frozen=True)
class EngineConfig:
    engine: str
    url: str = ""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    ca_certs: str | None = None
    verify_certs: bool = True
    timeout: float = 30.0

    # Every node this config may talk to, the first one first: `url` is urls[0]. Given as a
    # comma-separated `url` ("http://n1:9200,http://n2:9200") or as `urls`; a client spreads its
    # requests over them and moves on to the next node when one stops answering.
    urls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.engine not in SERVER_ENGINES:
            raise ConfigurationError(f"unknown engine {self.engine!r}; choose one of {', '.join(SERVER_ENGINES)}")
        urls = self._split_urls()
        found: set[tuple[str | None, str | None]] = set()
        clean = []
        for url in urls:
            parts = self._check_url(url)
            if "@" in parts.netloc:
                found.add((unquote(parts.username) if parts.username is not None else None, unquote(parts.password) if parts.password is not None else None))
            clean.append(strip_credentials(url).rstrip("/"))
        if found:
            # Credentials inside the URL would leak into every log line that names the URL.
            if self.username is not None or self.password is not None:
                raise ConfigurationError("give credentials either in the URL or as username/password, not both")
            if len(found) > 1:
                raise ConfigurationError(f"{self.engine}: the node URLs carry different credentials; give them once as username/password")
            username, password = found.pop()
            object.__setattr__(self, "username", username)
            object.__setattr__(self, "password", password)
        if len(set(clean)) != len(clean):
            raise ConfigurationError(f"{self.engine}: a node URL is listed twice: {', '.join(clean)}")
        schemes = {urlsplit(u).scheme for u in clean}
        if len(schemes) > 1:
            raise ConfigurationError(f"{self.engine}: mix of http and https node URLs ({', '.join(clean)}); use one scheme for every node")
        object.__setattr__(self, "urls", tuple(clean))
        object.__setattr__(self, "url", clean[0])
        if (self.username is None) != (self.password is None):
            raise ConfigurationError(
                f"{self.engine}: basic auth needs both a username and a password (set NEURAL_SEARCH_{self.engine.upper()}_PASSWORD, "
                f"or name the variable that holds it with --password-env)"
            )
        if self.username is not None and (not self.username or ":" in self.username):
            raise ConfigurationError(f"{self.engine}: a basic-auth username must be non-empty and cannot contain ':'")
        if self.api_key is not None and self.engine == "solr":
            raise ConfigurationError("Solr takes basic auth, not API keys")
        if self.api_key is not None and self.username is not None:
            raise ConfigurationError(f"{self.engine}: give either an API key or a username/password, not both")
        if self.ca_certs and not os.path.isfile(self.ca_certs):
            raise ConfigurationError(f"{self.engine}: CA bundle {self.ca_certs} does not exist")
        if not isinstance(self.timeout, (int, float)) or isinstance(self.timeout, bool) or self.timeout <= 0:
            raise ConfigurationError("timeout must be a positive number of seconds")
        if not self.verify_certs and self.url.startswith("https:"):
            log.warning("%s: TLS certificate verification is off for %s; use it only for testing", self.engine, self.url)

    def _split_urls(self) -> list[str]:
        if self.urls:
            if not isinstance(self.urls, (tuple, list)) or not all(isinstance(u, str) for u in self.urls):
                raise ConfigurationError(f"{self.engine}: urls must be a list of URL strings")
            if self.url and self.url not in self.urls and strip_credentials(self.url).rstrip("/") not in self.urls:
                raise ConfigurationError(f"{self.engine}: give the node URLs either as url or as urls, not both")
            urls = list(self.urls)
        else:
            if not isinstance(self.url, str):
                raise ConfigurationError(f"{self.engine} URL must be a string")
            urls = [u.strip() for u in self.url.split(",")]
        if not urls or any(not u for u in urls):
            raise ConfigurationError(
                f"{self.engine} URL must look like http(s)://host:port (several nodes: comma-separated, no empty entries)"
            )
        return urls

    def _check_url(self, url: str):
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ConfigurationError(f"{self.engine} URL must look like http(s)://host:port, got {strip_credentials(url)!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"{self.engine} URL must look like http(s)://host:port, got {strip_credentials(url)!r}")
        return parts

    def __repr__(self) -> str:
        secret = lambda v: None if v is None else "***"  # noqa: E731
        return (
            f"EngineConfig(engine={self.engine!r}, urls={self.urls!r}, username={self.username!r}, "
            f"password={secret(self.password)!r}, api_key={secret(self.api_key)!r}, ca_certs={self.ca_certs!r}, "
            f"verify_certs={self.verify_certs!r})"
        )

    __str__ = __repr__

    def redacted(self) -> dict:
        """The settings with secrets masked: for logs, reports and `describe()` output."""
        return {
            "engine": self.engine, "url": self.url, "urls": list(self.urls), "username": self.username,
            "password": None if self.password is None else "***", "api_key": None if self.api_key is None else "***",
            "ca_certs": self.ca_certs, "verify_certs": self.verify_certs, "timeout": self.timeout,
        }

    @property
    def auth(self) -> str:
        """How this config authenticates, without the secret: "none", "basic (user)" or "api key"."""
        if self.api_key is not None:
            return "api key"
        if self.username is not None:
            return f"basic ({self.username})"
        return "none"

    @classmethod
    def from_env(cls, engine: str, **overrides) -> "EngineConfig":
        """Arguments win over NEURAL_SEARCH_<ENGINE>_{URL,USERNAME,PASSWORD,API_KEY,CA_CERTS,VERIFY_CERTS,TIMEOUT}.

        Credentials come from one place: an API key argument replaces the environment's
        username/password, a username/password argument replaces its API key, and credentials
        inside a URL argument replace its username/password."""
        values = {
            "url": _env(engine, "URL") or DEFAULT_URLS.get(engine, ""),
            "username": _env(engine, "USERNAME"),
            "password": _env(engine, "PASSWORD"),
            "api_key": _env(engine, "API_KEY"),
            "ca_certs": _env(engine, "CA_CERTS"),
        }
        verify = _env(engine, "VERIFY_CERTS")
        if verify is not None:
            values["verify_certs"] = _parse_bool(engine, "VERIFY_CERTS", verify)
        timeout = _env(engine, "TIMEOUT")
        if timeout is not None:
            try:
                values["timeout"] = float(timeout)
            except ValueError:
                raise ConfigurationError(f"NEURAL_SEARCH_{engine.upper()}_TIMEOUT must be a number of seconds, got {timeout!r}") from None
        overrides = {k: v for k, v in overrides.items() if v is not None}
        url = overrides.get("url")
        if isinstance(url, str) and "@" in url.partition("://")[2].partition("/")[0]:
            values["username"] = values["password"] = None
        if "api_key" in overrides:
            values["username"] = values["password"] = None
        elif "username" in overrides or "password" in overrides:
            values["api_key"] = None
        values.update(overrides)
        return cls(engine=engine, **values)

    def with_url(self, url: str) -> "EngineConfig":
        """This config for other node URL(s) (one, or comma-separated), same credentials and TLS."""
        return replace(self, url=url, urls=())
