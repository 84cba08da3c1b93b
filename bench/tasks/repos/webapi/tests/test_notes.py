import io


def create(client, as_user="alice", **fields):
    body = {"title": "groceries", "body": "milk, eggs", **fields}
    response = client.request("POST", "/notes", as_user=as_user, body=body)
    assert response.status == 201, response.body
    return response.body


def test_create_and_get(client):
    note = create(client, tags=["home"])
    assert note["owner"] == "alice"
    got = client.request("GET", f"/notes/{note['id']}")
    assert got.status == 200
    assert got.body == note


def test_create_rejects_invalid_fields(client):
    response = client.request("POST", "/notes", body={"title": "", "body": 3, "color": "red"})
    assert response.status == 400
    assert response.body["error"] == "validation"
    assert set(response.body["details"]) == {"title", "body", "color"}


def test_create_requires_title_and_body(client):
    response = client.request("POST", "/notes", body={"tags": []})
    assert response.status == 400
    assert response.body["details"] == {"title": "is required", "body": "is required"}


def test_invalid_json_is_400(client):
    from notes_api import Request

    token = client.tokens["alice"]
    response = client.app.handle(Request("POST", "/notes", {"Authorization": f"Bearer {token}"}, b"{nope"))
    assert response.status == 400
    assert response.body["error"] == "invalid_json"


def test_list_shows_only_own_notes(client):
    create(client, as_user="alice")
    create(client, as_user="bob")
    titles = client.request("GET", "/notes", as_user="alice").body["items"]
    assert [n["owner"] for n in titles] == ["alice"]


def test_admin_lists_everything(client):
    create(client, as_user="alice")
    create(client, as_user="bob")
    assert len(client.request("GET", "/notes", as_user="root").body["items"]) == 2


def test_other_users_note_is_not_found(client):
    note = create(client, as_user="alice")
    assert client.request("GET", f"/notes/{note['id']}", as_user="bob").status == 404


def test_full_update(client):
    note = create(client)
    response = client.request("PATCH", f"/notes/{note['id']}",
                              body={"title": "errands", "body": "post office", "tags": ["todo"]})
    assert response.status == 200
    assert response.body["title"] == "errands"
    assert response.body["tags"] == ["todo"]


def test_update_of_other_users_note_is_not_found(client):
    note = create(client, as_user="alice")
    response = client.request("PATCH", f"/notes/{note['id']}", as_user="bob",
                              body={"title": "mine now", "body": ""})
    assert response.status == 404
    assert client.request("GET", f"/notes/{note['id']}").body["title"] == "groceries"


def test_owner_deletes_note(client):
    note = create(client)
    assert client.request("DELETE", f"/notes/{note['id']}").status == 204
    assert client.request("GET", f"/notes/{note['id']}").status == 404


def test_delete_missing_note_is_404(client):
    assert client.request("DELETE", "/notes/999").status == 404


def test_unknown_route_and_method(client):
    assert client.request("GET", "/nothing").status == 404
    assert client.request("PUT", "/notes").status == 405


def test_wsgi_adapter(client):
    note = create(client)
    captured = {}

    def start_response(status, headers):
        captured["status"] = status
        captured["headers"] = dict(headers)

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": f"/notes/{note['id']}", "QUERY_STRING": "",
               "HTTP_AUTHORIZATION": f"Bearer {client.tokens['alice']}", "wsgi.input": io.BytesIO(b"")}
    body = b"".join(client.app.wsgi(environ, start_response))
    assert captured["status"] == "200 OK"
    assert captured["headers"]["Content-Type"] == "application/json"
    assert b'"groceries"' in body
