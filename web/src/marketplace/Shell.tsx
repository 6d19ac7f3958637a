// The marketplace's frame: the header with what the signed-in person may do (publish,
// review), sign-in and sign-out; the skip link.
import { LogIn, LogOut, Star } from "lucide-react";
import { Button } from "@/components/ui/button";
import { useSession } from "@/lib/hooks";
import { signOut } from "@/lib/session";

export function Stars({ rating, count }: { rating: number | null; count: number }) {
  if (rating === null) return <span className="text-muted-foreground">no ratings yet</span>;
  return (
    <span className="inline-flex items-center gap-1">
      <Star aria-hidden="true" className="size-4" />
      {rating.toFixed(1)} <span className="text-muted-foreground">({count})</span>
    </span>
  );
}

export function Shell({ children }: { children: React.ReactNode }) {
  const who = useSession();
  const can = (role: string) => !!who && (who.roles.includes(role) || who.roles.includes("admin"));
  return (
    <>
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:m-2 focus:rounded-md focus:bg-background focus:p-2">
        Skip to content
      </a>
      <header className="border-b border-border">
        <nav aria-label="Marketplace" className="mx-auto flex max-w-5xl flex-wrap items-center gap-x-4 gap-y-2 px-4 py-3">
          <a href="/" className="text-lg font-semibold">Koha plugins</a>
          <span className="text-sm text-muted-foreground">marketplace</span>
          <div className="ml-auto flex flex-wrap items-center gap-3 text-sm">
            {can("publisher") && <a href="/publish" className="underline-offset-4 hover:underline">Publish</a>}
            {can("reviewer") && <a href="/review" className="underline-offset-4 hover:underline">Review queue</a>}
            {who ? (
              <>
                <span>Signed in as <strong>{who.name}</strong></span>
                <Button variant="outline" size="sm" onClick={signOut}><LogOut aria-hidden="true" className="size-4" />Sign out</Button>
              </>
            ) : (
              <Button asChild variant="outline" size="sm">
                <a href={`/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`}><LogIn aria-hidden="true" className="size-4" />Sign in</a>
              </Button>
            )}
          </div>
        </nav>
      </header>
      <main id="main" className="mx-auto max-w-5xl px-4 py-6">{children}</main>
    </>
  );
}
