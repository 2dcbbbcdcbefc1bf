// Drives examples/push_server.rs from headless Chromium like a user would (run by scripts/push-e2e.sh).
//
// Environment: PUSH_URL (http://127.0.0.1:PORT, the running server), PUSH_SERVER_PID (its PID; this
// script sends it SIGINT at the end), CHROMIUM (executable), USER_DATA_DIR (a fresh directory),
// SCREENSHOT (PNG path). playwright-core comes from NODE_PATH (target/push-e2e/node_modules); it
// never downloads a browser: it launches Debian's Chromium.
//
// Asserts: both pages reach readyState "open" and register; Chromium offered permessage-deflate
// (RFC 7692) and the server accepted it (the handshake headers Chromium reports over CDP, and
// "compressed": 2 in /stats); a broadcast push reaches alice and bob, a push to alice only alice;
// chat typed in one page shows in both; a 2 KiB push (above the server's 64-byte compression
// threshold, so sent compressed) shows intact on both pages; after SIGINT every page gets Close
// 1001 and its readyState display reaches "closed". Exits non-zero on the first failure.
"use strict";

const { chromium } = require("playwright-core");

const url = required("PUSH_URL");
const serverPid = Number(required("PUSH_SERVER_PID"));
const screenshot = required("SCREENSHOT");
const STEP = 15000; // every wait is bounded by this (ms)

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function check(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
  console.log(`ok: ${message}`);
}

async function push(path, text) {
  const response = await fetch(url + path, {
    method: "POST",
    body: text,
    signal: AbortSignal.timeout(STEP),
  });
  const body = await response.json();
  check(response.status === 200, `POST ${path} answered 200 (${JSON.stringify(body)})`);
  return body;
}

async function stats() {
  const response = await fetch(url + "/stats", { signal: AbortSignal.timeout(STEP) });
  return response.json();
}

/** Texts of the updates of one kind shown on a page (push-all, push-user, chat), oldest first. */
function updates(page, kind) {
  return page.$$eval(`#updates li[data-kind="${kind}"] .text`, (els) =>
    els.map((e) => e.textContent).reverse(),
  );
}

async function waitForUpdate(page, kind, text) {
  await page.waitForFunction(
    ([kind, text]) =>
      [...document.querySelectorAll(`#updates li[data-kind="${kind}"] .text`)].some(
        (e) => e.textContent === text,
      ),
    [kind, text],
    { timeout: STEP },
  );
}

async function stateOf(page) {
  return page.textContent("#state");
}

async function main() {
  const context = await chromium.launchPersistentContext(required("USER_DATA_DIR"), {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 960, height: 900 },
    timeout: 60000,
  });
  try {
    await run(context);
  } finally {
    await context.close().catch(() => {});
  }
}

