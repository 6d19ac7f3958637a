// The host console: installed plugins (/console) and one plugin (/console/plugins/NAME).
// Signed in as a person with the host-admin role, or with the admin token.
import { LogOut } from "lucide-react";
import { SignIn } from "@/components/session/sign-in";
import { Button } from "@/components/ui/button";
import { useHandoff, useSession } from "@/lib/hooks";
import { session, signOut } from "@/lib/session";
import { PluginPage } from "./PluginPage";
import { PluginsPage } from "./PluginsPage";

function Shell({ children }: { children: React.ReactNode }) {
  const who = session();
  return (
    <>
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:m-2 focus:rounded-md focus:bg-background focus:p-2">
        Skip to content
      </a>
      <header className="border-b border-border">
        <div className="mx-auto flex max-w-6xl flex-wrap items-center gap-4 px-4 py-3">
          <a href="/console" className="text-lg font-semibold">Koha plugin host</a>
          <span className="text-sm text-muted-foreground">console</span>
          {who && (
            <div className="ml-auto flex items-center gap-3 text-sm">
              <span>Signed in as <strong>{who.name}</strong></span>
              <Button variant="outline" size="sm" onClick={signOut}><LogOut aria-hidden="true" className="size-4" />Sign out</Button>
            </div>
          )}
        </div>
      </header>
      <main id="main" className="mx-auto max-w-6xl px-4 py-6">{children}</main>
    </>
  );
}

export function App({ path }: { path: string }) {
  const who = useSession();
  const handoff = useHandoff();
  if (!handoff.done) return <Shell><p aria-live="polite">Signing in…</p></Shell>;
  if (!who) {
    return (
      <Shell>
        <SignIn why="The console needs the host-admin role (or the host's admin token)." handoffError={handoff.error} />
      </Shell>
    );
  }
  const m = path.match(/^\/console\/plugins\/([a-z][a-z0-9-]{0,62})\/?$/);
  return <Shell>{m ? <PluginPage name={m[1]} /> : <PluginsPage />}</Shell>;
}
