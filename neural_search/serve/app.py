"""The HTTP layer of `neural-search serve` (FastAPI): routes, the optional API key, JSON errors.

Every error leaves as JSON, `{"error": {"status", "type", "message"}}`, with the library's own
message (the one the CLI prints) and a status that says whose problem it is: 400 bad input, 401
no API key, 403 a wrong one, 404 an index or route that is not there, 409 a model that does not
match the index, 503 an engine that cannot be reached. A bug is a 500 whose stack trace goes to
the server's log only. Routes are plain `def`s: the search library is blocking, so FastAPI runs
them on its thread pool, and the shared SearchClients are thread-safe.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import threading
from importlib import resources
from pathlib import Path
from typing import Any, Union

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.responses import JSONResponse as _StdlibJSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import errors
from ..errors import (
    AuthenticationError, CapabilityError, ConfigurationError, EngineUnavailable, IndexNotFound, ModelMismatch, NeuralSearchError,
    PaginationError, PayloadTooLarge, SourceFormatError, TransientEngineError,
)
from .service import NotServed, SearchRequest, Service

log = logging.getLogger("neural_search.serve")


class JSONResponse(_StdlibJSONResponse):
    """JSON by orjson: a search answer (10 hits with text and explain, ~7 KB) took json.dumps
    0.2 ms, a fifth of what HTTP added per search (benchmarks/README.md, section 3)."""

    def render(self, content: Any) -> bytes:
        import orjson

        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)

API_KEY_HEADER = "X-API-Key"
API_KEY_COOKIE = "neural_search_api_key"  # the page sets it, so plots in the report view load too
STATIC = Path(str(resources.files("neural_search").joinpath("serve", "static")))

# Most specific first: the first class an error is an instance of decides its status.
STATUSES: tuple[tuple[type[Exception], int], ...] = (
    (NotServed, 404),
    (IndexNotFound, 404),
    (getattr(errors, "IndexMismatch", ModelMismatch), 409),  # built with another model or analysis than asked for
    (EngineUnavailable, 503),
    (TransientEngineError, 503),
    (AuthenticationError, 502),  # the engine refused *our* credentials: the server's set-up, not the caller's
    (PayloadTooLarge, 502),
    (CapabilityError, 400),
    (PaginationError, 400),
    (ConfigurationError, 400),
    (SourceFormatError, 400),
)


def status_of(exc: Exception) -> int:
    for cls, status in STATUSES:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(status: int, kind: str, message: str, details: list | None = None) -> JSONResponse:
    body: dict[str, Any] = {"status": status, "type": kind, "message": message}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


class SearchBody(BaseModel):
    """POST /search. Values (mode, fusion, k, filters...) are checked by the search library, which
    names the cause and the fix; this model only checks the JSON types."""

    model_config = ConfigDict(extra="forbid")

    q: str
    engine: str | None = None
    index: str | None = None
    mode: str = "hybrid"
    fusion: str | None = None
    fusion_at: str | None = None
    k: int = 10
    offset: int = 0
    filters: Union[dict[str, Any], list[str], None] = None
    weights: dict[str, float] | None = None
    explain: bool | None = None
    allow_fallback: bool = False
    qid: str | None = None
    fields: str | None = None
    tie_breaker: float | None = None
    profile: str | None = None


def parse_filter_strings(values: list[str]) -> dict:
    """The CLI's FIELD=VALUE / FIELD>=N syntax, with the CLI's message for a malformed one."""
    from ..cli import parse_filters

    try:
        return parse_filters(values)
    except ConfigurationError:
        raise
    except NeuralSearchError as exc:
        raise ConfigurationError(str(exc).replace("--filter", "filter", 1)) from None


def _validation_messages(exc: RequestValidationError) -> list[str]:
    messages = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        where, field = (loc[0], ".".join(loc[1:])) if loc else ("request", "")
        if error.get("type") == "json_invalid":
            messages.append(f"the request body is not valid JSON ({error.get('ctx', {}).get('error', 'syntax error')}); send a JSON object such as {{\"q\": \"space robots\"}}")
        elif where == "body" and not field and error.get("type") == "missing":
            messages.append('the request has no JSON body; send a JSON object such as {"q": "space robots"} with Content-Type: application/json')
        elif error.get("type") == "extra_forbidden":
            messages.append(f"unknown field {field!r}; known fields: {', '.join(SearchBody.model_fields)}")
        else:
            messages.append(f"{field or where}: {error.get('msg')}")
    return messages or ["invalid request"]


def create_app(
    service: Service, *, api_key: str | None = None, cors_origins: tuple[str, ...] = (), title: str = "neural-search", inline: bool = True,
    warm_up: bool = False,
) -> FastAPI:
    """The app for `service`. api_key: when set, every API route wants it in the X-API-Key header
    (or the page's cookie); it is compared in constant time and never logged or echoed. inline:
    run BM25 searches on in-process engines on the event loop; warm_up: call service.warm_up() on a
    thread once the server has started."""
    if api_key is not None and not api_key:
        raise ConfigurationError("the API key is empty; set the variable to a non-empty secret or leave the option out")
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        # warm_up: load the model once the server is up, not before: the first answers (health,
        # BM25, the page) do not wait for it, and start-up does not share the CPU with it.
        if warm_up:
            threading.Thread(target=service.warm_up, name="neural-search-warm-up", daemon=True).start()
        yield

    app = FastAPI(
        title=title, version="0.1.0", description="BM25, kNN and hybrid search on the indexes this server was started with.", lifespan=lifespan,
    )
    app.state.service = service
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"], allow_headers=[API_KEY_HEADER, "Content-Type"])

    expected = None if api_key is None else api_key.encode()

    async def check_key(request: Request) -> None:  # async: a sync dependency would cost a thread hop
        if expected is None:
            return
        given = request.headers.get(API_KEY_HEADER) or request.cookies.get(API_KEY_COOKIE)
        if not given:
            raise _Refused(401, f"this server needs an API key: send it in the {API_KEY_HEADER} header")
        if not hmac.compare_digest(given.encode(), expected):
            raise _Refused(403, f"the API key in the {API_KEY_HEADER} header is not the one this server was started with")

    guarded = [Depends(check_key)] if expected is not None else []  # no key: no dependency to solve per request

    async def run_search(request: SearchRequest) -> dict:
        # A BM25 search on an in-process engine is a fraction of a millisecond holding the GIL: a
        # worker thread would only add two hand-offs, so it runs here, on the event loop. Anything
        # that may encode a query (the model releases the GIL while it computes, and may still be
        # loading) or waits on an engine over the network goes to a thread.
        if inline and request.mode == "bm25" and service.in_process(request.engine):
            return service.search(request)
        return await run_in_threadpool(service.search, request)

    @app.exception_handler(_Refused)
    def _refused(request: Request, exc: _Refused):
        return error_response(exc.status, "Unauthorized" if exc.status == 401 else "Forbidden", exc.message)

    @app.exception_handler(NeuralSearchError)
    def _library_error(request: Request, exc: NeuralSearchError):
        status = status_of(exc)
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        return error_response(status, type(exc).__name__, str(exc))

    @app.exception_handler(RequestValidationError)
    def _bad_request(request: Request, exc: RequestValidationError):
        messages = _validation_messages(exc)
        return error_response(400, "BadRequest", "; ".join(messages), messages)

    @app.exception_handler(StarletteHTTPException)
    def _http_error(request: Request, exc: StarletteHTTPException):
        message = {404: f"no such route {request.url.path}; the API is /search, /indexes, /health, /judged, /report (see /docs)"}.get(
            exc.status_code, str(exc.detail)
        )
        return error_response(exc.status_code, "HTTPError", message)

    # Starlette re-raises the exception after this answer, so the server's log gets the trace.
    @app.exception_handler(Exception)
    def _bug(request: Request, exc: Exception):
        return error_response(500, "InternalError", f"internal error ({type(exc).__name__}); the server's log has the details")

    @app.get("/search", dependencies=guarded, summary="Search (query parameters; filters in the CLI's FIELD=VALUE syntax)")
    async def search_get(
        q: str, engine: str | None = None, index: str | None = None, mode: str = "hybrid", fusion: str | None = None, fusion_at: str | None = None,
        k: int = 10, offset: int = 0, filter: list[str] = Query(default=[], description="FIELD=VALUE, FIELD>=N, FIELD<N ... (repeatable)"),
        explain: bool | None = None, allow_fallback: bool = False, qid: str | None = None,
        fields: str | None = Query(default=None, description="BM25 fields, e.g. title^2,text (default: the index's content field)"),
        tie_breaker: float | None = None,
        profile: str | None = Query(default=None, description="a search profile the server was started with (--profile): its fusion, weights, depth and fields"),
    ):
        request = SearchRequest(
            q=q, engine=engine, index=index, mode=mode, fusion=fusion, fusion_at=fusion_at, k=k, offset=offset,
            filters=parse_filter_strings(filter) if filter else None, explain=explain, allow_fallback=allow_fallback, qid=qid,
            fields=fields, tie_breaker=tie_breaker, profile=profile,
        )
        return JSONResponse(await run_search(request))

    @app.post("/search", dependencies=guarded, summary="Search (JSON body; filters as an object, or a list in the CLI's syntax)")
    async def search_post(body: SearchBody):
        fields = body.model_dump()
        if isinstance(body.filters, list):
            fields["filters"] = parse_filter_strings(body.filters)
        return JSONResponse(await run_search(SearchRequest(**fields)))

    @app.get("/indexes", dependencies=guarded, summary="The served indexes: engine, document count, model fingerprint, analyzer")
    def indexes():
        return JSONResponse({"indexes": service.indexes()})

    @app.get("/health", dependencies=guarded, summary="Whether each configured engine answers (503 when one does not)")
    def health():
        report = service.health()
        return JSONResponse(report, status_code=200 if report["ok"] else 503)

    @app.get("/judged", dependencies=guarded, summary="The judged queries of --dataset")
    def judged():
        if service.judgments is None:
            raise NotServed("no judged collection here: start serve with --dataset DIR --split SPLIT")
        j = service.judgments
        return JSONResponse({"collection": j.name, "split": j.split, "queries": j.listing()})

    @app.get("/report", dependencies=guarded, response_class=HTMLResponse, summary="The comparison report of --report, as HTML")
    def report():
        return HTMLResponse(_render_report(_report_dir(service)))

    @app.get("/report-files/{path:path}", dependencies=guarded, include_in_schema=False)
    def report_file(path: str):
        folder = _report_dir(service).resolve()
        target = (folder / path).resolve()
        if folder not in target.parents or not target.is_file():
            raise StarletteHTTPException(404)
        return FileResponse(target)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message


def _report_dir(service: Service) -> Path:
    if service.report_dir is None:
        raise NotServed("no comparison report here: start serve with --report DIR (a folder `neural-search compare` wrote)")
    return service.report_dir


def _render_report(folder: Path) -> str:
    """report.md as a page; its relative links (the plots) resolve under /report-files/."""
    import html

    import markdown

    text = (folder / "report.md").read_text(encoding="utf-8")
    body = markdown.markdown(text, extensions=["tables", "fenced_code", "toc"])
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><base href="/report-files/">'
        f"<title>{html.escape(folder.name)}: comparison report</title>"
        '<link rel="stylesheet" href="/static/style.css"></head>'
        f'<body class="report"><nav><a href="/">&larr; search</a></nav><article id="report">{body}</article></body></html>'
    )
