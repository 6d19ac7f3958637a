// Publishing (/publish): upload a signed .kplugin; the automated checks' report comes
// back at once: passing, the release waits for a reviewer; failing, nothing was kept.
import { Upload } from "lucide-react";
import { useEffect, useState } from "react";
import { SignIn } from "@/components/session/sign-in";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Field } from "@/components/ui/field";
import { ApiError, publish, type Check, type Release } from "./api";
import { Checks } from "./Checks";
import { useSession } from "@/lib/hooks";
import { Shell } from "./Shell";

export function Publish() {
  const who = useSession();
  const [result, setResult] = useState<{ ok: boolean; text: string; checks: Check[] } | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => { document.title = "Publish · Koha plugins marketplace"; }, []);
  if (!who) return <Shell><SignIn why="Publishing needs a publisher's account." /></Shell>;
  return (
    <Shell>
      <h1 className="mb-4 text-2xl font-semibold">Publish a plugin</h1>
      <Card className="mb-6">
        <p className="mb-3 text-sm">
          Build and sign the package with <code>plugin-host build</code> and <code>plugin-host sign</code>,
          then upload the <code>.kplugin</code> here. The automated checks run at once; a package that
          passes waits for a reviewer.
        </p>
        <form
          className="grid gap-3 sm:grid-cols-[1fr_auto] sm:items-end"
          onSubmit={async (e) => {
            e.preventDefault();
            const file = (new FormData(e.currentTarget).get("package") as File | null);
            if (!file || !file.size) {
              setResult({ ok: false, text: "package: choose a .kplugin file", checks: [] });
              return;
            }
            setBusy(true);
            setResult(null);
            try {
              const r: Release = await publish(file);
              setResult({ ok: true, text: `${r.plugin} ${r.version} passed the automated checks and waits for a reviewer.`, checks: r.checks });
            } catch (err) {
              const api = err as ApiError;
              const checks = Array.isArray(api.detail?.checks) ? (api.detail.checks as Check[]) : [];
              setResult({ ok: false, text: api.message, checks });
            } finally {
              setBusy(false);
            }
          }}
        >
          <Field label="Package (.kplugin)">
            {(p) => <input {...p} name="package" type="file" accept=".kplugin,application/zip" className="text-sm file:mr-3 file:rounded-md file:border file:border-input file:bg-background file:px-3 file:py-1" />}
          </Field>
          <Button type="submit" disabled={busy}><Upload aria-hidden="true" className="size-4" />{busy ? "Checking…" : "Publish"}</Button>
        </form>
      </Card>
      {result && (
        <>
          <Alert variant={result.ok ? "default" : "destructive"} className="mb-4">{result.text}</Alert>
          {result.checks.length > 0 && <Checks checks={result.checks} caption="The automated checks" />}
        </>
      )}
    </Shell>
  );
}
