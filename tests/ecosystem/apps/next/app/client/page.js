"use client";
// A client page: the manager is made in the browser (useEffect), logs in and calls the API.
import { useEffect, useState } from "react";
import { SessionExpiredError } from "sessionguard";
import { getSession } from "../session.js";

export default function ClientPage() {
  const [out, setOut] = useState("loading");
  useEffect(() => {
    (async () => {
      const session = await getSession();
      let before = "";
      try {
        await session.fetch("/api/me");
      } catch (e) {
        before = e instanceof SessionExpiredError ? e.reason : String(e);
      }
      const login = await (await fetch("/auth/login", { method: "POST", body: "{}" })).json();
      session.setTokens({ ...login, expires_in: 0 });
      const me = await (await session.fetch("/api/me")).json();
      window.exampleResult = { before, user: me.user, refreshes: session.stats().refreshes };
      setOut(JSON.stringify(window.exampleResult));
    })().catch((e) => {
      window.exampleError = String((e && e.stack) || e);
      setOut(window.exampleError);
    });
  }, []);
  return <pre id="out">{out}</pre>;
}
