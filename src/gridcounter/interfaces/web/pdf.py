"""PDF rendering for the counter (receipts, bills): a Django template through WeasyPrint, fonts embedded.

The stylesheet is a static file, never inline in an autoescaped template, so the CJK font name reaches
WeasyPrint intact (see RECIPES.md "PDF with Chinese text").
"""
from __future__ import annotations

from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.template.loader import render_to_string

PDF_CSS = "web/pdf.css"


def render_pdf(*, template: str, context: dict, request=None) -> bytes:
    """The template rendered as HTML, laid out as an A4 PDF with the CJK font subset embedded."""
    from weasyprint import CSS, HTML  # heavy import: only when a PDF is asked for

    html = render_to_string(template, context, request=request)
    stylesheet = CSS(filename=finders.find(PDF_CSS))
    # No base URL: the document refers to nothing outside itself, so nothing is fetched while rendering.
    return HTML(string=html).write_pdf(stylesheets=[stylesheet])


def pdf_response(*, content: bytes, filename: str) -> HttpResponse:
    """Shown in the browser's viewer (inline) so the clerk prints it from there; saved under ``filename``."""
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
