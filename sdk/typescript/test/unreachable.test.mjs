// When labgate cannot be reached: a cached credential GitLab still accepts is served, anything
// else is a LabgateConnectionError.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Labgate, LabgateConnectionError, LabgateError } from "@labgate/sdk";
import { countingFetch, movableClock } from "../test-support/counting-fetch.mjs";
import { demoConnectionId, startDemo } from "../test-support/demo.mjs";

let demo;
before(async () => {
  demo = await startDemo();
});
after(async () => {
  await demo?.stop();
});

test("with labgate gone, a cached credential is served until its expiresAt", async () => {
  const connectionId = await demoConnectionId(demo, "amara-personal");
  const counter = countingFetch();
  const clock = movableClock();
  const labgate = new Labgate({ baseUrl: demo.url, apiKey: demo.apiKey, fetch: counter.fetch, clock: clock.now, timeoutMs: 5_000 });
  const first = await labgate.getCredentialById(connectionId);
  assert.ok(first.expiresAt, "the demo's token expires");

  await demo.stop();
  // Within useUntil: a hit, no request.
  assert.equal(await labgate.getCredentialById(connectionId), first);
  assert.equal(counter.requests, 1);
  // Past useUntil the cache asks labgate, which is gone; GitLab still accepts the token.
  clock.offsetMs = first.useUntil.getTime() - Date.now() + 60_000;
  assert.equal(await labgate.getCredentialById(connectionId), first);
  assert.equal(counter.requests, 2);
  // Many callers at once still make one request.
  const together = await Promise.all(Array.from({ length: 20 }, () => labgate.getCredentialById(connectionId)));
  assert.ok(together.every((answer) => answer === first));
  assert.equal(counter.requests, 3);

  // Past expiresAt nothing is served.
  clock.offsetMs = first.expiresAt.getTime() - Date.now() + 1_000;
  await assert.rejects(labgate.getCredentialById(connectionId), (error) => {
    assert.ok(error instanceof LabgateConnectionError, String(error));
    assert.ok(!(error instanceof LabgateError));
    assert.equal(error.request, "GET /api/v1/credentials/gitlab");
    assert.ok(!String(error).includes(demo.apiKey));
    return true;
  });
  // A connection never cached has nothing to fall back on.
  clock.offsetMs = 0;
  await assert.rejects(labgate.getCredential({ provider: "gitlab", tenantId: "t", userId: "u" }), LabgateConnectionError);
});
