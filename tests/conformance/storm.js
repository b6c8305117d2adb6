// What the conformance page (app.html) offers the tests: a refused refresh
// under a storm, the same scenario against each identity server.
// the flavour the page loaded (`?lite`: sessionguard/lite)
const { SessionManager } = await import(new URLSearchParams(location.search).has("lite") ? "/pkg/lite.js" : "/pkg/sessionguard.js");

/** Ten calls on an expired token whose refresh the identity server refuses: what the calls
 * got, the `session-expired` reasons, and what storage kept under `key`. */
export async function refusedStorm(options, tokenSet, url, key) {
  const s = new SessionManager({ ...options, storage: "session", storageKey: key });
  const ended = [];
  s.addEventListener("session-expired", (e) => ended.push(e.detail.reason));
  s.setTokens(tokenSet);
  const res = await Promise.all(Array.from({ length: 10 }, () => s.fetch(url).then((x) => x.status, (e) => e.reason)));
  return { res: [...new Set(res)], ended, stored: sessionStorage.getItem(key) };
}
