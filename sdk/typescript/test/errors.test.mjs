// labgate's refusals as LabgateError (statusCode, error, reqId); the API key never shows.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { inspect } from "node:util";
import { Labgate, LabgateError } from "@labgate/sdk";
import { countingFetch } from "../test-support/counting-fetch.mjs";
import { demoConnectionId, startDemo } from "../test-support/demo.mjs";

let demo;
before(async () => {
  demo = await startDemo();
});
after(async () => {
  await demo?.stop();
});

function shows(value, secret) {
  return [String(value), inspect(value, { showHidden: true, depth: 10 }), JSON.stringify(value) ?? "", value?.stack ?? ""].some((text) =>
    text.includes(secret),
  );
}

test("a bad API key is a 401 LabgateError that never shows the key", async () => {
  const badKey = `lgk_${"x".repeat(43)}`;
  const labgate = new Labgate({ baseUrl: demo.url, apiKey: badKey });
  const connectionId = await demoConnectionId(demo);
  let caught;
  try {
    await labgate.getCredentialById(connectionId);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof LabgateError, String(caught));
  assert.equal(caught.statusCode, 401);
  assert.equal(caught.error, "Unauthorized");
  assert.match(caught.reqId, /\S/);
  assert.equal(caught.name, "LabgateError");
  assert.ok(!shows(caught, badKey), "the key is not in the error");
  assert.ok(!shows(labgate, badKey), "the key is not in the client's toString, inspect or JSON");
  await assert.rejects(labgate.listConnections(), (error) => error instanceof LabgateError && error.statusCode === 401);
});

test("an unknown user's connection is a 404, and errors are not cached", async () => {
  const counter = countingFetch();
  const labgate = new Labgate({ baseUrl: demo.url, apiKey: demo.apiKey, fetch: counter.fetch });
  for (let attempt = 1; attempt <= 2; attempt++) {
    await assert.rejects(labgate.getCredential({ provider: "gitlab", tenantId: "nobody", userId: "none" }), (error) => {
      assert.ok(error instanceof LabgateError);
      assert.equal(error.statusCode, 404);
      assert.equal(error.error, "NotFound");
      return true;
    });
    assert.equal(counter.requests, attempt);
  }
});

test("a refused value is a 400 with details", async () => {
  const labgate = new Labgate({ baseUrl: demo.url, apiKey: demo.apiKey });
  await assert.rejects(labgate.createConnectSession({ allowedOrigin: "http://example.com/with/path" }), (error) => {
    assert.ok(error instanceof LabgateError);
    assert.equal(error.statusCode, 400);
    assert.ok(Array.isArray(error.details) && error.details.length > 0, inspect(error.details));
    return true;
  });
});

test("options that cannot work are refused at construction", () => {
  assert.throws(() => new Labgate({ baseUrl: "not a url", apiKey: "k" }), TypeError);
  assert.throws(() => new Labgate({ baseUrl: "http://user:secret@labgate.example", apiKey: "k" }), TypeError);
  assert.throws(() => new Labgate({ baseUrl: "http://labgate.example", apiKey: " " }), TypeError);
});
