"""GET /chat (the page), /chat/blind (its blind test), /chat/static/* (their files), and / redirecting to /chat.

The page itself needs no key (it holds no data; it asks for a key when the API answers 401). Its
Content-Security-Policy allows this origin only, so the browser refuses anything that would leave it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter()


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/chat")


@router.get("/chat", include_in_schema=False)
def chat_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=SECURITY_HEADERS)


@router.get("/chat/blind", include_in_schema=False)
def blind_page() -> FileResponse:
    """The blind test: the chat page's mode where a judge tells the owner's real reply from the clone's."""
    return FileResponse(STATIC_DIR / "blind.html", media_type="text/html", headers=SECURITY_HEADERS)


def install_page(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/chat/static", StaticFiles(directory=STATIC_DIR), name="chat-static")
