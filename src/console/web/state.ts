// What the console knows, shared by its views: the viewer, the keys and who may do what.
import type { ConsoleConnectQuery, KeyFieldsFragment } from './graphql.js';

export type Viewer = ConsoleConnectQuery['viewer'];
export type Key = KeyFieldsFragment;

/** At most this many keys are listed (the API's page size). */
export const KEY_LIMIT = 100;
/** The feed shows this many events at most; older rows are dropped. */
export const FEED_LIMIT = 500;
/** The recent history the feed opens with. */
export const HISTORY_LIMIT = 50;

export const state = {
  viewer: null as Viewer | null,
  keys: new Map<string, Key>(),
  /** Names of keys seen in this session, kept when a key leaves the list (the newest NAMES_LIMIT). */
  names: new Map<string, string>(),
};

/** Whether the viewer holds a scope (admin holds every scope). */
export function holds(scope: string): boolean {
  return Boolean(state.viewer && (state.viewer.admin || state.viewer.scopes.includes(scope)));
}

/** A key's name for display, or a short form of its id when this session has not seen it (another merchant's key). */
export function keyLabel(id: string): string {
  return state.names.get(id) ?? (id.length > 12 ? `${id.slice(0, 10)}…` : id);
}

const NAMES_LIMIT = 10_000;

export function rememberKey(key: Key): void {
  state.keys.set(key.id, key);
  state.names.delete(key.id);
  state.names.set(key.id, key.name);
  if (state.names.size > NAMES_LIMIT) state.names.delete(state.names.keys().next().value!);
}
