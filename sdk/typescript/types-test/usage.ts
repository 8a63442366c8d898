// Compiled (never run) by `npm run build`: the published types as a consumer sees them.
import { Labgate, LabgateConnectionError, LabgateError, type Connection, type Credential, type components } from "@labgate/sdk";

export async function usage(): Promise<string> {
  const labgate = new Labgate({ baseUrl: "https://labgate.example.com", apiKey: "lgk_example", refreshAheadMs: 30_000 });
  const credential: Credential = await labgate.getCredential({ provider: "gitlab", tenantId: "t", userId: "u" });
  const expires: Date | null = credential.expiresAt;
  const until: Date = credential.useUntil;
  const byId = await labgate.getCredentialById(credential.connectionId);
  const list = await labgate.listConnections({ limit: 10 });
  const first: Connection | undefined = list.appConnections[0];
  const checked = await labgate.checkConnection(byId.connectionId);
  const status: string | undefined = checked.connection?.status;
  const session: components["schemas"]["ConnectSessionCreated"] = await labgate.createConnectSession({ allowedOrigin: "https://app.example.com" });
  try {
    // @ts-expect-error only GitLab is brokered
    await labgate.getCredential({ provider: "github", tenantId: "t", userId: "u" });
  } catch (error) {
    if (error instanceof LabgateError) {
      const code: number = error.statusCode;
      const reqId: string = error.reqId;
      return `${code} ${error.error} ${reqId}`;
    }
    if (error instanceof LabgateConnectionError) {
      return error.request;
    }
  }
  return [credential.credential, expires, until, first?.name, status, session.token, credential.tokenType].join();
}
