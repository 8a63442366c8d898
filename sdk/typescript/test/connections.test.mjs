// The connection helpers and connect sessions, and the package loaded both ways (ESM, CJS).
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, test } from "node:test";
import * as esm from "@labgate/sdk";
import { startDemo } from "../test-support/demo.mjs";

let demo;
let labgate;
before(async () => {
  demo = await startDemo();
  labgate = new esm.Labgate({ baseUrl: demo.url, apiKey: demo.apiKey });
});
after(async () => {
  await demo?.stop();
});

test("list, get and check connections", async () => {
  const list = await labgate.listConnections({ limit: 10 });
  assert.ok(list.totalCount >= 2);
  const names = list.appConnections.map((connection) => connection.name);
  assert.ok(names.includes("amara-personal"), names.join());
  const amara = list.appConnections.find((connection) => connection.name === "amara-personal");
  const shown = await labgate.getConnection(amara.id);
  assert.equal(shown.id, amara.id);
  assert.equal(shown.name, "amara-personal");
  assert.ok(!JSON.stringify(shown).includes("glpat-"), "a connection never carries its token");
  const checked = await labgate.checkConnection(amara.id);
  if (checked.connection) {
    assert.equal(checked.connection.id, amara.id);
  } else {
    assert.match(checked.job.jobId, /\S/);
  }
  const page = await labgate.listConnections({ offset: 1, limit: 1 });
  assert.equal(page.appConnections.length, 1);
  await assert.rejects(labgate.getConnection("01a00000-0000-7000-8000-000000000000"), (error) => error.statusCode === 404);
});

test("a connect session for the button: a token that works once, and its URL", async () => {
  const session = await labgate.createConnectSession({
    allowedOrigin: "http://127.0.0.1:3000",
    tenantId: "customer-42",
    userId: "user-9",
  });
  assert.match(session.token, /^[A-Za-z0-9_-]{20,}$/);
  assert.ok(session.connectUrl.startsWith(`${demo.url}/connect?session=`), session.connectUrl);
  assert.ok(Date.parse(session.expiresAt) > Date.now());
});

test("the CommonJS build exports the same API", () => {
  const cjs = createRequire(import.meta.url)("@labgate/sdk");
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
  assert.equal(typeof cjs.Labgate, "function");
  assert.ok(new cjs.LabgateError({ statusCode: 500, error: "InternalServerError", message: "m", reqId: "r" }, "GET /x") instanceof Error);
});
