"""The official Telnyx Python SDK against `telephony serve --sandbox --provider telnyx`,
unchanged except for the lines README "Testing your app against the sandbox" shows."""

import datetime as dt
import http.server
import sys
import threading
import uuid

import telnyx
from telnyx import Telnyx

from harness import Sandbox, binary, eq, run, wait_for

ALICE = "+12025550142"
BOB = "+12025550143"


class Webhooks(http.server.BaseHTTPRequestHandler):
    """The app's webhook endpoint: records every POST (raw body and headers)."""

    received = []

    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length", "0"))
        Webhooks.received.append((self.rfile.read(length).decode(), dict(self.headers.items())))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def client_for(rt, key=None):
    # The README's lines (the SDK retries 5xx twice by default; none here, so a 501 shows
    # at once):
    return Telnyx(api_key=key or rt["sandboxApiKey"], base_url=rt["simulatorUrl"] + "/v2", max_retries=0)


def expect_error(call, error_type, status, code, pointer=None):
    """Runs `call`, which must raise `error_type` with this status and Telnyx code; returns
    the first error object."""
    try:
        call()
    except error_type as e:
        eq(e.status_code, status, "status")
        first = e.body["errors"][0] if isinstance(e.body, dict) else e.body[0]
        eq(first["code"], str(code), "code")
        if pointer is not None:
            eq(first["source"]["pointer"], pointer, "pointer")
        return first
    raise AssertionError(f"expected {error_type.__name__} {status} ({code}), got no error")


def check_messages_send(c):
    r = c.client.messages.send(from_=c.sender, to=ALICE, text="Hello from the SDK")
    m = r.data
    eq(str(uuid.UUID(m.id)), m.id, "id is a UUID")
    eq((m.record_type, m.direction, m.type), ("message", "outbound", "SMS"), "kind")
    eq((m.from_.phone_number, m.to[0].phone_number, m.to[0].status), (c.sender, ALICE, "queued"), "from/to")
    eq((m.text, m.parts, m.encoding), ("Hello from the SDK", 1, "GSM-7"), "text")
    eq(m.messaging_profile_id, c.profile, "the sender's profile")
    assert isinstance(m.received_at, dt.datetime), m.received_at
    c.sent = m


def check_messages_retrieve(c):
    m = wait_for(
        "message status",
        lambda: c.client.messages.retrieve(c.sent.id).data,
        lambda m: m.to[0].status in ("delivered", "sending_failed", "delivery_failed"),
    )
    eq((m.id, m.to[0].status), (c.sent.id, "delivered"), "retrieved")
    assert isinstance(m.completed_at, dt.datetime), m.completed_at


def check_messages_send_long_code(c):
    m = c.client.messages.send_long_code(from_=c.sender, to=BOB, text="Long code").data
    eq((m.from_.phone_number, m.to[0].phone_number, m.to[0].status), (c.sender, BOB, "queued"), "long code")
    eq(m.messaging_profile_id, c.profile, "profile")
    eq(c.client.messages.retrieve(m.id).data.text, "Long code", "retrieved")


def check_messages_send_mms(c):
    m = c.client.messages.send(
        from_=c.sender, to=BOB, text="A picture", media_urls=["https://example.com/cat.jpg"]
    ).data
    eq((m.type, [x.url for x in m.media]), ("MMS", ["https://example.com/cat.jpg"]), "mms")


def check_webhooks_unwrap(c):
    # The status webhooks of a send, verified by the SDK with the sandbox's public key.
    m = c.client.messages.send(from_=c.sender, to=BOB, text="with webhooks", webhook_url=c.webhook_url).data
    got = wait_for(
        "webhooks",
        lambda: [w for w in Webhooks.received if m.id in w[0]],
        lambda ws: len(ws) == 2,
    )
    events = [c.client.webhooks.unwrap(body, headers=headers, key=c.rt["sandboxPublicKey"]) for body, headers in got]
    eq([e.data.event_type for e in events], ["message.sent", "message.finalized"], "events")
    eq([e.data.payload.id for e in events], [m.id, m.id], "message ids")
    eq(events[1].data.payload.to[0].status, "delivered", "final status")
    body, headers = got[0]
    try:
        c.client.webhooks.unwrap(body.replace("with webhooks", "forged"), headers=headers, key=c.rt["sandboxPublicKey"])
    except ValueError as e:
        eq(str(e), "Signature verification failed: signature does not match payload", "forged")
    else:
        raise AssertionError("a forged webhook verified")


def check_calls_dial(c):
    # A call from the sandbox's Call Control application, its webhooks to this app.
    Webhooks.received.clear()
    r = c.client.calls.dial(
        connection_id=c.rt["sandboxConnectionId"], to=ALICE, from_=c.sender, webhook_url=c.webhook_url
    ).data
    assert r.call_control_id.startswith("v3:"), r.call_control_id
    eq(r.record_type, "call", "record_type")
    assert r.call_leg_id and r.call_session_id, r
    c.call = r


def check_calls_retrieve_status(c):
    status = c.client.calls.retrieve_status(c.call.call_control_id).data
    eq((status.call_control_id, status.call_leg_id), (c.call.call_control_id, c.call.call_leg_id), "ids")


def check_calls_actions_hangup(c):
    eq(c.client.calls.actions.hangup(c.call.call_control_id).data.result, "ok", "hangup")
    got = wait_for(
        "call webhooks",
        lambda: [w for w in Webhooks.received if c.call.call_control_id in w[0]],
        lambda ws: any('"call.hangup"' in body for body, _ in ws),
    )
    events = [c.client.webhooks.unwrap(body, headers=h, key=c.rt["sandboxPublicKey"]) for body, h in got]
    types = [e.data.event_type for e in events]
    eq((types[0], types[-1]), ("call.initiated", "call.hangup"), f"events {types}")
    ended = wait_for(
        "not alive",
        lambda: c.client.calls.retrieve_status(c.call.call_control_id).data,
        lambda s: s.is_alive is False,
    )
    eq(ended.is_alive, False, "ended")


