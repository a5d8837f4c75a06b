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

/** An operation's root fields, through inline fragments and fragment spreads at the root. */
export interface RootFields {
  /** How many, aliases and repeated spreads each counted (contract §9.5: each counts one against the limit); at least 1. */
  count: number;
  /** Their field names. */
  names: ReadonlySet<string>;
  /** A spread names a fragment the document does not define (validation refuses it). */
  unresolved: boolean;
}

/** One walk of the root selection set; linear in the document: every fragment is walked once, however often it is spread. */
export function rootFields(document: DocumentNode, operation: OperationDefinitionNode): RootFields {
  const fragments = new Map<string, SelectionSetNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition.selectionSet);
  }
  const names = new Set<string>();
  let unresolved = false;
  const counted = new Map<string, number>();
  const count = (set: SelectionSetNode, path: ReadonlySet<string>): number => {
    let fields = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        names.add(selection.name.value);
        fields += 1;
      } else if (selection.kind === Kind.INLINE_FRAGMENT) fields += count(selection.selectionSet, path);
      else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        if (!fragment) unresolved = true;
        // A cycle is validation's to refuse; it counts nothing here.
        if (!fragment || path.has(name)) continue;
        if (!counted.has(name)) counted.set(name, count(fragment, new Set([...path, name])));
        fields += counted.get(name)!;
      }
    }
    return fields;
  };
  return { count: Math.max(1, count(operation.selectionSet, new Set())), names, unresolved };
}
