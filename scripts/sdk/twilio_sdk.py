"""The official Twilio Python SDK against `telephony serve --sandbox`, unchanged except
for the three lines README "Testing your app against the sandbox" shows."""

import datetime as dt
import http.server
import json
import sys
import threading
import urllib.parse

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from harness import Sandbox, binary, eq, run, wait_for

# Recipients in the 555-01xx range, reserved for fiction (never a real phone).
ALICE = "+12025550142"
BOB = "+12025550143"
FINAL = {"delivered", "undelivered", "failed"}


def client_for(rt, token=None):
    # The README's three lines:
    client = Client(rt["sandboxAccountSid"], token or rt["sandboxAuthToken"])
    client.api.base_url = rt["simulatorUrl"]
    client.messaging.base_url = rt["simulatorUrl"]
    return client


def expect_error(call, status, code):
    """Runs `call`, which must fail with this HTTP status and Twilio error code; returns
    the error's message. (A fetch or create raises TwilioRestException; a list raises
    TwilioException("Unable to fetch page", response).)"""
    try:
        call()
    except TwilioRestException as e:
        eq((e.status, e.code), (status, code), "the error")
        return e.msg
    except TwilioException as e:
        response = e.args[1]
        body = json.loads(response.text)
        eq((response.status_code, body["code"], body["status"]), (status, code, status), "the error")
        eq(body["more_info"], f"https://www.twilio.com/docs/errors/{code}", "more_info")
        return body["message"]
    raise AssertionError(f"expected a {status} ({code}), got no error")


