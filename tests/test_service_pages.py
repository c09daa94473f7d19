"""The service's pages and probe bodies (bento/pages.py) in process: the real server is in
test_service.py; here the states a running server rarely shows (starting, no model facts)."""

from __future__ import annotations

import json
import re

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bento.pages import HealthBodyMiddleware, pages_app

SERVING = {"model_version": "v7", "feature_service": "valuation_v1"}


def probes(ready: bool) -> Starlette:
    """BentoML's probes as it writes them: "\\n" bodies, a 500 while not ready."""

    async def livez(_):
        return PlainTextResponse("\n")

    async def readyz(_):
        if not ready:
            raise HTTPException(500)
        return PlainTextResponse("\n")

    app = Starlette(routes=[Route("/livez", livez), Route("/healthz", livez), Route("/readyz", readyz)])
    app.add_middleware(HealthBodyMiddleware, serving=lambda: SERVING)
    return app


def test_probes_answer_small_json_bodies_with_bentomls_status():
    ready = TestClient(probes(ready=True))
    assert ready.get("/livez").json() == {"status": "alive"}
    assert ready.get("/readyz").json() == {"status": "ready", **SERVING}
    starting = TestClient(probes(ready=False)).get("/readyz")
    assert starting.status_code == 500 and starting.json() == {"status": "starting"}


def test_the_home_page_names_the_service_its_model_and_links_the_docs():
    bentoml_info = {"title": "autovalue", "description": "[![pypi](https://img.shields.io/badge/BentoML)](...)"}
    client = TestClient(pages_app(lambda: SERVING, lambda: {"openapi": "3.0.2", "info": bentoml_info,
                                                            "paths": {"/valuate": {}}}))
    home = client.get("/")
    assert "<title>AutoValue valuation service</title>" in home.text and "model v7" in home.text
    assert '<a href="/docs">OpenAPI docs</a>' in home.text and "<script" not in home.text
    docs = client.get("/docs").text
    assert all(src.startswith("/docs/static/") for src in re.findall(r'<script src="([^"]+)"', docs))
    assert client.get("/docs/static/swagger-ui.css").status_code == 200
    info = client.get("/docs.json").json()["info"]
    assert info["title"] == "AutoValue valuation service" and "http" not in json.dumps(info)  # no badges
