// A plugin's page (/plugins/NAME): what it is and does, its README and CHANGELOG, what
// it asks of a host in plain words, its versions, ratings and reviews; for its
// publisher, every version with its state and reviews, and yank and deprecate.
import { useEffect, useState } from "react";
import { Alert } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { ConfirmDialog } from "@/components/ui/dialog";
import { Field, controlClass } from "@/components/ui/field";
import { Markdown } from "@/lib/markdown";
import { ApiError, deprecate, plugin, yank, type PluginPage as Page, type Release } from "./api";
import { useLoad, useSession } from "@/lib/hooks";
import { Shell, Stars } from "./Shell";

type Pending = { kind: "yank" | "unyank"; version: string } | { kind: "deprecate"; message: string | null } | null;

function Manage({ page, onDone }: { page: Page; onDone: (msg: string) => void }) {
  const [pending, setPending] = useState<Pending>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function run() {
    if (!pending) return;
    setBusy(true);
    setError(null);
    try {
      if (pending.kind === "deprecate") {
        await deprecate(page.name, pending.message);
        onDone(pending.message ? `${page.name} is marked deprecated.` : `${page.name} is no longer deprecated.`);
      } else {
        await yank(page.name, pending.version, pending.kind === "yank");
        onDone(`${page.name} ${pending.version} is ${pending.kind === "yank" ? "yanked" : "back in resolution"}.`);
      }
    } catch (e) {
      setError((e as ApiError).message);
    } finally {
      setBusy(false);
      setPending(null);
    }
  }
  const approved = page.versions.filter((v) => v.state === "approved");
  return (
    <Card className="mt-6">
      <h2 className="mb-3 text-lg font-semibold">Manage (you publish it)</h2>
      {error && <Alert variant="destructive" className="mb-3">{error}</Alert>}
      <ul className="mb-4 grid gap-2 text-sm">
        {approved.map((v) => (
          <li key={v.version} className="flex flex-wrap items-center gap-3">
            <span className="font-medium">{v.version}</span>
            {v.yanked && <Badge variant="destructive">yanked</Badge>}
            <Button size="sm" variant="outline" onClick={() => setPending({ kind: v.yanked ? "unyank" : "yank", version: v.version })}>
              {v.yanked ? `Un-yank ${v.version}…` : `Yank ${v.version}…`}
            </Button>
          </li>
        ))}
      </ul>
      <form
        className="grid gap-2 sm:grid-cols-[1fr_auto] sm:items-end"
        onSubmit={(e) => {
          e.preventDefault();
          const message = String(new FormData(e.currentTarget).get("message") ?? "").trim();
          setPending({ kind: "deprecate", message: message || null });
        }}
      >
        <Field label="Deprecation message" help="Say what to use instead; empty clears it">
          {(p) => <input {...p} name="message" defaultValue={page.deprecated ?? ""} className={controlClass} />}
        </Field>
        <Button type="submit" variant="outline">Save deprecation…</Button>
      </form>
      <ConfirmDialog
        open={pending !== null}
        destructive={pending?.kind === "yank" || (pending?.kind === "deprecate" && !!pending.message)}
        title={pending?.kind === "deprecate" ? (pending.message ? `Deprecate ${page.name}?` : `Clear the deprecation of ${page.name}?`)
          : pending ? `${pending.kind === "yank" ? "Yank" : "Un-yank"} ${page.name} ${pending.version}?` : ""}
        confirm={pending?.kind === "deprecate" ? (pending.message ? "Deprecate" : "Clear") : pending?.kind === "yank" ? "Yank" : "Un-yank"}
        busy={busy}
        onConfirm={run}
        onClose={() => setPending(null)}
      >
        {pending?.kind === "yank" && "Hosts stop choosing this version when they resolve; those that pinned it still install it. You can un-yank it."}
        {pending?.kind === "unyank" && "Hosts may choose this version again when they resolve."}
        {pending?.kind === "deprecate" && (pending.message ? `The catalogue and every host that looks shows: “${pending.message}”.` : "The plugin is shown as maintained again.")}
      </ConfirmDialog>
    </Card>
  );
}

function StateBadge({ v }: { v: Release }) {
  if (v.state === "approved") return v.yanked ? <Badge variant="destructive" className="ml-2">yanked</Badge> : null;
  return <Badge variant={v.state === "rejected" ? "destructive" : "outline"} className="ml-2">{v.state.replace("_", " ")}</Badge>;
}

