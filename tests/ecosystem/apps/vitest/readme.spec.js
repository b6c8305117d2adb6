// README's "Tests in Node" block, as written; then a call through the mocked fetch.
import { test, expect } from "vitest";
import init, { SessionManager } from "sessionguard";
await init();                             // Node >= 18: finds the .wasm file by itself
const session = new SessionManager({});   // storage "memory"; no window needed
session.setTokens({ access_token: "test-token", expires_in: 3600 });

test("the README's block makes a session", async () => {
  expect(await session.getAccessToken()).toBe("test-token");
});

test("session.fetch sends the token through the mocked fetch", async () => {
  const api = new SessionManager({ allowedOrigins: ["https://api.example.com"] });
  api.setTokens({ access_token: "test-token", expires_in: 3600 });
  const res = await api.fetch("https://api.example.com/me");
  expect(await res.json()).toEqual({ authorization: "Bearer test-token" });
});
