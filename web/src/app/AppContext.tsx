import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import {
  announceRecovered,
  api,
  CSRF_COOKIE,
  isUnavailable,
  onApiEvent,
  outage as outageMonitor,
  readCookie,
  unwrap,
  type Schemas,
} from "../api/client";
import { $api } from "../api/query";
import type { Outage } from "../api/outage";

export type Me = Schemas["v1GetCurrentUserResponse"];
export type PublicConfig = Schemas["v1GetPublicConfigResponse"];

interface AppState {
  config: PublicConfig | undefined;
  /** True until the public config first answers (or fails). */
  configPending: boolean;
  me: Me | undefined;
  /** True until /me answers (an outage keeps it true: we don't know yet). */
  loading: boolean;
  /** Set while part of Sightline is unavailable; the monitor checks by itself. */
  outage: Outage | undefined;
  checkNow: () => void;
  refreshMe: () => Promise<Me | undefined>;
  refreshConfig: () => void;
  logOut: () => Promise<void>;
}

const Ctx = createContext<AppState | undefined>(undefined);

export const ME_KEY = ["get", "/api/v1/me"] as const;

/**
 * meQuery: the signed-in user, or null when signed out. Only an answer
 * other than an outage signs out; an outage is retried (and re-read on
 * recovery) while the app keeps waiting.
 */
const meQuery = {
  queryKey: ME_KEY,
  queryFn: async ({ signal }: { signal: AbortSignal }): Promise<Me | null> => {
    // Signed out is a normal state, not a 401 in the console: without the
    // hint there is no session to ask about.
    if (!mayBeSignedIn()) return null;
    try {
      return await unwrap(api.GET("/api/v1/me", { signal }));
    } catch (e) {
      if (isUnavailable(e)) throw e;
      dropSignedInHint();
      return null;
    }
  },
};

/**
 * mayBeSignedIn: the gateway sets the readable CSRF cookie with the HttpOnly
 * session cookie (same expiry) and clears both on log-out, so it is the
 * page's hint that a session exists, without another cookie or endpoint.
 */
function mayBeSignedIn(): boolean {
  return typeof document === "undefined" || readCookie(document.cookie, CSRF_COOKIE) !== undefined;
}

/** dropSignedInHint: a session the gateway refused (revoked elsewhere) costs one 401, not one per page. */
function dropSignedInHint() {
  if (typeof document !== "undefined") document.cookie = `${CSRF_COOKIE}=; Max-Age=0; Path=/`;
}

/** CONFIG_POLL_MS: maintenance can start or end while the dashboard is open. */
const CONFIG_POLL_MS = 60_000;

function configQuery() {
  return $api.queryOptions("get", "/api/v1/config", {}, { refetchInterval: CONFIG_POLL_MS });
}

/** forgetAccount drops everything read as this user, keeping the public config. */
function forgetAccount(qc: QueryClient) {
  qc.removeQueries({ predicate: (q) => q.queryKey[1] !== "/api/v1/config" && q.queryKey[1] !== ME_KEY[1] });
  qc.setQueryData(ME_KEY, null);
}

export function AppProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient();
  const configQ = useQuery(configQuery());
  const meQ = useQuery(meQuery);
  const [outage, setOutage] = useState<Outage | undefined>(outageMonitor.current);
  const config = configQ.data;

  // Maintenance (the operator's file) may have failed reads too: when it
  // ends, read again what could not be read.
  const inMaintenance = useRef(false);
  const maintenanceOn = !!config?.maintenance?.enabled;
  useEffect(() => {
    if (inMaintenance.current && !maintenanceOn) announceRecovered();
    inMaintenance.current = maintenanceOn;
  }, [maintenanceOn]);

  const refreshConfig = useCallback(() => void qc.invalidateQueries({ queryKey: configQuery().queryKey }), [qc]);
  const refreshMe = useCallback(async () => (await qc.fetchQuery({ ...meQuery, staleTime: 0 })) ?? undefined, [qc]);

  const logOut = useCallback(async () => {
    await api.POST("/api/v1/auth/logout", { body: {} }).catch(() => undefined);
    forgetAccount(qc);
  }, [qc]);

  const checkNow = useCallback(() => outageMonitor.checkNow(), []);

  useEffect(
    () =>
      onApiEvent((e) => {
        if (e.type === "unauthorized") {
          dropSignedInHint();
          forgetAccount(qc);
        }
        if (e.type === "maintenance") refreshConfig();
        if (e.type === "outage") setOutage(e.outage);
      }),
    [qc, refreshConfig],
  );

  const me = meQ.data ?? undefined;
  const loading = meQ.data === undefined;
  return (
    <Ctx.Provider value={{ config, configPending: configQ.isPending, me, loading, outage, checkNow, refreshMe, refreshConfig, logOut }}>
      {children}
    </Ctx.Provider>
  );
}

export function useApp(): AppState {
  const v = useContext(Ctx);
  if (!v) throw new Error("useApp outside AppProvider");
  return v;
}

/** SITES_PAGE: an organisation's sites fit one page (the switcher lists them all). */
const SITES_PAGE = 200;

/** useSites: an organisation's sites, shared by the switcher, Home and Sites. */
export function useSites(orgId: string | undefined) {
  return $api.useQuery(
    "get",
    "/api/v1/organizations/{organizationId}/sites",
    { params: { path: { organizationId: orgId ?? "" }, query: { pageSize: SITES_PAGE } } },
    { enabled: !!orgId },
  );
}

/** useOrganization: one organisation (its effective limits). */
export function useOrganization(orgId: string) {
  return $api.useQuery("get", "/api/v1/organizations/{organizationId}", { params: { path: { organizationId: orgId } } }, { enabled: !!orgId });
}

/** useSite: one site; its settings form, domains and name read and write through this entry. */
export function useSite(siteId: string) {
  return $api.useQuery("get", "/api/v1/sites/{siteId}", { params: { path: { siteId } } }, { enabled: !!siteId });
}

/** myRole: the user's role in an organisation. */
export function myRole(me: Me | undefined, orgId: string | undefined): Schemas["v1Role"] | undefined {
  return me?.memberships?.find((m) => m.organizationId === orgId)?.role;
}

export const ROLE_LABELS: Record<Schemas["v1Role"], string> = {
  ROLE_UNSPECIFIED: "—",
  ROLE_OWNER: "Owner",
  ROLE_ADMIN: "Admin",
  ROLE_MEMBER: "Member",
  ROLE_VIEWER: "Viewer",
};

/** canManage says whether a role may change settings, sites, members and keys. */
export function canManage(role: Schemas["v1Role"] | undefined): boolean {
  return role === "ROLE_OWNER" || role === "ROLE_ADMIN";
}
