/*!
 * labgate connect button: <labgate-connect-button>, without a framework or a build step.
 *
 * 1. Your backend creates a connect session with an admin API key:
 *      POST {labgate}/api/v1/connect-sessions
 *      {"allowedOrigin": "https://app.example.com", "tenantId": "org-42", "userId": "user-7"}
 *    and hands the answer's `token` to the page (it works once, within 30 minutes).
 * 2. The page loads this script from labgate and shows the button:
 *      <script src="https://labgate.example.com/sdk/connect.js"></script>
 *      <labgate-connect-button provider="gitlab" session-token="…"></labgate-connect-button>
 *    Attributes: provider (required, "gitlab"), session-token (required), labgate-url (default:
 *    where this script was loaded from), disabled. Put your own label inside the element to
 *    replace "Connect GitLab". Style it through ::part(button).
 * 3. Listen for the outcome; both events bubble out of shadow roots:
 *      button.addEventListener("connected", e => e.detail.connectionId);
 *      button.addEventListener("error", e => [e.detail.error, e.detail.description]);
 *    error is one of: popup_blocked, popup_closed, unsupported_provider, missing_session, or
 *    what labgate or GitLab answered (access_denied, session_used, session_expired, …).
 *
 * Without the element: LabgateConnect.open({sessionToken, labgateUrl}) opens the popup and
 * answers a Promise of {connectionId}, rejected with an Error carrying .code and .description.
 * Call it from a click handler, or the browser blocks the popup.
 *
 * Only messages from labgate's origin, from the popup this script opened, are believed; labgate
 * posts them to the session's allowedOrigin only.
 */
