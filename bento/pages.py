"""What a person or a probe sees besides the API: AutoValue's own page at `/`, the OpenAPI UI
at `/docs` (spec at `/docs.json`) and small JSON bodies on the health probes.

BentoML's default `/` is its Swagger page with a third-party tag manager, and its probes answer
an empty body. The pages are a Starlette app mounted on the service (`Service.mount_asgi_app`,
BentoML's public way; mounts are matched before its own `/`); the Swagger UI files are the ones
BentoML ships, served from here, so no page loads anything from another host.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from autovalue.service_paths import READY_PATH
from bento.bentoml_internals import swagger_assets

HEALTH_PATHS = frozenset({"/healthz", "/livez", READY_PATH})
TITLE = "AutoValue valuation service"


def package_version() -> str:
    try:
        return metadata.version("autovalue")
    except metadata.PackageNotFoundError:  # a bento without the project installed as a package
        return "dev"


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #212121; }}
h1 {{ margin-bottom: .2rem; }} .facts {{ color: #616161; margin-top: 0; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #e0e0e0; }}
code, pre {{ background: #f5f5f5; border-radius: 4px; }} pre {{ padding: .8rem; white-space: pre-wrap; }}
</style></head>
<body>
<h1>{title}</h1>
<p class="facts">version {version} · model {model} · feature service {feature_service}</p>
<p>Values used-car listings: the price a car should sell for, an 80% interval, a confidence level,
a deal rating against what similar cars are asked, and the top value drivers in money.</p>
<p><a href="/docs">OpenAPI docs</a> (the <a href="/docs.json">spec as JSON</a>).</p>
<table>
<tr><th>endpoint</th><th>what</th></tr>
<tr><td><code>POST /valuate</code></td><td><code>{{"listing": {{...}}}}</code> → one valuation</td></tr>
<tr><td><code>POST /valuate_batch</code></td><td><code>{{"listings": [...]}}</code> → valuations, in order</td></tr>
<tr><td><code>POST /model_inputs</code></td><td>what the model sees for each listing</td></tr>
<tr><td><code>GET /healthz</code>, <code>/livez</code>, <code>/readyz</code></td><td>probes, no API key needed</td></tr>
<tr><td><code>GET /metrics</code></td><td>Prometheus</td></tr>
</table>
<pre>curl -s {origin}/valuate -H 'content-type: application/json' -H "X-API-Key: $AUTOVALUE_API_KEY" \\
  -d '{{"listing": {{"listing_id": "a1", "brand": "Toyota", "model": "Avanza", "year": 2020,
                   "mileage_km": 60000}}}}'</pre>
</body></html>
"""

DOCS = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}: OpenAPI docs</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: "/docs.json", dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null}});</script>
</body></html>
"""


DESCRIPTION = ("Values used-car listings: the price a car should sell for, an 80% interval, a confidence level, "
               "a deal rating against what similar cars are asked, and the top value drivers in money. "
               "Send the key in `X-API-Key` when the service has one.")


def serving_facts(model_ref, default_feature_service: str) -> Callable[[], dict]:
    """The model version and feature service this service serves, read once from the champion's
    entry in the model store (the workers load the same reference)."""
    facts: dict = {}

    def serving() -> dict:
        if not facts:
            stored = model_ref.stored
            meta_file = Path(stored.path) / "metadata.json" if stored is not None else None
            meta = json.loads(meta_file.read_text()) if meta_file and meta_file.exists() else {}
            facts.update(model_version=meta.get("version") or (stored.tag.version if stored else None),
                         feature_service=meta.get("feature_service") or default_feature_service)
        return dict(facts)

    return serving


def pages_app(serving: Callable[[], dict], spec: Callable[[], dict]) -> Starlette:
    """`serving()`: {"model_version", "feature_service"} of this service; `spec()`: its OpenAPI
    document as a dict (BentoML's, retitled)."""

    async def home(request: Request) -> HTMLResponse:
        facts = {k: html.escape(str(v or "–")) for k, v in serving().items()}
        origin = html.escape(str(request.base_url).rstrip("/"))
        return HTMLResponse(PAGE.format(title=TITLE, version=html.escape(package_version()), origin=origin,
                                        model=facts.get("model_version", "–"),
                                        feature_service=facts.get("feature_service", "–")))

    async def docs(_: Request) -> HTMLResponse:
        return HTMLResponse(DOCS.format(title=TITLE))

    async def docs_json(_: Request) -> JSONResponse:
        document = spec()
        # BentoML's info carries its badges (images from other hosts) and its team as contact.
        document["info"] = {"title": TITLE, "version": package_version(), "description": DESCRIPTION}
        return JSONResponse(document)

    return Starlette(routes=[
        Route("/", home), Route("/docs", docs), Route("/docs.json", docs_json),
        Mount("/docs/static", StaticFiles(directory=swagger_assets()), name="swagger-ui"),
    ])


class HealthBodyMiddleware:
    """The probes keep BentoML's status codes but answer a small JSON body: {"status": "alive"}
    on /livez and /healthz; on /readyz {"status": "ready", "model_version": ...} or
    {"status": "starting"}."""

    def __init__(self, app, serving: Callable[[], dict]):
        self.app = app
        self.serving = serving

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in HEALTH_PATHS:
            return await self.app(scope, receive, send)
        status = 500

        async def keep_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(scope, receive, keep_status)
        if scope["path"] != READY_PATH:
            body = {"status": "alive" if status == 200 else "unwell"}
        elif status == 200:
            body = {"status": "ready", **self.serving()}
        else:
            body = {"status": "starting"}
        data = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})
