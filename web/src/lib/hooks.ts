// Hooks both pages' apps use: what a page loads, who is signed in, and the hand-off
// of a redirect sign-in.
import { useCallback, useEffect, useState } from "react";
import { ApiError } from "./api";
import { onSessionChange, session, takeHandoff } from "./session";

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

/** The signed-in person of this tab; the component draws again when it changes. */
export function useSession() {
  const [, redraw] = useState(0);
  useEffect(() => onSessionChange(() => redraw((n) => n + 1)), []);
  return session();
}

/** A redirect sign-in's hand-off (#handoff=CODE) traded for the session: ``done`` once
 * there is none left to take, ``error`` if the code was refused. */
export function useHandoff() {
  const [state, setState] = useState<{ done: boolean; error: string | null }>(
    { done: !location.hash.includes("handoff="), error: null });
  useEffect(() => {
    if (!state.done) takeHandoff().then((error) => setState({ done: true, error }));
  }, []);
  return state;
}
