// Calls to the service that served the page, as the signed-in person (docs/web).
// Every error becomes an ApiError with the service's message and, where it names
// fields, its problems ("key: why"), so forms can show each next to its field.
import { session, refreshed, signOut } from "./session";

export class ApiError extends Error {
  status: number;
  code: string;
  problems: string[];
  /** The whole error object the service sent (with any details, like ``checks``). */
  detail: Record<string, unknown>;

  constructor(status: number, code: string, message: string, problems: string[] = [],
    detail: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.problems = problems;
    this.detail = detail;
  }

  /** The problem naming ``key``, without the key ("greeting: must be a string"): from
   * the error's ``problems``, or its message (the services name the field first). */
  about(key: string): string | undefined {
    const all = this.problems.length ? this.problems : this.message.split("; ");
    const p = all.find((x) => x.startsWith(`${key}: `));
    return p?.slice(key.length + 2);
  }
}

async function failure(r: Response): Promise<ApiError> {
  try {
    const body = await r.json();
    const e = body.error ?? {};
    return new ApiError(r.status, e.code ?? "error", e.message ?? `${r.status} ${r.statusText}`,
      Array.isArray(e.problems) ? e.problems : [], e);
  } catch {
    return new ApiError(r.status, "error", `${r.status} ${r.statusText}`);
  }
}

export async function request(method: string, path: string, body?: unknown,
  init: RequestInit = {}): Promise<Response> {
  const send = () => {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    Object.assign(headers, init.headers ?? {});
    const s = session();
    if (s) headers.Authorization = `Bearer ${s.access_token}`;
    return fetch(path, { ...init, method, headers, body: body === undefined ? init.body : JSON.stringify(body) });
  };
  let r = await send();
  if (r.status === 401 && session() && (await refreshed())) r = await send();
  if (r.status === 401 && session()) signOut();
  if (!r.ok) throw await failure(r);
  return r;
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  return (await request(method, path, body)).json() as Promise<T>;
}

export const get = <T,>(path: string) => call<T>("GET", path);
