// The registry's API (docs/registry/api.md), as the marketplace reads and acts on it.
import { call, get, request } from "@/lib/api";

export { ApiError } from "@/lib/api";

export interface PluginSummary {
  name: string;
  summary: string;
  tags: string[];
  latest: string | null;
  downloads: number;
  active_installs: number;
  updated: string | null;
  deprecated: string | null;
  rating: number | null;
  ratings: number;
}

export interface Check { name: string; status: "pass" | "fail" | "flag" | "skip"; detail: string }

export interface Release {
  plugin: string;
  version: string;
  state: "in_review" | "approved" | "rejected";
  host_api: string;
  yanked: boolean;
  downloads: number;
  published_at: string;
  dependencies: Record<string, string>;
  signer: string;
  size: number;
  checks: Check[];
  asks_for: string[];
}

export interface PluginPage {
  name: string;
  summary: string;
  tags: string[];
  publisher: string | null;
  readme: string | null;
  changelog: string | null;
  documents_of: string | null;
  deprecated: string | null;
  rating: number | null;
  ratings: number;
  active_installs: number;
  versions: Release[];
  reviews_by_users: { stars: number; text: string }[];
  reviews: { version: string; decision: string; comment: string }[];
}

export interface Publisher {
  name: string;
  since: string;
  keys: { keyid: string; added: string; revoked: boolean }[];
  plugins: PluginSummary[];
}

export interface FileChange { path: string; change: "added" | "removed" | "modified"; diff: string | null; binary?: boolean; too_large?: boolean }

export interface Me { name: string; role: string; roles?: string[] }

export function search(params: URLSearchParams): Promise<{ plugins: PluginSummary[] }> {
  const q = new URLSearchParams();
  for (const key of ["q", "tag", "host_api", "sort"]) {
    const v = params.get(key);
    if (v) q.set(key, v);
  }
  return get(`/api/v1/plugins?${q}`);
}

const at = (name: string, version?: string) =>
  `/api/v1/plugins/${encodeURIComponent(name)}${version ? `/${encodeURIComponent(version)}` : ""}`;

export const plugin = (name: string) => get<PluginPage>(at(name));
export const publisher = (name: string) => get<Publisher>(`/api/v1/publishers/${encodeURIComponent(name)}`);
export const me = () => get<Me>("/api/v1/me");
export const queue = () => get<{ queue: Release[] }>("/api/v1/review/queue");
export const diff = (name: string, version: string) =>
  get<{ against: string | null; files: FileChange[] }>(`/api/v1/review/${encodeURIComponent(name)}/${encodeURIComponent(version)}/diff`);
export const decide = (name: string, version: string, decision: "approve" | "reject", comment: string) =>
  call<Release>("POST", `/api/v1/review/${encodeURIComponent(name)}/${encodeURIComponent(version)}`, { decision, comment });
export const yank = (name: string, version: string, on: boolean) =>
  call<Release>("POST", `${at(name, version)}/${on ? "yank" : "unyank"}`);
export const deprecate = (name: string, message: string | null) =>
  call<{ name: string; deprecated: string | null }>("POST", `${at(name)}/deprecate`, { message });

/** Publish a signed .kplugin: 201 with the release in review, or 422 with the report. */
export async function publish(file: File): Promise<Release & { checks: Check[] }> {
  const r = await request("POST", "/api/v1/packages", undefined, {
    body: await file.arrayBuffer(),
    headers: { "Content-Type": "application/zip" },
  });
  return r.json();
}
