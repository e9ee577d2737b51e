from django.urls import path

from gridcounter.interfaces.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
    path("search/", views.search, name="search"),
    path("accounts/<str:number>/", views.account_detail, name="account"),
    path("accounts/<str:number>/payments/", views.take_payment_view, name="take_payment"),
]