async function run(context) {
  const errors = [];
  // Sec-WebSocket-Extensions of each page's first handshake, as Chromium reports them (CDP).
  const handshakes = {};
  const open = async (user) => {
    const page = await context.newPage();
    page.on("pageerror", (e) => errors.push(`${user}: ${e.message}`));
    page.on("console", (m) => m.type() === "error" && errors.push(`${user}: ${m.text()}`));
    const cdp = await context.newCDPSession(page);
    const seen = (handshakes[user] = {});
    const header = (headers, name) =>
      Object.entries(headers || {}).find(([k]) => k.toLowerCase() === name)?.[1];
    cdp.on("Network.webSocketWillSendHandshakeRequest", (e) => {
      seen.offer ??= header(e.request.headers, "sec-websocket-extensions") ?? "";
    });
    cdp.on("Network.webSocketHandshakeResponseReceived", (e) => {
      seen.response ??= header(e.response.headers, "sec-websocket-extensions") ?? "";
    });
    await cdp.send("Network.enable");
    await page.goto(`${url}/?user=${user}`, { timeout: STEP });
    return page;
  };
  const alice = await open("alice");
  const bob = await open("bob");
  for (const [name, page] of [["alice", alice], ["bob", bob]]) {
    await page.waitForFunction(() => document.getElementById("state").textContent === "open", null, {
      timeout: STEP,
    });
    check((await stateOf(page)) === "open", `${name}'s readyState display reached "open"`);
    // Registered: the welcome enables the chat button.
    await page.waitForSelector("#chat-send:not([disabled])", { timeout: STEP });
    check((await page.textContent("#user")) === name, `${name}'s page shows user ${name}`);
  }
  const counts = await stats();
  check(counts.connections === 2 && counts.users === 2, `/stats: 2 connections, 2 users (${JSON.stringify(counts)})`);
  for (const name of ["alice", "bob"]) {
    const { offer, response } = handshakes[name];
    check(/^permessage-deflate\b/.test(offer || ""), `${name}: Chromium offered "${offer}"`);
    check(/^permessage-deflate\b/.test(response || ""), `${name}: the server accepted "${response}"`);
  }
  check(counts.compressed === 2, `/stats: both connections compressed (${counts.compressed})`);

  const all = await push("/push", "Deploy finished: v2.4.1 is live");
  check(all.connections === 2, "a push to everyone reached 2 connections");
  const mine = await push("/push?user=alice", "Your report is ready");
  check(mine.connections === 1 && mine.user === "alice", "a push to alice reached 1 connection");

  await waitForUpdate(alice, "push-all", "Deploy finished: v2.4.1 is live");
  await waitForUpdate(alice, "push-user", "Your report is ready");
  check(true, "alice's page shows the broadcast and her own push");
  await waitForUpdate(bob, "push-all", "Deploy finished: v2.4.1 is live");
  check(true, "bob's page shows the broadcast");

  // Chat: bob types, both see it; then alice answers. Bob's chat arrives after alice's push was
  // queued, so had that push reached bob it would be on his page by now.
  await bob.fill("#chat-input", "Thanks! Looking at it now.");
  await bob.press("#chat-input", "Enter");
  await waitForUpdate(alice, "chat", "Thanks! Looking at it now.");
  await waitForUpdate(bob, "chat", "Thanks! Looking at it now.");
  check(true, "bob's chat line shows on both pages");
  await alice.fill("#chat-input", "Great, see you at 3.");
  await alice.click("#chat-send");
  await waitForUpdate(bob, "chat", "Great, see you at 3.");
  await waitForUpdate(alice, "chat", "Great, see you at 3.");
  check(true, "alice's chat line shows on both pages");
  check((await updates(bob, "push-user")).length === 0, "bob's page never got alice's push");
  check(
    JSON.stringify(await updates(alice, "push-user")) === JSON.stringify(["Your report is ready"]),
    "alice's page got her push exactly once",
  );

  await alice.bringToFront();
  await alice.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot: ${screenshot}`);

  // After the screenshot (it would fill the page): a push well above the server's 64-byte
  // compression threshold, with multi-byte characters, inflated by Chromium on both pages.
  let big = "";
  for (let i = 1; big.length < 2048; i++) {
    big += `Release notes v2.5.0, item ${i}: café ✓ — faster pushes 🚀, smaller frames. `;
  }
  check(Buffer.byteLength(big) > 2048, `the large push is ${Buffer.byteLength(big)} bytes of UTF-8`);
  const large = await push("/push", big);
  check(large.connections === 2, "the large push reached 2 connections");
  await waitForUpdate(alice, "push-all", big);
  await waitForUpdate(bob, "push-all", big);
  check(true, "alice's and bob's pages show the large push intact");

  // Ctrl-C: every page gets Close 1001 and shows "closed".
  process.kill(serverPid, "SIGINT");
  for (const [name, page] of [["alice", alice], ["bob", bob]]) {
    await page.waitForFunction(
      () => [...document.querySelectorAll("#log li")].some((li) => li.textContent.includes("closed: code 1001")),
      null,
      { timeout: STEP },
    );
    const logged = await page.$$eval("#log li", (els) => els.map((e) => e.textContent).join("\n"));
    check(/closed: code 1001 \(server shutting down\)/.test(logged), `${name}'s page got Close 1001 (going away)`);
    await page.waitForFunction(() => document.getElementById("state").textContent === "closed", null, {
      timeout: STEP,
    });
    const history = await page.getAttribute("#state", "data-history");
    check(/open.*closed/.test(history), `${name}'s readyState display went open -> closed (${history})`);
  }
  // A refused reconnect logs a console error ("WebSocket connection ... failed"); that is expected.
  const unexpected = errors.filter((e) => !/WebSocket connection to .* failed/.test(e));
  check(unexpected.length === 0, `no script errors on the pages ${JSON.stringify(unexpected)}`);
}

const watchdog = setTimeout(() => {
  console.error("push-e2e browser test: timed out after 120 s");
  process.exit(1);
}, 120000);

main().then(
  () => {
    clearTimeout(watchdog);
    console.log("push-e2e browser test: all assertions passed");
  },
  (e) => {
    console.error(`push-e2e browser test FAILED: ${e.stack || e}`);
    process.exit(1);
  },
);
