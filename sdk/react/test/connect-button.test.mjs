// <ConnectButton> in headless Chromium: the example app (bundled with esbuild) against a real
// labgate and gitlab-sim. Approve at GitLab → onSuccess with the connection, whose token the
// app's backend then gets through @labgate/sdk; deny → onError access_denied; closing the popup
// → popup_closed. Screenshots go to target/ui-screenshots/react-*.png.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startDemo } from "../../typescript/test-support/demo.mjs";
import { startExample } from "../example/server.mjs";

const SHOTS = process.env.LABGATE_UI_SCREENSHOTS || resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "target", "ui-screenshots");
const TIMEOUT = 15_000;
// The machine may have no internet: nothing Chromium would fetch on its own may be tried.
const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let demo;
let example;
let browser;

before(async () => {
  demo = await startDemo();
  example = await startExample({ labgateUrl: demo.url, apiKey: demo.apiKey, port: 0 });
  browser = await chromium.launch({
    executablePath: process.env.LABGATE_UI_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await example?.close();
  await demo?.stop();
});

/**
 * Opens the example app in a fresh browser context (nobody signed in at GitLab) and waits until
 * the button has a session and is enabled.
 */
async function openApp() {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 }, colorScheme: "light" });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(error.message));
  await page.goto(example.url);
  const inner = page.locator("labgate-connect-button").locator("button");
  await inner.waitFor({ state: "visible", timeout: TIMEOUT });
  await page.waitForFunction(
    () => {
      const element = document.querySelector("labgate-connect-button");
      return element && element.getAttribute("session-token") && !element.hasAttribute("disabled");
    },
    null,
    { timeout: TIMEOUT },
  );
  return { page, inner, problems };
}

/** The user in the popup at gitlab-sim: signs in as amara, then approves or denies. */
async function decideAtGitLab(popup, approve) {
  await popup.waitForLoadState("domcontentloaded");
  await popup.getByRole("button", { name: "amara" }).first().click();
  await popup.getByRole("heading", { name: /to use your account/ }).waitFor({ timeout: TIMEOUT });
  await popup.getByRole("button", { name: approve ? /authori[sz]e/i : /deny/i }).first().click();
}

async function connectThroughPopup(page, inner, approve) {
  const [popup] = await Promise.all([page.waitForEvent("popup", { timeout: TIMEOUT }), inner.click()]);
  assert.ok(await inner.isDisabled(), "the button is disabled while the popup is open");
  const closed = popup.waitForEvent("close", { timeout: TIMEOUT });
  await decideAtGitLab(popup, approve);
  await closed;
}

test("approving at GitLab calls onSuccess with the connection, whose token the backend gets", async () => {
  const { page, inner, problems } = await openApp();
  assert.match(await inner.innerText(), /Connect GitLab/);
  assert.equal(await page.locator("labgate-connect-button.connect").count(), 1, "className reaches the element");
  await page.screenshot({ path: join(SHOTS, "react-connect-button.png") });
  await connectThroughPopup(page, inner, true);
  const id = await page.locator("#connection-id").innerText({ timeout: TIMEOUT });
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  // The backend asked labgate for the user's token by tenantId and userId and called GitLab.
  assert.equal(await page.locator("#gitlab-user").innerText({ timeout: TIMEOUT }), "@amara");
  await page.screenshot({ path: join(SHOTS, "react-connected.png") });
  // The page never held the API key.
  assert.ok(!(await page.content()).includes(demo.apiKey));
  assert.deepEqual(problems, []);
  await page.context().close();
});

test("denying at GitLab calls onError with access_denied", async () => {
  const { page, inner, problems } = await openApp();
  await connectThroughPopup(page, inner, false);
  assert.equal(await page.locator("#error-code").innerText({ timeout: TIMEOUT }), "access_denied");
  await page.screenshot({ path: join(SHOTS, "react-denied.png") });
  assert.deepEqual(problems, []);
  await page.context().close();
});

test("closing the popup calls onError with popup_closed", async () => {
  const { page, inner } = await openApp();
  const [popup] = await Promise.all([page.waitForEvent("popup", { timeout: TIMEOUT }), inner.click()]);
  await popup.waitForLoadState("domcontentloaded");
  await popup.close();
  assert.equal(await page.locator("#error-code").innerText({ timeout: TIMEOUT }), "popup_closed");
  await page.context().close();
});
