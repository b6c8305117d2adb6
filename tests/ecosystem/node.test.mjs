// Node hosts: Vitest (with jsdom and with happy-dom; `fetch` mocked by msw/node's setupServer and
// by vi.fn + vi.stubGlobal, each installed before sessionguard is imported) running README's
// "Tests in Node" block as written; and tsc --strict on a user of both entries under
// moduleResolution bundler and node16.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { prepare, bin, tool } from "./eco.mjs";

before(() => prepare());

for (const env of ["jsdom", "happy-dom"]) {
  test(`vitest with ${env} runs README's "Tests in Node" block as written, fetch mocked by msw and by vi.fn before the import`, async () => {
    const out = await tool("vitest", bin("vitest", "vitest", "vitest.mjs"), ["run", "--project", `${env}-msw`, "--project", `${env}-vi-fn`]);
    // both projects ran both tests
    assert.match(out, /Tests\s+4 passed \(4\)/, out);
  });
}

for (const resolution of ["bundler", "node16"]) {
  test(`tsc --strict with moduleResolution ${resolution} type-checks a user of sessionguard and sessionguard/lite`, async () => {
    await tool("tsc", bin("tsc", "typescript", "bin/tsc"), ["-p", `tsconfig.${resolution}.json`]);
  });
}
