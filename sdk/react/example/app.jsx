// An app that lets its user connect GitLab: the page asks its own backend for a connect
// session, shows <ConnectButton>, and after the popup reports success asks the backend who the
// user is at GitLab (the backend gets the token from labgate; the page never sees it).
import { useCallback, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { ConnectButton } from "@labgate/react";

// Where labgate answers: public, and put in the page by the backend.
const LABGATE_URL = document.getElementById("root").dataset.labgateUrl;

async function post(path) {
  const response = await fetch(path, { method: "POST" });
  const body = await response.json();
  if (!response.ok) {
    throw new Error(body.message || `HTTP ${response.status}`);
  }
  return body;
}

function App() {
  const [session, setSession] = useState(null);
  const [connectionId, setConnectionId] = useState(null);
  const [gitlabUser, setGitlabUser] = useState(null);
  const [failure, setFailure] = useState(null);

  // Each session works once: a fresh one for every attempt.
  const newSession = useCallback(() => {
    setSession(null);
    post("/api/connect-session").then(setSession, (error) => setFailure({ error: "backend", description: error.message }));
  }, []);
  useEffect(newSession, [newSession]);

  const onSuccess = useCallback(
    (connection) => {
      setFailure(null);
      setConnectionId(connection.connectionId);
      post("/api/gitlab-user").then((user) => setGitlabUser(user.username), (error) => setFailure({ error: "backend", description: error.message }));
      newSession();
    },
    [newSession],
  );
  const onError = useCallback(
    (error) => {
      setFailure(error);
      newSession();
    },
    [newSession],
  );

  return (
    <main>
      <h1>Acme Deploys</h1>
      <p>Connect your GitLab account so Acme Deploys can open merge requests for you.</p>
      <ConnectButton
        provider="gitlab"
        className="connect"
        labgateUrl={LABGATE_URL}
        sessionToken={session?.token}
        onSuccess={onSuccess}
        onError={onError}
      />
      {connectionId && (
        <p className="ok">
          Connected: <code id="connection-id">{connectionId}</code>
          {gitlabUser && (
            <>
              {" "}as <strong id="gitlab-user">@{gitlabUser}</strong>
            </>
          )}
        </p>
      )}
      {failure && (
        <p className="fail">
          Not connected: <code id="error-code">{failure.error}</code> {failure.description}
        </p>
      )}
    </main>
  );
}

createRoot(document.getElementById("root")).render(<App />);
