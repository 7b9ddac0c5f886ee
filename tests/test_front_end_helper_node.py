"""The front-end helper's bare-token function, run by Node (no browser needed): what older SDK
generations take, and the name the vendor's back-end page gives the callback."""

from __future__ import annotations

import json
import shutil
import subprocess  # nosec B404: runs node on a fixed script of this test
from pathlib import Path

import pytest

HELPER = (
    Path(__file__).resolve().parent.parent / "flask_token_broker" / "static" / "mindset-auth.js"
)
NODE = shutil.which("node")

SCRIPT = """
const calls = [];
globalThis.fetch = async (url) => {
  calls.push(url);
  await new Promise((resolve) => setTimeout(resolve, 20));
  return new Response(JSON.stringify({ authToken: 'tok-ada' }), {
    status: 200, headers: { 'Content-Type': 'application/json' },
  });
};
const helper = await import(process.argv[2]);
const [bare, shaped] = await Promise.all([
  helper.getAuthToken(),
  helper.createFetchAuthentication()(),
]);
const custom = await helper.createGetAuthToken({ url: '/broker/api/getusertoken' })();
let refused = null;
globalThis.fetch = async () => new Response(
  JSON.stringify({ error: 'not_signed_in', message: 'm', request_id: 'r', retryable: false }),
  { status: 401, headers: { 'Content-Type': 'application/json' } },
);
try { await helper.getAuthToken(); } catch (error) {
  refused = { name: error.name, code: error.code, status: error.status };
}
console.log(JSON.stringify({ bare, shaped, custom, calls, refused }));
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_get_auth_token_answers_the_bare_token_and_shares_the_request(tmp_path: Path) -> None:
    script = tmp_path / "run.mjs"
    script.write_text(SCRIPT)
    assert NODE is not None
    done = subprocess.run(  # nosec B603: fixed arguments, no shell
        [NODE, str(script), HELPER.as_uri()], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["bare"] == "tok-ada"
    assert result["shaped"] == {"token": "tok-ada"}
    assert result["custom"] == "tok-ada"
    # getAuthToken and fetchAuthentication asking at once share one broker request.
    assert result["calls"] == ["/api/getusertoken", "/broker/api/getusertoken"]
    assert result["refused"] == {"name": "BrokerAuthError", "code": "not_signed_in", "status": 401}
