// The global `fetch` replaced by a vi.fn mock (vi.stubGlobal) before sessionguard is imported.
import { vi } from "vitest";

vi.stubGlobal("fetch", vi.fn(async (input, init) => {
  const request = new Request(input, init);
  if (request.url !== "https://api.example.com/me") throw new TypeError("unexpected fetch: " + request.url);
  return Response.json({ authorization: request.headers.get("authorization") });
}));
