// The example app's backend: serves the page, creates connect sessions with labgate's API key
// (which stays here), and fetches the user's GitLab token with @labgate/sdk.
//
//   LABGATE_URL=http://127.0.0.1:8080 LABGATE_API_KEY=lgk_… node example/server.mjs
//
// (after `npm run build` in sdk/typescript and sdk/react; `labgate demo` prints both values).
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { Labgate, LabgateError } from "@labgate/sdk";

const here = dirname(fileURLToPath(import.meta.url));
// The signed-in user of this app; a real app takes them from its own session.
const TENANT_ID = "acme-deploys";
const USER_ID = "user-1";

const page = (labgateUrl) => `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Acme Deploys · Connect GitLab</title>
<style>body{font-family:system-ui,sans-serif;background:#f6f8fa;color:#1f2328;margin:0}
main{max-width:36rem;margin:4rem auto;padding:2rem;background:#fff;border:1px solid #d0d7de;border-radius:8px}
.ok{color:#1a7f37}.fail{color:#cf222e}code{background:#f6f8fa;padding:.1rem .3rem;border-radius:4px}</style>
</head><body><div id="root" data-labgate-url="${labgateUrl.replace(/[&"<>]/g, "")}"></div><script src="/app.js"></script></body></html>`;

/** Bundles the page's script: React, @labgate/react and app.jsx, nothing from a CDN. */
export async function bundle() {
  const result = await esbuild.build({
    entryPoints: [join(here, "app.jsx")],
    bundle: true,
    write: false,
    format: "iife",
    jsx: "automatic",
    minify: true,
    define: { "process.env.NODE_ENV": '"production"' },
    alias: { "@labgate/react": join(here, "..", "src", "index.ts") },
    logLevel: "silent",
  });
  return result.outputFiles[0].text;
}

export async function startExample({ labgateUrl, apiKey, port = 3000 }) {
  const labgate = new Labgate({ baseUrl: labgateUrl, apiKey });
  const script = await bundle();
  const server = createServer(async (request, response) => {
    const send = (status, type, body) => {
      response.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      response.end(body);
    };
    const json = (status, body) => send(status, "application/json", JSON.stringify(body));
    try {
      if (request.method === "GET" && request.url === "/") {
        return send(200, "text/html; charset=utf-8", page(labgate.baseUrl));
      }
      if (request.method === "GET" && request.url === "/app.js") {
        return send(200, "text/javascript", script);
      }
      if (request.method === "POST" && request.url === "/api/connect-session") {
        const origin = `http://${request.headers.host}`;
        const session = await labgate.createConnectSession({ allowedOrigin: origin, tenantId: TENANT_ID, userId: USER_ID });
        // Only the session's token goes to the browser, never the API key.
        return json(200, { token: session.token });
      }
      if (request.method === "POST" && request.url === "/api/gitlab-user") {
        const gitlab = await labgate.getCredential({ provider: "gitlab", tenantId: TENANT_ID, userId: USER_ID });
        const user = await fetch(`${gitlab.instanceUrl}/api/v4/user`, {
          headers: { authorization: `Bearer ${gitlab.credential}` },
        });
        const body = await user.json();
        return json(user.status, { username: body.username });
      }
      return json(404, { message: "not found" });
    } catch (error) {
      const status = error instanceof LabgateError ? 502 : 500;
      return json(status, { message: error.message });
    }
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const labgateUrl = process.env.LABGATE_URL || "http://127.0.0.1:8080";
  const apiKey = process.env.LABGATE_API_KEY;
  if (!apiKey) {
    console.error("LABGATE_API_KEY is required (labgate demo prints one)");
    process.exit(2);
  }
  const example = await startExample({ labgateUrl, apiKey, port: Number(process.env.PORT || 3000) });
  console.log(`example app: ${example.url}`);
}
