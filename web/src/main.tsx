import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router";
import { QueryClientProvider } from "@tanstack/react-query";
import { AppProvider } from "./app/AppContext";
import { App } from "./app/App";
import { followApiEvents, queryClient } from "./api/query";
import { basePath } from "./lib/base";
import "./styles.css";

// After an outage or maintenance, re-read what is on screen.
followApiEvents(queryClient);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <BrowserRouter basename={basePath || undefined}>
        <AppProvider>
          <App />
        </AppProvider>
      </BrowserRouter>
    </QueryClientProvider>
  </StrictMode>,
);
