"""OpenAI-shaped errors with the right HTTP status, never a stack trace.

    400 invalid parameter (ConfigError, validation)   401 bad or missing API key
    404 unknown model                                 413 request body too large
    429 over capacity / budget exhausted              502 upstream failed   504 upstream timed out
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ponder.errors import BackendError, BudgetExhaustedError, ConfigError, PonderError

log = logging.getLogger("ponder.server")


class APIError(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def to_api_error(e: BaseException) -> APIError:
    if isinstance(e, APIError):
        return e
    if isinstance(e, ConfigError):
        return APIError(400, str(e), param=e.param, code="invalid_parameter")
    if isinstance(e, BudgetExhaustedError):
        return APIError(429, str(e), type="budget_exhausted", code="budget_exhausted")
    if isinstance(e, BackendError):
        return APIError(504 if e.timeout else 502, f"upstream failure: {e}", type="upstream_error",
                        code="upstream_timeout" if e.timeout else "upstream_error")
    if isinstance(e, PonderError):
        return APIError(500, str(e), type="server_error")
    log.exception("unhandled error", exc_info=e)
    return APIError(500, "internal error (see the server log)", type="server_error")


def install(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api(request: Request, e: APIError) -> JSONResponse:
        return JSONResponse(e.body(), status_code=e.status)

    @app.exception_handler(PonderError)
    async def _ponder(request: Request, e: PonderError) -> JSONResponse:
        err = to_api_error(e)
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {}
        if first.get("type") == "json_invalid":  # its loc is a byte offset, not a parameter
            why = first.get("ctx", {}).get("error", "parse error")
            err = APIError(400, f"the request body is not valid JSON ({why})", code="invalid_json")
            return JSONResponse(err.body(), status_code=400)
        loc = ".".join(str(x) for x in first.get("loc", ())[1:]) or None
        if loc is None:  # the body as a whole (e.g. sent without Content-Type: application/json)
            err = APIError(400, f"the request body must be a JSON object sent as application/json "
                                f"({first.get('msg', 'invalid request')})", code="invalid_json")
            return JSONResponse(err.body(), status_code=400)
        err = APIError(400, f"{loc}: {first.get('msg', 'invalid request')}", param=loc, code="invalid_parameter")
        return JSONResponse(err.body(), status_code=400)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, e: HTTPException) -> JSONResponse:  # 404 and 405 from routing
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code)
        err = APIError(e.status_code, f"{request.method} {request.url.path}: {e.detail}", code=code)
        return JSONResponse(err.body(), status_code=e.status_code, headers=getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _other(request: Request, e: Exception) -> JSONResponse:
        err = to_api_error(e)
        return JSONResponse(err.body(), status_code=err.status)
