// How the console shows a plugin's state.
import { Badge } from "@/components/ui/badge";

export function StateBadge({ state }: { state: string }) {
  const bad = state === "failed" || state === "crash-looping";
  return <Badge variant={bad ? "destructive" : state === "enabled" ? "default" : "secondary"}>{state}</Badge>;
}
