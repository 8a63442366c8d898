// A real labgate and gitlab-sim for the tests: `labgate demo` runs both in one process on free
// ports and prints their addresses and an admin API key. Its database follows the Rust suite's
// LABGATE_TEST_BACKEND: the demo's temporary SQLite database, or with `postgres` a fresh
// PostgreSQL database on LABGATE_TEST_POSTGRES_URL's server, dropped when the demo stops.
import { execFile, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

/** `LABGATE_BIN`, else the workspace's debug build (CI builds it with `cargo test --no-run`). */
export function labgateBinary() {
  const binary = process.env.LABGATE_BIN || resolve(packageRoot, "..", "..", "target", "debug", "labgate");
  if (!existsSync(binary)) {
    throw new Error(`no labgate binary at ${binary}: build it (cargo build -p labgate) or set LABGATE_BIN`);
  }
  return binary;
}

const DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres";

/** The backend the run asked for, read as the Rust suite reads it. */
export function testBackend() {
  return ["postgres", "postgresql", "pg"].includes(process.env.LABGATE_TEST_BACKEND) ? "postgres" : "sqlite";
}

/**
 * `psql` on the server of LABGATE_TEST_POSTGRES_URL, with the password (if any) in PGPASSWORD
 * rather than among the process arguments; resolves with what it printed. Synchronous when
 * `sync`, for cleanup at exit.
 */
function psql(sql, { sync = false } = {}) {
  const server = new URL(process.env.LABGATE_TEST_POSTGRES_URL || DEFAULT_POSTGRES_URL);
  const password = decodeURIComponent(server.password);
  server.password = "";
  const args = [server.href, "-v", "ON_ERROR_STOP=1", "-qAtc", sql];
  const options = { env: password ? { ...process.env, PGPASSWORD: password } : process.env, timeout: 30_000 };
  if (sync) {
    spawnSync("psql", args, { ...options, stdio: "ignore" });
    return Promise.resolve();
  }
  return new Promise((resolvePsql, reject) => {
    execFile("psql", args, options, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`psql: ${sql}: ${stderr || error.message}`));
      } else {
        resolvePsql(stdout.trim());
      }
    });
  });
}

/**
 * Demos not stopped and databases not dropped yet: whatever is left goes when the process exits,
 * even when a test file throws past its `after` hooks or is interrupted.
 */
const runningDemos = new Set();
const pendingDatabases = new Set();
let exitCleanupInstalled = false;

function installExitCleanup() {
  if (exitCleanupInstalled) {
    return;
  }
  exitCleanupInstalled = true;
  process.once("exit", cleanUpAtExit);
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]]) {
    process.once(signal, () => process.exit(code));
  }
}

function dropStatement(name) {
  return `drop database if exists "${name}" with (force)`;
}

function cleanUpAtExit() {
  for (const child of runningDemos) {
    child.kill("SIGKILL");
  }
  runningDemos.clear();
  for (const name of pendingDatabases) {
    psql(dropStatement(name), { sync: true });
  }
  pendingDatabases.clear();
}

/**
 * A fresh PostgreSQL database for one demo: its URL (the test server's, credentials included,
 * passed on to the demo in the environment only) and `drop()`.
 */
async function createPostgresDatabase() {
  installExitCleanup();
  const name = `labgate_test_sdk_${randomBytes(8).toString("hex")}`;
  await psql(`create database "${name}"`);
  pendingDatabases.add(name);
  const url = new URL(process.env.LABGATE_TEST_POSTGRES_URL || DEFAULT_POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.href,
    async drop() {
      // A failed drop stays pending, for the exit cleanup to try again.
      if (pendingDatabases.has(name)) {
        await psql(dropStatement(name));
        pendingDatabases.delete(name);
      }
    },
  };
}

/** Whether the test server holds a database called `name` (one this module made). */
export async function postgresDatabaseExists(name) {
  return (await psql(`select count(*) from pg_database where datname = '${name.replaceAll("'", "''")}'`)) === "1";
}

