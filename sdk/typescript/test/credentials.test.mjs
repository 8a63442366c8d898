// getCredential against a real labgate and gitlab-sim (`labgate demo`): what it answers, the
// cache, single flight, refresh ahead of useUntil.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { inspect } from "node:util";
import { Labgate } from "@labgate/sdk";
import { countingFetch, movableClock } from "../test-support/counting-fetch.mjs";
import { credentialReads, demoConnectionId, startDemo } from "../test-support/demo.mjs";
import { connectUser } from "../test-support/oauth.mjs";

describe("getCredential", () => {
  let demo;
  let oauthConnectionId;
  let tokenConnectionId;

  before(async () => {
    demo = await startDemo();
    oauthConnectionId = await connectUser(demo, { tenantId: "customer-42", userId: "user-7" });
    tokenConnectionId = await demoConnectionId(demo, "amara-personal");
  });
  after(async () => {
    await demo?.stop();
  });

  function client(options = {}) {
    return new Labgate({ baseUrl: demo.url, apiKey: demo.apiKey, ...options });
  }

  test("a user's connection, found by the embedding application's ids, answers a token GitLab accepts", async () => {
    const labgate = client();
    const found = await labgate.getCredential({ provider: "gitlab", tenantId: "customer-42", userId: "user-7" });
    assert.equal(found.connectionId, oauthConnectionId);
    assert.equal(found.tokenType, "oauth");
    assert.equal(found.instanceUrl.replace(/\/+$/, ""), demo.gitlabUrl);
    assert.ok(found.scopes.includes("api"), `scopes ${found.scopes}`);
    assert.ok(found.useUntil instanceof Date && found.useUntil.getTime() > Date.now());
    assert.ok(found.expiresAt instanceof Date && found.expiresAt.getTime() >= found.useUntil.getTime());
    const user = await fetch(`${found.instanceUrl}/api/v4/user`, { headers: { authorization: `Bearer ${found.credential}` } });
    assert.equal(user.status, 200);
    assert.equal((await user.json()).username, "amara");
    // Logged by accident, the credential stays hidden.
    assert.ok(!inspect(found).includes(found.credential), inspect(found));
  });

  test("by connection id, an access token's credential", async () => {
    const found = await client().getCredentialById(tokenConnectionId);
    assert.equal(found.connectionId, tokenConnectionId);
    assert.equal(found.tokenType, "personal");
    assert.match(found.credential, /^glpat-/);
  });

  test("hits are served from the cache without a request until useUntil", async () => {
    const counter = countingFetch();
    const clock = movableClock();
    const labgate = client({ fetch: counter.fetch, clock: clock.now });
    const first = await labgate.getCredential({ provider: "gitlab", tenantId: "customer-42", userId: "user-7" });
    assert.equal(counter.requests, 1);
    for (let i = 0; i < 50; i++) {
      const again = await labgate.getCredential({ provider: "gitlab", tenantId: "customer-42", userId: "user-7" });
      assert.equal(again, first, "the same cached credential");
    }
    assert.equal(counter.requests, 1, "hits make no request");
    // By id is another key: its first call asks labgate.
    await labgate.getCredentialById(oauthConnectionId);
    assert.equal(counter.requests, 2);
    // Past useUntil the cache asks labgate again.
    clock.offsetMs = first.useUntil.getTime() - Date.now() + 1_000;
    const later = await labgate.getCredential({ provider: "gitlab", tenantId: "customer-42", userId: "user-7" });
    assert.equal(counter.requests, 3);
    assert.notEqual(later, first);
    // Forgotten (as after GitLab refused it): asked again.
    clock.offsetMs = 0;
    labgate.invalidateUser("customer-42", "user-7");
    await labgate.getCredential({ provider: "gitlab", tenantId: "customer-42", userId: "user-7" });
    assert.equal(counter.requests, 4);
    labgate.invalidate(oauthConnectionId);
    await labgate.getCredentialById(oauthConnectionId);
    assert.equal(counter.requests, 5);
    assert.deepEqual(new Set(counter.paths), new Set(["/api/v1/credentials/gitlab"]));
  });

  test("100 concurrent calls for one connection make one request", async () => {
    const counter = countingFetch();
    const labgate = client({ fetch: counter.fetch });
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => labgate.getCredential({ provider: "gitlab", tenantId: "customer-42", userId: "user-7" })),
    );
    assert.equal(counter.requests, 1);
    assert.ok(answers.every((answer) => answer === answers[0]));
    const readsBefore = await credentialReads(demo, tokenConnectionId);
    const byId = await Promise.all(Array.from({ length: 100 }, () => labgate.getCredentialById(tokenConnectionId)));
    assert.equal(counter.requests, 2);
    assert.equal(await credentialReads(demo, tokenConnectionId), readsBefore + 1, "labgate audited one read");
    assert.ok(byId.every((answer) => answer === byId[0]));
  });

  test("ahead of useUntil one background request refreshes while callers keep hitting", async () => {
    const counter = countingFetch();
    const clock = movableClock();
    const labgate = client({ fetch: counter.fetch, clock: clock.now, refreshAheadMs: 60_000 });
    const first = await labgate.getCredentialById(tokenConnectionId);
    assert.equal(counter.requests, 1);
    // 30 s before useUntil: inside the refresh window.
    clock.offsetMs = first.useUntil.getTime() - Date.now() - 30_000;
    const during = await Promise.all(Array.from({ length: 20 }, () => labgate.getCredentialById(tokenConnectionId)));
    assert.ok(during.every((answer) => answer === first), "callers get the cached credential at once");
    assert.equal(counter.requests, 2, "one background refresh");
    await counter.settled();
    clock.offsetMs = 0;
    const refreshed = await labgate.getCredentialById(tokenConnectionId);
    assert.notEqual(refreshed, first, "the refreshed credential replaced it");
    assert.equal(refreshed.credential, first.credential, "an access token stays the same token");
    assert.equal(counter.requests, 2, "and is a hit");
  });

  test("a provider other than GitLab is refused before any request", async () => {
    const counter = countingFetch();
    const labgate = client({ fetch: counter.fetch });
    await assert.rejects(labgate.getCredential({ provider: "github", tenantId: "a", userId: "b" }), TypeError);
    await assert.rejects(labgate.getCredential({ provider: "gitlab", tenantId: "", userId: "b" }), TypeError);
    await assert.rejects(labgate.getCredentialById(""), TypeError);
    assert.equal(counter.requests, 0);
  });
});
