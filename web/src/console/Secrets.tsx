// The plugin's declared secrets: where each value comes from, never the value. A new
// value can be set (it is encrypted at rest by the host) or the stored one removed.
import { useState } from "react";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Field, controlClass } from "@/components/ui/field";
import { ApiError } from "@/lib/api";
import { setSecret, unsetSecret, type PluginDetail } from "./api";

export function Secrets({ p }: { p: PluginDetail }) {
  const [status, setStatus] = useState(p.secrets);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const names = Object.keys(status);
  if (names.length === 0) return null;
  async function act(f: () => Promise<{ secrets: Record<string, string> }>, ok: string) {
    try {
      setStatus((await f()).secrets);
      setNote({ ok: true, text: ok });
    } catch (e) {
      setNote({ ok: false, text: (e as ApiError).message });
    }
  }
  return (
    <Card>
      <h2 className="mb-1 text-lg font-semibold">Secrets</h2>
      <p className="mb-3 text-sm text-muted-foreground">Values are never shown: a new one replaces the old.</p>
      {note && <Alert variant={note.ok ? "default" : "destructive"} className="mb-3">{note.text}</Alert>}
      <ul className="grid gap-4">
        {names.map((name) => (
          <li key={name}>
            <form
              className="grid gap-2 sm:grid-cols-[1fr_auto_auto] sm:items-end"
              onSubmit={(e) => {
                e.preventDefault();
                const form = e.currentTarget;
                const value = String(new FormData(form).get("value"));
                act(() => setSecret(p.name, name, value), `${name} is set.`).then(() => form.reset());
              }}
            >
              <Field label={`${name} (${status[name]})`}>
                {(props) => <input {...props} name="value" type="password" autoComplete="new-password" required placeholder="new value" className={controlClass} />}
              </Field>
              <Button type="submit">Set {name}</Button>
              <Button type="button" variant="outline" disabled={!status[name].startsWith("set (admin")}
                onClick={() => act(() => unsetSecret(p.name, name), `The stored value of ${name} is removed.`)}>
                Remove
              </Button>
            </form>
          </li>
        ))}
      </ul>
    </Card>
  );
}
