// `npm run bench`: the cost of a cache hit in Node against a plain Map look-up in the same run,
// and how many requests 1,000 concurrent first calls for one connection make. Runs `labgate
// demo` (LABGATE_BIN, else ../../target/debug/labgate); build the package first.
import { Labgate } from "@labgate/sdk";
import { countingFetch } from "../test-support/counting-fetch.mjs";
import { credentialReads, demoConnectionId, startDemo } from "../test-support/demo.mjs";
import { connectUser } from "../test-support/oauth.mjs";

const CALLS = 1_000_000;
const ROUNDS = 7;
const CONCURRENT = 1_000;

/** Nanoseconds per call of `body`, run CALLS times; the median of ROUNDS rounds. */
async function perCall(body) {
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint();
    await body();
    rounds.push(Number(process.hrtime.bigint() - start) / CALLS);
  }
  rounds.sort((a, b) => a - b);
  return rounds[Math.floor(ROUNDS / 2)];
}

const demo = await startDemo();
try {
  const connectionId = await demoConnectionId(demo, "amara-personal");
  await connectUser(demo, { tenantId: "customer-42", userId: "user-7" });

  // Concurrency first, on a fresh client: exactly one request for 1,000 callers.
  const readsBefore = await credentialReads(demo, connectionId);
  const counter = countingFetch();
  const cold = new Labgate({ baseUrl: demo.url, apiKey: demo.apiKey, fetch: counter.fetch });
  const answers = await Promise.all(Array.from({ length: CONCURRENT }, () => cold.getCredentialById(connectionId)));
  const readsAfter = await credentialReads(demo, connectionId);
  const same = answers.every((answer) => answer === answers[0]);

  // Hits: the cache filled once, then CALLS awaited calls.
  const labgate = new Labgate({ baseUrl: demo.url, apiKey: demo.apiKey });
  await labgate.getCredentialById(connectionId);
  const user = { provider: "gitlab", tenantId: "customer-42", userId: "user-7" };
  await labgate.getCredential(user);
  const map = new Map([[connectionId, answers[0]]]);
  let sink = 0;

  const mapNs = await perCall(async () => {
    for (let i = 0; i < CALLS; i++) {
      sink += map.get(connectionId).scopes.length;
    }
  });
  const awaitedMapNs = await perCall(async () => {
    for (let i = 0; i < CALLS; i++) {
      sink += (await map.get(connectionId)).scopes.length;
    }
  });
  const byIdNs = await perCall(async () => {
    for (let i = 0; i < CALLS; i++) {
      sink += (await labgate.getCredentialById(connectionId)).scopes.length;
    }
  });
  const byUserNs = await perCall(async () => {
    for (let i = 0; i < CALLS; i++) {
      sink += (await labgate.getCredential(user)).scopes.length;
    }
  });
  if (sink === 0) {
    throw new Error("nothing was read");
  }

  const row = (name, ns) => `| ${name} | ${ns.toFixed(1)} ns | ${(ns / mapNs).toFixed(1)}× |`;
  console.log(`node ${process.version}, ${CALLS.toLocaleString("en")} calls per round, median of ${ROUNDS} rounds\n`);
  console.log("| | per call | vs. plain Map look-up |");
  console.log("|---|---|---|");
  console.log(row("`await getCredentialById(id)` (hit)", byIdNs));
  console.log(row("`await getCredential({ provider, tenantId, userId })` (hit)", byUserNs));
  console.log(row("`await map.get(id)` (baseline with the await)", awaitedMapNs));
  console.log(row("`map.get(id)` (baseline)", mapNs));
  console.log(
    `\n${CONCURRENT} concurrent first calls for one connection: ${counter.requests} request(s) sent, ` +
      `${readsAfter - readsBefore} credential read(s) audited by labgate, all callers got the same credential: ${same}`,
  );
  const worst = Math.max(byIdNs, byUserNs);
  const ok = worst < 1_000 && counter.requests === 1 && readsAfter - readsBefore === 1 && same;
  console.log(ok ? "targets met: hit < 1 µs, one request" : "TARGET MISSED");
  process.exitCode = ok ? 0 : 1;
} finally {
  await demo.stop();
}
