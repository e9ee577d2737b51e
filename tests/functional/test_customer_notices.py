"""The customer screen shows what the customer was told: each notice's text, channel, masked number and fate."""
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from gridcounter.application.notices import NoticeText, deliver_notices, queue_notice

pytestmark = pytest.mark.django_db

AT = datetime(2026, 12, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(("language", "words"), [
    ("zh-hans", ["发给客户的通知", "短信", "已发送", "电子邮件", "等待发送", "1 次发送失败"]),
    ("en", ["Notices to the customer", "SMS", "Sent", "E-mail", "Waiting to be sent", "1 failed attempt"]),
])
def test_the_customer_screen_lists_the_notices_sent_and_waiting(client, small_city, settings, language, words):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # the relay is down: the e-mail waits
    account = small_city.account
    queue_notice(NoticeText(account=account, kind="BILL_SHOCK", subject="电费提醒",
                            body=f"户号{account.number}：2026-11电费 512.00 元。", source_type="billing.Bill",
                            source_id="77", email="wang@example.com"), created_at=AT)
    deliver_notices(now=AT + timedelta(minutes=1))
    client.force_login(small_city.clerk)

    page = client.get(reverse("account", args=[account.number]), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    section = page[page.index('data-testid="notices"'):]
    section = section[:section.index("</section>")]
    for word in words:
        assert word in section, word
    assert "138****8000" in section and "13800138000" not in section
    assert f"户号{account.number}：2026-11电费 512.00 元。" in section
