// The registry's public API (docs/registry/api.md), as the marketplace reads it.

export interface PluginSummary {
  name: string;
  summary: string;
  tags: string[];
  latest: string | null;
  downloads: number;
  active_installs: number;
  updated: string | null;
  deprecated: boolean;
  rating: number | null;
  ratings: number;
}

export interface Release {
  version: string;
  host_api: string;
  yanked: boolean;
  downloads: number;
  published_at: string;
  dependencies: Record<string, string>;
  signer: string;
  size: number;
  asks_for: string[];
}

export interface PluginPage {
  name: string;
  summary: string;
  tags: string[];
  deprecated: boolean;
  rating: number | null;
  ratings: number;
  active_installs: number;
  versions: Release[];
  reviews_by_users: { stars: number; text: string }[];
}

export class ApiError extends Error {}

async function get<T>(path: string): Promise<T> {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  if (!r.ok) {
    let message = `${r.status} ${r.statusText}`;
    try {
      message = (await r.json()).error?.message ?? message;
    } catch {
      /* not JSON */
    }
    throw new ApiError(message);
  }
  return r.json() as Promise<T>;
}

export function search(params: URLSearchParams): Promise<{ plugins: PluginSummary[] }> {
  const q = new URLSearchParams();
  for (const key of ["q", "tag", "host_api", "sort"]) {
    const v = params.get(key);
    if (v) q.set(key, v);
  }
  return get(`/api/v1/plugins?${q}`);
}

export function plugin(name: string): Promise<PluginPage> {
  return get(`/api/v1/plugins/${encodeURIComponent(name)}`);
}
