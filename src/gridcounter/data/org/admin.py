"""Administration of the organisation: company, cities, halls, roles and staff users (with history)."""
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from .models import City, Company, Hall, Role, StaffUser


@admin.register(Company)
class CompanyAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


@admin.register(City)
class CityAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "province", "company")
    list_filter = ("company", "province")
    search_fields = ("code", "name")


@admin.register(Hall)
class HallAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "kind", "city", "address")
    list_filter = ("kind", "city")
    search_fields = ("code", "name", "address")
    list_select_related = ("city",)


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("code", "__str__")


@admin.register(StaffUser)
class StaffUserAdmin(UserAdmin, SimpleHistoryAdmin):
    list_display = ("username", "display_name", "hall", "role_list", "is_active", "is_staff", "last_login")
    list_filter = ("hall__city", "hall", "roles", "is_active", "is_staff", "is_superuser")
    search_fields = ("username", "display_name", "first_name", "last_name", "email")
    list_select_related = ("hall",)
    filter_horizontal = ("roles", "groups", "user_permissions")
    fieldsets = (
        *UserAdmin.fieldsets,
        (_("Service hall and roles"), {"fields": ("display_name", "hall", "roles")}),
    )
    add_fieldsets = (
        *UserAdmin.add_fieldsets,
        (_("Service hall and roles"), {"fields": ("display_name", "hall", "roles")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("roles")

    @admin.display(description=_("roles"))
    def role_list(self, obj):
        return ", ".join(str(role) for role in obj.roles.all())
