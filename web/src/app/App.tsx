import { lazy, Suspense, type ComponentType } from "react";
import { Navigate, Route, Routes, useLocation } from "react-router";
import { useApp } from "./AppContext";
import { Layout } from "./Layout";
import { Spinner } from "../components/ui";
import { NotFound } from "../components/NotFound";
import { AcceptInvite, LogIn, SignUp } from "../pages/Auth";
import { Home } from "../pages/Home";
import { Sites } from "../pages/Sites";
import { Recordings } from "../pages/Recordings";
import { Team } from "../pages/Team";
import { ApiKeys } from "../pages/ApiKeys";
import { MaintenanceBanner } from "./MaintenanceBanner";
import { OutageBanner } from "./OutageBanner";
import { routedPages, type PageKey } from "./sections";

// The player pulls in rrweb; load it only when a replay is opened.
const Replay = lazy(() => import("../pages/Replay"));
// The heatmaps rebuild pages with rrweb too.
const Heatmaps = lazy(() => import("../pages/Heatmaps"));
// Feedback and surveys: a chunk per page.
const Feedback = lazy(() => import("../pages/Feedback"));
const Surveys = lazy(() => import("../pages/Surveys"));
const SurveyEdit = lazy(() => import("../pages/Surveys").then((m) => ({ default: m.SurveyEdit })));
const FeedbackWidget = lazy(() => import("../pages/FeedbackWidget"));
// Trends & funnels: a chunk per page (the overview's SVG charts included).
const Overview = lazy(() => import("../pages/Overview"));
const Realtime = lazy(() => import("../pages/Realtime"));
const Funnels = lazy(() => import("../pages/Funnels"));
// Only operators open it.
const Operator = lazy(() => import("../pages/Operator").then((m) => ({ default: m.Operator })));
// Notifications: settings, webhooks, the operator's outbox, and the public unsubscribe page.
const Notifications = lazy(() => import("../pages/Notifications"));
const Webhooks = lazy(() => import("../pages/Webhooks"));
const Outbox = lazy(() => import("../pages/Outbox"));
const Unsubscribe = lazy(() => import("../pages/Unsubscribe"));
const VerifyEmail = lazy(() => import("../pages/VerifyEmail"));
const ForgotPassword = lazy(() => import("../pages/ForgotPassword"));
const ResetPassword = lazy(() => import("../pages/ResetPassword"));
const SiteRedirect = lazy(() => import("../pages/SiteRedirect"));
// Install and site settings: opened now and then, and not the first paint's business.
const SiteSetup = lazy(() => import("../pages/SiteSetup").then((m) => ({ default: m.SiteSetup })));

/** The component of each page the navigation table (sections.ts) routes. */
const PAGES: Record<PageKey, ComponentType> = {
  overview: Overview,
  realtime: Realtime,
  funnels: Funnels,
  recordings: Recordings,
  heatmaps: Heatmaps,
  feedback: Feedback,
  surveys: Surveys,
  feedbackWidget: FeedbackWidget,
  siteSetup: SiteSetup,
  notifications: Notifications,
  webhooks: Webhooks,
  sites: Sites,
  team: Team,
  apiKeys: ApiKeys,
  operator: Operator,
  outbox: Outbox,
};

function RequireAuth({ children }: { children: React.ReactNode }) {
  const { me, loading, outage, config, configPending } = useApp();
  const loc = useLocation();
  if (loading || (!me && configPending)) return <Spinner label={outage ? "Waiting for Sightline to answer…" : undefined} />;
  // A fresh instance has nobody to log in: it opens on sign-up.
  if (!me && config?.firstRun) return <Navigate to="/signup" replace />;
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
        {/* The links of account e-mails (notify builds them): the token is the credential. */}
        <Route path="/invitations/accept" element={<AcceptInvite />} />
        {(
          [
            ["/verify-email", VerifyEmail],
            ["/forgot-password", ForgotPassword],
            ["/reset-password", ResetPassword],
          ] as const
        ).map(([path, Page]) => (
          <Route
            key={path}
            path={path}
            element={
              <Suspense fallback={<Spinner />}>
                <Page />
              </Suspense>
            }
          />
        ))}
        {/* No log-in: the e-mailed link's token is the credential. */}
        <Route
          path="/unsubscribe"
          element={
            <Suspense fallback={<Spinner />}>
              <Unsubscribe />
            </Suspense>
          }
        />
        <Route
          element={
            <RequireAuth>
              <Layout />
            </RequireAuth>
          }
        >
          <Route index element={<Home />} />
          <Route path="o/:orgId" element={<Home />} />
          {routedPages().map(({ path, page }) => {
            const Page = PAGES[page];
            return (
              <Route
                key={path}
                path={path}
                element={
                  <Suspense fallback={<Spinner />}>
                    <Page />
                  </Suspense>
                }
              />
            );
          })}
          <Route
            path="o/:orgId/sites/:siteId/recordings/:sessionId"
            element={
              <Suspense fallback={<Spinner label="Loading player…" />}>
                <Replay />
              </Suspense>
            }
          />
          <Route
            path="o/:orgId/sites/:siteId/surveys/:surveyId"
            element={
              <Suspense fallback={<Spinner />}>
                <SurveyEdit />
              </Suspense>
            }
          />
          {/* Links from e-mails and webhooks: /sites/{site}/… without the organisation. */}
          <Route
            path="sites/:siteId/*"
            element={
              <Suspense fallback={<Spinner />}>
                <SiteRedirect />
              </Suspense>
            }
          />
          {/* A mistyped address says so, and stays on its organisation and site. */}
          <Route path="o/:orgId/sites/:siteId/*" element={<NotFound />} />
          <Route path="o/:orgId/*" element={<NotFound />} />
          <Route path="*" element={<NotFound />} />
        </Route>
      </Routes>
    </>
  );
}
