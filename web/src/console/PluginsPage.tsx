// Installed plugins with their state, sandbox and calls; install from the registry by
// name; the fleet, when hosts share a declared plugin set.
import { Download } from "lucide-react";
import { useEffect, useState } from "react";
import { Alert } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Field, controlClass } from "@/components/ui/field";
import { ApiError } from "@/lib/api";
import { fleet, install, offered, plugins, type Offered } from "./api";
import { useLoad } from "@/lib/hooks";
import { StateBadge } from "./state";

function Install({ installed, onDone }: { installed: Set<string>; onDone: (msg: string) => void }) {
  const [catalogue, setCatalogue] = useState<Record<string, Offered> | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [typed, setTyped] = useState("");
  const [more, setMore] = useState(0);
  useEffect(() => {
    // the registry may hold thousands: ask for the names containing what is typed
    const t = setTimeout(() => {
      offered({ q: typed.trim() }).then((r) => {
        setCatalogue(r.plugins);
        setMore(r.total - Object.keys(r.plugins).length);
      }, (e: ApiError) => setNote(e.message));
    }, typed ? 250 : 0);
    return () => clearTimeout(t);
  }, [typed]);
  const names = Object.keys(catalogue ?? {}).filter((n) => !installed.has(n));
  return (
    <Card className="mb-6">
      <h2 className="mb-3 text-lg font-semibold">Install from the registry</h2>
      {note && <p className="mb-3 text-sm text-muted-foreground">{note}</p>}
      {error && <Alert variant="destructive" className="mb-3">{error.message}</Alert>}
      <form
        className="grid gap-3 sm:grid-cols-[1fr_10rem_auto] sm:items-end"
        onSubmit={async (e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget);
          const name = String(f.get("name")).trim();
          setBusy(true);
          setError(null);
          try {
            const done = await install(name, String(f.get("range")).trim() || "*");
            onDone(`Installed ${done.name} ${done.version}.`);
          } catch (err) {
            setError(err as ApiError);
          } finally {
            setBusy(false);
          }
        }}
      >
        <Field label="Plugin" error={error?.about("name")}>
          {(p) => <input {...p} name="name" list="registry-names" required autoComplete="off" className={controlClass} onChange={(e) => setTyped(e.currentTarget.value)} />}
        </Field>
        <datalist id="registry-names">
          {names.map((n) => <option key={n} value={n}>{catalogue![n].summary}</option>)}
        </datalist>
        {more > 0 && <p className="text-xs text-muted-foreground sm:col-span-3">{more} more match: type more of the name.</p>}
        <Field label="Version range" error={error?.about("range")}>
          {(p) => <input {...p} name="range" defaultValue="*" className={controlClass} />}
        </Field>
        <Button type="submit" disabled={busy}><Download aria-hidden="true" className="size-4" />{busy ? "Installing…" : "Install"}</Button>
      </form>
    </Card>
  );
}

function Fleet() {
  const { data, error } = useLoad(fleet);
  if (error) return <p className="text-sm text-muted-foreground">Fleet: {error.message}</p>;
  if (!data) return null;
  return (
    <section aria-labelledby="fleet" className="mt-8">
      <h2 id="fleet" className="mb-2 text-lg font-semibold">Fleet</h2>
      <p className="mb-3 text-sm">
        {data.desired
          ? `Declared set, generation ${data.desired.generation}: ${data.desired.plugins.map((p) => `${p.name} ${p.version}`).join(", ") || "no plugins"}.`
          : "No plugin set is declared for the fleet: each host keeps what was installed on it."}
      </p>
      <div className="overflow-x-auto">
        <table className="w-full text-left text-sm">
          <caption className="sr-only">Hosts sharing this host's database</caption>
          <thead className="border-b border-border text-muted-foreground">
            <tr><th scope="col" className="py-2 pr-4">Host</th><th scope="col" className="pr-4">Release</th><th scope="col" className="pr-4">Generation</th><th scope="col" className="pr-4">Drift</th><th scope="col">Last seen</th></tr>
          </thead>
          <tbody>
            {data.hosts.map((h) => (
              <tr key={h.instance} className="border-b border-border">
                <td className="py-2 pr-4 font-medium">{h.instance}{h.instance === data.instance && " (this host)"}</td>
                <td className="pr-4">{h.release}</td>
                <td className="pr-4">{h.generation ?? "none"}</td>
                <td className="pr-4">{Object.keys(h.drift ?? {}).length ? <Badge variant="destructive">{Object.keys(h.drift).join(", ")}</Badge> : "none"}</td>
                <td><time dateTime={h.seen_at}>{h.seen_at.slice(0, 19).replace("T", " ")}</time>{h.stale && <Badge variant="destructive" className="ml-2">stale</Badge>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function PluginsPage() {
  const { data, error, reload } = useLoad(plugins);
  const [done, setDone] = useState<string | null>(null);
  useEffect(() => { document.title = "Plugins · Koha plugin host"; }, []);
  return (
    <>
      <h1 className="mb-4 text-2xl font-semibold">Plugins on this host</h1>
      {done && <Alert className="mb-4">{done}</Alert>}
      <Install installed={new Set((data?.plugins ?? []).map((p) => p.name))} onDone={(m) => { setDone(m); reload(); }} />
      {error && <Alert variant="destructive">{error.message}</Alert>}
      {!data && !error && <p aria-live="polite">Loading…</p>}
      {data && (
        <div className="overflow-x-auto">
          <table className="w-full text-left text-sm">
            <caption className="sr-only">Installed plugins</caption>
            <thead className="border-b border-border text-muted-foreground">
              <tr>
                <th scope="col" className="py-2 pr-4">Plugin</th><th scope="col" className="pr-4">Version</th>
                <th scope="col" className="pr-4">State</th><th scope="col" className="pr-4">Sandbox</th>
                <th scope="col" className="pr-4">Workers</th><th scope="col" className="pr-4">Restarts</th>
                <th scope="col">Calls (failed)</th>
              </tr>
            </thead>
            <tbody>
              {data.plugins.map((p) => (
                <tr key={p.name} className="border-b border-border align-top">
                  <td className="py-2 pr-4"><a href={`/console/plugins/${p.name}`} className="font-medium underline underline-offset-4">{p.name}</a><div className="text-muted-foreground">{p.summary}</div></td>
                  <td className="pr-4">{p.version}</td>
                  <td className="pr-4"><StateBadge state={p.state} /></td>
                  <td className="pr-4">{p.sandbox.layers.join(", ") || "none"}</td>
                  <td className="pr-4">{p.runtime ? `${p.runtime.workers.length} of ${p.runtime.configured_workers}` : "none"}</td>
                  <td className="pr-4">{p.runtime?.restarts ?? 0}</td>
                  <td>{p.calls.total} ({p.calls.failed})</td>
                </tr>
              ))}
            </tbody>
          </table>
          {data.plugins.length === 0 && <p className="mt-3 text-sm">No plugin is installed yet.</p>}
        </div>
      )}
      <Fleet />
    </>
  );
}
