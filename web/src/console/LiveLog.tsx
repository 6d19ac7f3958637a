// The plugin's own log (ctx.log and what it prints), as it is written.
import { Pause, Play } from "lucide-react";
import { useEffect, useState } from "react";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { followLog, type LogLine } from "./api";

const KEEP = 500;

export function LiveLog({ name }: { name: string }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [live, setLive] = useState(true);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    if (!live) return;
    const stop = new AbortController();
    setLines([]);
    followLog(name, (l) => setLines((old) => [...old.slice(-(KEEP - 1)), l]), stop.signal)
      .catch((e) => { if (!stop.signal.aborted) setProblem(e.message); });
    return () => stop.abort();
  }, [name, live]);
  return (
    <Card>
      <div className="mb-3 flex items-center gap-3">
        <h2 className="text-lg font-semibold">Log</h2>
        <Button variant="outline" size="sm" onClick={() => setLive(!live)} aria-pressed={live}>
          {live ? <><Pause aria-hidden="true" className="size-4" />Pause</> : <><Play aria-hidden="true" className="size-4" />Follow</>}
        </Button>
        <span className="text-sm text-muted-foreground">{live ? "following" : "paused"}</span>
      </div>
      {problem && <p role="alert" className="text-sm text-destructive">{problem}</p>}
      <div role="log" aria-label={`Log of ${name}`} tabIndex={0} className="max-h-80 overflow-y-auto rounded-md bg-muted p-3 font-mono text-xs">
      <ol>
        {lines.length === 0 && <li className="text-muted-foreground">No lines yet.</li>}
        {lines.map((l) => {
          const { seq, time, plugin: _p, level, event, ...rest } = l;
          void _p;
          return (
            <li key={seq}>
              <time dateTime={new Date(time * 1000).toISOString()}>{new Date(time * 1000).toISOString().slice(11, 19)}</time>{" "}
              <span className={level === "error" ? "text-destructive" : ""}>{level}</span> {event}{" "}
              {Object.keys(rest).length > 0 && <span className="text-muted-foreground">{JSON.stringify(rest)}</span>}
            </li>
          );
        })}
      </ol>
      </div>
    </Card>
  );
}
