// A real labgate and gitlab-sim for the tests: `labgate demo` runs both in one process on a
// temporary SQLite database, on free ports, and prints their addresses and an admin API key.
import { spawn } from "node:child_process";
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

/**
 * Starts `labgate demo`; resolves once it printed its banner. `stop()` kills it and waits for it
 * to exit.
 */
export async function startDemo() {
  const child = spawn(labgateBinary(), ["demo", "--port", "0", "--gitlab-port", "0"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LABGATE_LOG_LEVEL: "error" },
  });
  const exited = new Promise((resolveExit) => child.once("exit", resolveExit));
  let output = "";
  let errors = "";
  child.stderr.on("data", (chunk) => {
    errors += chunk;
  });
  const banner = await new Promise((resolveBanner, reject) => {
    const timer = setTimeout(() => reject(new Error(`labgate demo printed no banner in 60 s:\n${output}\n${errors}`)), 60_000);
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const labgate = /^ {2}labgate: +(http\S+)$/m.exec(output);
      const gitlab = /^ {2}simulated GitLab: +(http\S+)$/m.exec(output);
      const key = /^API key [^\n]*\n {2}(lgk_\S+)$/m.exec(output);
      if (labgate && gitlab && key && /Press Ctrl-C to stop/.test(output)) {
        clearTimeout(timer);
        resolveBanner({ url: labgate[1], gitlabUrl: gitlab[1], apiKey: key[1] });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`labgate demo exited (${code}) before it was ready:\n${output}\n${errors}`));
    });
  });
  let stopped = false;
  return {
    ...banner,
    async stop() {
      if (!stopped) {
        stopped = true;
        child.kill("SIGKILL");
      }
      await exited;
    },
  };
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
