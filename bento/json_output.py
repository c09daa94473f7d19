"""The batch endpoint's response body, written by pydantic-core in one pass.

BentoML's generic output path for `list[Valuation]` dumps every valuation to Python objects
twice, re-encodes them with the standard-library json module and builds the JSON schema again
for the content type: several times the cost of writing it here in one pass (measured in
process, bench/README.md). The class is still BentoML's root model of `list[Valuation]`, so the OpenAPI
schema and adaptive batching (which splits the list back per request) are unchanged.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from autovalue.valuation import VALUATION_LIST, Valuation
from bento.bentoml_internals import IORootModel


class ValuationList(IORootModel[list[Valuation]]):
    @classmethod
    async def to_http_response(cls, obj: Any, serde: Any) -> Response:
        return Response(VALUATION_LIST.dump_json(obj), media_type="application/json")