/**
 * Starts `labgate demo` on the run's backend; resolves once it printed its banner. `stop()`
 * kills it, waits for it to exit and drops its PostgreSQL database, if it has one.
 */
export async function startDemo() {
  const binary = labgateBinary();
  const database = testBackend() === "postgres" ? await createPostgresDatabase() : undefined;
  const env = { ...process.env, LABGATE_LOG_LEVEL: "error" };
  delete env.LABGATE_DEMO_DATABASE_URL;
  if (database) {
    env.LABGATE_DEMO_DATABASE_URL = database.url;
  }
  installExitCleanup();
  let child;
  try {
    child = spawn(binary, ["demo", "--port", "0", "--gitlab-port", "0"], {
      stdio: ["ignore", "pipe", "pipe"],
      env,
    });
  } catch (error) {
    await database?.drop();
    throw error;
  }
  runningDemos.add(child);
  const exited = new Promise((resolveExit) => child.once("exit", resolveExit));
  let output = "";
  let errors = "";
  child.stderr.on("data", (chunk) => {
    errors += chunk;
  });
  const ready = new Promise((resolveBanner, reject) => {
    const timer = setTimeout(() => reject(new Error(`labgate demo printed no banner in 60 s:\n${output}\n${errors}`)), 60_000);
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const labgate = /^ {2}labgate: +(http\S+)$/m.exec(output);
      const gitlab = /^ {2}simulated GitLab: +(http\S+)$/m.exec(output);
      const key = /^API key [^\n]*\n {2}(lgk_\S+)$/m.exec(output);
      if (labgate && gitlab && key && /Press Ctrl-C to stop/.test(output)) {
        clearTimeout(timer);
        // Only a database named for the demo is printed, without credentials.
        const shownDatabase = /^ {2}database: +(\S+)/m.exec(output);
        resolveBanner({ url: labgate[1], gitlabUrl: gitlab[1], apiKey: key[1], database: shownDatabase?.[1] });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`labgate demo exited (${code}) before it was ready:\n${output}\n${errors}`));
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run labgate demo: ${error.message}`));
    });
  });
  let stopped = false;
  async function stop() {
    if (!stopped) {
      stopped = true;
      child.ref();
      child.kill("SIGKILL");
      runningDemos.delete(child);
    }
    // A child that never started never exits.
    if (child.pid !== undefined) {
      await exited;
    }
    await database?.drop();
  }
  let banner;
  try {
    banner = await ready;
  } catch (error) {
    await stop();
    throw error;
  }
  // A running demo does not keep the process alive: a test file whose `after` hook never got to
  // stop() still ends, and the exit cleanup kills the demo and drops its database.
  child.unref();
  child.stdout.unref();
  child.stderr.unref();
  return { ...banner, postgresDatabase: database?.name, stop };
}

/** An HTTP call to labgate's API with the demo's admin key. */
export async function api(demo, method, path, body) {
  const response = await fetch(demo.url + path, {
    method,
    headers: {
      authorization: `Bearer ${demo.apiKey}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`${method} ${path}: ${response.status} ${text}`);
  }
  return text ? JSON.parse(text) : undefined;
}

/** The id of one of the connections the demo made from seeded tokens. */
export async function demoConnectionId(demo, name = "amara-personal") {
  const answer = await api(demo, "GET", `/api/v1/app-connections/gitlab/connection-name/${name}`);
  return answer.appConnection.id;
}

/** How many credential reads labgate audited, for connection `connectionId` or all. */
export async function credentialReads(demo, connectionId) {
  const query = new URLSearchParams({ action: "app-connection.credential-read", limit: "100" });
  if (connectionId) {
    query.set("resourceId", connectionId);
  }
  const answer = await api(demo, "GET", `/api/v1/audit-logs?${query}`);
  return answer.auditLogs.reduce((sum, entry) => sum + entry.occurrences, 0);
}
