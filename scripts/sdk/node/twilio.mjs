// The official Twilio Node SDK against `telephony serve --sandbox`, unchanged except for
// the lines README "Testing your app against the sandbox" shows.
import twilio from "twilio";
import { assert, eq, expectError, run, runtime, waitFor } from "./check.mjs";

const SANDBOX_ACCOUNT_SID = runtime.sandboxAccountSid;
const SANDBOX_AUTH_TOKEN = runtime.sandboxAuthToken;
const SIMULATOR_URL = runtime.simulatorUrl;
// The README's lines:
const client = twilio(SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN);
client.api.baseUrl = client.messaging.baseUrl = SIMULATOR_URL;

const sender = runtime.sandboxNumbers[0];
const ALICE = "+12025550142";
const BOB = "+12025550143";
const ctx = {};

await run("twilio", [
  ["messages.create", async () => {
    const m = await client.messages.create({ to: ALICE, from: sender, body: "Hello from Node" });
    assert(m.sid.startsWith("SM") && m.sid.length === 34, m.sid);
    eq([m.status, m.to, m.from, m.numSegments], ["queued", ALICE, sender, "1"], "message");
    assert(m.dateCreated instanceof Date, "dateCreated is a Date");
    ctx.sms = m;
  }],
  ["messages(sid).fetch", async () => {
    const m = await waitFor("status", () => client.messages(ctx.sms.sid).fetch(),
      (m) => ["delivered", "undelivered", "failed"].includes(m.status));
    eq([m.sid, m.status, m.body], [ctx.sms.sid, "delivered", "Hello from Node"], "fetched");
  }],
  ["messages(sid).media.list", async () => {
    const m = await client.messages.create({ to: BOB, from: sender, body: "pic", mediaUrl: ["https://example.com/cat.jpg"] });
    const media = await client.messages(m.sid).media.list();
    eq(media.map((x) => [x.parentSid, x.contentType]), [[m.sid, "image/jpeg"]], "media");
    assert(media[0].sid.startsWith("ME"), media[0].sid);
  }],
  ["messages.list", async () => {
    for (let i = 0; i < 3; i++) await client.messages.create({ to: BOB, from: sender, body: `n${i}` });
    eq((await client.messages.list({ to: BOB })).length, 4, "to BOB");
    eq((await client.messages.list({ to: BOB, pageSize: 2 })).length, 4, "over pages");
    eq((await client.messages.list({ to: BOB, limit: 2 })).map((m) => m.body), ["n2", "n1"], "newest first");
    const tomorrow = new Date(Date.now() + 86400000);
    eq((await client.messages.list({ dateSentAfter: tomorrow })).length, 0, "sent after tomorrow");
  }],
  ["messages.create error 21211", () => expectError(
    () => client.messages.create({ to: "+15005550001", from: sender, body: "x" }),
    (e) => eq([e.status, e.code], [400, 21211], "error"))],
  ["messages(sid).fetch error 20404", () => expectError(
    () => client.messages("SM" + "0".repeat(32)).fetch(),
    (e) => eq([e.status, e.code], [404, 20404], "error"))],
  ["calls.create", async () => {
    const call = await client.calls.create({ to: ALICE, from: sender, twiml: "<Response><Say>Hi</Say></Response>" });
    assert(call.sid.startsWith("CA"), call.sid);
    eq([call.status, call.from, call.to], ["queued", sender, ALICE], "call");
    ctx.call = call;
  }],
  ["calls.list", async () => {
    await waitFor("completed", () => client.calls(ctx.call.sid).fetch(), (c) => c.status === "completed");
    eq((await client.calls.list({ to: ALICE })).map((c) => c.sid), [ctx.call.sid], "calls to ALICE");
    eq((await client.calls.list({ status: "in-progress" })).length, 0, "in progress");
  }],
  ["incomingPhoneNumbers.list", async () => {
    const numbers = await client.incomingPhoneNumbers.list({ phoneNumber: sender });
    eq(numbers.map((n) => n.phoneNumber), [sender], "numbers");
  }],
]);
