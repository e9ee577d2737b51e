"""Administration of the registry: customers, premises, routes, accounts, meters, installations (with history).

Day-to-day changes go through the counter screens and their use cases; the admin is for the administrator.
"""
from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import Account, Customer, Installation, Meter, Premise, Route


class InstallationInline(admin.TabularInline):
    model = Installation
    extra = 0
    fields = ("meter", "account", "installed_date", "removed_date", "initial_readings", "final_readings")
    raw_id_fields = ("meter", "account")
    show_change_link = True


@admin.register(Customer)
class CustomerAdmin(SimpleHistoryAdmin):
    list_display = ("name", "kind", "id_type", "id_number", "phone")
    list_filter = ("kind", "id_type")
    search_fields = ("name", "=id_number", "phone")


@admin.register(Premise)
class PremiseAdmin(SimpleHistoryAdmin):
    list_display = ("address", "building", "city")
    list_filter = ("city",)
    search_fields = ("address", "building")
    list_select_related = ("city",)


@admin.register(Route)
class RouteAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "reading_day", "reader", "hall", "city")
    list_filter = ("city", "hall", "reading_day")
    search_fields = ("code", "name", "reader__username", "reader__display_name")
    list_select_related = ("city", "hall", "reader")
    raw_id_fields = ("reader",)


@admin.register(Account)
class AccountAdmin(SimpleHistoryAdmin):
    list_display = ("number", "customer", "tariff_id", "usage_category", "voltage", "status", "route", "home_hall",
                    "city")
    list_filter = ("city", "status", "usage_category", "tariff_id", "voltage", "bank_withholding", "home_hall")
    search_fields = ("=number", "customer__name", "=customer__id_number", "customer__phone", "premise__address")
    list_select_related = ("customer", "route", "home_hall", "city")
    raw_id_fields = ("customer", "premise", "route")
    inlines = [InstallationInline]
    show_full_result_count = False  # counting millions of accounts on every page is slow


@admin.register(Meter)
class MeterAdmin(SimpleHistoryAdmin):
    list_display = ("asset_number", "digits", "multiplier", "registers", "sends_intervals")
    list_filter = ("digits", "sends_intervals")
    search_fields = ("=asset_number",)
    inlines = [InstallationInline]
    show_full_result_count = False


@admin.register(Installation)
class InstallationAdmin(SimpleHistoryAdmin):
    list_display = ("meter", "account", "installed_date", "removed_date")
    list_filter = (("removed_date", admin.EmptyFieldListFilter),)
    search_fields = ("=meter__asset_number", "=account__number")
    list_select_related = ("meter", "account")
    raw_id_fields = ("meter", "account")
    date_hierarchy = "installed_date"
    show_full_result_count = False
