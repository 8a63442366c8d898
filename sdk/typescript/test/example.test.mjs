// examples/node-backend against `labgate demo`: it gets a token through the SDK and GitLab's
// GET /api/v4/user answers with it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startDemo } from "../test-support/demo.mjs";
import { connectUser } from "../test-support/oauth.mjs";

const run = promisify(execFile);
const example = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "examples", "node-backend");

let demo;
before(async () => {
  demo = await startDemo();
  // The example's one dependency is this package, linked from the working tree: no registry.
  await run("npm", ["ci", "--no-audit", "--no-fund", "--offline"], { cwd: example });
});
after(async () => {
  await demo?.stop();
});

async function runExample(extra = {}) {
  return run(process.execPath, ["index.mjs"], {
    cwd: example,
    env: { PATH: process.env.PATH, LABGATE_URL: demo.url, LABGATE_API_KEY: demo.apiKey, ...extra },
  });
}

test("a shared connection's token reads the GitLab user", async () => {
  const { stdout } = await runExample();
  assert.match(stdout, /\/api\/v4\/user → 200: @amara \(Amara Okafor\)/);
  assert.match(stdout, /personal, usable until /);
});

test("a user's OAuth connection, by tenant and user ids", async () => {
  await connectUser(demo, { tenantId: "customer-42", userId: "user-7", username: "ben" });
  const { stdout } = await runExample({ TENANT_ID: "customer-42", USER_ID: "user-7" });
  assert.match(stdout, /→ 200: @ben /);
  assert.match(stdout, /oauth, usable until /);
});

test("a user without a connection is labgate's 404", async () => {
  await assert.rejects(runExample({ TENANT_ID: "customer-42", USER_ID: "nobody" }), (error) => {
    assert.equal(error.code, 1);
    assert.match(error.stderr, /labgate refused: 404 NotFound \(reqId \S+\)/);
    return true;
  });
});
