// msw's request interception (msw/node), listening before the test file imports sessionguard.
import { setupServer } from "msw/node";
import { http, HttpResponse } from "msw";
import { afterAll } from "vitest";

const server = setupServer(
  http.get("https://api.example.com/me", ({ request }) => HttpResponse.json({ authorization: request.headers.get("authorization") })),
);
server.listen({ onUnhandledRequest: "error" });
afterAll(() => server.close());
