// One plugin: its state and sandbox, upgrade and roll back (each confirmed), enable and
// disable, its settings as a form made from its [config] schema, its secrets (write
// only), and its log as it is written.
import { ArrowUpCircle, RotateCcw } from "lucide-react";
import { useEffect, useState } from "react";
import { Alert } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { ConfirmDialog } from "@/components/ui/dialog";
import { controlClass } from "@/components/ui/field";
import { ApiError } from "@/lib/api";
import { offered, plugin, rollback, setEnabled, upgrade, type PluginDetail } from "./api";
import { ConfigForm } from "./ConfigForm";
import { LiveLog } from "./LiveLog";
import { Secrets } from "./Secrets";
import { useLoad } from "@/lib/hooks";
import { StateBadge } from "./state";

type Pending = { kind: "upgrade"; version: string } | { kind: "rollback" } | null;

function Versions({ p, onChange }: { p: PluginDetail; onChange: (msg: string) => void }) {
  const [versions, setVersions] = useState<string[] | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [choice, setChoice] = useState("");
  const [pending, setPending] = useState<Pending>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    offered({ name: p.name }).then((r) => {
      const vs = (r.plugins[p.name]?.versions ?? []).filter((v) => !v.yanked && v.version !== p.version).map((v) => v.version);
      setVersions(vs);
      setChoice(vs[0] ?? "");
    }, (e: ApiError) => setNote(e.message));
  }, [p.name, p.version]);
  async function run() {
    if (!pending) return;
    setBusy(true);
    setError(null);
    try {
      const done = pending.kind === "upgrade" ? await upgrade(p.name, pending.version) : await rollback(p.name);
      onChange(`${p.name} now runs ${done.version} (was ${p.version}).`);
    } catch (e) {
      setError((e as ApiError).message);
    } finally {
      setBusy(false);
      setPending(null);
    }
  }
  return (
    <Card>
      <h2 className="mb-3 text-lg font-semibold">Version</h2>
      {error && <Alert variant="destructive" className="mb-3">{error}</Alert>}
      <p className="mb-3 text-sm">Runs {p.version}{p.previous_version && `; the previous version, ${p.previous_version}, is kept for a rollback`}.</p>
      {note && <p className="mb-3 text-sm text-muted-foreground">{note}</p>}
      <div className="flex flex-wrap items-end gap-3">
        {versions && versions.length > 0 && (
          <>
            <label className="grid gap-1 text-sm">
              Switch to
              <select value={choice} onChange={(e) => setChoice(e.target.value)} className={controlClass}>
                {versions.map((v) => <option key={v} value={v}>{v}</option>)}
              </select>
            </label>
            <Button onClick={() => setPending({ kind: "upgrade", version: choice })}><ArrowUpCircle aria-hidden="true" className="size-4" />Switch…</Button>
          </>
        )}
        {versions && versions.length === 0 && <p className="text-sm">The registry has no other version of {p.name}.</p>}
        {p.previous_version && (
          <Button variant="outline" onClick={() => setPending({ kind: "rollback" })}><RotateCcw aria-hidden="true" className="size-4" />Roll back to {p.previous_version}…</Button>
        )}
      </div>
      <ConfirmDialog
        open={pending !== null}
        title={pending?.kind === "rollback" ? `Roll ${p.name} back to ${p.previous_version}?` : `Switch ${p.name} to ${pending?.kind === "upgrade" ? pending.version : ""}?`}
        confirm={pending?.kind === "rollback" ? "Roll back" : "Switch"}
        busy={busy}
        onConfirm={run}
        onClose={() => setPending(null)}
      >
        The new version starts beside {p.version} and must pass its health check before it
        takes the traffic; no request fails during the switch. {p.version} is kept, so you
        can switch back.
      </ConfirmDialog>
    </Card>
  );
}

export function PluginPage({ name }: { name: string }) {
  const { data: p, error, reload, setData } = useLoad(() => plugin(name), [name]);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => { document.title = `${name} · Koha plugin host`; }, [name]);
  const changed = (msg: string) => { setDone(msg); reload(); };
  return (
    <>
      <p className="mb-4 text-sm"><a href="/console" className="underline underline-offset-4">All plugins</a></p>
      {error && <Alert variant="destructive">{error.message}</Alert>}
      {!p && !error && <p aria-live="polite">Loading…</p>}
      {p && (
        <div className="grid gap-6">
          <div>
            <h1 className="flex flex-wrap items-center gap-3 text-2xl font-semibold">{p.name} <StateBadge state={p.state} /></h1>
            <p className="mt-1">{p.summary}</p>
            {done && <Alert className="mt-3">{done}</Alert>}
            {p.error && <Alert variant="destructive" className="mt-3">{p.error}</Alert>}
            {p.warnings.length > 0 && (
              <ul aria-label="Warnings" className="mt-3 list-disc pl-5 text-sm">{p.warnings.map((w) => <li key={w}>{w}</li>)}</ul>
            )}
            <dl className="mt-4 grid grid-cols-2 gap-3 text-sm sm:grid-cols-4">
              <div><dt className="text-muted-foreground">Version</dt><dd>{p.version}</dd></div>
              <div><dt className="text-muted-foreground">Sandbox</dt><dd className="flex flex-wrap gap-1">{p.sandbox.layers.map((l) => <Badge key={l}>{l}</Badge>)}</dd></div>
              <div><dt className="text-muted-foreground">Workers</dt><dd>{p.runtime ? `${p.runtime.workers.length} of ${p.runtime.configured_workers}, ${p.runtime.restarts} restarts` : "none"}{p.runtime?.crash_looping && <Badge variant="destructive" className="ml-2">crash-looping</Badge>}</dd></div>
              <div><dt className="text-muted-foreground">Calls</dt><dd>{p.calls.total}, {p.calls.failed} failed</dd></div>
              <div><dt className="text-muted-foreground">Signed by</dt><dd className="break-all">{p.signer ?? "unsigned"}</dd></div>
              <div><dt className="text-muted-foreground">Routes</dt><dd>{p.routes.length}</dd></div>
              <div><dt className="text-muted-foreground">Koha events</dt><dd>{p.hooks.join(", ") || "none"}</dd></div>
            </dl>
            <Button
              className="mt-4"
              variant="outline"
              disabled={busy}
              onClick={async () => {
                setBusy(true);
                try {
                  await setEnabled(p.name, !p.enabled);
                  changed(`${p.name} is ${p.enabled ? "disabled" : "enabled"}.`);
                } catch (e) {
                  setDone((e as ApiError).message);
                } finally {
                  setBusy(false);
                }
              }}
            >
              {p.enabled ? "Disable" : "Enable"}
            </Button>
          </div>
          <Versions p={p} onChange={changed} />
          <ConfigForm p={p} onSaved={(d) => { setData(d); setDone(`Settings of ${p.name} saved; it runs with them now.`); }} />
          <Secrets p={p} />
          <LiveLog name={p.name} />
        </div>
      )}
    </>
  );
}
