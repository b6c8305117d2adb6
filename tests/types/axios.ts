// Compiled (not run) by the packaging test, where axios is installed: the package augments
// axios's request config with `skipAuth` (the README's `skipAuth: true` in an axios config).
// Without the augmentation in the package's types, every line with `skipAuth` fails (TS2353).
import axios, { type AxiosRequestConfig, type InternalAxiosRequestConfig } from "axios";
import { SessionManager } from "sessionguard";
import { SessionManager as Lite } from "sessionguard/lite";
import { same } from "./check.js";

export async function withAxios(session: SessionManager, lite: Lite): Promise<void> {
  const api = axios.create({ baseURL: "https://api.example.com" });
  const detach: () => void = session.attachAxios(api);
  lite.attachAxios(axios.create());
  await api.get("/public", { skipAuth: true });
  await api.post("/public", { a: 1 }, { skipAuth: true, timeout: 1000 });
  await api.request({ url: "/public", method: "GET", skipAuth: true });
  await axios("/public", { skipAuth: true });
  const config: AxiosRequestConfig<{ a: number }> = { data: { a: 1 }, skipAuth: true };
  await api.request(config);
  api.interceptors.request.use((c: InternalAxiosRequestConfig) => {
    same<typeof c.skipAuth, boolean | undefined>(true);
    return c;
  });
  // @ts-expect-error skipAuth is a boolean
  await api.get("/public", { skipAuth: "yes" });
  detach();
}
