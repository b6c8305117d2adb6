// Next.js 16 (App Router), built and started as in production, with Turbopack (its default) and
// with webpack: a client page whose manager is made in the browser only (signs in, calls the
// API), and a server-rendered page whose server component makes its own manager (storage
// "memory") and reads its tokens. Importing sessionguard on the server must never throw nor leave
// an unhandled rejection: the server's output is checked for both.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { prepare, bin, tool, serve, freePort, startBrowser, stopAll, app, SIGNED_IN } from "./eco.mjs";

let b;
before(async () => {
  prepare();
  b = await startBrowser();
});
after(async () => {
  stopAll();
  await b?.close();
});

const next = () => bin("next", "next", "dist/bin/next");
const env = { NEXT_TELEMETRY_DISABLED: "1" };
const BAD = /unhandledRejection|Unhandled Rejection|Failed to parse URL|sessionguard: /;

for (const [name, flags] of [["Turbopack", []], ["webpack", ["--webpack"]]]) {
  test(`next 16 with ${name}: next build + next start render the server page's own manager and the client page signs in`, async () => {
    rmSync(join(app("next"), ".next"), { recursive: true, force: true });
    const built = await tool("next", next(), ["build", ...flags], env);
    assert.doesNotMatch(built, BAD, built);
    const port = await freePort();
    const server = await serve("next", next(), ["start", "--hostname", "127.0.0.1", "--port", String(port)], /Ready in/i, env);
    try {
      const html = await (await fetch(`http://127.0.0.1:${port}/server`)).text();
      const m = html.match(/<pre id="server">([^<]*)<\/pre>/);
      assert.ok(m, "the server page rendered:\n" + html.slice(0, 2000));
      assert.deepEqual(JSON.parse(m[1].replace(/&quot;/g, '"')), { sub: "server-alice", same: true });
      assert.deepEqual(await b.open(`http://127.0.0.1:${port}/client`), SIGNED_IN);
      // the client page was rendered on the server too (its module imports sessionguard there)
      assert.equal((await fetch(`http://127.0.0.1:${port}/client`)).status, 200);
      assert.doesNotMatch(server.output(), BAD, server.output());
    } finally {
      server.stop();
    }
  });
}
