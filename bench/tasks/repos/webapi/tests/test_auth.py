def test_missing_token_is_401(client):
    assert client.request("GET", "/notes", as_user=None).status == 401


def test_wrong_scheme_is_401(client):
    from notes_api import Request

    response = client.app.handle(Request("GET", "/notes", {"Authorization": "Basic abc"}))
    assert response.status == 401


def test_expired_token_is_401(client, clock):
    clock.now += 601
    assert client.request("GET", "/notes").status == 401


def test_revoked_token_is_401(client):
    client.app.tokens.revoke(client.tokens["alice"])
    assert client.request("GET", "/notes").status == 401
