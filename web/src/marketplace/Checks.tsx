// The automated checks' report on a package: each check, its outcome and why.
import { Badge } from "@/components/ui/badge";
import type { Check } from "./api";

const LOOK = { pass: "secondary", fail: "destructive", flag: "outline", skip: "secondary" } as const;
const WORD = { pass: "passed", fail: "failed", flag: "for the reviewer", skip: "not run" } as const;

export function Checks({ checks, caption }: { checks: Check[]; caption: string }) {
  return (
    <div className="overflow-x-auto">
      <table className="w-full text-left text-sm">
        <caption className="mb-2 text-left font-semibold">{caption}</caption>
        <thead className="border-b border-border text-muted-foreground">
          <tr><th scope="col" className="py-2 pr-4">Check</th><th scope="col" className="pr-4">Outcome</th><th scope="col">Detail</th></tr>
        </thead>
        <tbody>
          {checks.map((c) => (
            <tr key={c.name} className="border-b border-border align-top">
              <td className="py-2 pr-4 font-medium">{c.name}</td>
              <td className="pr-4"><Badge variant={LOOK[c.status] ?? "secondary"}>{WORD[c.status] ?? c.status}</Badge></td>
              <td className="break-words">{c.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
