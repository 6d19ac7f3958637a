// The signed-in person of this tab (sessionStorage: gone when the tab closes). A session
// comes from a token, an LDAP password, or a redirect sign-in (OIDC, SAML) whose page
// receives a one-time hand-off code in its address (#handoff=CODE) and trades it.

export interface Session {
  access_token: string;
  refresh_token?: string | null;
  name: string;
  roles: string[];
}

const KEY = "koha-session";
const listeners = new Set<() => void>();

export function session(): Session | null {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? "null");
  } catch {
    return null;
  }
}

export function onSessionChange(f: () => void): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}

export function setSession(s: Session | null) {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
  listeners.forEach((f) => f());
}

export function signOut() {
  const s = session();
  setSession(null);
  if (s?.refresh_token) {
    post("/auth/logout", { refresh_token: s.refresh_token }, s.access_token).catch(() => undefined);
  }
}

async function post(path: string, body: unknown, token?: string): Promise<Response> {
  const headers: Record<string, string> = { "Content-Type": "application/json", Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  return fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
}

async function message(r: Response): Promise<string> {
  try {
    return (await r.json()).error?.message ?? `${r.status}`;
  } catch {
    return `${r.status} ${r.statusText}`;
  }
}

/** New tokens with the refresh token (each works once); false if the session ended. */
export async function refreshed(): Promise<boolean> {
  const s = session();
  if (!s?.refresh_token) return false;
  const r = await post("/auth/refresh", { refresh_token: s.refresh_token });
  if (!r.ok) return false;
  const t = await r.json();
  setSession({ ...s, access_token: t.access_token, refresh_token: t.refresh_token, roles: t.roles ?? s.roles });
  return true;
}

/** Sign in with a token (an admin token, or an access token from `plugin-host login`). */
export async function signInWithToken(token: string): Promise<void> {
  const r = await fetch("/auth/me", { headers: { Authorization: `Bearer ${token}`, Accept: "application/json" } });
  if (!r.ok) throw new Error(await message(r));
  const me = await r.json();
  setSession({ access_token: token, name: me.name, roles: me.roles });
}

export async function signInWithLdap(username: string, password: string): Promise<void> {
  const r = await post("/auth/ldap", { username, password });
  if (!r.ok) throw new Error(await message(r));
  const t = await r.json();
  setSession({ access_token: t.access_token, refresh_token: t.refresh_token, name: t.name, roles: t.roles });
}

/** If the address carries a hand-off code, trade it for the session (once) and clear it. */
export async function takeHandoff(): Promise<string | null> {
  const m = location.hash.match(/^#handoff=([A-Za-z0-9_-]{10,128})$/);
  if (!m) return null;
  history.replaceState(null, "", location.pathname + location.search);
  const r = await post("/auth/handoff", { code: m[1] });
  if (!r.ok) return await message(r);
  const t = await r.json();
  setSession({ access_token: t.access_token, refresh_token: t.refresh_token, name: t.name, roles: t.roles });
  return null;
}

export interface Providers {
  providers: string[];
  oidc?: { login: string };
  ldap?: { login: string };
  saml?: { login: string };
}

export async function providers(): Promise<Providers> {
  const r = await fetch("/auth/providers", { headers: { Accept: "application/json" } });
  return r.ok ? r.json() : { providers: [] };
}