class Callbacks(http.server.BaseHTTPRequestHandler):
    """The app's status callback endpoint: records every POST."""

    received = []

    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        Callbacks.received.append(
            (self.path, self.headers.get("X-Twilio-Signature"), dict(urllib.parse.parse_qsl(body)))
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def check_api_accounts_fetch(c):
    account = c.client.api.accounts(c.rt["sandboxAccountSid"]).fetch()
    eq(account.sid, c.rt["sandboxAccountSid"], "sid")
    eq(account.status, "active", "status")


def check_messages_create(c):
    m = c.client.messages.create(to=ALICE, from_=c.sender, body="Hello from the SDK")
    assert m.sid.startswith("SM") and len(m.sid) == 34, m.sid
    eq(m.status, "queued", "status")
    eq((m.to, m.from_, m.body), (ALICE, c.sender, "Hello from the SDK"), "to, from, body")
    eq((m.num_segments, m.num_media, m.direction), ("1", "0", "outbound-api"), "segments")
    assert isinstance(m.date_created, dt.datetime), m.date_created
    eq(m.date_created.tzinfo, dt.timezone.utc, "date_created's zone")
    c.sms = m


def check_messages_fetch(c):
    m = wait_for(
        "message status",
        lambda: c.client.messages(c.sms.sid).fetch(),
        lambda m: m.status in FINAL,
    )
    eq((m.sid, m.status, m.body), (c.sms.sid, "delivered", "Hello from the SDK"), "fetched")
    assert isinstance(m.date_sent, dt.datetime), m.date_sent


def check_messages_create_mms(c):
    m = c.client.messages.create(
        to=BOB, from_=c.sender, body="A picture", media_url=["https://example.com/cat.jpg"]
    )
    assert m.sid.startswith("MM"), m.sid
    eq(m.num_media, "1", "num_media")
    eq(m.subresource_uris["media"], f"/2010-04-01/Accounts/{c.account}/Messages/{m.sid}/Media.json", "media uri")
    c.mms = m


def check_messages_media_list(c):
    media = c.client.messages(c.mms.sid).media.list()
    eq(len(media), 1, "media count")
    assert media[0].sid.startswith("ME") and len(media[0].sid) == 34, media[0].sid
    eq(media[0].parent_sid, c.mms.sid, "parent_sid")
    eq(media[0].content_type, "image/jpeg", "content_type")
    fetched = c.client.messages(c.mms.sid).media(media[0].sid).fetch()
    eq(fetched.sid, media[0].sid, "media fetch")
    eq(c.client.messages(c.sms.sid).media.list(), [], "an SMS has no media")


def check_messages_create_messaging_service(c):
    mg = "MG" + "0" * 32
    m = c.client.messages.create(to=ALICE, messaging_service_sid=mg, body="Pooled")
    eq((m.status, m.messaging_service_sid, m.from_), ("accepted", mg, None), "pooled")


def check_messages_list(c):
    for i in range(3):
        c.client.messages.create(to=BOB, from_=c.sender, body=f"page test {i}")
    to_bob = c.client.messages.list(to=BOB)
    eq(len(to_bob), 4, "messages to BOB")  # the MMS and three texts
    eq([m.body for m in to_bob[:3]], ["page test 2", "page test 1", "page test 0"], "newest first")
    eq(len(c.client.messages.list(to=BOB, limit=2)), 2, "limit")
    # Paging: page_size 2 makes the SDK follow next_page_uri.
    eq(len(list(c.client.messages.stream(to=BOB, page_size=2))), 4, "streamed over pages")
    page = c.client.messages.page(to=BOB, page_size=3)
    eq(len(list(page)), 3, "first page")
    eq(len(list(page.next_page())), 1, "second page")
    eq(len(c.client.messages.list(from_=c.sender)), 5, "from the sender")  # not the pooled one


def check_messages_list_date_sent(c):
    today = dt.datetime.now(dt.timezone.utc)
    everything = c.client.messages.list()
    eq(len(everything), 6, "every message so far")
    eq(len(c.client.messages.list(date_sent_after=today + dt.timedelta(days=1))), 0, "after tomorrow")
    eq(len(c.client.messages.list(date_sent_before=today - dt.timedelta(days=1))), 0, "before yesterday")
    eq(
        len(c.client.messages.list(date_sent_after=today - dt.timedelta(hours=1))),
        len(everything),
        "after an hour ago",
    )
    eq(len(c.client.messages.list(date_sent=dt.date.today() - dt.timedelta(days=3))), 0, "three days ago")


def check_messages_update_redact(c):
    m = c.client.messages(c.sms.sid).update(body="")
    eq((m.sid, m.body), (c.sms.sid, ""), "redacted")
    eq(c.client.messages(c.sms.sid).fetch().body, "", "redacted on fetch")


def check_messages_delete(c):
    m = c.client.messages.create(to=ALICE, from_=c.sender, body="to delete")
    wait_for("final", lambda: c.client.messages(m.sid).fetch().status, lambda s: s in FINAL)
    eq(c.client.messages(m.sid).delete(), True, "delete")
    expect_error(lambda: c.client.messages(m.sid).fetch(), 404, 20404)


def check_error_21211(c):
    msg = expect_error(
        lambda: c.client.messages.create(to="+15005550001", from_=c.sender, body="x"), 400, 21211
    )
    eq(
        msg,
        "Unable to create record: The 'To' number +15005550001 is not a valid phone number.",
        "message",
    )


def check_error_20003(c):
    bad = client_for(c.rt, token="0" * 32)
    expect_error(lambda: bad.messages(c.sms.sid).fetch(), 401, 20003)
    expect_error(lambda: bad.messages.list(), 401, 20003)


def check_error_20404(c):
    expect_error(lambda: c.client.messages("SM" + "0" * 32).fetch(), 404, 20404)


def check_unsupported_filter(c):
    # A filter the simulator does not know is refused with a 400 naming it, never ignored
    # (sent through the SDK's own HTTP client: its list methods send only known filters).
    url = f"{c.rt['simulatorUrl']}/2010-04-01/Accounts/{c.account}/Calls.json"
    r = c.client.request("GET", url, params={"Bogus": "1"})
    eq(r.status_code, 400, "status")
    body = json.loads(r.text)
    eq(body["code"], 20001, "code")
    assert "does not support Bogus" in body["message"], body


def check_status_callback_signed(c):
    m = c.client.messages.create(
        to=ALICE, from_=c.sender, body="with a callback", status_callback=c.callback_url
    )
    got = wait_for(
        "status callbacks",
        lambda: [r for r in Callbacks.received if r[2].get("MessageSid") == m.sid],
        lambda rs: any(r[2].get("MessageStatus") == "delivered" for r in rs),
    )
    validator = RequestValidator(c.rt["sandboxAuthToken"])
    for path, signature, params in got:
        assert validator.validate(c.callback_url, params, signature), (path, params)
    eq([r[2]["MessageStatus"] for r in got], ["queued", "sent", "delivered"], "statuses")


def check_calls_create(c):
    call = c.client.calls.create(
        to=ALICE, from_=c.sender, twiml="<Response><Say>Hello</Say></Response>"
    )
    assert call.sid.startswith("CA") and len(call.sid) == 34, call.sid
    eq((call.status, call.to, call._from, call.direction), ("queued", ALICE, c.sender, "outbound-api"), "call")
    c.call = call


def check_calls_fetch(c):
    call = wait_for(
        "call status",
        lambda: c.client.calls(c.call.sid).fetch(),
        lambda call: call.status == "completed",
    )
    eq((call._from, call.to), (c.sender, ALICE), "from, to")
    assert isinstance(call.start_time, dt.datetime), call.start_time


def check_calls_list(c):
    calls = c.client.calls.list()
    eq([call.sid for call in calls], [c.call.sid], "every call")
    eq(len(c.client.calls.list(to=ALICE, status="completed")), 1, "to ALICE, completed")
    eq(len(c.client.calls.list(to=BOB)), 0, "to BOB")
    eq(len(c.client.calls.list(from_=c.sender)), 1, "from the sender")
    eq(len(c.client.calls.list(status="in-progress")), 0, "in progress")
    eq(len(c.client.calls.list(parent_call_sid="CA" + "1" * 32)), 0, "children of another call")
    day = dt.datetime.now(dt.timezone.utc)
    eq(len(c.client.calls.list(start_time_after=day - dt.timedelta(hours=1))), 1, "started since")
    eq(len(c.client.calls.list(start_time_before=day - dt.timedelta(days=1))), 0, "started before")
    eq(len(c.client.calls.list(end_time_after=day + dt.timedelta(days=1))), 0, "ended after")


def check_calls_update_cancel(c):
    call = c.client.calls.create(
        to=BOB, from_=c.sender, twiml="<Response><Pause length=\"30\"/></Response>"
    )
    ended = c.client.calls(call.sid).update(status="completed")
    assert ended.status in ("completed", "canceled"), ended.status


def check_incoming_phone_numbers_list(c):
    numbers = c.client.incoming_phone_numbers.list(phone_number=c.sender)
    eq([n.phone_number for n in numbers], [c.sender], "numbers")
    assert numbers[0].sid.startswith("PN"), numbers[0].sid
    eq(numbers[0].capabilities["sms"], True, "sms capability")


def check_unsupported_method(c):
    # A resource the simulator has, a method it does not: 501 naming it, never a 404.
    msg = expect_error(lambda: c.client.calls(c.call.sid).delete(), 501, 20004)
    assert "DELETE /2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json" in msg, msg


CHECKS = [(name[len("check_"):], fn) for name, fn in list(globals().items()) if name.startswith("check_")]


class Context:
    pass


def main():
    with Sandbox(binary(), "twilio") as sandbox:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Callbacks)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        c = Context()
        c.rt = sandbox.runtime
        c.account = c.rt["sandboxAccountSid"]
        c.sender = c.rt["sandboxNumbers"][0]
        c.client = client_for(c.rt)
        c.callback_url = f"http://127.0.0.1:{server.server_address[1]}/status"
        code = run("twilio", CHECKS, c)
        server.shutdown()
        if code:
            print(sandbox.output()[-4000:])
        return code


if __name__ == "__main__":
    sys.exit(main())
