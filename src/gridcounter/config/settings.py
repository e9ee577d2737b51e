"""Django settings. Everything a deployment changes comes from the environment."""
import json
import os
from pathlib import Path

import dj_database_url

from gridcounter.domain.business_time import BUSINESS_TZ

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # src/gridcounter
REPO_DIR = PACKAGE_DIR.parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("GRIDCOUNTER_DEBUG", False)
SECRET_KEY = os.environ.get("GRIDCOUNTER_SECRET_KEY", "gridcounter-demo-only-key-change-me-in-production-0123456789")
ALLOWED_HOSTS = [h for h in os.environ.get("GRIDCOUNTER_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "simple_history",
    "axes",
    "gridcounter.data.org",
    "gridcounter.data.audit",
    "gridcounter.data.registry",
    "gridcounter.data.imports",
    "gridcounter.data.readings",
    "gridcounter.data.billing",
    "gridcounter.data.ledger",
    "gridcounter.data.notices",
    "gridcounter.data.withholding",
    "gridcounter.data.service",
    "gridcounter.interfaces.web",
    "gridcounter.interfaces.cli",
    "ninja",  # serves Swagger UI for /api/docs from its own static files, not from a public CDN
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "gridcounter.interfaces.web.middleware.SecurityHeadersMiddleware",
    "gridcounter.interfaces.api.middleware.ApiMethodNotAllowedMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
]

# Everything the pages load comes from this site: no public CDN, no inline script. blob: images: the preview of the
# register photo a reader has just taken, shown on the phone before it is sent.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)

ROOT_URLCONF = "gridcounter.config.urls"
WSGI_APPLICATION = "gridcounter.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# The database is chosen by DATABASE_URL (sqlite:///PATH or postgres://...); default: a SQLite file here.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{Path.cwd() / 'gridcounter.sqlite3'}", conn_max_age=60
    )
}
# SQLite: WAL, so that readers see the last commit while one writer works; synchronous=FULL, so that a commit is on
# disk when it returns (in WAL mode NORMAL may lose the last commits on a power cut or an OS crash: payments and bills
# a clerk was told were taken). FULL costs one sync of the WAL per commit (a bill run commits once per batch: bench/
# RESULTS.md); IMMEDIATE, so that a transaction takes the write lock at BEGIN (a deferred one that reads, then
# writes, fails at once with "database is locked" when another connection wrote in between).
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
         "transaction_mode": "IMMEDIATE"}
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "org.StaffUser"
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Login rate limiting (django-axes): 5 failures per username and address lock the pair for 15 minutes.
AXES_FAILURE_LIMIT = int(os.environ.get("GRIDCOUNTER_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "web/locked_out.html"

# Sessions: rotated at login by Django, ended at logout, and after 30 idle minutes.
SESSION_COOKIE_AGE = int(os.environ.get("GRIDCOUNTER_SESSION_IDLE_SECONDS", "1800"))
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Behind TLS in production set GRIDCOUNTER_SECURE_COOKIES=1; the demo serves plain http on 127.0.0.1.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("GRIDCOUNTER_SECURE_COOKIES", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = BUSINESS_TZ.key  # business dates; timestamps are stored in UTC
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path.cwd() / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Uploaded files (the photos of meter registers readers take with a reading). Beside the SQLite file by default;
# never served as /media/: every photo goes through its view, which checks role and city (MEDIA_URL routes nowhere).
MEDIA_ROOT = Path(os.environ.get("GRIDCOUNTER_MEDIA_ROOT", str(Path.cwd() / "media")))
MEDIA_URL = "/media/"
# A photo of the register with a reading: its largest size, and when the phone must send one: OPTIONAL, FLAGGED
# (a reading that breaks a rule is stored only with a photo), ALWAYS.
GRIDCOUNTER_READING_PHOTO_MAX_BYTES = int(os.environ.get("GRIDCOUNTER_READING_PHOTO_MAX_BYTES", str(8 * 1024 * 1024)))
GRIDCOUNTER_READING_PHOTO_REQUIRED = os.environ.get("GRIDCOUNTER_READING_PHOTO_REQUIRED", "OPTIONAL").strip().upper()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"axes": {"handlers": ["console"], "level": "WARNING"},
                "gridcounter.notices": {"handlers": ["console"], "level": "INFO"}},
}

# Tariff catalogues: every *.toml below these folders (os.pathsep-separated in GRIDCOUNTER_TARIFF_DIRS).
GRIDCOUNTER_TARIFF_DIRS = [
    Path(p) for p in os.environ.get("GRIDCOUNTER_TARIFF_DIRS", str(REPO_DIR / "tariffs")).split(os.pathsep) if p
]
GRIDCOUNTER_VALIDATION_RULES = Path(os.environ.get("GRIDCOUNTER_VALIDATION_RULES", str(REPO_DIR / "rules" / "validation.toml")))
# the back-billing rules after a meter test (Art. 80 and 81 of the Rules for Electricity Supply Business)
GRIDCOUNTER_BACK_BILLING_RULES = Path(os.environ.get("GRIDCOUNTER_BACK_BILLING_RULES",
                                                     str(REPO_DIR / "rules" / "back-billing.toml")))
# the late-payment penalty: rates, minimum, residential categories and the cap policy (Art. 98)
GRIDCOUNTER_PENALTY_RULES = Path(os.environ.get("GRIDCOUNTER_PENALTY_RULES", str(REPO_DIR / "rules" / "penalty.toml")))
GRIDCOUNTER_BANK_RULES = Path(os.environ.get("GRIDCOUNTER_BANK_RULES", str(REPO_DIR / "rules" / "banks.toml")))
# years of the working-day calendar the chinesecalendar package does not know yet (rules/working-calendar.toml)
GRIDCOUNTER_WORKING_CALENDAR = Path(os.environ.get("GRIDCOUNTER_WORKING_CALENDAR",
                                                   str(REPO_DIR / "rules" / "working-calendar.toml")))
# service request types: steps, roles, documents, time limits and guards (rules/service-requests.toml)
GRIDCOUNTER_SERVICE_REQUEST_TYPES = Path(os.environ.get("GRIDCOUNTER_SERVICE_REQUEST_TYPES",
                                                        str(REPO_DIR / "rules" / "service-requests.toml")))
# the largest document kept with a service request (a scan or a phone photo of an ID, a deed, a promise)
GRIDCOUNTER_SERVICE_DOCUMENT_MAX_BYTES = int(os.environ.get("GRIDCOUNTER_SERVICE_DOCUMENT_MAX_BYTES",
                                                            str(10 * 1024 * 1024)))
# AMI 15-minute interval files (Parquet, by period and route), as `gridcounter import-intervals` stores them.
GRIDCOUNTER_INTERVAL_DIR = Path(os.environ.get("GRIDCOUNTER_INTERVAL_DIR", str(Path.cwd() / "intervals")))
# the key of the journal entries' hash chain (data.ledger.guard.chain_key); empty: derived from SECRET_KEY
GRIDCOUNTER_LEDGER_CHAIN_KEY = os.environ.get("GRIDCOUNTER_LEDGER_CHAIN_KEY", "")
# Online payment gateways (docs/collections.md, "Online payment"): JSON in the environment, never in the repository,
# {"CODE": {"secret": "...", "halls": ["HALL-CODE", ...], "replay_window_seconds": 300}}; none when unset.
GRIDCOUNTER_PAYMENT_GATEWAYS = json.loads(os.environ.get("GRIDCOUNTER_PAYMENT_GATEWAYS", "") or "{}")

# Notices to customers (docs/notices.md): `gridcounter deliver-notices` sends what the outbox holds.
# SMS: the provider class named here (a dotted path); the default, LoggingSmsProvider, sends nothing: it writes
# each message to the log "gridcounter.notices.sms", for a site that has no SMS gateway contract yet.
GRIDCOUNTER_SMS_PROVIDER = os.environ.get("GRIDCOUNTER_SMS_PROVIDER",
                                          "gridcounter.application.notices.LoggingSmsProvider")
# E-mail goes through the utility's SMTP relay with Django's SMTP backend.
EMAIL_BACKEND = os.environ.get("GRIDCOUNTER_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("GRIDCOUNTER_SMTP_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("GRIDCOUNTER_SMTP_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("GRIDCOUNTER_SMTP_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("GRIDCOUNTER_SMTP_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("GRIDCOUNTER_SMTP_STARTTLS", "") == "1"
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = os.environ.get("GRIDCOUNTER_NOTICE_FROM", "gridcounter@localhost")
