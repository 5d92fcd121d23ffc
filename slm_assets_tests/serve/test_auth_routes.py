"""Every route of the app is behind the API key, except the few open ones, over HTTP.

The cases come from the app's own route table, so a route added later is checked without anyone
remembering to add it here.
"""

import httpx
import pytest

from slm_assets.serve.app import OPEN_PATHS, create_app
from slm_assets.serve.auth import ApiKeys
from slm_assets.serve.settings import ServeSettings
from slm_assets_tests.serve.helpers import API_KEY

# Route table of an app built without models: the same routes as any other.
_APP = create_app({}, ServeSettings(), api_keys=ApiKeys.from_keys(["collection-only"]))


def _route_cases(routes, prefix: str = "") -> list[tuple[str, str]]:
    cases = []
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI keeps include_router() entries nested
        if included is not None:
            cases += _route_cases(included.routes, prefix + route.include_context.prefix)
        elif getattr(route, "methods", None):
            cases += [(method, prefix + route.path) for method in sorted(route.methods - {"HEAD", "OPTIONS"})]
        else:  # a Mount: ask for a file inside it
            cases.append(("GET", f"{prefix}{route.path}/app.js"))
    return cases


CASES = _route_cases(_APP.routes)
OPEN = {(m, p) for m, p in CASES if p in OPEN_PATHS or p.startswith("/static/")}
PROTECTED = [c for c in CASES if c not in OPEN]


def test_the_route_table_is_what_we_think():
    paths = {p for _, p in CASES}
    assert {"/v1/chat/completions", "/v1/completions", "/v1/models", "/api/chat", "/api/generate", "/api/tags",
            "/healthz", "/readyz", "/metrics", "/", "/static/app.js"} <= paths
    assert {p for _, p in OPEN} == {"/healthz", "/readyz", "/", "/static/app.js"}


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_protected_route_needs_a_valid_key(server, method, path):
    with httpx.Client(base_url=server, timeout=30) as http:
        missing = http.request(method, path)
        wrong = http.request(method, path, headers={"Authorization": "Bearer wrong"})
        wrong_header = http.request(method, path, headers={"x-api-key": "wrong"})
        basic = http.request(method, path, headers={"Authorization": f"Basic {API_KEY}"})
        good = http.request(method, path, headers={"x-api-key": API_KEY})

    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "authentication_error"
    assert missing.json()["error"]["code"] == "missing_api_key"
    assert wrong.status_code == wrong_header.status_code == basic.status_code == 403
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert good.status_code not in (401, 403)  # POSTs without a body get 422: past the gate


@pytest.mark.parametrize(("method", "path"), sorted(OPEN), ids=[f"{m} {p}" for m, p in sorted(OPEN)])
def test_open_route_needs_no_key(server, method, path):
    response = httpx.request(method, server + path, timeout=30)
    assert response.status_code == 200


def test_paths_outside_the_route_table_are_protected_too(server):
    assert httpx.get(f"{server}/v1/secret", timeout=30).status_code == 401
    assert httpx.get(f"{server}/openapi.json", timeout=30).status_code == 401
    found = httpx.get(f"{server}/v1/secret", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)
    assert found.status_code == 404 and found.json()["error"]["message"]
