// Optimistic list edits: a revoke or removal shows at once and is undone,
// with the error shown, if the gateway refuses it.
import type { QueryClient, QueryKey } from "@tanstack/react-query";

/**
 * optimisticList returns a mutation's onMutate/onError that apply edit to
 * each item of the list at data[field] under key (null drops the item), and
 * restore the list when the write fails.
 */
export function optimisticList<F extends string, Item, V>(
  qc: QueryClient,
  key: QueryKey,
  field: F,
  edit: (item: Item, vars: V) => Item | null,
) {
  type Data = { [K in F]?: Item[] };
  return {
    onMutate: async (vars: V) => {
      await qc.cancelQueries({ queryKey: key });
      const previous = qc.getQueryData<Data>(key);
      qc.setQueryData<Data>(key, (old) => old && ({ ...old, [field]: (old[field] ?? []).flatMap((it) => edit(it, vars) ?? []) } as Data));
      return { previous };
    },
    onError: (_e: unknown, _v: V, ctx: { previous?: Data } | undefined) => {
      if (ctx?.previous) qc.setQueryData(key, ctx.previous);
    },
  };
}
