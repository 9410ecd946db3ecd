import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { announceRecovered, api, isUnavailable, onApiEvent, outage as outageMonitor, unwrap, type Schemas } from "../api/client";
import type { Outage } from "../api/outage";

export type Me = Schemas["v1GetCurrentUserResponse"];
export type PublicConfig = Schemas["v1GetPublicConfigResponse"];

interface AppState {
  config: PublicConfig | undefined;
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

export function AppProvider({ children }: { children: ReactNode }) {
  const [config, setConfig] = useState<PublicConfig>();
  const [me, setMe] = useState<Me>();
  const [loading, setLoading] = useState(true);
  const [outage, setOutage] = useState<Outage | undefined>(outageMonitor.current);

  const inMaintenance = useRef(false);
  const refreshConfig = useCallback(() => {
    unwrap(api.GET("/api/v1/config")).then((c) => {
      setConfig(c);
      const on = !!c.maintenance?.enabled;
      // Maintenance (the operator's file) may have failed reads too: when it
      // ends, read again what could not be read.
      if (inMaintenance.current && !on) announceRecovered();
      inMaintenance.current = on;
    }, () => undefined);
  }, []);

  const refreshMe = useCallback(async () => {
    try {
      const m = await unwrap(api.GET("/api/v1/me"));
      setMe(m);
      setLoading(false);
      return m;
    } catch (e) {
      // An outage is not a log-out: keep the user (or keep waiting for the
      // first answer) until the API answers again.
      if (isUnavailable(e)) return undefined;
      setMe(undefined);
      setLoading(false);
      return undefined;
    }
  }, []);

  const logOut = useCallback(async () => {
    await api.POST("/api/v1/auth/logout", { body: {} }).catch(() => undefined);
    setMe(undefined);
  }, []);

  const checkNow = useCallback(() => outageMonitor.checkNow(), []);

  useEffect(() => {
    refreshConfig();
    void refreshMe();
    // Maintenance can start or end while the dashboard is open.
    const timer = window.setInterval(refreshConfig, 60_000);
    const off = onApiEvent((e) => {
      if (e.type === "unauthorized") setMe(undefined);
      if (e.type === "maintenance") refreshConfig();
      if (e.type === "outage") setOutage(e.outage);
      if (e.type === "recovered") {
        refreshConfig();
        void refreshMe();
      }
    });
    return () => {
      window.clearInterval(timer);
      off();
    };
  }, [refreshConfig, refreshMe]);

  return (
    <Ctx.Provider value={{ config, me, loading, outage, checkNow, refreshMe, refreshConfig, logOut }}>{children}</Ctx.Provider>
  );
}

export function useApp(): AppState {
  const v = useContext(Ctx);
  if (!v) throw new Error("useApp outside AppProvider");
  return v;
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
