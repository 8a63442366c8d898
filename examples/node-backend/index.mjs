// A backend that acts on GitLab for a user: it asks labgate for the user's GitLab token (cached,
// refreshed ahead of time, one request however many callers) and calls GitLab's API with it.
//
//   LABGATE_URL=http://127.0.0.1:8080 LABGATE_API_KEY=lgk_… npm start                 # a shared connection by name
//   LABGATE_URL=… LABGATE_API_KEY=… TENANT_ID=customer-42 USER_ID=user-7 npm start    # a user's OAuth connection
import { Labgate, LabgateConnectionError, LabgateError } from "@labgate/sdk";

const labgate = new Labgate({
  baseUrl: process.env.LABGATE_URL || "http://127.0.0.1:8080",
  apiKey: process.env.LABGATE_API_KEY ?? "",
});

/** The credential to use: a user's connection by your own ids, else a named shared connection. */
async function credential() {
  if (process.env.TENANT_ID && process.env.USER_ID) {
    return labgate.getCredential({ provider: "gitlab", tenantId: process.env.TENANT_ID, userId: process.env.USER_ID });
  }
  const name = process.env.CONNECTION_NAME || "amara-personal";
  const { appConnections } = await labgate.listConnections({ limit: 100 });
  const connection = appConnections.find((candidate) => candidate.name === name);
  if (!connection) {
    throw new Error(`no connection named ${name}; set CONNECTION_NAME, or TENANT_ID and USER_ID`);
  }
  return labgate.getCredentialById(connection.id);
}

try {
  const gitlab = await credential();
  const response = await fetch(`${gitlab.instanceUrl}/api/v4/user`, {
    headers: { authorization: `Bearer ${gitlab.credential}` },
  });
  if (response.status === 401) {
    // GitLab refused the token (revoked, or replaced by a rotation): forget it and ask again next time.
    labgate.invalidate(gitlab.connectionId);
  }
  const user = await response.json();
  console.log(`GET ${gitlab.instanceUrl}/api/v4/user → ${response.status}: @${user.username} (${user.name})`);
  console.log(`token from connection ${gitlab.connectionId}, ${gitlab.tokenType}, usable until ${gitlab.useUntil.toISOString()}`);
} catch (error) {
  if (error instanceof LabgateError) {
    console.error(`labgate refused: ${error.statusCode} ${error.error} (reqId ${error.reqId})`);
  } else if (error instanceof LabgateConnectionError) {
    console.error(`labgate is unreachable: ${error.message}`);
  } else {
    console.error(error.message);
  }
  process.exitCode = 1;
}
