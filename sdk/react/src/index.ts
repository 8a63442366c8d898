/**
 * `<ConnectButton>`: labgate's connect button for React. A thin wrapper over labgate's
 * `<labgate-connect-button>` (served by labgate at `/sdk/connect.js`): it loads that script once,
 * renders the element, and turns its `connected` and `error` events into `onSuccess` and
 * `onError`. The popup, the connect session and the messages between them stay labgate's.
 *
 * The session token comes from your backend, which creates a connect session with its API key
 * (`@labgate/sdk`'s `createConnectSession`); the key itself never reaches the browser.
 */
import { createElement, useEffect, useRef, useState, type CSSProperties, type ReactNode } from "react";

/** What `onSuccess` receives: the connection the user authorised. */
export interface ConnectedConnection {
  connectionId: string;
}

/**
 * Why GitLab was not connected. `error` is one of `popup_blocked`, `popup_closed`,
 * `unsupported_provider`, `missing_session`, `script_unavailable` (labgate's script could not be
 * loaded), or what labgate or GitLab answered (`access_denied`, `session_used`, `session_expired`, …).
 */
export interface ConnectError {
  error: string;
  description: string;
}

export interface ConnectButtonProps {
  provider: "gitlab";
  /** A connect session's token from your backend; the button stays disabled until there is one. */
  sessionToken: string | null | undefined;
  /** Where labgate answers, e.g. `https://labgate.example.com`: its script and popup come from there. */
  labgateUrl: string;
  onSuccess?: (connection: ConnectedConnection) => void;
  onError?: (error: ConnectError) => void;
  disabled?: boolean;
  /** The label; default "Connect GitLab". */
  children?: ReactNode;
  className?: string;
  style?: CSSProperties;
}

const ELEMENT = "labgate-connect-button";
const scripts = new Map<string, Promise<void>>();

/** Loads labgate's `/sdk/connect.js` once per labgate and waits for the element it defines. */
export function loadConnectScript(labgateUrl: string): Promise<void> {
  const base = labgateUrl.replace(/\/+$/, "");
  if (typeof window === "undefined" || !window.customElements) {
    return Promise.reject(new Error("the connect button needs a browser"));
  }
  if (window.customElements.get(ELEMENT)) {
    return Promise.resolve();
  }
  let loading = scripts.get(base);
  if (loading === undefined) {
    loading = new Promise<void>((resolve, reject) => {
      const script = document.createElement("script");
      script.src = `${base}/sdk/connect.js`;
      script.async = true;
      script.onload = () => resolve();
      script.onerror = () => {
        scripts.delete(base);
        script.remove();
        reject(new Error(`labgate's connect script could not be loaded from ${script.src}`));
      };
      document.head.appendChild(script);
    }).then(() => window.customElements.whenDefined(ELEMENT).then(() => undefined));
    scripts.set(base, loading);
  }
  return loading;
}

export function ConnectButton(props: ConnectButtonProps) {
  const { provider, sessionToken, labgateUrl, onSuccess, onError, disabled, children, className, style } = props;
  const element = useRef<HTMLElement | null>(null);
  const [ready, setReady] = useState(() => typeof window !== "undefined" && !!window.customElements?.get(ELEMENT));
  // The latest callbacks, so listeners are attached once and never call a stale closure.
  const callbacks = useRef({ onSuccess, onError });
  callbacks.current = { onSuccess, onError };

  useEffect(() => {
    let current = true;
    loadConnectScript(labgateUrl).then(
      () => {
        if (current) {
          setReady(true);
        }
      },
      (error: Error) => {
        if (current) {
          callbacks.current.onError?.({ error: "script_unavailable", description: error.message });
        }
      },
    );
    return () => {
      current = false;
    };
  }, [labgateUrl]);

  useEffect(() => {
    const node = element.current;
    if (!node) {
      return undefined;
    }
    const connected = (event: Event) => {
      const detail = (event as CustomEvent<ConnectedConnection>).detail;
      callbacks.current.onSuccess?.({ connectionId: detail.connectionId });
    };
    const failed = (event: Event) => {
      // Only the element's own CustomEvent: a plain `error` event (a resource inside) is not one.
      if (!(event instanceof CustomEvent) || event.target !== node) {
        return;
      }
      const detail = event.detail as Partial<ConnectError> | null;
      callbacks.current.onError?.({ error: String(detail?.error ?? "connect_failed"), description: String(detail?.description ?? "") });
    };
    node.addEventListener("connected", connected);
    node.addEventListener("error", failed);
    return () => {
      node.removeEventListener("connected", connected);
      node.removeEventListener("error", failed);
    };
  }, []);

  // Set on the element directly: React 18 wants `class` on custom elements, React 19 `className`.
  useEffect(() => {
    const node = element.current;
    if (!node) {
      return;
    }
    if (className) {
      node.setAttribute("class", className);
    } else {
      node.removeAttribute("class");
    }
  }, [className]);

  return createElement(
    ELEMENT,
    {
      ref: element,
      provider,
      "session-token": sessionToken || undefined,
      "labgate-url": labgateUrl.replace(/\/+$/, ""),
      disabled: disabled || !sessionToken || !ready ? "" : undefined,
      style,
    },
    children,
  );
}
