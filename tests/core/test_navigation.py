import re

import pytest

pytestmark = pytest.mark.django_db

NAV = re.compile(r'<a href="(?P<href>[^"]+)" aria-current="page">')


@pytest.mark.parametrize(
    "path, current",
    [("/", "/"), ("/blocks/", "/blocks/"), ("/chain/", "/blocks/"), ("/experiments/", "/experiments/")],
)
def test_the_navigation_marks_the_section_of_the_page(client, path, current):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    for label in ("Dashboard", "Explorer", "Experiments", "Admin"):
        assert f">{label}</a>" in html
    assert [m["href"] for m in NAV.finditer(html)] == [current]
