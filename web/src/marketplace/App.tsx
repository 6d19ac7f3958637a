// The marketplace: browse and search (/), a plugin's page (/plugins/NAME). Plain links
// and GET forms, so every state has an address, works with the keyboard and the back
// button, and needs no client-side router.
import { Download, Search, Star, Users } from "lucide-react";
import { useEffect, useState } from "react";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { plugin, search, type PluginPage, type PluginSummary } from "./api";

const SORTS = [
  ["name", "Name"],
  ["downloads", "Downloads"],
  ["installs", "Active installs"],
  ["rating", "Rating"],
  ["updated", "Recently updated"],
] as const;

function Shell({ children }: { children: React.ReactNode }) {
  return (
    <>
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:m-2 focus:rounded-md focus:bg-background focus:p-2">
        Skip to content
      </a>
      <header className="border-b border-border">
        <div className="mx-auto flex max-w-5xl items-center gap-4 px-4 py-3">
          <a href="/" className="text-lg font-semibold">Koha plugins</a>
          <span className="text-sm text-muted-foreground">marketplace</span>
        </div>
      </header>
      <main id="main" className="mx-auto max-w-5xl px-4 py-6">{children}</main>
    </>
  );
}

function Stars({ rating, count }: { rating: number | null; count: number }) {
  if (rating === null) return <span className="text-muted-foreground">no ratings yet</span>;
  return (
    <span className="inline-flex items-center gap-1">
      <Star aria-hidden="true" className="size-4" />
      {rating.toFixed(1)} <span className="text-muted-foreground">({count})</span>
    </span>
  );
}

function Browse() {
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

function Plugin({ name }: { name: string }) {
  const [page, setPage] = useState<PluginPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    plugin(name).then(setPage, (e) => setError(e.message));
  }, [name]);
  useEffect(() => {
    document.title = `${name} · Koha plugins marketplace`;
  }, [name]);
  return (
    <Shell>
      <p className="mb-4 text-sm"><a href="/" className="underline underline-offset-4">All plugins</a></p>
      {error && <p role="alert" className="text-destructive">{error}</p>}
      {!page && !error && <p aria-live="polite">Loading…</p>}
      {page && (
        <>
          <h1 className="text-2xl font-semibold">{page.name}</h1>
          {page.deprecated && <Badge variant="destructive" className="mt-1">deprecated</Badge>}
          <p className="mt-2">{page.summary}</p>
          <div className="mt-2 flex flex-wrap gap-1">{page.tags.map((t) => <Badge key={t}>{t}</Badge>)}</div>
          <dl className="mt-4 grid grid-cols-2 gap-2 text-sm sm:grid-cols-3">
            <div><dt className="text-muted-foreground">Active installs</dt><dd>{page.active_installs}</dd></div>
            <div><dt className="text-muted-foreground">Rating</dt><dd><Stars rating={page.rating} count={page.ratings} /></dd></div>
            <div><dt className="text-muted-foreground">Versions</dt><dd>{page.versions.length}</dd></div>
          </dl>
          {page.versions.length > 0 && (
            <>
              <h2 className="mt-6 mb-2 text-lg font-semibold">What it asks for (version {page.versions[0].version})</h2>
              <ul className="list-disc space-y-1 pl-5 text-sm">
                {page.versions[0].asks_for.map((line) => <li key={line}>{line}</li>)}
              </ul>
            </>
          )}
          <h2 className="mt-6 mb-2 text-lg font-semibold">Versions</h2>
          <div className="overflow-x-auto">
            <table className="w-full text-left text-sm">
              <caption className="sr-only">Approved versions of {page.name}</caption>
              <thead className="border-b border-border text-muted-foreground">
                <tr><th scope="col" className="py-2 pr-4">Version</th><th scope="col" className="pr-4">Host API</th><th scope="col" className="pr-4">Depends on</th><th scope="col" className="pr-4">Downloads</th><th scope="col">Published</th></tr>
              </thead>
              <tbody>
                {page.versions.map((v) => (
                  <tr key={v.version} className="border-b border-border">
                    <td className="py-2 pr-4 font-medium">{v.version}{v.yanked && <Badge variant="destructive" className="ml-2">yanked</Badge>}</td>
                    <td className="pr-4">{v.host_api}</td>
                    <td className="pr-4">{Object.entries(v.dependencies).map(([n, r]) => `${n} ${r}`).join(", ") || "nothing"}</td>
                    <td className="pr-4">{v.downloads}</td>
                    <td><time dateTime={v.published_at}>{v.published_at.slice(0, 10)}</time></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {page.reviews_by_users.length > 0 && (
            <>
              <h2 className="mt-6 mb-2 text-lg font-semibold">Reviews</h2>
              <ul className="grid gap-2">
                {page.reviews_by_users.map((r, i) => (
                  <li key={i}><Card><Stars rating={r.stars} count={1} /><p className="mt-1 text-sm">{r.text}</p></Card></li>
                ))}
              </ul>
            </>
          )}
        </>
      )}
    </Shell>
  );
}

export function App({ path }: { path: string }) {
  const m = path.match(/^\/plugins\/([a-z][a-z0-9-]{0,62})\/?$/);
  return m ? <Plugin name={m[1]} /> : <Browse />;
}
