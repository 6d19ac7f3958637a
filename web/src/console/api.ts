// The host's admin API (docs/api/host.md) as the console uses it.
import { ApiError, call, get, request } from "@/lib/api";

export interface Runtime {
  workers: { pid: number; inflight: number }[];
  crash_looping: boolean;
  configured_workers: number;
  restarts: number;
}

export interface ConfigField {
  type: "string" | "integer" | "number" | "boolean" | "array" | "object";
  description: string;
  default: unknown;
  required: boolean;
  choices: unknown[] | null;
}

export interface Plugin {
  name: string;
  version: string;
  state: "enabled" | "disabled" | "failed" | "crash-looping";
  enabled: boolean;
  summary: string;
  previous_version: string | null;
  signer: string | null;
  error: string | null;
  sandbox: { layers: string[] };
  runtime: Runtime | null;
  calls: { total: number; failed: number };
}

export interface PluginDetail extends Plugin {
  manifest: { config: Record<string, ConfigField>; permissions: { secrets: string[] } };
  config: Record<string, unknown>;
  config_problems: string[];
  secrets: Record<string, string>;
  warnings: string[];
  routes: [string, string][];
  hooks: string[];
}

export interface Offered {
  summary: string;
  tags: string[];
  deprecated: string | null;
  versions: { version: string; yanked: boolean; host_api: string }[];
}

export interface FleetStatus {
  instance: string;
  desired: { generation: number; plugins: { name: string; version: string }[] } | null;
  hosts: { instance: string; release: string; generation: number | null; plugins: Record<string, string>;
    drift: Record<string, unknown>; seen_at: string; stale: boolean }[];
}

export interface LogLine { seq: number; time: number; plugin: string; level: string; event: string; [k: string]: unknown }

const at = (name: string) => `/admin/plugins/${encodeURIComponent(name)}`;

export const plugins = () => get<{ plugins: Plugin[] }>("/admin/plugins");
export const plugin = (name: string) => get<PluginDetail>(at(name));
/** What the registry offers (names containing `q`, or the plugin `name` alone); throws
 * with the host's words when it has none. */
export const offered = async (query: { q?: string; name?: string } = {}) => {
  const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v) as [string, string][]);
  const r = await get<{ registry: string | null; plugins: Record<string, Offered>; total: number; problem: string | null }>(
    `/admin/registry${params.toString() ? `?${params}` : ""}`,
  );
  if (r.problem) throw new ApiError(200, "registry_not_configured", r.problem);
  return r;
};
export const fleet = () => get<FleetStatus>("/admin/fleet");
export const install = (name: string, range: string) =>
  call<PluginDetail>("POST", "/admin/plugins", { name, range });
export const upgrade = (name: string, version: string) =>
  call<PluginDetail>("POST", `${at(name)}/upgrade`, { range: `=${version}` });
export const rollback = (name: string) => call<PluginDetail>("POST", `${at(name)}/rollback`);
export const setEnabled = (name: string, on: boolean) =>
  call<Plugin>("POST", `${at(name)}/${on ? "enable" : "disable"}`);
export const configure = (name: string, config: Record<string, unknown>) =>
  call<PluginDetail>("PUT", `${at(name)}/config`, config);
export const setSecret = (name: string, secret: string, value: string) =>
  call<{ secrets: Record<string, string> }>("PUT", `${at(name)}/secrets/${encodeURIComponent(secret)}`, { value });
export const unsetSecret = (name: string, secret: string) =>
  call<{ secrets: Record<string, string> }>("DELETE", `${at(name)}/secrets/${encodeURIComponent(secret)}`);

/** The plugin's log: the last lines, then each new one as it comes, until aborted. */
export async function followLog(name: string, onLine: (l: LogLine) => void, signal: AbortSignal) {
  const r = await request("GET", `${at(name)}/logs?follow=true&limit=100`, undefined, { signal });
  const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
  let rest = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    rest += value;
    const lines = rest.split("\n");
    rest = lines.pop() ?? "";
    for (const l of lines) if (l.trim()) onLine(JSON.parse(l));
  }
}
