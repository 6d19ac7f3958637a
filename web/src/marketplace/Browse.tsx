// Browse and search the catalogue (/): plain GET forms, so every state has an address.
import { Download, Search, Users } from "lucide-react";
import { useEffect, useState } from "react";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { search, type PluginSummary } from "./api";
import { Shell, Stars } from "./Shell";

const SORTS = [
  ["name", "Name"],
  ["downloads", "Downloads"],
  ["installs", "Active installs"],
  ["rating", "Rating"],
  ["updated", "Recently updated"],
] as const;

export function Browse() {
  const params = new URLSearchParams(location.search);
  const [plugins, setPlugins] = useState<PluginSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    search(params).then((r) => setPlugins(r.plugins), (e) => setError(e.message));
  }, []);
  const tags = [...new Set((plugins ?? []).flatMap((p) => p.tags))].sort();
  return (
    <Shell>
      <h1 className="mb-4 text-2xl font-semibold">Plugins for Koha</h1>
      <form method="get" action="/" role="search" className="mb-6 grid gap-3 sm:grid-cols-[1fr_auto_auto_auto_auto] sm:items-end">
        <label className="grid gap-1 text-sm">
          Search
          <Input name="q" type="search" defaultValue={params.get("q") ?? ""} placeholder="name, summary or tag" />
        </label>
        <label className="grid gap-1 text-sm">
          Tag
          <select name="tag" defaultValue={params.get("tag") ?? ""} className="h-9 rounded-md border border-input bg-background px-2 text-sm">
            <option value="">any</option>
            {[...new Set([...tags, params.get("tag") ?? ""])].filter(Boolean).map((t) => (
              <option key={t} value={t}>{t}</option>
            ))}
          </select>
        </label>
        <label className="grid gap-1 text-sm">
          Host API
          <Input name="host_api" defaultValue={params.get("host_api") ?? ""} placeholder="1.0.0" className="w-24" inputMode="decimal" />
        </label>
        <label className="grid gap-1 text-sm">
          Sort by
          <select name="sort" defaultValue={params.get("sort") ?? "name"} className="h-9 rounded-md border border-input bg-background px-2 text-sm">
            {SORTS.map(([value, label]) => (
              <option key={value} value={value}>{label}</option>
            ))}
          </select>
        </label>
        <Button type="submit"><Search aria-hidden="true" className="size-4" />Search</Button>
      </form>
      {error && <p role="alert" className="text-destructive">The registry said: {error}</p>}
      {plugins === null && !error && <p aria-live="polite">Loading…</p>}
      {plugins !== null && (
        <>
          <p aria-live="polite" className="mb-3 text-sm text-muted-foreground">
            {plugins.length} plugin{plugins.length === 1 ? "" : "s"}
          </p>
          <ul className="grid gap-3 sm:grid-cols-2">
            {plugins.map((p) => (
              <li key={p.name}>
                <Card className="h-full">
                  <h2 className="text-base font-semibold">
                    <a href={`/plugins/${p.name}`} className="underline-offset-4 hover:underline">{p.name}</a>
                    {p.latest && <span className="ml-2 text-sm font-normal text-muted-foreground">{p.latest}</span>}
                  </h2>
                  {p.deprecated && <Badge variant="destructive" className="mt-1">deprecated</Badge>}
                  <p className="mt-1 text-sm">{p.summary}</p>
                  <div className="mt-2 flex flex-wrap gap-1">
                    {p.tags.map((t) => <Badge key={t}>{t}</Badge>)}
                  </div>
                  <dl className="mt-3 flex flex-wrap gap-4 text-sm">
                    <div className="inline-flex items-center gap-1"><dt className="sr-only">Downloads</dt><Download aria-hidden="true" className="size-4" /><dd>{p.downloads} downloads</dd></div>
                    <div className="inline-flex items-center gap-1"><dt className="sr-only">Active installs</dt><Users aria-hidden="true" className="size-4" /><dd>{p.active_installs} active</dd></div>
                    <div><dt className="sr-only">Rating</dt><dd><Stars rating={p.rating} count={p.ratings} /></dd></div>
                  </dl>
                </Card>
              </li>
            ))}
          </ul>
        </>
      )}
    </Shell>
  );
}

