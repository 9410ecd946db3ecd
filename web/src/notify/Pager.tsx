// Newer/Older paging of the notification lists (alerts, webhook deliveries,
// the e-mail outbox): newest first, each page continuing from the token the
// one before it answered.
import { useState } from "react";

export interface Pages {
  /** pageToken is this page's token ("" for the first). */
  pageToken: string;
  /** first says this is the first (newest) page. */
  first: boolean;
  newer: () => void;
  older: (nextPageToken: string) => void;
  /** reset goes back to the first page. */
  reset: () => void;
}

/** usePages keeps the tokens of the pages before this one, to go back. */
export function usePages(): Pages {
  const [tokens, setTokens] = useState<string[]>([""]);
  return {
    pageToken: tokens.at(-1) ?? "",
    first: tokens.length === 1,
    newer: () => setTokens((t) => t.slice(0, -1)),
    older: (next) => setTokens((t) => [...t, next]),
    reset: () => setTokens([""]),
  };
}

/** Pager is the Newer/Older buttons below a list; next is the answer's nextPageToken. */
export function Pager({ pages, next }: { pages: Pages; next: string | undefined }) {
  return (
    <div className="row gap list-end">
      <button type="button" className="btn btn-small" disabled={pages.first} onClick={pages.newer}>
        Newer
      </button>
      <button type="button" className="btn btn-small" disabled={!next} onClick={() => pages.older(next ?? "")}>
        Older
      </button>
    </div>
  );
}
