import { Kind, type OperationDefinitionNode } from 'graphql';

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
