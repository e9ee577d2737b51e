from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

from gridcounter.interfaces.api.root import api

# the admin names the product, in the user's language, not "Django administration"
admin.site.site_header = _("GridCounter administration")
admin.site.site_title = _("GridCounter administration")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # browsers ask for /favicon.ico on pages that name no icon (the admin's): the project's icon, not a 404
    path("favicon.ico", RedirectView.as_view(url=static("web/favicon.svg"), permanent=True)),
    path("", include("gridcounter.interfaces.web.urls")),
]
