"use client";
// The app's one SessionManager, made in the browser only (a client module; the server renders
// the page without it).
import { SessionManager } from "sessionguard";

let session = null;
export function getSession() {
  session ??= SessionManager.create({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "next-app" }, storage: "local" });
  return session;
}
