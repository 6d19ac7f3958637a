// The review queue (/review) and one release in review (/review/NAME/VERSION): the
// automated checks' report, what changed against the version before, and the decision
// with a comment (a rejection must say why).
import { Check as Approve, X } from "lucide-react";
import { useEffect, useState } from "react";
import { SignIn } from "@/components/session/sign-in";
import { Alert } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Field, controlClass } from "@/components/ui/field";
import { ApiError, decide, diff, queue, type FileChange, type Release } from "./api";
import { Checks } from "./Checks";
import { useSession } from "@/lib/hooks";
import { Shell } from "./Shell";

function useQueue() {
  const who = useSession();
  const [items, setItems] = useState<Release[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (who) queue().then((r) => setItems(r.queue), (e) => setError(e.message));
  }, [who?.name]);
  return { who, items, error };
}

export function Queue() {
  const { who, items, error } = useQueue();
  useEffect(() => { document.title = "Review queue · Koha plugins marketplace"; }, []);
  if (!who) return <Shell><SignIn why="The review queue needs a reviewer's account." /></Shell>;
  return (
    <Shell>
      <h1 className="mb-4 text-2xl font-semibold">Review queue</h1>
      {error && <Alert variant="destructive">{error}</Alert>}
      {items && items.length === 0 && <p>Nothing waits for review.</p>}
      {items && items.length > 0 && (
        <ul className="grid gap-3">
          {items.map((r) => {
            const flags = r.checks.filter((c) => c.status === "flag").length;
            return (
              <li key={`${r.plugin}@${r.version}`}>
                <Card className="flex flex-wrap items-center gap-3">
                  <a href={`/review/${r.plugin}/${r.version}`} className="font-semibold underline underline-offset-4">{r.plugin} {r.version}</a>
                  <span className="text-sm text-muted-foreground">published <time dateTime={r.published_at}>{r.published_at.slice(0, 16).replace("T", " ")}</time></span>
                  {flags > 0 && <Badge variant="outline">{flags} for the reviewer</Badge>}
                </Card>
              </li>
            );
          })}
        </ul>
      )}
    </Shell>
  );
}

function Diff({ files, against }: { files: FileChange[]; against: string | null }) {
  return (
    <section aria-labelledby="changes" className="mt-6">
      <h2 id="changes" className="mb-2 text-lg font-semibold">
        {against ? `What changed since ${against}` : "Every file (a first version)"}
      </h2>
      <ul className="grid gap-3">
        {files.map((f) => (
          <li key={f.path}>
            <details open={files.length <= 8}>
              <summary className="cursor-pointer text-sm"><code>{f.path}</code> <Badge variant={f.change === "removed" ? "destructive" : "outline"}>{f.change}</Badge></summary>
              {f.diff ? (
                <pre tabIndex={0} aria-label={`Changes to ${f.path}`} className="mt-2 max-h-96 overflow-auto rounded-md bg-muted p-3 font-mono text-xs">
                  {f.diff.split("\n").map((line, i) => (
                    <span key={i} className={line.startsWith("+") && !line.startsWith("+++") ? "block bg-green-100 text-green-950" : line.startsWith("-") && !line.startsWith("---") ? "block bg-red-100 text-red-950" : "block"}>{line || " "}</span>
                  ))}
                </pre>
              ) : (
                <p className="mt-2 text-sm text-muted-foreground">{f.binary ? "A binary file: download the package to read it." : f.too_large ? "Too large to show here: download the package." : "No text change."}</p>
              )}
            </details>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function ReviewOne({ name, version }: { name: string; version: string }) {
  const { who, items, error } = useQueue();
  const [changes, setChanges] = useState<{ against: string | null; files: FileChange[] } | null>(null);
  const [comment, setComment] = useState("");
  const [problem, setProblem] = useState<ApiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => { if (who) diff(name, version).then(setChanges, (e) => setProblem(e)); }, [name, version, who?.name]);
  useEffect(() => { document.title = `Review ${name} ${version} · Koha plugins marketplace`; }, [name, version]);
  if (!who) return <Shell><SignIn why="Reviewing needs a reviewer's account." /></Shell>;
  const release = items?.find((r) => r.plugin === name && r.version === version);
  async function run(decision: "approve" | "reject") {
    setBusy(true);
    setProblem(null);
    try {
      await decide(name, version, decision, comment);
      setDone(decision === "approve" ? `${name} ${version} is approved: hosts can install it now.` : `${name} ${version} is rejected; its publisher sees your comment.`);
    } catch (e) {
      setProblem(e as ApiError);
    } finally {
      setBusy(false);
    }
  }
  return (
    <Shell>
      <p className="mb-4 text-sm"><a href="/review" className="underline underline-offset-4">Review queue</a></p>
      <h1 className="mb-4 text-2xl font-semibold">Review {name} {version}</h1>
      {error && <Alert variant="destructive">{error}</Alert>}
      {done ? (
        <Alert>{done} <a href="/review" className="underline underline-offset-4">Back to the queue</a></Alert>
      ) : (
        <>
          {items && !release && <Alert variant="destructive">{name} {version} is not in review.</Alert>}
          {release && (
            <>
              <p className="mb-3 text-sm">Host API {release.host_api}; depends on {Object.entries(release.dependencies).map(([n, r]) => `${n} ${r}`).join(", ") || "nothing"}; signed by <code className="break-all">{release.signer}</code>. <a href={`/api/v1/review/${name}/${version}/download`} className="underline underline-offset-4">Download the package</a></p>
              <h2 className="mb-2 text-lg font-semibold">What it asks for</h2>
              <ul className="mb-4 list-disc pl-5 text-sm">{release.asks_for.map((l) => <li key={l}>{l}</li>)}</ul>
              <Checks checks={release.checks} caption="The automated checks" />
            </>
          )}
          {changes && <Diff files={changes.files} against={changes.against} />}
          {release && (
            <Card className="mt-6">
              <h2 className="mb-3 text-lg font-semibold">Decision</h2>
              {problem && <Alert variant="destructive" className="mb-3">{problem.message}</Alert>}
              <form className="grid gap-3" onSubmit={(e) => e.preventDefault()}>
                <Field label="Comment" help="Required to reject: the publisher reads it." error={problem?.about("comment")}>
                  {(p) => <textarea {...p} rows={3} value={comment} onChange={(e) => setComment(e.target.value)} className={`${controlClass} h-auto`} />}
                </Field>
                <div className="flex flex-wrap gap-2">
                  <Button type="button" disabled={busy} onClick={() => run("approve")}><Approve aria-hidden="true" className="size-4" />Approve</Button>
                  <Button type="button" variant="destructive" disabled={busy} onClick={() => run("reject")}><X aria-hidden="true" className="size-4" />Reject</Button>
                </div>
              </form>
            </Card>
          )}
        </>
      )}
    </Shell>
  );
}
