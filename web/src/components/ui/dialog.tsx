// A confirmation dialog in shadcn's look, on the native <dialog> element (showModal):
// focus moves in and is trapped, Escape closes, the page behind is inert. Radix's
// Dialog locks scrolling by injecting a <style> element, which the pages' strict
// Content-Security-Policy (style-src 'self') refuses.
import * as React from "react";
import { Button } from "./button";

export interface ConfirmProps {
  open: boolean;
  title: string;
  children: React.ReactNode;
  confirm: string;
  destructive?: boolean;
  busy?: boolean;
  onConfirm: () => void;
  onClose: () => void;
}

export function ConfirmDialog({ open, title, children, confirm, destructive, busy, onConfirm, onClose }: ConfirmProps) {
  const ref = React.useRef<HTMLDialogElement>(null);
  const id = React.useId();
  React.useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      aria-labelledby={`${id}-title`}
      aria-describedby={`${id}-body`}
      onClose={onClose}
      className="m-auto w-[min(32rem,calc(100vw-2rem))] rounded-lg border border-border bg-background p-6 text-foreground shadow-lg backdrop:bg-black/50"
    >
      <h2 id={`${id}-title`} className="text-lg font-semibold">{title}</h2>
      <div id={`${id}-body`} className="mt-2 text-sm text-muted-foreground">{children}</div>
      <div className="mt-6 flex flex-col-reverse gap-2 sm:flex-row sm:justify-end">
        <Button variant="outline" onClick={onClose} autoFocus>Cancel</Button>
        <Button variant={destructive ? "destructive" : "default"} disabled={busy} onClick={onConfirm}>
          {busy ? "Working…" : confirm}
        </Button>
      </div>
    </dialog>
  );
}
