import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


@override_settings(DEBUG=False)
def test_an_address_no_route_matches_gets_the_site_404_page(client):
    response = client.get("/blocks/a/b/c/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Nothing lives at this address" in html
    assert ">Explorer</a>" in html  # the site layout, not Django's bare page


@override_settings(DEBUG=False)
def test_a_server_error_page_needs_no_context_and_says_nothing_changed(client):
    from django.template.loader import render_to_string

    assert "nothing you stored was changed" in render_to_string("500.html")
