// A publisher's page (/publishers/NAME): since when, their signing keys, their plugins.
import { useEffect } from "react";
import { Badge } from "@/components/ui/badge";
import { Card } from "@/components/ui/card";
import { useLoad } from "@/lib/hooks";
import { publisher } from "./api";
import { Shell, Stars } from "./Shell";

export function Publisher({ name }: { name: string }) {
  const { data: page, error } = useLoad(() => publisher(name), [name]);
  useEffect(() => { document.title = `${name} (publisher) · Koha plugins marketplace`; }, [name]);
  return (
    <Shell>
      <p className="mb-4 text-sm"><a href="/" className="underline underline-offset-4">All plugins</a></p>
      {error && <p role="alert" className="text-destructive">{error.message}</p>}
      {!page && !error && <p aria-live="polite">Loading…</p>}
      {page && (
        <>
          <h1 className="text-2xl font-semibold">{page.name}</h1>
          <p className="mt-1 text-sm text-muted-foreground">Publishing since <time dateTime={page.since}>{page.since.slice(0, 10)}</time></p>
          <h2 className="mt-6 mb-2 text-lg font-semibold">Plugins</h2>
          {page.plugins.length === 0 && <p className="text-sm">No approved plugin yet.</p>}
          <ul className="grid gap-3 sm:grid-cols-2">
            {page.plugins.map((p) => (
              <li key={p.name}>
                <Card className="h-full">
                  <h3 className="font-semibold"><a href={`/plugins/${p.name}`} className="underline-offset-4 hover:underline">{p.name}</a> <span className="text-sm font-normal text-muted-foreground">{p.latest}</span></h3>
                  <p className="mt-1 text-sm">{p.summary}</p>
                  <p className="mt-2 text-sm"><Stars rating={p.rating} count={p.ratings} /> · {p.active_installs} active</p>
                </Card>
              </li>
            ))}
          </ul>
          <h2 className="mt-6 mb-2 text-lg font-semibold">Signing keys</h2>
          <ul className="grid gap-1 text-sm">
            {page.keys.map((k) => (
              <li key={k.keyid}><code className="break-all">{k.keyid}</code>, added <time dateTime={k.added}>{k.added.slice(0, 10)}</time>{k.revoked && <Badge variant="destructive" className="ml-2">revoked</Badge>}</li>
            ))}
          </ul>
        </>
      )}
    </Shell>
  );
}
