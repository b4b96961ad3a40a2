from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from webapp.keap_signin.provider import KeapProvider

urlpatterns = default_urlpatterns(KeapProvider)
