// A user's OAuth connection without a browser: labgate's OAuth start labels it with the
// embedding application's tenantId and userId, and this drives gitlab-sim's sign-in and consent
// pages over HTTP, with a cookie jar, as a browser would.
import { api } from "./demo.mjs";

function unescapeHtml(text) {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#x27;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

/** The hidden fields and action of the form holding the element matched by `marker`. */
function formAround(html, marker) {
  const forms = html.match(/<form\b[\s\S]*?<\/form>/g) || [];
  const form = forms.find((f) => marker.test(f));
  if (!form) {
    throw new Error(`no form matching ${marker} in:\n${html.slice(0, 2000)}`);
  }
  const action = unescapeHtml(/action="([^"]*)"/.exec(form)[1]);
  const fields = new URLSearchParams();
  for (const input of form.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
    fields.append(unescapeHtml(input[1]), unescapeHtml(input[2]));
  }
  return { action, fields };
}

class Browser {
  cookies = new Map();

  async request(url, init = {}) {
    const target = new URL(url);
    const jar = this.cookies.get(target.host) || new Map();
    const headers = { ...(init.headers || {}) };
    if (jar.size) {
      headers.cookie = [...jar].map(([name, value]) => `${name}=${value}`).join("; ");
    }
    const response = await fetch(target, { ...init, headers, redirect: "manual" });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const at = pair.indexOf("=");
      jar.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
    }
    this.cookies.set(target.host, jar);
    return response;
  }

  /** Follows redirects from `url`; answers the last response and its URL. */
  async follow(url, init) {
    let response = await this.request(url, init);
    let at = url;
    for (let hops = 0; response.status >= 300 && response.status < 400; hops++) {
      if (hops > 10) {
        throw new Error(`too many redirects from ${url}`);
      }
      at = new URL(response.headers.get("location"), at).href;
      response = await this.request(at);
    }
    return { response, url: at, html: await response.text() };
  }
}

/**
 * Connects GitLab user `username` through OAuth, labelled with `tenantId` and `userId`; answers
 * the connection id.
 */
export async function connectUser(demo, { tenantId, userId, username = "amara", name }) {
  const connectionName = name || `oauth-${tenantId}-${userId}`.toLowerCase().replace(/[^a-z0-9-]/g, "-");
  const started = await api(demo, "POST", "/api/v1/app-connections/gitlab/oauth/start", {
    name: connectionName,
    scopes: ["api"],
    tenantId,
    userId,
  });
  const browser = new Browser();
  // Not signed in at GitLab: the sign-in page lists the simulator's users.
  const signIn = await browser.follow(started.authorizeUrl);
  const chooser = formAround(signIn.html, new RegExp(`data-username="${username}"`));
  chooser.fields.set("user[login]", username);
  const consent = await browser.follow(new URL(chooser.action, signIn.url).href, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: chooser.fields.toString(),
  });
  const authorize = formAround(consent.html, /id="authorize"/);
  const done = await browser.follow(new URL(authorize.action, consent.url).href, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: authorize.fields.toString(),
  });
  if (!done.response.ok || !/GitLab connected/.test(done.html)) {
    throw new Error(`the OAuth flow did not end in a connection (${done.response.status} at ${done.url}):\n${done.html.slice(0, 2000)}`);
  }
  const connection = await api(demo, "GET", `/api/v1/app-connections/gitlab/connection-name/${connectionName}`);
  const connectionId = connection.appConnection.id;
  return connectionId;
}
