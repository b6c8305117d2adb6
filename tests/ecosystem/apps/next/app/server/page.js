// A server component with its own manager (storage "memory", one per request): tokens handed
// over, read back and their claims decoded, all on the server.
import { SessionManager } from "sessionguard";

export const dynamic = "force-dynamic";

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");

export default async function ServerPage() {
  const token = `${b64({ alg: "none" })}.${b64({ sub: "server-alice", exp: Math.floor(Date.now() / 1000) + 3600 })}.sig`;
  const session = await SessionManager.create({ storage: "memory" });
  session.setTokens({ access_token: token, expires_in: 3600 });
  const result = { sub: session.claims("access")?.sub, same: (await session.getAccessToken()) === token };
  session.dispose?.();
  return <pre id="server">{JSON.stringify(result)}</pre>;
}
