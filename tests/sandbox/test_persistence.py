"""The sandbox keeps its state in a file database: a restart forgets nothing."""

import requests

from tests.sandbox.server import bearer, run_sandbox


def test_tokens_survive_a_restart_on_the_same_database(tmp_path):
    with run_sandbox(tmp_path) as server:
        code = server.consent(server.authorize_url(state="s"), app="cd456")["code"]
        tokens = requests.post(
            f"{server.url}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": server.redirect_uris[0],
            },
            auth=(server.client_id, server.client_secret),
            timeout=5,
        ).json()
        server.restart()
        response = requests.get(
            f"{server.url}/crm/rest/v1/account/profile",
            headers=bearer(tokens["access_token"]),
            timeout=5,
        )
        assert response.status_code == 200
        assert response.json()["name"] == "Cedar Dental"
        refreshed = requests.post(
            f"{server.url}/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=(server.client_id, server.client_secret),
            timeout=5,
        )
        assert refreshed.status_code == 200
        assert server.stats()["token:refresh_token"] == 1
