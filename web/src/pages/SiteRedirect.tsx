// Links in notify's e-mails and webhooks name a site without its
// organisation (/sites/{site}/recordings?…, /sites/{site}/settings/…): this
// route looks the site up and goes to the same page under /o/{org}/.
import { Navigate, useLocation, useParams } from "react-router";
import { useSite } from "../app/AppContext";
import { QueryStatus } from "../components/ui";
import { siteLinkTarget } from "../notify/mail";

export default function SiteRedirect() {
  const { siteId = "", "*": rest = "" } = useParams();
  const { search, hash } = useLocation();
  const site = useSite(siteId);
  const orgId = site.data?.site?.organizationId;
  if (orgId) return <Navigate to={siteLinkTarget(orgId, siteId, rest, search) + hash} replace />;
  return <QueryStatus query={site} label="Opening the site…" />;
}
