// Each DOM shim with each way of mocking `fetch`; the mock is installed by a setup file, before
// the test file imports sessionguard.
import { defineConfig } from "vitest/config";

const project = (environment, mock) => ({
  test: { name: `${environment}-${mock}`, environment, setupFiles: [`./setup-${mock}.js`], include: ["readme.spec.js"] },
});

export default defineConfig({
  test: { projects: ["jsdom", "happy-dom"].flatMap((env) => [project(env, "msw"), project(env, "vi-fn")]) },
});
