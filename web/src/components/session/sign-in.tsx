// Sign-in with what the service offers (GET /auth/providers): the library's directory
// (LDAP), its single sign-on (OIDC, SAML: a redirect that comes back here), or a token.
import { KeyRound, LogIn } from "lucide-react";
import { useEffect, useState } from "react";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Field, controlClass } from "@/components/ui/field";
import { providers, signInWithLdap, signInWithToken, type Providers } from "@/lib/session";

export function SignIn({ why, handoffError }: { why: string; handoffError?: string | null }) {
  const [offer, setOffer] = useState<Providers | null>(null);
  const [error, setError] = useState<string | null>(handoffError ?? null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    providers().then(setOffer, () => setOffer({ providers: [] }));
  }, []);
  const back = encodeURIComponent(location.pathname + location.search);
  async function attempt(f: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await f();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <Card className="mx-auto grid max-w-md gap-4">
      <h1 className="text-xl font-semibold">Sign in</h1>
      <p className="text-sm text-muted-foreground">{why}</p>
      {error && <Alert variant="destructive">{error}</Alert>}
      {(offer?.oidc || offer?.saml) && (
        <div className="grid gap-2">
          {offer.oidc && (
            <Button asChild><a href={`${offer.oidc.login}?return_to=${back}`}><LogIn aria-hidden="true" className="size-4" />Sign in with single sign-on (OpenID Connect)</a></Button>
          )}
          {offer.saml && (
            <Button asChild variant="outline"><a href={`${offer.saml.login}?return_to=${back}`}><LogIn aria-hidden="true" className="size-4" />Sign in with SAML</a></Button>
          )}
        </div>
      )}
      {offer?.ldap && (
        <form
          className="grid gap-3"
          aria-label="Sign in with the library's directory"
          onSubmit={(e) => {
            e.preventDefault();
            const f = new FormData(e.currentTarget);
            attempt(() => signInWithLdap(String(f.get("username")), String(f.get("password"))));
          }}
        >
          <Field label="User name">{(p) => <input {...p} name="username" autoComplete="username" required className={controlClass} />}</Field>
          <Field label="Password">{(p) => <input {...p} name="password" type="password" autoComplete="current-password" required className={controlClass} />}</Field>
          <Button type="submit" disabled={busy}>Sign in</Button>
        </form>
      )}
      <details open={offer !== null && offer.providers.length === 0}>
        <summary className="cursor-pointer text-sm">Use a token</summary>
        <form
          className="mt-3 grid gap-3"
          aria-label="Sign in with a token"
          onSubmit={(e) => {
            e.preventDefault();
            const token = String(new FormData(e.currentTarget).get("token")).trim();
            attempt(() => signInWithToken(token));
          }}
        >
          <Field label="Token" help="The admin token, or an access token from plugin-host login">
            {(p) => <input {...p} name="token" type="password" autoComplete="off" required className={controlClass} />}
          </Field>
          <Button type="submit" variant="outline" disabled={busy}><KeyRound aria-hidden="true" className="size-4" />Sign in with the token</Button>
        </form>
      </details>
    </Card>
  );
}
