import { useApp } from "./AppContext";

export function MaintenanceBanner() {
  const { config } = useApp();
  const m = config?.maintenance;
  if (!m?.enabled) return null;
  return (
    <div className="maintenance" role="status" data-testid="maintenance-banner">
      <strong>Maintenance</strong>
      <span>
        {m.message ||
          "Sightline is being updated. Recordings keep being collected, but changes can't be saved right now."}
      </span>
    </div>
  );
}
