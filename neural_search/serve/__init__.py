"""`neural-search serve`: the search library over HTTP, and a page that compares engines and modes.

    neural-search serve --demo                      # the embedded demo films, http://127.0.0.1:8765/
    neural-search serve --engines embedded,opensearch --index nfcorpus \\
        --dataset ../shared/datasets/nfcorpus --split test --report reports/example

service.py holds what the server does (one shared SearchClient per engine and index, judged
queries, health), app.py the HTTP layer (FastAPI routes, API key, JSON errors), command.py the
CLI verb, static/ the page (plain HTML, CSS and JavaScript, nothing fetched from elsewhere).
"""

from __future__ import annotations

# Only the CLI verb here: the CLI imports this package for every command, and FastAPI is imported
# by `serve` alone (neural_search.serve.app, neural_search.serve.service).
from .command import add_serve_parser, cmd_serve

__all__ = ["add_serve_parser", "cmd_serve"]
