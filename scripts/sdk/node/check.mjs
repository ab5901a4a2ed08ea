// Shared by the Node SDK checks: the sandbox's runtime file, named checks, one totals line.
import { readFileSync } from "node:fs";

export const runtime = JSON.parse(readFileSync(process.env.SANDBOX_RUNTIME, "utf8"));

export function eq(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

export function assert(cond, what) {
  if (!cond) throw new Error(what);
}

export async function waitFor(what, fetch, done, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fetch();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function expectError(call, check) {
  try {
    await call();
  } catch (e) {
    check(e);
    return;
  }
  throw new Error("expected an error, got none");
}

/** Runs each [name, fn] in order; prints ok/FAIL per check and the totals; sets the exit code. */
export async function run(provider, checks) {
  let passed = 0;
  let failed = 0;
  for (const [name, fn] of checks) {
    try {
      await fn();
      passed += 1;
      console.log(`ok   ${name}`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}\n${e.stack}`);
    }
  }
  console.log(`sdk-${provider}-node: ${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}
