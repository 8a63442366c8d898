// The connect button in a real browser: the example app (examples/connect-button) shows
// <labgate-connect-button>; a click opens labgate's popup, the user consents (or declines) at
// gitlab-sim, and the page shows the connection id (or access_denied).
//
//   LABGATE_URL=http://127.0.0.1:8080 LABGATE_API_KEY=lgk_… EXAMPLE_URL=http://localhost:3000 \
//     node ui-tests/connect-button.mjs
//
// Playwright starts Chromium with a fresh temporary profile each run.
// Needs a running `labgate serve` whose default instance is gitlab-sim (with a user `alice`, or
// GITLAB_USER), and `python3 examples/connect-button/server.py` against it. Screenshots go to
// target/ui-screenshots/connect-*.png.

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const LABGATE_URL = required("LABGATE_URL").replace(/\/+$/, "");
required("LABGATE_API_KEY");
const EXAMPLE_URL = required("EXAMPLE_URL");
const GITLAB_USER = process.env.GITLAB_USER || "alice";
const SHOTS = join(dirname(fileURLToPath(import.meta.url)), "..", "target", "ui-screenshots");
const TIMEOUT = 15_000;

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return value;
}

/**
 * The user at the simulated GitLab, in the popup: GitLab first asks who is signing in (gitlab-sim
 * lists its users), then shows the consent page with Authorize and Deny.
 */
async function decideAtGitLab(popup, approve, shot) {
  await popup.waitForLoadState("domcontentloaded");
  const chooseUser = popup.getByRole("button", { name: GITLAB_USER });
  await chooseUser.first().click();
  await popup.waitForLoadState("domcontentloaded");
  await popup.getByRole("heading", { name: /to use your account/ }).waitFor({ timeout: TIMEOUT });
  await popup.screenshot({ path: join(SHOTS, shot) });
  const decision = popup.getByRole("button", { name: approve ? /authori[sz]e/i : /deny/i });
  await decision.first().click();
}

async function run(browser, approve) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(error.message));
  await page.goto(EXAMPLE_URL);
  const button = page.locator("labgate-connect-button");
  const inner = button.locator("button");
  await inner.waitFor({ state: "visible", timeout: TIMEOUT });
  // The page enables the button once its backend handed it a session token.
  await page.waitForFunction(
    () => {
      const element = document.querySelector("labgate-connect-button");
      return element && element.getAttribute("session-token") && !element.hasAttribute("disabled");
    },
    null,
    { timeout: TIMEOUT },
  );
  assert.match(await inner.innerText(), /Connect GitLab/);
  if (approve) {
    await page.screenshot({ path: join(SHOTS, "connect-button.png") });
  }

  const [popup] = await Promise.all([page.waitForEvent("popup", { timeout: TIMEOUT }), inner.click()]);
  assert.ok(await inner.isDisabled(), "the button is disabled while the popup is open");
  const labgateOrigin = new URL(LABGATE_URL).origin;
  // labgate's /connect uses the session and sends the popup on to GitLab.
  await popup.waitForURL((url) => url.origin !== labgateOrigin && url.protocol !== "about:", { timeout: TIMEOUT });
  // The popup may post and close as soon as the decision is made: listen before deciding.
  const closed = popup.waitForEvent("close", { timeout: TIMEOUT });
  await decideAtGitLab(popup, approve, approve ? "connect-consent.png" : "connect-consent-deny.png");
  // labgate's result page posts the outcome to the opener and closes the popup.
  try {
    await closed;
  } catch (error) {
    if (!popup.isClosed()) {
      console.error(`the popup stayed open at ${popup.url()}`);
      await popup.screenshot({ path: join(SHOTS, "connect-popup-stuck.png") });
    }
    throw error;
  }

  if (approve) {
    const id = page.locator("#connection-id");
    await id.waitFor({ timeout: TIMEOUT });
    const connectionId = await id.innerText();
    assert.match(connectionId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    await page.screenshot({ path: join(SHOTS, "connect-connected.png") });
    console.log(`connected: ${connectionId}`);
  } else {
    const code = page.locator("#error-code");
    await code.waitFor({ timeout: TIMEOUT });
    assert.equal(await code.innerText(), "access_denied");
    await page.screenshot({ path: join(SHOTS, "connect-denied.png") });
    console.log("declined: access_denied");
  }
  await page.waitForFunction(() => !document.querySelector("labgate-connect-button").hasAttribute("disabled"), null, {
    timeout: TIMEOUT,
  });
  assert.deepEqual(problems, [], "no script errors on the page");
  await context.close();
}

/** The user closes the popup at GitLab: the page hears popup_closed. */
async function closedPopup(browser) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  await page.goto(EXAMPLE_URL);
  await page.waitForFunction(
    () => {
      const element = document.querySelector("labgate-connect-button");
      return element && element.getAttribute("session-token") && !element.hasAttribute("disabled");
    },
    null,
    { timeout: TIMEOUT },
  );
  const inner = page.locator("labgate-connect-button").locator("button");
  const [popup] = await Promise.all([page.waitForEvent("popup", { timeout: TIMEOUT }), inner.click()]);
  await popup.waitForLoadState("domcontentloaded");
  await popup.close();
  const code = page.locator("#error-code");
  await code.waitFor({ timeout: TIMEOUT });
  assert.equal(await code.innerText(), "popup_closed");
  await page.screenshot({ path: join(SHOTS, "connect-popup-closed.png") });
  console.log("closed: popup_closed");
  await context.close();
}

/** The link opened directly, without the button: labgate's own page says what happened. */
async function usedLinkPage(browser) {
  const context = await browser.newContext({ viewport: { width: 800, height: 600 } });
  const page = await context.newPage();
  const response = await page.goto(`${LABGATE_URL}/connect?session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`);
  assert.equal(response.status(), 404);
  await page.getByText("GitLab was not connected").waitFor({ timeout: TIMEOUT });
  await page.screenshot({ path: join(SHOTS, "connect-unknown-session.png") });
  await context.close();
}

mkdirSync(SHOTS, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  await run(browser, true);
  await run(browser, false);
  await closedPopup(browser);
  await usedLinkPage(browser);
  console.log("connect button: ok");
} finally {
  await browser.close();
}
