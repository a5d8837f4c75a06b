import type { GraphQLResponse } from '@apollo/server';
import { ErrorCode } from '../errors.js';

/**
 * Apollo answers an error raised during execution with HTTP 200, as GraphQL over HTTP allows;
 * but a response that holds an unexpected failure (masked as INTERNAL_SERVER_ERROR by
 * formatError) answers 500, as the README promises, so monitors and retrying clients see it.
 * A step of Apollo's `willSendResponse`, called by server/apollo.ts's request plugin.
 */
export function markInternalErrorStatus(response: GraphQLResponse): void {
  if (response.body.kind !== 'single') return;
  const errors = response.body.singleResult.errors ?? [];
  if (errors.some((error) => error.extensions?.code === ErrorCode.INTERNAL_SERVER_ERROR)) response.http.status = 500;
}