def check_messages_send_from_a_number_not_on_the_profile(c):
    first = expect_error(
        lambda: c.client.messages.send(from_="+12025550199", to=ALICE, text="x"),
        telnyx.UnprocessableEntityError,
        422,
        40305,
        "/from",
    )
    eq(first["title"], "Invalid 'from' address", "title")
    other = str(uuid.uuid4())
    first = expect_error(
        lambda: c.client.messages.send(from_=c.sender, messaging_profile_id=other, to=ALICE, text="x"),
        telnyx.UnprocessableEntityError,
        422,
        40305,
        "/from",
    )
    eq(
        first["detail"],
        f"The 'from' number {c.sender} is not in messaging profile {other} (it is in {c.profile}).",
        "detail",
    )


def check_messages_send_invalid_to(c):
    expect_error(
        lambda: c.client.messages.send(from_=c.sender, to="12345", text="x"),
        telnyx.UnprocessableEntityError,
        422,
        40310,
        "/to",
    )


def check_messages_retrieve_unknown(c):
    first = expect_error(
        lambda: c.client.messages.retrieve(str(uuid.uuid4())), telnyx.NotFoundError, 404, 10005
    )
    eq(first["title"], "Resource not found", "title")


def check_authentication_error(c):
    bad = client_for(c.rt, key="KEY" + "0" * 32)
    expect_error(lambda: bad.messages.retrieve(c.sent.id), telnyx.AuthenticationError, 401, 10009)


def check_messaging_profiles_list(c):
    profiles = list(c.client.messaging_profiles.list())
    eq([p.id for p in profiles], [c.profile], "profiles")
    eq((profiles[0].record_type, profiles[0].enabled), ("messaging_profile", True), "profile")
    name = profiles[0].name
    eq([p.id for p in c.client.messaging_profiles.list(filter_name_eq=name)], [c.profile], "by name")
    eq(list(c.client.messaging_profiles.list(filter_name_eq=name + "x")), [], "by another name")
    eq(len(list(c.client.messaging_profiles.list(filter_name_contains=name[2:6]))), 1, "name contains")


def check_messaging_profiles_retrieve(c):
    p = c.client.messaging_profiles.retrieve(c.profile).data
    eq((p.id, p.record_type), (c.profile, "messaging_profile"), "profile")


def check_messaging_profiles_list_phone_numbers(c):
    numbers = list(c.client.messaging_profiles.list_phone_numbers(c.profile))
    eq([n.phone_number for n in numbers], [c.sender], "numbers")
    eq(numbers[0].messaging_profile_id, c.profile, "profile")
    eq(numbers[0].record_type, "messaging_phone_number", "record_type")


def check_phone_numbers_list(c):
    numbers = list(c.client.phone_numbers.list(filter={"phone_number": c.sender}))
    eq([n.phone_number for n in numbers], [c.sender], "numbers")
    eq((numbers[0].status, numbers[0].messaging_profile_id), ("active", c.profile), "number")
    eq(list(c.client.phone_numbers.list(filter={"phone_number": "+19995550000"})), [], "no such number")
    c.number_id = numbers[0].id


def check_phone_numbers_messaging_retrieve(c):
    s = c.client.phone_numbers.messaging.retrieve(c.number_id).data
    eq((s.id, s.phone_number, s.messaging_profile_id), (c.number_id, c.sender, c.profile), "settings")
    eq(s.record_type, "messaging_settings", "record_type")


def check_phone_numbers_messaging_list(c):
    numbers = list(c.client.phone_numbers.messaging.list())
    eq([n.phone_number for n in numbers], [c.sender], "every number")
    eq(
        [n.phone_number for n in c.client.phone_numbers.messaging.list(filter_messaging_profile_id=c.profile)],
        [c.sender],
        "by profile",
    )
    eq(list(c.client.phone_numbers.messaging.list(filter_phone_number="+19995550000")), [], "by number")


def check_unsupported_filter(c):
    first = expect_error(
        lambda: list(c.client.phone_numbers.messaging.list(filter_type="shortcode")),
        telnyx.BadRequestError,
        400,
        10015,
    )
    assert "filter[type]" in first["detail"], first


def check_unsupported_method(c):
    # A resource the simulator has, a method it does not: 501 naming it, never a 404.
    first = expect_error(
        lambda: c.client.messaging_profiles.delete(c.profile), telnyx.APIStatusError, 501, 10015
    )
    assert "DELETE /v2/messaging_profiles/{id}" in first["detail"], first


CHECKS = [(name[len("check_"):], fn) for name, fn in list(globals().items()) if name.startswith("check_")]


class Context:
    pass


def main():
    with Sandbox(binary(), "telnyx") as sandbox:
        c = Context()
        c.rt = sandbox.runtime
        c.sender = c.rt["sandboxNumbers"][0]
        c.profile = c.rt["sandboxMessagingProfileId"]
        c.client = client_for(c.rt)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Webhooks)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        c.webhook_url = f"http://127.0.0.1:{server.server_address[1]}/webhooks"
        code = run("telnyx", CHECKS, c)
        server.shutdown()
        if code:
            print(sandbox.output()[-4000:])
        return code


if __name__ == "__main__":
    sys.exit(main())
