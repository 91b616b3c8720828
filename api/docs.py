"""The API's Swagger UI page, served with its assets from this origin (no CDN, no inline script)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"  # swagger-ui.css and swagger-ui-bundle.js of the swagger-ui-bundle package
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)


@router.api_route("/docs", methods=["GET", "HEAD"], response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    """Swagger UI on ``/openapi.json``; its start-up script is the console's static ``docs.js``."""
    return templates.TemplateResponse(request, "docs.html", {"title": request.app.title})


def install(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets (create the app with ``docs_url=None, redoc_url=None``)."""
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")
    app.include_router(router)
