"""Signing in in a real browser (Playwright), as a member of staff types it."""
from __future__ import annotations

from playwright.sync_api import Page


def sign_in(page: Page, *, base: str, username: str, password: str) -> None:
    """Fill in the sign-in form at `base` and send it (without waiting: a refused sign-in stays on the page)."""
    page.goto(f"{base}/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator("form.stack button[type=submit]").click()


PHONE = {"width": 390, "height": 844}


def phone(browser, *, base: str, username: str, password: str, locale: str = "zh-CN"):
    """A phone-size browser context signed in as `username`: (context, page). The caller closes the context."""
    context = browser.new_context(viewport=PHONE, locale=locale, is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_in(page, base=base, username=username, password=password)
    page.wait_for_url(f"{base}/")
    return context, page
