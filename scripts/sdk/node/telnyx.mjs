// The official Telnyx Node SDK against `telephony serve --sandbox --provider telnyx`,
// unchanged except for the lines README "Testing your app against the sandbox" shows.
import Telnyx from "telnyx";
import { eq, expectError, run, runtime, waitFor } from "./check.mjs";

const SANDBOX_API_KEY = runtime.sandboxApiKey;
const SIMULATOR_URL = runtime.simulatorUrl;
// The README's lines (no retries here, so that a refusal shows at once):
const client = new Telnyx({ apiKey: SANDBOX_API_KEY, baseURL: SIMULATOR_URL + "/v2", maxRetries: 0 });

const sender = runtime.sandboxNumbers[0];
const profile = runtime.sandboxMessagingProfileId;
const ALICE = "+12025550142";
const ctx = {};

async function all(page) {
  const items = [];
  for await (const item of page) items.push(item);
  return items;
}

await run("telnyx", [
  ["messages.send", async () => {
    const m = (await client.messages.send({ from: sender, to: ALICE, text: "Hello from Node" })).data;
    eq([m.from.phone_number, m.to[0].phone_number, m.to[0].status, m.messaging_profile_id], [sender, ALICE, "queued", profile], "sent");
    ctx.sent = m;
  }],
  ["messages.retrieve", async () => {
    const m = await waitFor("status", async () => (await client.messages.retrieve(ctx.sent.id)).data,
      (m) => m.to[0].status === "delivered");
    eq([m.id, m.text], [ctx.sent.id, "Hello from Node"], "retrieved");
  }],
  ["messages.sendLongCode", async () => {
    const m = (await client.messages.sendLongCode({ from: sender, to: ALICE, text: "long code" })).data;
    eq([m.to[0].status, m.messaging_profile_id], ["queued", profile], "long code");
  }],
  ["messagingProfiles.list", async () => {
    eq((await all(client.messagingProfiles.list())).map((p) => p.id), [profile], "profiles");
  }],
  ["messagingProfiles.listPhoneNumbers", async () => {
    eq((await all(client.messagingProfiles.listPhoneNumbers(profile))).map((n) => n.phone_number), [sender], "numbers");
  }],
  ["phoneNumbers.messaging.list", async () => {
    eq((await all(client.phoneNumbers.messaging.list())).map((n) => [n.phone_number, n.messaging_profile_id]), [[sender, profile]], "numbers");
  }],
  ["messages.retrieve error 10005", () => expectError(
    () => client.messages.retrieve("00000000-0000-4000-8000-000000000000"),
    (e) => eq([e.status, e.error.errors[0].code], [404, "10005"], "error"))],
  ["messages.send error 40305", () => expectError(
    () => client.messages.send({ from: "+12025550199", to: ALICE, text: "x" }),
    (e) => eq([e.status, e.error.errors[0].code, e.error.errors[0].source.pointer], [422, "40305", "/from"], "error"))],
  ["authentication error 10009", () => expectError(
    () => new Telnyx({ apiKey: "KEY" + "0".repeat(32), baseURL: SIMULATOR_URL + "/v2", maxRetries: 0 }).messages.retrieve(ctx.sent.id),
    (e) => eq([e.status, e.error.errors[0].code], [401, "10009"], "error"))],
]);
