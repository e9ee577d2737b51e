from django.urls import path

from gridcounter.interfaces.web import (
    counter_views,
    photo_views,
    reader_views,
    review_views,
    till_views,
    views,
)

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
    path("search/", views.search, name="search"),
    path("accounts/<str:number>/", views.account_detail, name="account"),
    path("accounts/<str:number>/payments/", views.take_payment_view, name="take_payment"),
    path("review/", review_views.review_queue, name="review_queue"),
    path("review/bills/<int:bill_id>/", review_views.review_bill, name="review_bill"),
    path("review/bills/<int:bill_id>/decide/", review_views.review_decide, name="review_decide"),
    path("reader/", reader_views.reader_route, name="reader_route"),
    path("reader/readings/", reader_views.reader_reading, name="reader_reading"),
    path("reader/notes/", reader_views.reader_access_note, name="reader_access_note"),
    path("readings/photos/<int:pk>/", photo_views.reading_photo, name="reading_photo"),
    path("readings/photos/<int:pk>/<str:size>/", photo_views.reading_photo_image, name="reading_photo_image"),
    path("reader/sw.js", reader_views.reader_service_worker, name="reader_service_worker"),
    path("accounts/<str:number>/readings/", counter_views.enter_reading, name="enter_reading"),
    path("payments/<int:pk>/", counter_views.payment_done, name="payment_done"),
    path("payments/<int:pk>/receipt.pdf", counter_views.receipt_pdf, name="receipt_pdf"),
    path("payments/<int:pk>/reverse/", counter_views.reverse_payment_view, name="reverse_payment"),
    path("bills/<int:pk>.pdf", counter_views.bill_pdf, name="bill_pdf"),
    path("supervisor/day/", counter_views.supervisor_day, name="supervisor_day"),
    path("till/", till_views.till, name="till"),
    path("till/close/", till_views.till_close, name="till_close"),
    path("till/<int:pk>/hand-over/", till_views.till_hand_over, name="till_hand_over"),
    path("supervisor/tills/", till_views.till_closes, name="till_closes"),
    path("supervisor/tills/<int:pk>/sign-off/", till_views.till_sign_off, name="till_sign_off"),
]
