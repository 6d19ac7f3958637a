// The marketplace: browse (/), a plugin (/plugins/NAME), a publisher
// (/publishers/NAME), publish (/publish), the review queue (/review,
// /review/NAME/VERSION), sign-in (/sign-in). Plain links and GET forms, so every state
// has an address, works with the keyboard and the back button, and needs no
// client-side router.
import { useEffect } from "react";
import { SignIn } from "@/components/session/sign-in";
import { useHandoff, useSession } from "@/lib/hooks";
import { Browse } from "./Browse";
import { PluginPage } from "./PluginPage";
import { Publish } from "./Publish";
import { Publisher } from "./Publisher";
import { Queue, ReviewOne } from "./Review";
import { Shell } from "./Shell";

const NAME = "([a-z][a-z0-9-]{0,62})";

function SignInPage({ error }: { error: string | null }) {
  const who = useSession();
  const next = new URLSearchParams(location.search).get("next") ?? "/";
  const safe = next.startsWith("/") && !next.startsWith("//") ? next : "/";
  useEffect(() => { if (who) location.assign(safe); }, [who?.name]);
  return <Shell><SignIn why="Publishers publish and manage their plugins; reviewers review." handoffError={error} /></Shell>;
}

export function App({ path }: { path: string }) {
  const handoff = useHandoff();
  if (!handoff.done) return <Shell><p aria-live="polite">Signing in…</p></Shell>;
  let m;
  if ((m = path.match(new RegExp(`^/plugins/${NAME}/?$`)))) return <PluginPage name={m[1]} />;
  if ((m = path.match(new RegExp(`^/publishers/([a-z][a-z0-9_.-]{1,63})/?$`)))) return <Publisher name={m[1]} />;
  if ((m = path.match(new RegExp(`^/review/${NAME}/([0-9A-Za-z.+-]{1,64})/?$`)))) return <ReviewOne name={m[1]} version={m[2]} />;
  if (/^\/review\/?$/.test(path)) return <Queue />;
  if (/^\/publish\/?$/.test(path)) return <Publish />;
  if (/^\/sign-in\/?$/.test(path)) return <SignInPage error={handoff.error} />;
  return <Browse />;
}
