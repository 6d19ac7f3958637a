// The plugin's settings as a form made from its [config] schema: a text, number,
// checkbox, choice or JSON control per key, each error shown at its field (the host's
// check names the key; the form checks numbers and JSON before sending).
import { Save } from "lucide-react";
import { useState } from "react";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Field, controlClass } from "@/components/ui/field";
import { ApiError } from "@/lib/api";
import { configure, type ConfigField, type PluginDetail } from "./api";

function shown(value: unknown, f: ConfigField): string {
  if (value === undefined || value === null) return "";
  return f.type === "array" || f.type === "object" ? JSON.stringify(value, null, 2) : String(value);
}

/** The value typed into a control, or why it is not one. */
function parse(raw: FormDataEntryValue | null, f: ConfigField): { value?: unknown; problem?: string } {
  if (f.type === "boolean") return { value: raw === "on" };
  const text = String(raw ?? "").trim();
  if (text === "") return { value: undefined };
  if (f.choices) return { value: f.choices.find((c) => String(c) === text) };
  if (f.type === "integer" || f.type === "number") {
    const n = Number(text);
    if (!Number.isFinite(n) || (f.type === "integer" && !Number.isInteger(n))) return { problem: `must be ${f.type === "integer" ? "a whole number" : "a number"}` };
    return { value: n };
  }
  if (f.type === "array" || f.type === "object") {
    try {
      return { value: JSON.parse(text) };
    } catch {
      return { problem: `must be JSON (an ${f.type})` };
    }
  }
  return { value: text };
}

export function ConfigForm({ p, onSaved }: { p: PluginDetail; onSaved: (d: PluginDetail) => void }) {
  const fields = Object.entries(p.manifest.config ?? {});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (fields.length === 0) return null;
  return (
    <Card>
      <h2 className="mb-3 text-lg font-semibold">Settings</h2>
      {error && <Alert variant="destructive" className="mb-3">{error}</Alert>}
      <form
        noValidate
        className="grid gap-4"
        aria-label={`Settings of ${p.name}`}
        onSubmit={async (e) => {
          e.preventDefault();
          const form = new FormData(e.currentTarget);
          const config: Record<string, unknown> = {};
          const found: Record<string, string> = {};
          for (const [key, f] of fields) {
            const { value, problem } = parse(form.get(key), f);
            if (problem) found[key] = problem;
            else if (value !== undefined) config[key] = value;
          }
          setErrors(found);
          setError(Object.keys(found).length ? "Some settings need fixing; nothing was saved." : null);
          if (Object.keys(found).length) return;
          setBusy(true);
          try {
            onSaved(await configure(p.name, config));
          } catch (err) {
            const api = err as ApiError;
            setErrors(Object.fromEntries(fields.flatMap(([k]) => (api.about?.(k) ? [[k, api.about(k)!]] : []))));
            setError(`Nothing was saved: ${api.message}`);
          } finally {
            setBusy(false);
          }
        }}
      >
        {fields.map(([key, f]) => {
          const value = p.config[key];
          const said = f.description && !/[.!?]$/.test(f.description) ? `${f.description}.` : f.description;
          const help = [said, f.required ? "Required." : f.default !== null ? `Default: ${JSON.stringify(f.default)}.` : ""].filter(Boolean).join(" ");
          return (
            <Field key={`${key}-${p.version}`} label={key} help={help} error={errors[key]}>
              {(props) => f.type === "boolean" ? (
                <input {...props} type="checkbox" name={key} defaultChecked={Boolean(value)} className="size-4" />
              ) : f.choices ? (
                <select {...props} name={key} defaultValue={shown(value, f)} className={controlClass}>
                  {!f.required && <option value="">(default)</option>}
                  {f.choices.map((c) => <option key={String(c)} value={String(c)}>{String(c)}</option>)}
                </select>
              ) : f.type === "array" || f.type === "object" ? (
                <textarea {...props} name={key} rows={4} defaultValue={shown(value, f)} className={`${controlClass} h-auto font-mono`} />
              ) : (
                <input {...props} name={key} inputMode={f.type === "string" ? undefined : "decimal"} defaultValue={shown(value, f)} required={f.required} className={controlClass} />
              )}
            </Field>
          );
        })}
        <Button type="submit" disabled={busy} className="justify-self-start"><Save aria-hidden="true" className="size-4" />{busy ? "Saving…" : "Save settings"}</Button>
      </form>
    </Card>
  );
}
