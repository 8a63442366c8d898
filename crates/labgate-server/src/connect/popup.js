// labgate's connect popup: reports the outcome written into the page to the page that opened
// the popup, at the connect session's origin only, then closes. Without an opener (the page was
// opened directly) or an origin (an unknown session), the page stays as a readable result.
(function () {
  "use strict";
  var result = document.getElementById("labgate-result");
  if (!result) {
    return;
  }
  var origin = result.getAttribute("data-origin");
  var opener = window.opener;
  if (!origin || !opener || opener === window) {
    return;
  }
  var message;
  if (result.getAttribute("data-type") === "connected") {
    message = {
      source: "labgate",
      type: "connected",
      connectionId: result.getAttribute("data-connection-id")
    };
  } else {
    message = {
      source: "labgate",
      type: "error",
      error: result.getAttribute("data-error") || "connect_failed",
      errorDescription: result.getAttribute("data-error-description") || ""
    };
  }
  try {
    opener.postMessage(message, origin);
  } catch (ignored) {
    // The opener went away: the page itself says what happened.
    return;
  }
  window.close();
})();