(function () {
  "use strict";
  if (typeof window === "undefined" || window.LabgateConnect) {
    return;
  }

  var script = document.currentScript;
  var defaultBase = script && script.src ? script.src.replace(/\/sdk\/connect\.js(?:[?#].*)?$/, "") : "";
  var POPUP_WIDTH = 600;
  var POPUP_HEIGHT = 720;
  var CLOSED_POLL_MS = 400;
  // A popup that closes right after posting its answer: give the message time to arrive.
  var CLOSED_GRACE_MS = 600;

  function failure(code, description) {
    var error = new Error(description || code);
    error.code = code;
    error.description = description || "";
    return error;
  }

  function baseUrl(labgateUrl) {
    var base = (labgateUrl || defaultBase || "").replace(/\/+$/, "");
    try {
      return new URL(base);
    } catch (invalid) {
      return null;
    }
  }

  function popupFeatures() {
    var left = Math.max(0, (window.screenX || 0) + ((window.outerWidth || POPUP_WIDTH) - POPUP_WIDTH) / 2);
    var top = Math.max(0, (window.screenY || 0) + ((window.outerHeight || POPUP_HEIGHT) - POPUP_HEIGHT) / 2);
    return "popup=yes,width=" + POPUP_WIDTH + ",height=" + POPUP_HEIGHT +
      ",left=" + Math.round(left) + ",top=" + Math.round(top);
  }

  /** Opens labgate's connect popup; resolves with {connectionId}, rejects with .code. */
  function open(options) {
    options = options || {};
    return new Promise(function (resolve, reject) {
      var provider = options.provider || "gitlab";
      if (provider !== "gitlab") {
        reject(failure("unsupported_provider", "labgate connects GitLab only (provider=\"gitlab\")"));
        return;
      }
      if (!options.sessionToken) {
        reject(failure("missing_session", "no session token: create a connect session on your backend first"));
        return;
      }
      var base = baseUrl(options.labgateUrl);
      if (!base) {
        reject(failure("invalid_labgate_url", "labgate-url is not an absolute URL"));
        return;
      }
      var target = base.href.replace(/\/+$/, "") + "/connect?session=" + encodeURIComponent(options.sessionToken);
      var popup = window.open(target, "labgate-connect", popupFeatures());
      if (!popup) {
        reject(failure("popup_blocked", "the browser blocked the popup; allow popups for this site and try again"));
        return;
      }
      var settled = false;
      var timer = null;

      function finish() {
        settled = true;
        window.removeEventListener("message", onMessage);
        if (timer) {
          clearInterval(timer);
        }
      }

      function onMessage(event) {
        if (settled || event.origin !== base.origin || event.source !== popup) {
          return;
        }
        var data = event.data;
        if (!data || data.source !== "labgate") {
          return;
        }
        if (data.type === "connected" && typeof data.connectionId === "string") {
          finish();
          resolve({ connectionId: data.connectionId });
        } else if (data.type === "error") {
          finish();
          reject(failure(String(data.error || "connect_failed"), String(data.errorDescription || "")));
        }
      }

      window.addEventListener("message", onMessage);
      timer = setInterval(function () {
        if (settled || !popup.closed) {
          return;
        }
        clearInterval(timer);
        timer = null;
        setTimeout(function () {
          if (!settled) {
            finish();
            reject(failure("popup_closed", "the window was closed before GitLab was connected"));
          }
        }, CLOSED_GRACE_MS);
      }, CLOSED_POLL_MS);
    });
  }

  var STYLE =
    ":host{display:inline-block}" +
    ":host([hidden]){display:none}" +
    "button{display:inline-flex;align-items:center;gap:.5em;font:600 14px/1.2 system-ui,-apple-system," +
    "'Segoe UI',sans-serif;color:var(--labgate-button-color,#1f2328);" +
    "background:var(--labgate-button-background,#fff);border:1px solid var(--labgate-button-border,#d0d7de);" +
    "border-radius:var(--labgate-button-radius,6px);padding:.6em 1.1em;cursor:pointer;" +
    "box-shadow:0 1px 0 rgba(31,35,40,.04);transition:background-color .15s,border-color .15s}" +
    "button:hover:not(:disabled){background:var(--labgate-button-hover,#f6f8fa);border-color:#afb8c1}" +
    "button:focus-visible{outline:2px solid #fc6d26;outline-offset:2px}" +
    "button:disabled{cursor:progress;opacity:.65}" +
    "svg{width:1.25em;height:1.25em;flex:none}";

  // GitLab's tanuki, simplified to three tones.
  var ICON =
    '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">' +
    '<path fill="#e24329" d="m12 22.3 4.04-12.43H7.96z"/>' +
    '<path fill="#fc6d26" d="m12 22.3-4.04-12.43H2.3z"/>' +
    '<path fill="#fca326" d="M2.3 9.87 1.07 13.65a.84.84 0 0 0 .3.94L12 22.3z"/>' +
    '<path fill="#e24329" d="M2.3 9.87h5.66L5.53 2.4a.42.42 0 0 0-.8 0z"/>' +
    '<path fill="#fc6d26" d="m12 22.3 4.04-12.43h5.66z"/>' +
    '<path fill="#fca326" d="m21.7 9.87 1.23 3.78a.84.84 0 0 1-.3.94L12 22.3z"/>' +
    '<path fill="#e24329" d="M21.7 9.87h-5.66l2.43-7.47a.42.42 0 0 1 .8 0z"/>' +
    "</svg>";

  var LabgateConnectButton = (function () {
    if (typeof HTMLElement === "undefined" || !window.customElements) {
      return null;
    }

    class Button extends HTMLElement {
      static get observedAttributes() {
        return ["disabled"];
      }

      constructor() {
        super();
        this._busy = false;
        var root = this.attachShadow({ mode: "open" });
        root.innerHTML =
          "<style>" + STYLE + "</style>" +
          '<button type="button" part="button">' + ICON + "<span><slot>Connect GitLab</slot></span></button>";
        this._button = root.querySelector("button");
        this._button.addEventListener("click", this._connect.bind(this));
      }

      attributeChangedCallback() {
        this._render();
      }

      _render() {
        this._button.disabled = this._busy || this.hasAttribute("disabled");
        this._button.setAttribute("aria-busy", this._busy ? "true" : "false");
      }

      _emit(type, detail) {
        this.dispatchEvent(new CustomEvent(type, { detail: detail, bubbles: true, composed: true }));
      }

      _connect() {
        if (this._busy || this.hasAttribute("disabled")) {
          return;
        }
        var element = this;
        var provider = this.getAttribute("provider");
        if (provider !== "gitlab") {
          this._emit("error", {
            error: "unsupported_provider",
            description: provider ? "labgate connects GitLab only, not " + provider : "provider=\"gitlab\" is required"
          });
          return;
        }
        this._busy = true;
        this._render();
        open({
          provider: provider,
          sessionToken: this.getAttribute("session-token"),
          labgateUrl: this.getAttribute("labgate-url") || undefined
        }).then(function (result) {
          element._busy = false;
          element._render();
          element._emit("connected", { connectionId: result.connectionId });
        }, function (error) {
          element._busy = false;
          element._render();
          element._emit("error", { error: error.code || "connect_failed", description: error.description || "" });
        });
      }
    }

    if (!window.customElements.get("labgate-connect-button")) {
      window.customElements.define("labgate-connect-button", Button);
    }
    return Button;
  })();

  window.LabgateConnect = { open: open, Button: LabgateConnectButton };
})();
