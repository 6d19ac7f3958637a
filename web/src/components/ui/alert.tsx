import * as React from "react";
import { cn } from "@/lib/utils";

/** A message that matters now: errors are announced (role=alert), notes politely. */
export function Alert({ className, variant = "default", ...props }:
  React.HTMLAttributes<HTMLDivElement> & { variant?: "default" | "destructive" }) {
  return (
    <div
      role={variant === "destructive" ? "alert" : "status"}
      className={cn("rounded-md border px-4 py-3 text-sm",
        variant === "destructive" ? "border-destructive text-destructive" : "border-border", className)}
      {...props}
    />
  );
}
