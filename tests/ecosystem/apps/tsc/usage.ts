// A TypeScript user of both entries, checked with --strict under each moduleResolution.
import init, { SessionManager, SessionExpiredError } from "sessionguard";
import initLite, { SessionManager as LiteManager } from "sessionguard/lite";

export async function main(): Promise<string | null> {
  await init();
  await initLite();
  const session: SessionManager = await SessionManager.create({ storage: "memory", allowedOrigins: ["https://api.example.com"] });
  const lite = new LiteManager({});
  lite.setTokens({ access_token: "t", expires_in: 60 });
  session.addEventListener("session-expired", () => {});
  try {
    const res: Response = await session.fetch("https://api.example.com/orders");
    return res.ok ? await lite.getAccessToken() : null;
  } catch (e) {
    if (e instanceof SessionExpiredError) return e.reason;
    throw e;
  }
}
