// What a page shows for something that is not there: an address no page
// has, a site or recording that does not exist (any more). It says so and
// offers the way back; no Retry, which could only fail the same way.
import type { ReactNode } from "react";
import { Link, Navigate, useParams } from "react-router";
import { ApiError } from "../api/client";
import { EmptyState } from "./ui";

/**
 * isMissing says whether an error means the thing asked for is not there:
 * 404, or 400 for an id in the address that cannot be one (the API checks
 * ids before looking them up). Not an outage, and not worth a Retry.
 */
export function isMissing(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 404 || error.status === 400);
}

/** Missing is the not-there state: a title, a sentence, and a link back (label, to). */
export function Missing({ title, children, back, testId = "not-found" }: { title: string; children?: ReactNode; back: [string, string]; testId?: string }) {
  return (
    <EmptyState
      title={title}
      icon="⌕"
      testId={testId}
      action={
        <Link className="btn btn-primary" to={back[1]} data-testid="not-found-back">
          {back[0]}
        </Link>
      }
    >
      {children}
    </EmptyState>
  );
}

/**
 * NotFound is the page of an address no route has. Under a site it leads
 * back to that site (the site switcher stays on it), under an organisation
 * to its home; a site's own address goes to its recordings.
 */
export function NotFound() {
  const { orgId, siteId, "*": rest = "" } = useParams();
  if (orgId && siteId && rest === "") return <Navigate to={`/o/${orgId}/sites/${siteId}/recordings`} replace />;
  const back: [string, string] =
    orgId && siteId ? ["Go to this site's recordings", `/o/${orgId}/sites/${siteId}/recordings`] : orgId ? ["Go to this organisation", `/o/${orgId}`] : ["Go to the dashboard", "/"];
  return (
    <Missing title="Page not found" back={back}>
      There is no page at this address. Check the link, or start again from the menu.
    </Missing>
  );
}
