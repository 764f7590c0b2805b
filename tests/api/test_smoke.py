from tests.conftest import Account, Api


async def test_login_then_read_own_account(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await user_api.get("/api/v1/account")
    assert response.status_code == 200
    assert response.json()["username"] == "alice"
