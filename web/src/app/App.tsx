import { lazy, Suspense } from "react";
import { Navigate, Route, Routes, useLocation } from "react-router";
import { useApp } from "./AppContext";
import { Layout } from "./Layout";
import { Spinner } from "../components/ui";
import { AcceptInvite, LogIn, SignUp } from "../pages/Auth";
import { Home } from "../pages/Home";
import { Sites } from "../pages/Sites";
import { SiteSetup } from "../pages/SiteSetup";
import { Recordings } from "../pages/Recordings";
import { Team } from "../pages/Team";
import { ApiKeys } from "../pages/ApiKeys";
import { MaintenanceBanner } from "./MaintenanceBanner";
import { OutageBanner } from "./OutageBanner";

// The player pulls in rrweb; load it only when a replay is opened.
const Replay = lazy(() => import("../pages/Replay"));

function RequireAuth({ children }: { children: React.ReactNode }) {
  const { me, loading, outage } = useApp();
  const loc = useLocation();
  if (loading) return <Spinner label={outage ? "Waiting for Sightline to answer…" : undefined} />;
  if (!me) return <Navigate to={`/login?next=${encodeURIComponent(loc.pathname + loc.search)}`} replace />;
  return <>{children}</>;
}

export function App() {
  return (
    <>
      <MaintenanceBanner />
      <OutageBanner />
      <Routes>
        <Route path="/login" element={<LogIn />} />
        <Route path="/signup" element={<SignUp />} />
        <Route path="/invite" element={<AcceptInvite />} />
        <Route
          element={
            <RequireAuth>
              <Layout />
            </RequireAuth>
          }
        >
          <Route index element={<Home />} />
          <Route path="o/:orgId" element={<Home />} />
          <Route path="o/:orgId/sites" element={<Sites />} />
          <Route path="o/:orgId/sites/:siteId/setup" element={<SiteSetup />} />
          <Route path="o/:orgId/sites/:siteId/recordings" element={<Recordings />} />
          <Route
            path="o/:orgId/sites/:siteId/recordings/:sessionId"
            element={
              <Suspense fallback={<Spinner label="Loading player…" />}>
                <Replay />
              </Suspense>
            }
          />
          <Route path="o/:orgId/team" element={<Team />} />
          <Route path="o/:orgId/api-keys" element={<ApiKeys />} />
          <Route path="*" element={<Navigate to="/" replace />} />
        </Route>
      </Routes>
    </>
  );
}
