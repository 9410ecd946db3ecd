// Previous and next within the recordings list, for the replay's buttons.

/** neighbours finds the recordings before and after id in a list. */
export function neighbours(ids: string[], id: string): { index: number; prev?: string; next?: string } {
  const index = ids.indexOf(id);
  if (index < 0) return { index };
  return { index, prev: index > 0 ? ids[index - 1] : undefined, next: index + 1 < ids.length ? ids[index + 1] : undefined };
}
