"""Exceptions raised by neural-search. Every message names the cause and, where there is one, the fix."""

from __future__ import annotations


class NeuralSearchError(Exception):
    """Base class for all errors this library raises on purpose."""


class ConfigurationError(NeuralSearchError, ValueError):
    """A flag, environment variable or argument has a value that cannot work."""


class SourceFormatError(NeuralSearchError):
    """An input file or folder cannot be read as the format it claims to be."""


class EngineUnavailable(NeuralSearchError):
    """The engine could not be reached; the message names its URL."""

    def __init__(self, engine: str, url: str, cause: object = None):
        self.engine = engine
        self.url = url
        detail = f": {cause}" if cause else ""
        super().__init__(
            f"{engine} at {url} cannot be reached{detail}. Is it running? Start the local engines with "
            f"`make engines-up`, or point NEURAL_SEARCH_{engine.upper()}_URL (or --url) at your server."
        )


class AuthenticationError(NeuralSearchError):
    """The engine refused the credentials (401) or the user lacks a permission (403). Not an
    outage: the engine is there, and retrying cannot help until the credentials change."""

    def __init__(self, engine: str, url: str, status: int, detail: str):
        self.engine = engine
        self.url = url
        self.status = status
        super().__init__(f"{engine} at {url} refused the request: {detail}")


# Answers that may pass if the same request is sent again a little later (overloaded, a proxy in
# front of a restarting engine, a gateway timeout), for a whole request or for one document.
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})


class TransientEngineError(NeuralSearchError):
    """The engine refused a whole request for a reason that may pass (TRANSIENT_STATUSES, a timeout)."""

    def __init__(self, status: int | None, message: str):
        self.status = status
        super().__init__(message)


class PayloadTooLarge(NeuralSearchError):
    """The engine answered 413: the request body must be split."""


class IndexNotFound(NeuralSearchError):
    def __init__(self, engine: str, index: str):
        self.engine = engine
        self.index = index
        super().__init__(
            f"index {index!r} does not exist on {engine}. Build it first: "
            f"neural-search index --engine {engine} --index {index} --source PATH"
        )


class IndexMismatch(NeuralSearchError):
    """The index was built otherwise than asked for (model, analysis): a conflict with the index,
    not bad input (HTTP 409)."""


class ModelMismatch(IndexMismatch):
    """The model at hand is not the model the index was built with."""

    def __init__(self, index: str, index_fingerprint: dict | None, model_fingerprint: dict, hint: str):
        self.index_fingerprint = index_fingerprint
        self.model_fingerprint = model_fingerprint
        super().__init__(
            f"index {index!r} was built with model {describe_fingerprint(index_fingerprint)}, "
            f"but the model in use is {describe_fingerprint(model_fingerprint)}. {hint}"
        )


class IndexOptionsMismatch(IndexMismatch):
    """The index was built with other options (analysis) than the ones asked for."""

    def __init__(self, index: str, differences: list[str], hint: str):
        self.differences = differences
        super().__init__(f"index {index!r} was built with {'; '.join(differences)} asked for. {hint}")


class CapabilityError(NeuralSearchError):
    """The engine (or its version, or its installed plugins) cannot do what was asked."""


class PaginationError(NeuralSearchError, ValueError):
    pass


def describe_fingerprint(fp: dict | None) -> str:
    if not fp:
        return "<none recorded>"
    return (
        f"{fp.get('name')} (dim={fp.get('dimension')}, similarity={fp.get('similarity')}, "
        f"weights={str(fp.get('weights_sha256', ''))[:12]}, id={fp.get('id')})"
    )
