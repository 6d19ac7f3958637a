// How the console shows a plugin's state, and loads what a page needs.
import { useCallback, useEffect, useState } from "react";
import { Badge } from "@/components/ui/badge";
import { ApiError } from "@/lib/api";

export function StateBadge({ state }: { state: string }) {
  const bad = state === "failed" || state === "crash-looping";
  return <Badge variant={bad ? "destructive" : state === "enabled" ? "default" : "secondary"}>{state}</Badge>;
}

/** ``load()``'s answer, its error, and a way to load again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const reload = useCallback(() => {
    load().then((d) => { setData(d); setError(null); }, (e) => setError(e));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(reload, [reload]);
  return { data, error, reload, setData };
}
