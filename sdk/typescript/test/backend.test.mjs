// The tests' labgate runs on the backend the run asked for (LABGATE_TEST_BACKEND, as for the
// Rust suite), and a PostgreSQL database made for it goes when it stops.
import assert from "node:assert/strict";
import { test } from "node:test";
import { api, postgresDatabaseExists, startDemo, testBackend } from "../test-support/demo.mjs";

test("the demo runs on the run's backend and leaves no database behind", async () => {
  const demo = await startDemo();
  try {
    const answer = await api(demo, "GET", "/api/v1/app-connections/gitlab");
    assert.deepEqual(answer.appConnections.map((c) => c.name).sort(), ["amara-personal", "payments-api-deploy"]);
    if (testBackend() === "postgres") {
      assert.match(demo.postgresDatabase, /^labgate_test_sdk_[0-9a-f]{16}$/);
      assert.match(demo.database, new RegExp(`^postgres://[^@/]+/${demo.postgresDatabase}$`));
      assert.equal(await postgresDatabaseExists(demo.postgresDatabase), true);
    } else {
      assert.equal(demo.postgresDatabase, undefined);
      assert.equal(demo.database, undefined, "the demo's own temporary SQLite database");
    }
  } finally {
    await demo.stop();
  }
  if (demo.postgresDatabase) {
    assert.equal(await postgresDatabaseExists(demo.postgresDatabase), false);
  }
});
