"""The secrets every test configures, so one check can prove none of them ever leaks."""

API_KEY = "mk_live_0123456789abcdefSECRETKEY"
SECRET_KEY = "flask-session-secret-0123456789abcdef"
TYPINGMIND_SECRET = "tm-jwt-secret-0123456789abcdef0123456789"
APP_UID = "app-uid-0123"
IDP_JWT_SECRET = "idp-hs256-secret-0123456789abcdef0123456789"

ALL = (API_KEY, SECRET_KEY, TYPINGMIND_SECRET, IDP_JWT_SECRET)
