import { Kind, type DocumentNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';

/** Longest label kept: client-chosen names and long selections must not bloat logs and events. */
const MAX_LABEL = 200;

/**
 * How an operation is named in logs, events and metrics, over HTTP and WebSocket alike: its
 * own name, else its root fields (`viewer,apiKeys`); when no operation was resolved, the name
 * the client asked for, if any.
 */
export function operationLabel(operation: OperationDefinitionNode | null | undefined, requestedName?: string | null): string | null {
  if (!operation) return requestedName?.slice(0, MAX_LABEL) ?? null;
  const label = operation.name?.value ?? operation.selectionSet.selections.map((s) => (s.kind === Kind.FIELD ? s.name.value : '…')).join(',');
  return label.slice(0, MAX_LABEL);
}

/**
 * Root fields an operation asks for, aliases each counted (contract §9.5: each counts one
 * against the caller's limit), through inline fragments and fragment spreads at the root.
 * Linear in the document: every fragment is walked once, however often it is spread.
 */
export function rootFieldCount(document: DocumentNode, operation: OperationDefinitionNode): number {
  const fragments = new Map<string, SelectionSetNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition.selectionSet);
  }
  const counted = new Map<string, number>();
  const count = (set: SelectionSetNode, path: ReadonlySet<string>): number => {
    let fields = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) fields += 1;
      else if (selection.kind === Kind.INLINE_FRAGMENT) fields += count(selection.selectionSet, path);
      else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        // A cycle or an unknown fragment is validation's to refuse; it counts nothing here.
        if (!fragment || path.has(name)) continue;
        if (!counted.has(name)) counted.set(name, count(fragment, new Set([...path, name])));
        fields += counted.get(name)!;
      }
    }
    return fields;
  };
  return Math.max(1, count(operation.selectionSet, new Set()));
}