export function PluginPage({ name }: { name: string }) {
  const who = useSession();
  const { data: page, error, reload } = useLoad(() => plugin(name), [name, who?.name]);
  const [done, setDone] = useState<string | null>(null);
  useEffect(() => { document.title = `${name} · Koha plugins marketplace`; }, [name]);
  const newest = page?.versions.find((v) => v.state === "approved" && !v.yanked) ?? page?.versions.find((v) => v.state === "approved");
  const mine = !!page && !!who && (who.name === page.publisher || who.roles.includes("admin"));
  return (
    <Shell>
      <p className="mb-4 text-sm"><a href="/" className="underline underline-offset-4">All plugins</a></p>
      {error && <p role="alert" className="text-destructive">{error.message}</p>}
      {!page && !error && <p aria-live="polite">Loading…</p>}
      {page && (
        <>
          <h1 className="text-2xl font-semibold">{page.name}</h1>
          {page.deprecated && <Alert variant="destructive" className="mt-2">Deprecated: {page.deprecated}</Alert>}
          {done && <Alert className="mt-2">{done}</Alert>}
          <p className="mt-2">{page.summary}</p>
          <div className="mt-2 flex flex-wrap gap-1">{page.tags.map((t) => <Badge key={t}>{t}</Badge>)}</div>
          <dl className="mt-4 grid grid-cols-2 gap-2 text-sm sm:grid-cols-4">
            <div><dt className="text-muted-foreground">Publisher</dt><dd>{page.publisher ? <a href={`/publishers/${page.publisher}`} className="underline underline-offset-4">{page.publisher}</a> : "unknown"}</dd></div>
            <div><dt className="text-muted-foreground">Active installs</dt><dd>{page.active_installs}</dd></div>
            <div><dt className="text-muted-foreground">Rating</dt><dd><Stars rating={page.rating} count={page.ratings} /></dd></div>
            <div><dt className="text-muted-foreground">Versions</dt><dd>{page.versions.filter((v) => v.state === "approved").length}</dd></div>
          </dl>
          {newest && (
            <>
              <h2 className="mt-6 mb-2 text-lg font-semibold">What it asks for (version {newest.version})</h2>
              <ul className="list-disc space-y-1 pl-5 text-sm">
                {newest.asks_for.map((line) => <li key={line}>{line}</li>)}
              </ul>
            </>
          )}
          {page.readme && (
            <section aria-labelledby="readme" className="mt-6 text-sm">
              <h2 id="readme" className="text-lg font-semibold">Read me <span className="text-sm font-normal text-muted-foreground">(version {page.documents_of})</span></h2>
              <Markdown text={page.readme} />
            </section>
          )}
          <h2 className="mt-6 mb-2 text-lg font-semibold">Versions</h2>
          <div className="overflow-x-auto">
            <table className="w-full text-left text-sm">
              <caption className="sr-only">Versions of {page.name}</caption>
              <thead className="border-b border-border text-muted-foreground">
                <tr><th scope="col" className="py-2 pr-4">Version</th><th scope="col" className="pr-4">Host API</th><th scope="col" className="pr-4">Depends on</th><th scope="col" className="pr-4">Downloads</th><th scope="col">Published</th></tr>
              </thead>
              <tbody>
                {page.versions.map((v) => (
                  <tr key={v.version} className="border-b border-border">
                    <td className="py-2 pr-4 font-medium">{v.version}<StateBadge v={v} /></td>
                    <td className="pr-4">{v.host_api}</td>
                    <td className="pr-4">{Object.entries(v.dependencies).map(([n, r]) => `${n} ${r}`).join(", ") || "nothing"}</td>
                    <td className="pr-4">{v.downloads}</td>
                    <td><time dateTime={v.published_at}>{v.published_at.slice(0, 10)}</time></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {page.changelog && (
            <section aria-labelledby="changes" className="mt-6 text-sm">
              <h2 id="changes" className="text-lg font-semibold">Changes</h2>
              <Markdown text={page.changelog} />
            </section>
          )}
          {page.reviews.length > 0 && (
            <>
              <h2 className="mt-6 mb-2 text-lg font-semibold">Reviewers' decisions</h2>
              <ul className="grid gap-1 text-sm">
                {page.reviews.map((r, i) => <li key={i}><strong>{r.version}</strong> {r.decision}{r.comment && `: ${r.comment}`}</li>)}
              </ul>
            </>
          )}
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
          {mine && <Manage page={page} onDone={(m) => { setDone(m); reload(); }} />}
        </>
      )}
    </Shell>
  );
}
